/**
 * The table compiler: turns a struct layout (the same `[field, offset, codec]` rows the tables are
 * written in) into a specialised decoder and encoder, generated once per struct as JavaScript
 * source (`new Function`) with the offsets folded in. Integers wider than a byte are written
 * through a DataView at constant offsets, and read through one too in structs with enough of them
 * (the decoder's view covers the input's whole buffer and is shared by the messages of a datagram:
 * `bufferViewOf`; small structs read bytes), u64 fields become bigints only through `readU64At` /
 * `readU64` (0 and all-ones without arithmetic), the decoded object is one object literal (one
 * hidden class per struct, fields in table order), nested structs call their own compiled
 * functions, and only the codecs without a `wire` shape are called through their interface. The tables stay the single
 * source of truth: nothing here knows any XFRM struct, and `source` shows what was generated.
 *
 * The generated encoder takes its fast path only when a value passes the same checks the generic
 * codec makes; anything else is handed to the codec itself, which encodes it or throws the same
 * typed error with the same message as before.
 */
import { NetlinkEncodeError } from '../wire/errors.ts';
import {
  addressText,
  addressTextAt,
  bufferViewOf,
  type CodecCtx,
  charsText,
  copyBytes,
  dataViewOf,
  type PayloadCodec,
  readU64,
  readU64At,
  writeIPv4,
} from './codec.ts';

export interface CompiledField {
  name: string;
  offset: number;
  codec: PayloadCodec<unknown>;
  /** offset (within the struct) of the u16 family that governs this address field */
  familyOffset?: number;
  omitIfZero?: boolean;
}

/** A compiled struct: `decode` needs `len ≥ size` checked by the caller. */
export interface CompiledStruct {
  /** reads the struct at `b[off]`; `family` is the family in force; `ctx` only for non-inline codecs */
  decode(b: Uint8Array, off: number, family: number, ctx: CodecCtx | undefined): unknown;
  /**
   * `decode` with `dv` a view of `b`'s whole buffer (`bufferViewOf(b)`) and `bo` = `b.byteOffset`;
   * a struct with few multi-byte fields (`viaDv` false) reads bytes and takes `dv` undefined
   */
  decodeDv(
    b: Uint8Array,
    off: number,
    family: number,
    ctx: CodecCtx | undefined,
    dv: DataView | undefined,
    bo: number,
  ): unknown;
  /** whether the decoder reads through the DataView (`decodeDv` needs one) */
  viaDv: boolean;
  /** bytes of multi-byte fields, nested structs included (what decides `viaDv`) */
  wide: number;
  encode(v: unknown, out: Uint8Array, off: number, path: string): void;
  /** `encode` with a DataView over exactly `out` (as `dataViewOf(out)`) */
  encodeDv(v: unknown, out: Uint8Array, dv: DataView, off: number, path: string): void;
  /** the generated source (for reading and debugging) */
  source: { decode: string; encode: string };
  /** every field (recursively) is inline or a struct: decode needs no context and cannot fail */
  pure: boolean;
}

/** What the compiler needs from a nested struct codec (struct.ts attaches it). */
export interface HasCompiled {
  readonly compiled: CompiledStruct;
}

/** The compiled struct behind a codec made by `struct()`, if it is one. */
export function compiledOf(c: PayloadCodec<unknown>): CompiledStruct | undefined {
  return (c as Partial<HasCompiled>).compiled;
}

const HELPERS = {
  addressText,
  addressTextAt,
  charsText,
  copyBytes,
  readU64,
  readU64At,
  writeIPv4,
  NetlinkEncodeError,
  U64_MAX: 0xffff_ffff_ffff_ffffn,
};

const ident = (s: string): string => (/^[A-Za-z_$][\w$]*$/.test(s) ? s : JSON.stringify(s));
const prop = (s: string): string => (/^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`);

/** `p + o`: a position in the decoder's DataView (`p` = `bo + off`, the struct's start there) */
const at = (o: number): string => (o === 0 ? 'p' : `p + ${o}`);

/**
 * Expression reading an integer at `off + o`: bytes for u8 and in byte mode (`viaDv` false), else
 * through the DataView `dv`.
 */
function readInt(size: number, be: boolean, signed: boolean, o: number, viaDv: boolean): string {
  const byte = (k: number) => (o + k === 0 ? 'b[off]' : `b[off + ${o + k}]`);
  if (size === 1) return signed ? `((${byte(0)} << 24) >> 24)` : byte(0);
  if (viaDv) return `dv.get${signed ? 'Int' : 'Uint'}${size * 8}(${at(o)}${be ? '' : ', true'})`;
  if (size === 2) {
    const v = be ? `((${byte(0)} << 8) | ${byte(1)})` : `(${byte(0)} | (${byte(1)} << 8))`;
    return signed ? `((${v} << 16) >> 16)` : v;
  }
  const v = be
    ? `((${byte(0)} << 24) | (${byte(1)} << 16) | (${byte(2)} << 8) | ${byte(3)})`
    : `(${byte(0)} | (${byte(1)} << 8) | (${byte(2)} << 16) | (${byte(3)} << 24))`;
  return signed ? v : `(${v} >>> 0)`;
}

/**
 * A struct whose multi-byte fields (integers wider than a byte, u64s, addresses; nested structs'
 * included) add up to at least this many bytes reads them through a DataView (a few loads per field
 * instead of one per byte); one with fewer reads bytes, which costs less than finding the view.
 * A struct that reads through the view passes it on to the structs nested in it.
 */
const DV_MIN_WIDE = 16;

/** Statement writing `x` (already checked) as an integer at `off + o` (through the DataView `dv`). */
function writeInt(size: number, be: boolean, signed: boolean, o: string): string {
  if (size === 1) return `dv.set${signed ? 'Int8' : 'Uint8'}(${o}, x);`;
  const t = `${signed ? 'Int' : 'Uint'}${size * 8}`;
  return `dv.set${t}(${o}, x${be ? '' : ', true'});`;
}

/** The condition under which the generic int codec accepts `x` (it then writes the same bytes). */
function intOk(size: number, signed: boolean): string {
  if (size === 4)
    return signed ? `typeof x === 'number' && (x | 0) === x` : `typeof x === 'number' && (x >>> 0) === x`;
  if (signed) {
    const bits = 32 - size * 8;
    return `typeof x === 'number' && ((x << ${bits}) >> ${bits}) === x`;
  }
  return `typeof x === 'number' && (x & ${size === 2 ? 0xffff : 0xff}) === x`;
}

/**
 * Compiles one struct. `desc` is the codec's description (for errors), `fields` its rows,
 * `familyOffset` the offset of its own u16 family field, if it has one.
 */
export function compileStruct(
  desc: string,
  fields: readonly CompiledField[],
  familyOffset: number | undefined,
  tail?: string,
): CompiledStruct {
  const C: PayloadCodec<unknown>[] = fields.map((f) => f.codec);
  const subs: (CompiledStruct | undefined)[] = fields.map((f) => compiledOf(f.codec));
  let pure = true;
  const famVar = familyOffset === undefined ? 'fam' : 'f';
  let wide = 0;
  fields.forEach((f, i) => {
    const w = f.codec.wire;
    const sub = subs[i];
    if (sub) wide += sub.wide;
    else if (w?.t === 'int' && w.size > 1) wide += w.size;
    else if (w?.t === 'u64') wide += 8;
    else if (w?.t === 'address') wide += 16;
  });
  const viaDv = wide >= DV_MIN_WIDE;
  const famRead = (o: number) =>
    viaDv ? `dv.getUint16(${at(o)}, true)` : `(b[off + ${o}] | (b[off + ${o + 1}] << 8))`;
  const fname = desc.replace(/\W+/g, '_');

  // ---- decode ----
  const exprs: string[] = [];
  const zeroChecks: (string | undefined)[] = [];
  fields.forEach((f, i) => {
    const o = f.offset === 0 ? 'off' : `off + ${f.offset}`;
    const fam = f.familyOffset === undefined ? famVar : famRead(f.familyOffset);
    const w = f.codec.wire;
    const sub = subs[i];
    let e: string;
    if (sub) {
      if (!sub.pure) pure = false;
      e = `D${i}(b, ${o}, ${fam}, ctx, dv, bo)`;
    } else if (w?.t === 'int') e = readInt(w.size, w.be, w.signed, f.offset, viaDv);
    else if (w?.t === 'u64') e = viaDv ? `readU64At(dv, ${at(f.offset)})` : `readU64(b, ${o})`;
    else if (w?.t === 'address')
      e = viaDv ? `addressTextAt(b, ${o}, dv, ${at(f.offset)}, ${fam})` : `addressText(b, ${o}, ${fam})`;
    else if (w?.t === 'chars') e = `charsText(b, ${o}, ${w.size})`;
    else if (w?.t === 'bytes') e = `copyBytes(b, ${o}, ${w.size})`;
    else {
      pure = false;
      e = `C[${i}].decode(b, ${o}, ${f.codec.size}, ${fam} === ctx.family ? ctx : { base: ctx.base, path: ctx.path, family: ${fam} })`;
    }
    exprs.push(e);
    if (f.omitIfZero) {
      const n = f.codec.size!;
      const bytes = Array.from({ length: n }, (_, k) => `b[off + ${f.offset + k}]`).join(' | ');
      zeroChecks.push(`(${bytes}) === 0`);
    } else zeroChecks.push(undefined);
  });
  // one object literal per combination of omitted fields, so every decoded object keeps the
  // field order of the table (printing and JSON follow it); more than two optional fields build
  // the object field by field
  const optional = fields.map((f, i) => (f.omitIfZero ? i : -1)).filter((i) => i >= 0);
  // a struct with a variable tail (structWithTail) gets the tail's slot last, filled by its caller
  const tailSlot = tail === undefined ? [] : [`${ident(tail)}: undefined`];
  const literal = (omit: Set<number>) =>
    `{ ${fields
      .map((f, i) => (omit.has(i) ? '' : `${ident(f.name)}: ${exprs[i]}`))
      .filter(Boolean)
      .concat(tailSlot)
      .join(', ')} }`;
  let body: string;
  if (optional.length <= 2) {
    const combos: string[] = [];
    const n = optional.length;
    for (let mask = (1 << n) - 1; mask >= 0; mask--) {
      const omit = new Set(optional.filter((_, k) => mask & (1 << k)));
      const cond = optional.map((fi, k) => (mask & (1 << k) ? zeroChecks[fi] : `!${zeroChecks[fi]}`));
      combos.push(
        mask === 0 ? `return ${literal(omit)};` : `if (${cond.join(' && ')}) return ${literal(omit)};`,
      );
    }
    body = combos.join('\n');
  } else {
    body = `const o = {};\n${fields
      .map((f, i) =>
        f.omitIfZero
          ? `if (!${zeroChecks[i]}) o${prop(f.name)} = ${exprs[i]};`
          : `o${prop(f.name)} = ${exprs[i]};`,
      )
      .join('\n')}\n${tail === undefined ? '' : `o${prop(tail)} = undefined;\n`}return o;`;
  }
  // a struct in byte mode takes (and passes on) no view: `dv` is undefined
  const decSrc = `return function decode_${fname}(b, off, fam, ctx, dv, bo) {
${viaDv ? 'const p = bo + off;' : ''}
${familyOffset === undefined ? '' : `const f = ${famRead(familyOffset)};`}
${body}
};`;

  // ---- encode (through a DataView of `out`; nested structs get the same view) ----
  const D = JSON.stringify(desc);
  const enc: string[] = [
    `if (v === null || typeof v !== 'object') throw new NetlinkEncodeError(${D} + ': object expected', path);`,
    'let x;',
  ];
  fields.forEach((f, i) => {
    const o = f.offset === 0 ? 'off' : `off + ${f.offset}`;
    const o4 = `off + ${f.offset + 4}`;
    const w = f.codec.wire;
    // a missing (undefined) field is an error unless the field may be omitted; the checks are
    // ordered so that a well-formed value takes one test
    const missing = f.omitIfZero
      ? ''
      : `if (x === undefined) throw new NetlinkEncodeError(${JSON.stringify(`${desc}: missing field ${f.name}`)}, path); `;
    const generic = `{ ${missing}C[${i}].encode(x, out, ${o}, path); }`;
    let write: string;
    if (subs[i]) write = `${missing}E${i}(x, out, dv, ${o}, path);`;
    else if (w?.t === 'int')
      write = `if (${intOk(w.size, w.signed)}) ${writeInt(w.size, w.be, w.signed, o)} else ${generic}`;
    else if (w?.t === 'u64')
      write =
        `if (x === 0n) { dv.setUint32(${o}, 0); dv.setUint32(${o4}, 0); } ` +
        `else if (x === U64_MAX) { dv.setUint32(${o}, 0xffffffff); dv.setUint32(${o4}, 0xffffffff); } ` +
        `else if (typeof x === 'bigint' && x > 0n && x < U64_MAX) dv.setBigUint64(${o}, x, true); ` +
        `else ${generic}`;
    else if (w?.t === 'address') write = `if (!writeIPv4(x, dv, ${o})) ${generic}`;
    else if (w?.t === 'chars')
      write = `if (typeof x === 'string' && x.length < ${w.size}) { for (let i = 0; i < x.length; i++) out[${o} + i] = x.charCodeAt(i); } else ${generic}`;
    else write = generic;
    enc.push(`x = v${prop(f.name)};\n${f.omitIfZero ? `if (x !== undefined) ${write}` : write}`);
  });
  const encSrc = `return function encode_${fname}(v, out, dv, off, path) {\n${enc.join('\n')}\n};`;

  const names = ['C', 'H', ...fields.flatMap((_, i) => (subs[i] ? [`D${i}`, `E${i}`] : []))];
  const args: unknown[] = [
    C,
    HELPERS,
    ...fields.flatMap((_, i) => {
      const s = subs[i];
      return s ? [s.decodeDv, s.encodeDv] : [];
    }),
  ];
  const prelude = `const { ${Object.keys(HELPERS).join(', ')} } = H;\n`;
  const decodeDv = new Function(...names, prelude + decSrc)(...args) as CompiledStruct['decodeDv'];
  const encodeDv = new Function(...names, prelude + encSrc)(...args) as CompiledStruct['encodeDv'];
  return {
    decode: viaDv
      ? (b, off, family, ctx) => decodeDv(b, off, family, ctx, bufferViewOf(b), b.byteOffset)
      : (b, off, family, ctx) => decodeDv(b, off, family, ctx, undefined, 0),
    decodeDv,
    viaDv,
    wide,
    encodeDv,
    encode: (v, out, off, path) => encodeDv(v, out, dataViewOf(out), off, path),
    pure,
    source: { decode: decSrc, encode: encSrc },
  };
}
