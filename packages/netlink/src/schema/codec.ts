/**
 * Payload codecs: the building blocks the attribute tables are made of. A codec turns an attribute
 * payload (or a struct) into a typed value and back. Every attribute of every family names one of
 * these in its table; there is no per-attribute hand-written code.
 */
import { readAddress, writeAddress } from '@xfrmkit/core';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';

/** Decoding context: where we are (for errors) and the address family in force (for address text). */
export interface CodecCtx {
  /** byte offset of the payload from the start of the message */
  base: number;
  path: string;
  family: number;
}

export interface PayloadCodec<T = unknown> {
  /** a short description for docs and errors, e.g. "u32" or "struct xfrm_usersa_info" */
  readonly desc: string;
  /** payload size when it is fixed (structs, integers); undefined for variable-length payloads */
  readonly size?: number;
  /** minimum payload size accepted by the decoder */
  readonly minSize: number;
  decode(b: Uint8Array, off: number, len: number, ctx: CodecCtx): T;
  /** encoded length of `v` */
  length(v: T): number;
  /** writes exactly `length(v)` bytes at `out[off]` (the area is zeroed beforehand) */
  encode(v: T, out: Uint8Array, off: number, path: string): void;
}

const dvOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function checkLen(desc: string, need: number, len: number, ctx: CodecCtx, off: number): void {
  if (len < need) throw new NetlinkDecodeError(`${desc} needs ${need} bytes, got ${len}`, ctx.base + off, ctx.path);
}

function intCheck(v: unknown, max: number, path: string, desc: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new NetlinkEncodeError(`${desc} value must be an integer 0..${max}, got ${String(v)}`, path);
  }
  return v;
}

function intCodec(size: 1 | 2 | 4, be: boolean, signed = false): PayloadCodec<number> {
  const desc = `${signed ? 's' : be ? 'be' : 'u'}${size * 8}`;
  const max = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  return {
    desc,
    size,
    minSize: size,
    decode(b, off, len, ctx) {
      checkLen(desc, size, len, ctx, off);
      if (size === 1) return signed ? ((b[off]! << 24) >> 24) : b[off]!;
      const dv = dvOf(b);
      if (size === 2) return signed ? dv.getInt16(off, !be) : dv.getUint16(off, !be);
      return signed ? dv.getInt32(off, !be) : dv.getUint32(off, !be);
    },
    length: () => size,
    encode(v, out, off, path) {
      if (signed) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** (size * 8 - 1)) || v >= 2 ** (size * 8 - 1)) {
          throw new NetlinkEncodeError(`${desc} value out of range: ${String(v)}`, path);
        }
      } else intCheck(v, max, path, desc);
      const dv = dvOf(out);
      if (size === 1) out[off] = v & 0xff;
      else if (size === 2) dv.setUint16(off, v & 0xffff, !be);
      else dv.setUint32(off, v >>> 0, !be);
    },
  };
}

export const u8 = intCodec(1, false);
export const u16 = intCodec(2, false);
export const u32 = intCodec(4, false);
export const s32 = intCodec(4, false, true);
export const be16 = intCodec(2, true);
export const be32 = intCodec(4, true);

export const u64: PayloadCodec<bigint> = {
  desc: 'u64',
  size: 8,
  minSize: 8,
  decode(b, off, len, ctx) {
    checkLen('u64', 8, len, ctx, off);
    return dvOf(b).getBigUint64(off, true);
  },
  length: () => 8,
  encode(v, out, off, path) {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) {
      throw new NetlinkEncodeError(`u64 value must be a bigint 0..2^64-1, got ${String(v)}`, path);
    }
    dvOf(out).setBigUint64(off, v, true);
  },
};

/** NLA_UINT / DEVLINK "uint": 4 bytes when the value fits, else 8. Decodes to bigint when > 2^32-1. */
export const uint: PayloadCodec<number | bigint> = {
  desc: 'uint',
  minSize: 4,
  decode(b, off, len, ctx) {
    if (len === 4) return dvOf(b).getUint32(off, true);
    if (len === 8) return dvOf(b).getBigUint64(off, true);
    throw new NetlinkDecodeError(`uint payload must be 4 or 8 bytes, got ${len}`, ctx.base + off, ctx.path);
  },
  length: (v) => (typeof v === 'bigint' && v > 0xffffffffn ? 8 : 4),
  encode(v, out, off, path) {
    if (typeof v === 'bigint' && v > 0xffffffffn) u64.encode(v, out, off, path);
    else u32.encode(Number(v), out, off, path);
  },
};

/** NLA_FLAG: no payload; value is `true`. */
export const flag: PayloadCodec<true> = {
  desc: 'flag',
  size: 0,
  minSize: 0,
  decode: () => true,
  length: () => 0,
  encode() {},
};

/** NUL-terminated string (NLA_NUL_STRING / NLA_STRING as the kernel emits them). */
export const string: PayloadCodec<string> = {
  desc: 'string',
  minSize: 0,
  decode(b, off, len) {
    let end = off;
    const stop = off + len;
    while (end < stop && b[end] !== 0) end++;
    return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('utf8');
  },
  length: (v) => Buffer.byteLength(v, 'utf8') + 1,
  encode(v, out, off, path) {
    if (typeof v !== 'string') throw new NetlinkEncodeError(`string expected, got ${typeof v}`, path);
    Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(v, off, 'utf8');
  },
};

/** Opaque bytes. */
export const binary: PayloadCodec<Uint8Array> = {
  desc: 'binary',
  minSize: 0,
  decode: (b, off, len) => b.slice(off, off + len),
  length: (v) => v.length,
  encode(v, out, off, path) {
    if (!(v instanceof Uint8Array)) throw new NetlinkEncodeError('bytes expected', path);
    out.set(v, off);
  },
};

/** struct nla_bitfield32 { u32 value; u32 selector; } */
export const bitfield32: PayloadCodec<{ value: number; selector: number }> = {
  desc: 'bitfield32',
  size: 8,
  minSize: 8,
  decode(b, off, len, ctx) {
    checkLen('bitfield32', 8, len, ctx, off);
    const dv = dvOf(b);
    return { value: dv.getUint32(off, true), selector: dv.getUint32(off + 4, true) };
  },
  length: () => 8,
  encode(v, out, off, path) {
    u32.encode(v.value, out, off, `${path}.value`);
    u32.encode(v.selector, out, off + 4, `${path}.selector`);
  },
};

/** A 16-byte xfrm_address_t as text; the family hint decides IPv4 vs IPv6 text. */
export function addressCodec(familyFrom?: number): PayloadCodec<string> & { familyFrom?: number } {
  return {
    desc: 'xfrm_address_t',
    size: 16,
    minSize: 16,
    familyFrom,
    decode(b, off, len, ctx) {
      checkLen('xfrm_address_t', 16, len, ctx, off);
      return readAddress(b, off, ctx.family);
    },
    length: () => 16,
    encode(v, out, off, path) {
      try {
        writeAddress(v, out, off);
      } catch (e) {
        throw new NetlinkEncodeError((e as Error).message, path);
      }
    },
  };
}
export const address = addressCodec();

/** Fixed-size NUL-padded char array (e.g. alg_name[64]). */
export function charArray(size: number): PayloadCodec<string> {
  return {
    desc: `char[${size}]`,
    size,
    minSize: size,
    decode(b, off, len, ctx) {
      checkLen(`char[${size}]`, size, len, ctx, off);
      let end = off;
      while (end < off + size && b[end] !== 0) end++;
      return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('latin1');
    },
    length: () => size,
    encode(v, out, off, path) {
      if (typeof v !== 'string' || Buffer.byteLength(v, 'latin1') >= size) {
        throw new NetlinkEncodeError(`name must be a string shorter than ${size} bytes`, path);
      }
      Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(v, off, 'latin1');
    },
  };
}

/** Fixed-size raw bytes inside a struct (e.g. selector padding). */
export function fixedBytes(size: number): PayloadCodec<Uint8Array> {
  return {
    desc: `u8[${size}]`,
    size,
    minSize: size,
    decode: (b, off) => b.slice(off, off + size),
    length: () => size,
    encode(v, out, off, path) {
      if (!(v instanceof Uint8Array) || v.length !== size) {
        throw new NetlinkEncodeError(`expected ${size} bytes`, path);
      }
      out.set(v, off);
    },
  };
}

/** Encodes a value with its codec into a fresh buffer. */
export function encodeToBytes<T>(codec: PayloadCodec<T>, v: T, path = ''): Uint8Array {
  const out = new Uint8Array(codec.length(v));
  codec.encode(v, out, 0, path);
  return out;
}
