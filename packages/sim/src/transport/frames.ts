/**
 * The framed stream protocol between a client (the LD_PRELOAD shim, or UnixTransport) and
 * `xfrmkit sim serve`. Node has no SOCK_SEQPACKET, so datagram boundaries travel in a header:
 *
 * | offset | size | field |
 * |--------|------|-------|
 * | 0      | 4    | len (payload bytes after this 16-byte header) |
 * | 4      | 2    | kind (FRAME.*) |
 * | 6      | 2    | flags |
 * | 8      | 4    | group (DATA s→c: multicast group, 0 = unicast) |
 * | 12     | 4    | portid (DATA s→c: sender, 0 = kernel) |
 *
 * IOCTL / IOCTL_ACK travel on a connection of their own (no HELLO): `group` carries the ioctl
 * request (0 = SIOCETHTOOL), the payload the interface name and the ethtool structure; an answer
 * of −ENODEV means "not a simulated device" (the shim then asks the kernel).
 */

export const FRAME = {
  DATA: 1,
  HELLO: 2,
  HELLO_ACK: 3,
  BIND: 4,
  SETSOCKOPT: 5,
  RCVLEN: 6,
  IOCTL: 7,
  IOCTL_ACK: 8,
} as const;
export const FRAME_HDRLEN = 16;
/** a frame larger than this is a protocol violation (the kernel caps netlink messages well below) */
export const FRAME_MAX = 1 << 20;

export interface Frame {
  kind: number;
  flags: number;
  group: number;
  portid: number;
  payload: Uint8Array;
}

export function encodeFrame(f: Omit<Frame, 'flags'> & { flags?: number }): Buffer {
  const b = Buffer.alloc(FRAME_HDRLEN + f.payload.length);
  b.writeUInt32LE(f.payload.length, 0);
  b.writeUInt16LE(f.kind, 4);
  b.writeUInt16LE(f.flags ?? 0, 6);
  b.writeUInt32LE(f.group >>> 0, 8);
  b.writeUInt32LE(f.portid >>> 0, 12);
  b.set(f.payload, FRAME_HDRLEN);
  return b;
}

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** Accumulates stream bytes and yields whole frames. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= FRAME_HDRLEN) {
      const len = this.buf.readUInt32LE(0);
      if (len > FRAME_MAX) throw new FrameError(`frame of ${len} bytes exceeds the ${FRAME_MAX}-byte limit`);
      if (this.buf.length < FRAME_HDRLEN + len) break;
      out.push({
        kind: this.buf.readUInt16LE(4),
        flags: this.buf.readUInt16LE(6),
        group: this.buf.readUInt32LE(8),
        portid: this.buf.readUInt32LE(12),
        payload: new Uint8Array(this.buf.subarray(FRAME_HDRLEN, FRAME_HDRLEN + len)),
      });
      this.buf = this.buf.subarray(FRAME_HDRLEN + len);
    }
    return out;
  }
}
