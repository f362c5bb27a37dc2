/**
 * Attribute tables as data (the kernel's YNL style): an attribute set maps a number to a name, a
 * payload codec and encoding flags. `decodeAttrs` / `encodeAttrs` are the only attribute walkers.
 */
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { ByteWriter, NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK } from '../wire/nlattr.ts';
import { type CodecCtx, copyBytes, type PayloadCodec } from './codec.ts';
import { type CompiledStruct, compiledOf } from './compile.ts';

export interface AttrSpec {
  name: string;
  type: number;
  codec: PayloadCodec<unknown>;
  /** set NLA_F_NESTED when encoding a value built from scratch */
  nestedFlag?: boolean;
}

export interface AttrSet {
  readonly name: string;
  readonly byType: ReadonlyMap<number, AttrSpec>;
  readonly byName: ReadonlyMap<string, AttrSpec>;
  /** spec for types not listed (e.g. index-typed entries of a nested array) */
  readonly fallback?: AttrSpec;
}

/**
 * What the walkers need of one attribute type, in one object shape for every codec (reading
 * `codec.size` and the like from codecs of a dozen shapes is a megamorphic lookup per attribute).
 */
interface AttrEntry {
  spec: AttrSpec;
  type: number;
  name: string;
  nestedFlag: boolean;
  codec: PayloadCodec<unknown>;
  /** fixed payload size, or -1 */
  size: number;
  minSize: number;
  fast: PayloadCodec<unknown>['decodeUnchecked'] | undefined;
  decodeWith: PayloadCodec<unknown>['decodeWith'] | undefined;
  decode: PayloadCodec<unknown>['decode'];
  encode: PayloadCodec<unknown>['encode'];
  /** a struct's compiled encoder, which takes the writer's DataView (no `dataViewOf` per call) */
  encodeDv: CompiledStruct['encodeDv'] | undefined;
  length: PayloadCodec<unknown>['length'];
  /** error path under the parent path last seen (`${parent} > ${name}`) */
  pathParent: string | undefined;
  pathFull: string;
}

function entryOf(spec: AttrSpec): AttrEntry {
  const c = spec.codec;
  return {
    spec,
    type: spec.type,
    name: spec.name,
    nestedFlag: !!spec.nestedFlag,
    codec: c,
    size: c.size ?? -1,
    minSize: c.minSize,
    fast: c.decodeUnchecked,
    decodeWith: c.decodeWith,
    decode: c.decode,
    encode: c.encode,
    encodeDv: compiledOf(c)?.encodeDv,
    length: c.length,
    pathParent: undefined,
    pathFull: '',
  };
}

/** Lookup tables of a set, built once from `byType`: the walkers index an array instead of hashing. */
interface SetTables {
  /** entry by attribute type */
  dense: (AttrEntry | undefined)[];
  byName: Map<string, AttrEntry>;
  /** entries made for types the set's fallback covers */
  fallback: Map<number, AttrEntry>;
}

const tablesOf = new WeakMap<AttrSet, SetTables>();
function tables(set: AttrSet): SetTables {
  // sets made by attrSet() carry theirs (a property load, not a WeakMap lookup per walk)
  const own = (set as { tables?: SetTables }).tables;
  if (own !== undefined) return own;
  let t = tablesOf.get(set);
  if (!t) {
    const dense: (AttrEntry | undefined)[] = [];
    const byName = new Map<string, AttrEntry>();
    for (const [type, spec] of set.byType) {
      const e = entryOf(spec);
      if (type >= 0 && type <= NLA_TYPE_MASK) dense[type] = e;
      byName.set(spec.name, e);
    }
    for (let i = 0; i < dense.length; i++) dense[i] ??= undefined;
    t = { dense, byName, fallback: new Map() };
    if (Object.hasOwn(set, 'tables')) (set as { tables?: SetTables }).tables = t;
    else tablesOf.set(set, t);
  }
  return t;
}

/** The entry of `type` in `set` (its own spec, else the fallback's), or undefined. */
function entryByType(set: AttrSet, t: SetTables, type: number): AttrEntry | undefined {
  const e = type >= 0 && type < t.dense.length ? t.dense[type] : undefined;
  if (e !== undefined) return e;
  const own = set.byType.get(type);
  if (own) return entryOf(own);
  if (!set.fallback) return undefined;
  let f = t.fallback.get(type);
  if (!f) {
    f = entryOf({ ...set.fallback, type });
    if (t.fallback.size < 4096) t.fallback.set(type, f);
  }
  return f;
}

/** `parent > name` (or `name` at the top), remembered for the parent path last used. */
function subPath(e: AttrEntry, parent: string): string {
  if (e.pathParent === parent) return e.pathFull;
  const p = parent ? `${parent} > ${e.name}` : e.name;
  e.pathParent = parent;
  e.pathFull = p;
  return p;
}

/** One decoded attribute. `raw` is present only when the payload is not the canonical encoding of `value`. */
export interface Attr {
  type: number;
  name: string;
  value: unknown;
  /** NLA_F_NESTED / NLA_F_NET_BYTEORDER bits as they were on the wire */
  flagBits?: number;
  raw?: Uint8Array;
  padding?: Uint8Array;
}

export function attrSet(
  name: string,
  specs: Array<[type: number, name: string, codec: PayloadCodec<unknown>, opts?: { nestedFlag?: boolean }]>,
  fallback?: Omit<AttrSpec, 'type'>,
): AttrSet {
  const byType = new Map<number, AttrSpec>();
  const byName = new Map<string, AttrSpec>();
  for (const [type, n, codec, opts] of specs) {
    const spec: AttrSpec = { name: n, type, codec, nestedFlag: opts?.nestedFlag };
    if (byType.has(type) || byName.has(n)) throw new Error(`attribute set ${name}: duplicate ${type}/${n}`);
    byType.set(type, spec);
    byName.set(n, spec);
  }
  // `tables`: the walkers' lookup tables, built on first use
  const set = {
    name,
    byType,
    byName,
    fallback: fallback ? { ...fallback, type: -1 } : undefined,
    tables: undefined,
  };
  return set as AttrSet;
}

export function unknownName(type: number): string {
  return `UNKNOWN_${type}`;
}

/**
 * Decodes the attributes in `buf[start,end)`. Unknown types are kept as raw bytes under
 * `UNKNOWN_<n>` so they survive decode → encode unchanged. (Walks the TLVs itself rather than
 * through `parseAttrs`: no intermediate objects or payload views per attribute.)
 */
export function decodeAttrs(
  set: AttrSet,
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecCtx,
): Attr[] {
  const t = tables(set);
  // offset from the start of the message of buf[0]
  const base = ctx.base - start;
  const family = ctx.family;
  const out: Attr[] = [];
  let off = start;
  while (end - off >= NLA_HDRLEN) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    const rawType = buf[off + 2]! | (buf[off + 3]! << 8);
    if (len < NLA_HDRLEN) {
      throw new NetlinkDecodeError(
        `attribute length ${len} is shorter than its 4-byte header`,
        base + off,
        ctx.path,
      );
    }
    if (off + len > end) {
      throw new NetlinkDecodeError(
        `attribute type ${rawType & NLA_TYPE_MASK} length ${len} runs past the end (${end - off} bytes left)`,
        base + off,
        ctx.path,
      );
    }
    const type = rawType & NLA_TYPE_MASK;
    const flagBits = rawType & (NLA_F_NESTED | NLA_F_NET_BYTEORDER);
    const e = entryByType(set, t, type);
    const a: Attr = { type, name: e ? e.name : unknownName(type), value: undefined };
    // record the flag bits when they are set, and also when they are absent but the table would add
    // them on encoding (a nest sent without NLA_F_NESTED must re-encode without it)
    if (flagBits || e?.nestedFlag) a.flagBits = flagBits;
    const next = off + ((len + 3) & ~3);
    const padEnd = Math.min(next, end);
    for (let i = off + len; i < padEnd; i++) {
      if (buf[i] !== 0) {
        a.padding = buf.slice(off + len, padEnd);
        break;
      }
    }
    const pOff = off + NLA_HDRLEN;
    const pLen = len - NLA_HDRLEN;
    if (e === undefined) {
      a.value = copyBytes(buf, pOff, pLen);
    } else {
      if (pLen < e.minSize) {
        throw new NetlinkDecodeError(
          `${e.name} payload is ${pLen} bytes, ${e.codec.desc} needs at least ${e.minSize}`,
          base + off,
          subPath(e, ctx.path),
        );
      }
      // codec convention: ctx.base + (index into buf) = offset from the start of the message
      const fast = e.fast;
      const dw = e.decodeWith;
      a.value =
        fast !== undefined
          ? fast(buf, pOff, pLen, family)
          : dw !== undefined
            ? dw(buf, pOff, pLen, family, base, subPath(e, ctx.path))
            : e.decode.call(e.codec, buf, pOff, pLen, { base, path: subPath(e, ctx.path), family });
      const canonical = e.size >= 0 ? e.size : e.length.call(e.codec, a.value);
      if (canonical !== pLen) a.raw = copyBytes(buf, pOff, pLen);
    }
    out.push(a);
    off = next;
  }
  return out;
}

/** A request-side attribute: by name (looked up in the set) or by number with raw payload. */
export type AttrInput = Attr | { name: string; value: unknown; flagBits?: number };

export function encodeAttrs(set: AttrSet, attrs: readonly AttrInput[], w: ByteWriter, path = ''): void {
  const t = tables(set);
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    const typeFromAttr = (a as Attr).type;
    const e = typeFromAttr !== undefined ? entryByType(set, t, typeFromAttr) : t.byName.get(a.name);
    const raw = (a as Attr).raw;
    const padding = (a as Attr).padding;
    if (e === undefined) {
      const p = path ? `${path} > ${a.name}` : a.name;
      if (typeFromAttr === undefined) throw new NetlinkEncodeError(`unknown attribute in set ${set.name}`, p);
      if (!(a.value instanceof Uint8Array))
        throw new NetlinkEncodeError('unknown attribute needs raw bytes', p);
      w.attr(typeFromAttr | (a.flagBits ?? 0), a.value, padding);
      continue;
    }
    const flagBits = a.flagBits ?? (e.nestedFlag ? NLA_F_NESTED : 0);
    if (raw) {
      w.attr(e.type | flagBits, raw, padding);
      continue;
    }
    const len = e.size >= 0 ? e.size : e.length.call(e.codec, a.value);
    const at = w.startAttr(e.type | flagBits, len);
    // the error path names the attribute as the input does (a decoded Attr keeps its own name)
    const p = a.name === e.name ? subPath(e, path) : path ? `${path} > ${a.name}` : a.name;
    const encDv = e.encodeDv;
    if (encDv !== undefined) encDv(a.value, w.buf, w.dv, at + NLA_HDRLEN, p);
    else e.encode.call(e.codec, a.value, w.buf, at + NLA_HDRLEN, p);
    w.endAttr(at, padding);
  }
}

/** A nested attribute set as a payload codec: the value is the ordered attribute list. */
export function nested(getSet: () => AttrSet): PayloadCodec<Attr[]> {
  return {
    get desc() {
      return `nest ${getSet().name}`;
    },
    minSize: 0,
    decode(b, off, len, ctx) {
      // decodeAttrs takes the message offset of its start position
      return decodeAttrs(getSet(), b, off, off + len, {
        base: ctx.base + off,
        path: ctx.path,
        family: ctx.family,
      });
    },
    length(v) {
      return encodedAttrsLength(getSet(), v);
    },
    encode(v, out, off, path) {
      const bytes = encodeAttrsToBytes(getSet(), v, path);
      out.set(bytes, off);
    },
  };
}

export function encodeAttrsToBytes(set: AttrSet, attrs: readonly AttrInput[], path = ''): Uint8Array {
  const w = new ByteWriter(64);
  encodeAttrs(set, attrs, w, path);
  return w.finish();
}

export function encodedAttrsLength(set: AttrSet, attrs: readonly AttrInput[]): number {
  return encodeAttrsToBytes(set, attrs).length;
}

/** Last value of the attribute named `name` (the kernel uses the last of duplicates). */
export function getAttr<T = unknown>(attrs: readonly Attr[] | undefined, name: string): T | undefined {
  if (!attrs) return undefined;
  for (let i = attrs.length - 1; i >= 0; i--) if (attrs[i]!.name === name) return attrs[i]!.value as T;
  return undefined;
}

/** All values of attributes named `name`, in order (repeated attributes such as INFO_VERSION_RUNNING). */
export function getAttrs<T = unknown>(attrs: readonly Attr[] | undefined, name: string): T[] {
  return (attrs ?? []).filter((a) => a.name === name).map((a) => a.value as T);
}
