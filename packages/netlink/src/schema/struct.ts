/**
 * C structs as data: a layout is a list of (field name, byte offset, codec). `struct()` compiles a
 * layout into a PayloadCodec that decodes to a plain object and encodes it back, zeroing padding.
 */
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import type { CodecCtx, PayloadCodec } from './codec.ts';

export interface FieldOpts {
  /** offset (within this struct) of the u16 family that governs this address field */
  familyOffset?: number;
  /** leave the field out of the decoded object when all its bytes are zero (e.g. padding kept for identity) */
  omitIfZero?: boolean;
}

export type FieldDef = [name: string, offset: number, codec: PayloadCodec<any>, opts?: FieldOpts];

export interface StructCodec<T> extends PayloadCodec<T> {
  readonly size: number;
  readonly fields: readonly FieldDef[];
  /** offset of the u16 family field that is the address family of this struct's addresses */
  readonly familyOffset?: number;
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
  const compiled = fields.map(([fname, offset, codec, fo]) => ({
    name: fname,
    offset,
    codec,
    size: codec.size!,
    familyOffset: fo?.familyOffset,
    omitIfZero: !!fo?.omitIfZero,
  }));
  return {
    desc,
    size,
    minSize: size,
    fields,
    familyOffset,
    decode(b, off, len, ctx) {
      if (len < size) {
        throw new NetlinkDecodeError(`${desc} needs ${size} bytes, got ${len}`, ctx.base + off, ctx.path);
      }
      const family =
        familyOffset === undefined ? ctx.family : b[off + familyOffset]! | (b[off + familyOffset + 1]! << 8);
      // fields cannot fail once the size is checked: share one context (path only matters for errors)
      const sub: CodecCtx = family === ctx.family ? ctx : { base: ctx.base, path: ctx.path, family };
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < compiled.length; i++) {
        const f = compiled[i]!;
        const at = off + f.offset;
        if (f.omitIfZero) {
          let zero = true;
          for (let j = 0; j < f.size; j++) if (b[at + j] !== 0) zero = false;
          if (zero) continue;
        }
        if (f.familyOffset !== undefined) {
          const fam = b[off + f.familyOffset]! | (b[off + f.familyOffset + 1]! << 8);
          obj[f.name] = f.codec.decode(b, at, f.size, { base: ctx.base, path: ctx.path, family: fam });
        } else obj[f.name] = f.codec.decode(b, at, f.size, sub);
      }
      return obj as T;
    },
    length: () => size,
    encode(v, out, off, path) {
      if (v === null || typeof v !== 'object') throw new NetlinkEncodeError(`${desc}: object expected`, path);
      const o = v as Record<string, unknown>;
      for (let i = 0; i < compiled.length; i++) {
        const f = compiled[i]!;
        const fv = o[f.name];
        if (fv === undefined) {
          if (f.omitIfZero) continue;
          throw new NetlinkEncodeError(`${desc}: missing field ${f.name}`, path);
        }
        f.codec.encode(fv, out, off + f.offset, path);
      }
    },
  };
}

/** An array of fixed-size structs filling a payload (e.g. XFRMA_TMPL: n × xfrm_user_tmpl). */
export function structArray<T>(elem: StructCodec<T>): PayloadCodec<T[]> {
  return {
    desc: `${elem.desc}[]`,
    minSize: elem.size,
    decode(b, off, len, ctx) {
      const n = Math.floor(len / elem.size);
      const out: T[] = [];
      for (let i = 0; i < n; i++) {
        out.push(elem.decode(b, off + i * elem.size, elem.size, { ...ctx, path: `${ctx.path}[${i}]` }));
      }
      return out;
    },
    length: (v) => v.length * elem.size,
    encode(v, out, off, path) {
      if (!Array.isArray(v)) throw new NetlinkEncodeError(`${elem.desc}[]: array expected`, path);
      v.forEach((e, i) => {
        elem.encode(e, out, off + i * elem.size, `${path}[${i}]`);
      });
    },
  };
}

/**
 * A struct followed by a variable tail whose length the head determines (xfrm_algo + key,
 * xfrm_replay_state_esn + bitmap, xfrm_user_sec_ctx + context).
 */
export function structWithTail<T extends object>(
  head: StructCodec<any>,
  tailName: string,
  tailLength: (head: Record<string, unknown>) => number,
  tail: {
    decode(b: Uint8Array, off: number, len: number): unknown;
    encode(v: unknown, out: Uint8Array, off: number, path: string): void;
    length(v: unknown): number;
  },
  what: string,
): PayloadCodec<T> {
  return {
    desc: `${head.desc} + ${tailName}`,
    minSize: head.size,
    decode(b, off, len, ctx) {
      const h = head.decode(b, off, len, ctx) as Record<string, unknown>;
      const tl = tailLength(h);
      if (len < head.size + tl) {
        throw new NetlinkDecodeError(
          `${what}: ${head.desc} announces ${tl} bytes of ${tailName} but only ${len - head.size} follow`,
          ctx.base + off,
          ctx.path,
        );
      }
      h[tailName] = tail.decode(b, off + head.size, tl);
      return h as T;
    },
    length: (v) => head.size + tail.length((v as Record<string, unknown>)[tailName]),
    encode(v, out, off, path) {
      head.encode(v, out, off, path);
      const t = (v as Record<string, unknown>)[tailName];
      if (t === undefined) throw new NetlinkEncodeError(`${head.desc}: missing ${tailName}`, path);
      tail.encode(t, out, off + head.size, `${path}.${tailName}`);
    },
  };
}
