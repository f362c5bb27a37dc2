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

/**
 * Output buffers. A plain writer copies its bytes out in `finish()`. A slab writer (the encoders'
 * scratch writers) writes each message straight into a shared 16 KiB slab and `finish()` returns a
 * view of it, never written again (as Node's pooled Buffers are): allocating a fresh ArrayBuffer
 * per message, or copying, costs more than the whole encoding. A slab is fresh memory, so its bytes
 * need no zeroing either. Each view covers only its own bytes; code that needs an ArrayBuffer of
 * its own must `slice()` (or honour `byteOffset`), as with any Buffer.
 */
const SLAB_SIZE = 16 * 1024;
/** a message starts in a new slab when less than this is left in the current one */
const SLAB_HEADROOM = 2048;

/** A copy of `src[0, len)` in a buffer of its own. */
export function copyOut(src: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  if (len > 64) out.set(len === src.length ? src : src.subarray(0, len));
  else for (let i = 0; i < len; i++) out[i] = src[i]!;
  return out;
}

/** A growable byte buffer for building messages. */
export class ByteWriter {
  buf: Uint8Array;
  dv: DataView;
  len = 0;
  /** `buf.buffer` (reading it from the array is a call) */
  private ab: ArrayBufferLike;
  /** `buf` has never been written at or after this offset (it is still zero) */
  private fresh = 0;
  /** slab mode: where the message being written starts in `buf` */
  private start = 0;
  private readonly slab: boolean;

  /** `slab`: carve messages out of shared slabs, `finish()` returning views (see above) */
  constructor(initial = 256, opts: { slab?: boolean } = {}) {
    this.slab = !!opts.slab;
    this.buf = new Uint8Array(this.slab ? Math.max(initial, SLAB_SIZE) : initial);
    this.ab = this.buf.buffer;
    this.dv = new DataView(this.ab);
  }

  ensure(extra: number): void {
    if (this.len + extra > this.buf.length) this.grow(this.len + extra);
  }

  private grow(need: number): void {
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const nb = new Uint8Array(cap);
    // same offsets in the new buffer: the offsets callers hold stay valid
    nb.set(this.buf.subarray(this.start, this.len), this.start);
    this.buf = nb;
    this.ab = nb.buffer;
    this.dv = new DataView(this.ab);
    this.fresh = this.len;
  }

  /** Reserves `n` zeroed bytes and returns their offset. */
  alloc(n: number): number {
    const at = this.len;
    const end = at + n;
    if (end > this.buf.length) this.grow(end);
    if (at < this.fresh) this.zero(at, end);
    this.len = end;
    if (end > this.fresh) this.fresh = end;
    return at;
  }

  /** Zeroes the part of [at, end) that was written before (below `fresh`). */
  private zero(at: number, end: number): void {
    const dirtyEnd = Math.min(end, this.fresh);
    const buf = this.buf;
    if (dirtyEnd - at <= 8) for (let i = at; i < dirtyEnd; i++) buf[i] = 0;
    else buf.fill(0, at, dirtyEnd);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    if (this.len > this.fresh) this.fresh = this.len;
  }

  /** Pads with zeros (or with `padding` if given) up to a multiple of 4. */
  align(padding?: Uint8Array): void {
    const target = nlaAlign(this.len);
    const n = target - this.len;
    if (n === 0) return;
    const at = this.alloc(n);
    if (padding && padding.length === n) this.buf.set(padding, at);
  }

  /**
   * Starts an attribute; returns the offset of its header for `endAttr`. With `payloadLen`, also
   * reserves that many zeroed payload bytes right after the header (at the returned offset + 4).
   */
  startAttr(type: number, payloadLen = 0): number {
    // not Math.max: a NaN length (a codec's length() of a bad value, whose encode then throws)
    // must reserve nothing rather than poison `len`
    // biome-ignore lint/complexity/useMathMinMax: NaN must give 0
    const at = this.alloc(NLA_HDRLEN + (payloadLen > 0 ? payloadLen : 0));
    this.buf[at + 2] = type & 0xff;
    this.buf[at + 3] = (type >>> 8) & 0xff;
    return at;
  }

  /** Closes an attribute started at `at`: writes nla_len and pads. */
  endAttr(at: number, padding?: Uint8Array): void {
    const n = this.len - at;
    this.buf[at] = n & 0xff;
    this.buf[at + 1] = (n >>> 8) & 0xff;
    if ((this.len & 3) !== 0) this.align(padding);
  }

  attr(type: number, payload: Uint8Array, padding?: Uint8Array): void {
    const at = this.startAttr(type);
    this.bytes(payload);
    this.endAttr(at, padding);
  }

  u32At(at: number, v: number): void {
    this.dv.setUint32(at, v >>> 0, true);
  }

  /**
   * The bytes written since the last `reset()`: a copy, or in slab mode a view of the slab (the
   * slab moves on, so these bytes are never written again).
   */
  finish(): Uint8Array {
    if (!this.slab) return copyOut(this.buf, this.len);
    const out = new Uint8Array(this.ab, this.start, this.len - this.start);
    this.start = (this.len + 7) & ~7;
    this.len = this.start;
    return out;
  }

  /** Empties the writer for reuse (keeps its buffer; a slab writer moves to a new slab when this one is nearly full). */
  reset(): this {
    if (this.slab) {
      if (this.buf.length - this.start < SLAB_HEADROOM) {
        this.buf = new Uint8Array(SLAB_SIZE);
        this.ab = this.buf.buffer;
        this.dv = new DataView(this.ab);
        this.start = 0;
        this.fresh = 0;
      }
      this.len = this.start;
    } else this.len = 0;
    return this;
  }

  /** Offset in `buf` where the current message starts (0 unless slab mode). */
  get origin(): number {
    return this.start;
  }
}

let scratch: ByteWriter | undefined;
let scratchBusy = false;

/**
 * The shared slab writer, reset, for one message or datagram; a nested call (an encoder running
 * inside another) gets a writer of its own. Hand it back with `releaseScratchWriter`.
 */
export function takeScratchWriter(): ByteWriter {
  if (scratchBusy) return new ByteWriter(512);
  scratch ??= new ByteWriter(SLAB_SIZE, { slab: true });
  scratchBusy = true;
  return scratch.reset();
}

export function releaseScratchWriter(w: ByteWriter): void {
  if (w === scratch) scratchBusy = false;
}

/**
 * Runs `fn` with a reusable writer (no allocation per message on the encode path) and returns
 * what it wrote (a view of a slab: see ByteWriter). Re-entrant calls get a fresh writer.
 */
export function withScratchWriter(fn: (w: ByteWriter) => void): Uint8Array {
  const w = takeScratchWriter();
  try {
    fn(w);
    return w.finish();
  } finally {
    releaseScratchWriter(w);
  }
}
