/**
 * Framing of the host ⇄ guest channel (guest/nlbridge.c has the table of operations):
 * `u32 len | u16 chan | u16 op | payload[len]`, little endian, both directions.
 */
export const OP = {
  HELLO: 0,
  OPEN: 1,
  SEND: 2,
  RECV: 3,
  CLOSE: 4,
  EXEC: 5,
  RESULT: 6,
  JOIN: 7,
  LEAVE: 8,
  ERROR: 9,
} as const;

/** NETLINK socket options the agent sets at OPEN */
export const OPEN_FLAGS = { EXT_ACK: 1, CAP_ACK: 2, GET_STRICT_CHK: 4 } as const;

export interface Frame {
  chan: number;
  op: number;
  payload: Uint8Array;
}

export function encodeFrame(chan: number, op: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint16(4, chan, true);
  dv.setUint16(6, op, true);
  b.set(payload, 8);
  return b;
}

export function u32s(...v: number[]): Uint8Array {
  const b = new Uint8Array(4 * v.length);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < v.length; i++) dv.setUint32(4 * i, v[i]! >>> 0, true);
  return b;
}

/** Reassembles frames from a byte stream (chunks of any size). */
export class FrameDecoder {
  private buf = new Uint8Array(1 << 16);
  private len = 0;

  push(chunk: Uint8Array, out: (f: Frame) => void): void {
    if (this.len + chunk.length > this.buf.length) {
      const n = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      n.set(this.buf.subarray(0, this.len));
      this.buf = n;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    let off = 0;
    const dv = new DataView(this.buf.buffer);
    while (this.len - off >= 8) {
      const plen = dv.getUint32(off, true);
      if (this.len - off < 8 + plen) break;
      out({
        chan: dv.getUint16(off + 4, true),
        op: dv.getUint16(off + 6, true),
        payload: this.buf.slice(off + 8, off + 8 + plen),
      });
      off += 8 + plen;
    }
    if (off > 0) {
      this.buf.copyWithin(0, off, this.len);
      this.len -= off;
    }
  }
}
