/**
 * C structs as data: a layout is a list of (field name, byte offset, codec). `struct()` compiles a
 * layout (compile.ts: a generated decoder and encoder per struct) into a PayloadCodec that decodes
 * to a plain object and encodes it back (padding stays as the zeroed output area has it).
 */
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { bufferViewOf, type DecodeWith, dataViewOf, type PayloadCodec } from './codec.ts';
import { type CompiledField, type CompiledStruct, compileStruct } from './compile.ts';

export interface FieldOpts {
  /** offset (within this struct) of the u16 family that governs this address field */
  familyOffset?: number;
  /** leave the field out of the decoded object when all its bytes are zero (e.g. padding kept for identity) */
  omitIfZero?: boolean;
}

export type FieldDef = [name: string, offset: number, codec: PayloadCodec<unknown>, opts?: FieldOpts];

export interface StructCodec<T> extends PayloadCodec<T> {
  readonly size: number;
  readonly fields: readonly FieldDef[];
  /** offset of the u16 family field that is the address family of this struct's addresses */
  readonly familyOffset?: number;
  /** the specialised decoder and encoder generated from `fields` (compile.ts) */
  readonly compiled: CompiledStruct;
}

export function struct<T>(
  name: string,
  size: number,
  fields: FieldDef[],
  opts: { familyOffset?: number } = {},
): StructCodec<T> {
  for (const [fname, off, codec] of fields) {
    if (codec.size === undefined || off + codec.size > size) {
      throw new Error(`struct ${name}: field ${fname} does not fit (layout bug)`);
    }
  }
  const desc = `struct ${name}`;
  const familyOffset = opts.familyOffset;
  const compiled = compileStruct(desc, compiledFields(fields), familyOffset);
  const dec = compiled.decode;
  return {
    desc,
    size,
    minSize: size,
    fields,
    familyOffset,
    compiled,
    decode(b, off, len, ctx) {
      if (len < size) {
        throw new NetlinkDecodeError(`${desc} needs ${size} bytes, got ${len}`, ctx.base + off, ctx.path);
      }
      return dec(b, off, ctx.family, ctx) as T;
    },
    decodeUnchecked: compiled.pure
      ? (b, off, _len, family) => dec(b, off, family, undefined) as T
      : undefined,
    length: () => size,
    encode: compiled.encode,
  };
}

function compiledFields(fields: readonly FieldDef[]): CompiledField[] {
  return fields.map(([fname, offset, codec, fo]) => ({
    name: fname,
    offset,
    codec,
    familyOffset: fo?.familyOffset,
    omitIfZero: !!fo?.omitIfZero,
  }));
}

/** An array of fixed-size structs filling a payload (e.g. XFRMA_TMPL: n × xfrm_user_tmpl). */
export function structArray<T>(elem: StructCodec<T>): PayloadCodec<T[]> {
  const dec = elem.compiled.decodeDv;
  const viaDv = elem.compiled.viaDv;
  const enc = elem.compiled.encodeDv;
  const size = elem.size;
  let lastPath: string | undefined;
  const elemPaths: (string | undefined)[] = [];
  return {
    desc: `${elem.desc}[]`,
    minSize: size,
    decode(b, off, len, ctx) {
      const n = Math.floor(len / size);
      const out: T[] = [];
      const dv = viaDv ? bufferViewOf(b) : undefined;
      for (let i = 0; i < n; i++) {
        const sub = elem.compiled.pure
          ? undefined
          : { base: ctx.base, path: `${ctx.path}[${i}]`, family: ctx.family };
        out.push(dec(b, off + i * size, ctx.family, sub, dv, b.byteOffset) as T);
      }
      return out;
    },
    decodeUnchecked: elem.compiled.pure
      ? (b, off, len, family) => {
          const n = Math.floor(len / size);
          const out: T[] = [];
          const dv = viaDv ? bufferViewOf(b) : undefined;
          for (let i = 0; i < n; i++)
            out.push(dec(b, off + i * size, family, undefined, dv, b.byteOffset) as T);
          return out;
        }
      : undefined,
    length: (v) => v.length * size,
    encode(v, out, off, path) {
      if (!Array.isArray(v)) throw new NetlinkEncodeError(`${elem.desc}[]: array expected`, path);
      const dv = dataViewOf(out);
      if (path !== lastPath) {
        lastPath = path;
        elemPaths.length = 0;
      }
      for (let i = 0; i < v.length; i++) {
        // error paths `${path}[${i}]`, made once per parent path and index (not per element encoded)
        let p = elemPaths[i];
        if (p === undefined) {
          p = `${path}[${i}]`;
          if (i < 64) {
            while (elemPaths.length < i) elemPaths.push(undefined);
            elemPaths[i] = p;
          }
        }
        enc(v[i], out, dv, off + i * size, p);
      }
    },
  };
}

/**
 * A struct followed by a variable tail whose length the head determines (xfrm_algo + key,
 * xfrm_replay_state_esn + bitmap, xfrm_user_sec_ctx + context). The decoded object is the head's
 * fields then the tail, in one object literal (the head's decoder is compiled again with a slot for
 * the tail).
 */
export function structWithTail<T extends object>(
  head: StructCodec<unknown>,
  tailName: string,
  tailLength: (head: Record<string, unknown>) => number,
  tail: {
    decode(b: Uint8Array, off: number, len: number): unknown;
    encode(v: unknown, out: Uint8Array, off: number, path: string): void;
    length(v: unknown): number;
  },
  what: string,
): PayloadCodec<T> {
  const withSlot = compileStruct(head.desc, compiledFields(head.fields), head.familyOffset, tailName);
  const headDec = withSlot.decode;
  const headEnc = head.compiled.encode;
  const pure = withSlot.pure;
  const hsize = head.size;
  // the tail's error path `${path}.${tailName}`, kept for the path last seen (no string per call)
  let lastPath: string | undefined;
  let lastTailPath = '';
  const decodeWith: DecodeWith<T> = (b, off, len, family, base, path) => {
    if (len < hsize) {
      throw new NetlinkDecodeError(`${head.desc} needs ${hsize} bytes, got ${len}`, base + off, path);
    }
    const h = headDec(b, off, family, pure ? undefined : { base, path, family }) as Record<string, unknown>;
    const tl = tailLength(h);
    if (len < hsize + tl) {
      throw new NetlinkDecodeError(
        `${what}: ${head.desc} announces ${tl} bytes of ${tailName} but only ${len - hsize} follow`,
        base + off,
        path,
      );
    }
    h[tailName] = tail.decode(b, off + hsize, tl);
    return h as T;
  };
  return {
    desc: `${head.desc} + ${tailName}`,
    minSize: hsize,
    decode: (b, off, len, ctx) => decodeWith(b, off, len, ctx.family, ctx.base, ctx.path),
    decodeWith,
    length: (v) => hsize + tail.length((v as Record<string, unknown>)[tailName]),
    encode(v, out, off, path) {
      headEnc(v, out, off, path);
      const t = (v as Record<string, unknown>)[tailName];
      if (t === undefined) throw new NetlinkEncodeError(`${head.desc}: missing ${tailName}`, path);
      if (path !== lastPath) {
        lastPath = path;
        lastTailPath = `${path}.${tailName}`;
      }
      tail.encode(t, out, off + hsize, lastTailPath);
    },
  };
}
