/**
 * Netlink attributes (`struct nlattr`).
 *
 * | offset | size | field |
 * |--------|------|-------|
 * | 0      | 2    | nla_len (header + payload, unpadded) |
 * | 2      | 2    | nla_type (bit 15 NLA_F_NESTED, bit 14 NLA_F_NET_BYTEORDER) |
 * | 4      | len-4 | payload, then padding to 4 bytes |
 */
import { NetlinkDecodeError } from './errors.ts';

export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;
export const nlaAlign = (n: number): number => (n + 3) & ~3;

export interface RawAttr {
  /** type without the flag bits */
  type: number;
  /** NLA_F_NESTED | NLA_F_NET_BYTEORDER bits as sent */
  flagBits: number;
  payload: Uint8Array;
  /** offset of the attribute header from the start of the enclosing message/buffer */
  offset: number;
  /** padding bytes after the payload, only when they are not all zero (kept for exact re-encoding) */
  padding?: Uint8Array;
}

export interface AttrParseResult {
  attrs: RawAttr[];
  /** bytes after the last whole attribute that are too short to be one (the kernel warns and ignores them) */
  leftover: number;
}

/**
 * Walks the attributes in `buf[start, end)`. `base` is added to reported offsets so errors and
 * extack offsets count from the start of the netlink message.
 */
export function parseAttrs(
  buf: Uint8Array,
  start: number,
  end: number,
  base = 0,
  path = '',
): AttrParseResult {
  const attrs: RawAttr[] = [];
  let off = start;
  while (end - off >= NLA_HDRLEN) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    const rawType = buf[off + 2]! | (buf[off + 3]! << 8);
    if (len < NLA_HDRLEN) {
      throw new NetlinkDecodeError(
        `attribute length ${len} is shorter than its 4-byte header`,
        base + off,
        path,
      );
    }
    if (off + len > end) {
      throw new NetlinkDecodeError(
        `attribute type ${rawType & NLA_TYPE_MASK} length ${len} runs past the end (${end - off} bytes left)`,
        base + off,
        path,
      );
    }
    const attr: RawAttr = {
      type: rawType & NLA_TYPE_MASK,
      flagBits: rawType & (NLA_F_NESTED | NLA_F_NET_BYTEORDER),
      payload: buf.subarray(off + NLA_HDRLEN, off + len),
      offset: base + off,
    };
    const padEnd = Math.min(off + nlaAlign(len), end);
    for (let i = off + len; i < padEnd; i++) {
      if (buf[i] !== 0) {
        attr.padding = buf.slice(off + len, padEnd);
        break;
      }
    }
    attrs.push(attr);
    off += nlaAlign(len);
  }
  return { attrs, leftover: Math.max(0, end - off) };
}

/** A growable byte buffer for building messages. */
export class ByteWriter {
  buf: Uint8Array;
  dv: DataView;
  len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }

  /** Reserves `n` zeroed bytes and returns their offset. */
  alloc(n: number): number {
    this.ensure(n);
    const at = this.len;
    this.buf.fill(0, at, at + n);
    this.len += n;
    return at;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Pads with zeros (or with `padding` if given) up to a multiple of 4. */
  align(padding?: Uint8Array): void {
    const target = nlaAlign(this.len);
    const n = target - this.len;
    if (n === 0) return;
    const at = this.alloc(n);
    if (padding && padding.length === n) this.buf.set(padding, at);
  }

  /** Starts an attribute; returns the offset of its header for `endAttr`. */
  startAttr(type: number): number {
    const at = this.alloc(NLA_HDRLEN);
    this.dv.setUint16(at + 2, type, true);
    return at;
  }

  /** Closes an attribute started at `at`: writes nla_len and pads. */
  endAttr(at: number, padding?: Uint8Array): void {
    this.dv.setUint16(at, this.len - at, true);
    this.align(padding);
  }

  attr(type: number, payload: Uint8Array, padding?: Uint8Array): void {
    const at = this.startAttr(type);
    this.bytes(payload);
    this.endAttr(at, padding);
  }

  u32At(at: number, v: number): void {
    this.dv.setUint32(at, v >>> 0, true);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Empties the writer for reuse (keeps its buffer). */
  reset(): this {
    this.len = 0;
    return this;
  }
}

let scratch: ByteWriter | undefined;
let scratchBusy = false;

/**
 * Runs `fn` with a reusable writer (no allocation per message on the encode path) and returns a copy
 * of what it wrote. Re-entrant calls get a fresh writer.
 */
export function withScratchWriter(fn: (w: ByteWriter) => void): Uint8Array {
  if (scratchBusy) {
    const w = new ByteWriter(512);
    fn(w);
    return w.finish();
  }
  scratch ??= new ByteWriter(4096);
  scratchBusy = true;
  try {
    fn(scratch.reset());
    return scratch.finish();
  } finally {
    scratchBusy = false;
  }
}
