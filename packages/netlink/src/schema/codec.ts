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
  /** how the table compiler (`compile.ts`) reads and writes this codec inline inside a struct */
  readonly wire?: WireKind;
  /**
   * Decodes a payload already known to be at least `minSize` bytes long, with the address family as
   * a number instead of a context: cannot fail. Present on the codecs whose only decode error is a
   * short payload (integers, fixed structs, struct arrays, bytes, strings); the attribute walker
   * uses it to skip building a context per attribute.
   */
  readonly decodeUnchecked?: (b: Uint8Array, off: number, len: number, family: number) => T;
  /**
   * `decode` with the context's fields as arguments (`base`, `path`, `family`: no context object
   * per call); the same values and the same errors.
   */
  readonly decodeWith?: DecodeWith<T>;
}

/** A decoder taking the decode context's fields as arguments (see `PayloadCodec.decodeWith`). */
export type DecodeWith<T> = (
  b: Uint8Array,
  off: number,
  len: number,
  family: number,
  base: number,
  path: string,
) => T;

/** Wire shapes the table compiler knows how to inline (everything else goes through the codec). */
export type WireKind =
  | { t: 'int'; size: 1 | 2 | 4; be: boolean; signed: boolean }
  | { t: 'u64' }
  | { t: 'address' }
  | { t: 'chars'; size: number }
  | { t: 'bytes'; size: number };

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
  const read = (b: Uint8Array, off: number): number => {
    if (size === 1) return signed ? (b[off]! << 24) >> 24 : b[off]!;
    if (size === 2) {
      const v = be ? (b[off]! << 8) | b[off + 1]! : b[off]! | (b[off + 1]! << 8);
      return signed ? (v << 16) >> 16 : v;
    }
    const v = be
      ? (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!
      : b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
    return signed ? v | 0 : v >>> 0;
  };
  return {
    desc,
    size,
    minSize: size,
    wire: { t: 'int', size, be, signed },
    decodeUnchecked: read,
    decode(b, off, len, ctx) {
      if (len < size) checkLen(desc, size, len, ctx, off);
      return read(b, off);
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

/** Reads a little-endian u64 as a bigint (0 and all-ones, the usual values, without arithmetic). */
export function readU64(b: Uint8Array, off: number): bigint {
  // int32 halves (no heap numbers on the way)
  const lo = b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
  const hi = b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24);
  if ((lo | hi) === 0) return 0n;
  if ((lo & hi) === -1) return U64_MAX;
  if (hi === 0) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export const u64: PayloadCodec<bigint> = {
  desc: 'u64',
  size: 8,
  minSize: 8,
  wire: { t: 'u64' },
  decodeUnchecked: readU64,
  decode(b, off, len, ctx) {
    if (len < 8) checkLen('u64', 8, len, ctx, off);
    return readU64(b, off);
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

/** `readU64` through a DataView (`o`: offset in the view). */
export function readU64At(dv: DataView, o: number): bigint {
  const lo = dv.getInt32(o, true);
  const hi = dv.getInt32(o + 4, true);
  if ((lo | hi) === 0) return 0n;
  if ((lo & hi) === -1) return U64_MAX;
  if (hi === 0) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

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
  decodeUnchecked: () => true,
  length: () => 0,
  encode() {},
};

function utf8z(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const stop = off + len;
  while (end < stop && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('utf8');
}

/** NUL-terminated string (NLA_NUL_STRING / NLA_STRING as the kernel emits them). */
export const string: PayloadCodec<string> = {
  desc: 'string',
  minSize: 0,
  decode: utf8z,
  decodeUnchecked: utf8z,
  length: (v) => Buffer.byteLength(v, 'utf8') + 1,
  encode(v, out, off, path) {
    if (typeof v !== 'string') throw new NetlinkEncodeError(`string expected, got ${typeof v}`, path);
    Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(v, off, 'utf8');
  },
};

/**
 * A copy of `b[off, off+len)` in a buffer of its own (small copies byte by byte: cheaper than
 * `slice` for the few bytes of keys and padding).
 */
export function copyBytes(b: Uint8Array, off: number, len: number): Uint8Array {
  if (len > 64) return b.slice(off, off + len);
  const u = new Uint8Array(len);
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    u[i] = b[off + i]!;
    u[i + 1] = b[off + i + 1]!;
    u[i + 2] = b[off + i + 2]!;
    u[i + 3] = b[off + i + 3]!;
  }
  for (; i < len; i++) u[i] = b[off + i]!;
  return u;
}

/** Opaque bytes. */
export const binary: PayloadCodec<Uint8Array> = {
  desc: 'binary',
  minSize: 0,
  decode: copyBytes,
  decodeUnchecked: copyBytes,
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
  decodeUnchecked: (b, off) => ({ value: rd32(b, off), selector: rd32(b, off + 4) }),
  length: () => 8,
  encode(v, out, off, path) {
    u32.encode(v.value, out, off, `${path}.value`);
    u32.encode(v.selector, out, off + 4, `${path}.selector`);
  },
};

const DECIMAL = Array.from({ length: 256 }, (_, i) => String(i));
const AF_INET6 = 10;

// Interned IPv4 text: a direct-mapped cache (bounded, exact: the key is the whole address) so the
// addresses a dump repeats over and over (tunnel endpoints, selectors) are one string each.
const V4_SLOTS = 4096;
const v4Keys = new Int32Array(V4_SLOTS);
const v4Text: (string | undefined)[] = new Array<string | undefined>(V4_SLOTS).fill(undefined);

function ipv4Text(b: Uint8Array, off: number, k: number): string {
  const slot = (k ^ (k >>> 11) ^ (k >>> 22)) & (V4_SLOTS - 1);
  const hit = v4Text[slot];
  if (hit !== undefined && v4Keys[slot] === k) return hit;
  const t = `${DECIMAL[b[off]!]}.${DECIMAL[b[off + 1]!]}.${DECIMAL[b[off + 2]!]}.${DECIMAL[b[off + 3]!]}`;
  v4Keys[slot] = k;
  v4Text[slot] = t;
  return t;
}

/**
 * `readAddress` of @xfrmkit/core (same text for the same bytes and family), with the IPv4 case
 * inline: the family is not AF_INET6 and bytes 4..15 are zero.
 */
export function addressText(b: Uint8Array, off: number, family: number): string {
  if (
    family !== AF_INET6 &&
    (b[off + 4]! |
      b[off + 5]! |
      b[off + 6]! |
      b[off + 7]! |
      b[off + 8]! |
      b[off + 9]! |
      b[off + 10]! |
      b[off + 11]! |
      b[off + 12]! |
      b[off + 13]! |
      b[off + 14]! |
      b[off + 15]!) ===
      0
  ) {
    return ipv4Text(b, off, (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
  }
  return readAddress(b, off, family);
}

/**
 * `addressText` of `b[off]`, reading through `dv`, a view of `b`'s whole buffer (`o`: the same
 * position in the view, `b.byteOffset + off`): four loads instead of sixteen.
 */
export function addressTextAt(b: Uint8Array, off: number, dv: DataView, o: number, family: number): string {
  if (family !== AF_INET6 && (dv.getInt32(o + 4) | dv.getInt32(o + 8) | dv.getInt32(o + 12)) === 0) {
    return ipv4Text(b, off, dv.getInt32(o));
  }
  return readAddress(b, off, family);
}

let abArray: Uint8Array | undefined;
let abBuf: ArrayBufferLike | undefined;
let abView: DataView | undefined;
/**
 * A DataView over the whole buffer under `b` (position `b.byteOffset + i` is `b[i]`); the last one
 * is kept, so the messages of one datagram or slab share it (making a DataView costs more than
 * decoding a struct), and so is the last array asked about (reading `b.buffer` is a call too).
 */
export function bufferViewOf(b: Uint8Array): DataView {
  if (b === abArray) return abView!;
  const ab = b.buffer;
  if (ab !== abBuf || abView === undefined) {
    abView = new DataView(ab);
    abBuf = ab;
  }
  abArray = b;
  return abView;
}

let dvBuf: Uint8Array | undefined;
let dvView: DataView | undefined;
/** A DataView over exactly `b` (the last one is kept: encoders write into the same buffer over and over). */
export function dataViewOf(b: Uint8Array): DataView {
  if (b !== dvBuf || dvView === undefined) {
    dvView = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dvBuf = b;
  }
  return dvView;
}

// Parsed IPv4 text: direct-mapped on the last characters, exact (the whole text is the key).
const A4_SLOTS = 4096;
const a4Text: (string | undefined)[] = new Array<string | undefined>(A4_SLOTS).fill(undefined);
const a4Value = new Int32Array(A4_SLOTS);

/**
 * Writes dotted-quad IPv4 text as `writeAddress` of @xfrmkit/core would (4 octets of 1-3 digits,
 * each ≤ 255, the other 12 bytes zero) through `dv` and returns true; returns false without
 * writing for anything else (IPv6 text, bad text, not a string), which the caller hands to
 * `writeAddress`.
 */
export function writeIPv4(v: unknown, dv: DataView, off: number): boolean {
  if (typeof v !== 'string') return false;
  const n = v.length;
  if (n < 7 || n > 15) return false;
  // the text last parsed in this slot (the same string object, as decoding interns them, compares
  // by pointer; an equal string by content)
  let h = n;
  for (let i = n - 7; i < n; i++) h = (h * 31 + v.charCodeAt(i)) | 0;
  const slot = (h ^ (h >>> 10)) & (A4_SLOTS - 1);
  if (a4Text[slot] === v) {
    dv.setInt32(off, a4Value[slot]!);
    dv.setUint32(off + 4, 0);
    dv.setUint32(off + 8, 0);
    dv.setUint32(off + 12, 0);
    return true;
  }
  const a = parseIPv4(v, n);
  if (a === -1) return false;
  a4Text[slot] = v;
  a4Value[slot] = a | 0;
  dv.setUint32(off, a);
  dv.setUint32(off + 4, 0);
  dv.setUint32(off + 8, 0);
  dv.setUint32(off + 12, 0);
  return true;
}

/** Dotted-quad text (4 octets of 1-3 digits, each ≤ 255) as a u32, or -1. */
function parseIPv4(v: string, n: number): number {
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let addr = 0;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      addr = (addr << 8) | octet;
      dots++;
      octet = 0;
      digits = 0;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return ((addr << 8) | octet) >>> 0;
}

function encodeAddress(v: string, out: Uint8Array, off: number, path: string): void {
  if (writeIPv4(v, dataViewOf(out), off)) return;
  try {
    writeAddress(v, out, off);
  } catch (e) {
    throw new NetlinkEncodeError((e as Error).message, path);
  }
}

/** A 16-byte xfrm_address_t as text; the family hint decides IPv4 vs IPv6 text. */
export function addressCodec(familyFrom?: number): PayloadCodec<string> & { familyFrom?: number } {
  return {
    desc: 'xfrm_address_t',
    size: 16,
    minSize: 16,
    familyFrom,
    wire: { t: 'address' },
    decode(b, off, len, ctx) {
      checkLen('xfrm_address_t', 16, len, ctx, off);
      return addressText(b, off, ctx.family);
    },
    decodeUnchecked: (b, off, _len, family) => addressText(b, off, family),
    length: () => 16,
    encode: encodeAddress,
  };
}
export const address = addressCodec();

// Interned char-array text (algorithm names): direct-mapped on a few leading bytes, checked
// character by character (and for the NUL after it) on a hit, so the result is always exactly the
// bytes' text.
const NAME_SLOTS = 256;
const nameText: (string | undefined)[] = new Array<string | undefined>(NAME_SLOTS).fill(undefined);

/** The text of a NUL-padded char array: bytes up to the first NUL (or `size`), one char per byte. */
export function charsText(b: Uint8Array, off: number, size: number): string {
  // the slot comes from a few leading bytes, so the candidate is checked in the same pass that
  // finds the end
  const k =
    size >= 12
      ? b[off]! ^
        (b[off + 1]! << 1) ^
        (b[off + 4]! << 2) ^
        (b[off + 7]! << 3) ^
        (b[off + 9]! << 4) ^
        (b[off + 11]! << 5)
      : b[off]!;
  const slot = k & (NAME_SLOTS - 1);
  const hit = nameText[slot];
  if (hit !== undefined) {
    const n = hit.length;
    if (n <= size) {
      let i = 0;
      while (i < n && hit.charCodeAt(i) === b[off + i]) i++;
      if (i === n && (n === size || b[off + n] === 0)) return hit;
    }
  }
  let end = off;
  const stop = off + size;
  while (end < stop && b[end] !== 0) end++;
  const n = end - off;
  let s: string;
  if (n <= 24) {
    s = '';
    for (let i = off; i < end; i++) s += String.fromCharCode(b[i]!);
  } else s = String.fromCharCode.apply(null, b.subarray(off, end) as unknown as number[]);
  if (n <= 64) nameText[slot] = s;
  return s;
}

/** Fixed-size NUL-padded char array (e.g. alg_name[64]). */
export function charArray(size: number): PayloadCodec<string> {
  return {
    desc: `char[${size}]`,
    size,
    minSize: size,
    wire: { t: 'chars', size },
    decode(b, off, len, ctx) {
      checkLen(`char[${size}]`, size, len, ctx, off);
      return charsText(b, off, size);
    },
    decodeUnchecked: (b, off) => charsText(b, off, size),
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
    wire: { t: 'bytes', size },
    decode: (b, off) => copyBytes(b, off, size),
    decodeUnchecked: (b, off) => copyBytes(b, off, size),
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
