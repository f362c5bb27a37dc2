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

function checkLen(desc: string, need: number, len: number, ctx: CodecCtx, off: number): void {
  if (len < need)
    throw new NetlinkDecodeError(`${desc} needs ${need} bytes, got ${len}`, ctx.base + off, ctx.path);
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
      if (len < size) checkLen(desc, size, len, ctx, off);
      if (size === 1) return signed ? (b[off]! << 24) >> 24 : b[off]!;
      if (size === 2) {
        const v = be ? (b[off]! << 8) | b[off + 1]! : b[off]! | (b[off + 1]! << 8);
        return signed ? (v << 16) >> 16 : v;
      }
      const v = be
        ? (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!
        : b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
      return signed ? v | 0 : v >>> 0;
    },
    length: () => size,
    encode(v, out, off, path) {
      if (signed) {
        if (
          typeof v !== 'number' ||
          !Number.isInteger(v) ||
          v < -(2 ** (size * 8 - 1)) ||
          v >= 2 ** (size * 8 - 1)
        ) {
          throw new NetlinkEncodeError(`${desc} value out of range: ${String(v)}`, path);
        }
      } else intCheck(v, max, path, desc);
      if (size === 1) out[off] = v & 0xff;
      else if (size === 2) {
        if (be) {
          out[off] = (v >> 8) & 0xff;
          out[off + 1] = v & 0xff;
        } else {
          out[off] = v & 0xff;
          out[off + 1] = (v >> 8) & 0xff;
        }
      } else if (be) {
        out[off] = (v >>> 24) & 0xff;
        out[off + 1] = (v >>> 16) & 0xff;
        out[off + 2] = (v >>> 8) & 0xff;
        out[off + 3] = v & 0xff;
      } else {
        out[off] = v & 0xff;
        out[off + 1] = (v >>> 8) & 0xff;
        out[off + 2] = (v >>> 16) & 0xff;
        out[off + 3] = (v >>> 24) & 0xff;
      }
    },
  };
}

export const u8 = intCodec(1, false);
export const u16 = intCodec(2, false);
export const u32 = intCodec(4, false);
export const s32 = intCodec(4, false, true);
export const be16 = intCodec(2, true);
export const be32 = intCodec(4, true);

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const rd32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const wr32 = (out: Uint8Array, o: number, v: number): void => {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = (v >>> 24) & 0xff;
};

export const u64: PayloadCodec<bigint> = {
  desc: 'u64',
  size: 8,
  minSize: 8,
  decode(b, off, len, ctx) {
    if (len < 8) checkLen('u64', 8, len, ctx, off);
    const lo = rd32(b, off);
    const hi = rd32(b, off + 4);
    if (hi === 0) return BigInt(lo);
    if (hi === 0xffffffff && lo === 0xffffffff) return U64_MAX;
    return (BigInt(hi) << 32n) | BigInt(lo);
  },
  length: () => 8,
  encode(v, out, off, path) {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
      throw new NetlinkEncodeError(`u64 value must be a bigint 0..2^64-1, got ${String(v)}`, path);
    }
    if (v === U64_MAX) {
      out.fill(0xff, off, off + 8);
    } else if (v <= 0xffffffffn) {
      wr32(out, off, Number(v));
      wr32(out, off + 4, 0);
    } else {
      wr32(out, off, Number(v & 0xffffffffn));
      wr32(out, off + 4, Number(v >> 32n));
    }
  },
};

/** NLA_UINT / DEVLINK "uint": 4 bytes when the value fits, else 8. Decodes to bigint when > 2^32-1. */
export const uint: PayloadCodec<number | bigint> = {
  desc: 'uint',
  minSize: 4,
  decode(b, off, len, ctx) {
    if (len === 4) return rd32(b, off);
    if (len === 8) return (BigInt(rd32(b, off + 4)) << 32n) | BigInt(rd32(b, off));
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
    return { value: rd32(b, off), selector: rd32(b, off + 4) };
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
      return String.fromCharCode.apply(null, b.subarray(off, end) as unknown as number[]);
    },
    length: () => size,
    encode(v, out, off, path) {
      if (typeof v !== 'string' || v.length >= size) {
        throw new NetlinkEncodeError(`name must be a string shorter than ${size} bytes`, path);
      }
      for (let i = 0; i < v.length; i++) out[off + i] = v.charCodeAt(i) & 0xff;
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
