/**
 * Attribute tables as data (the kernel's YNL style): an attribute set maps a number to a name, a
 * payload codec and encoding flags. `decodeAttrs` / `encodeAttrs` are the only attribute walkers.
 */
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { ByteWriter, NLA_F_NESTED, NLA_HDRLEN, parseAttrs } from '../wire/nlattr.ts';
import type { CodecCtx, PayloadCodec } from './codec.ts';

export interface AttrSpec {
  name: string;
  type: number;
  codec: PayloadCodec<any>;
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
  specs: Array<[type: number, name: string, codec: PayloadCodec<any>, opts?: { nestedFlag?: boolean }]>,
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
  return { name, byType, byName, fallback: fallback ? { ...fallback, type: -1 } : undefined };
}

export function unknownName(type: number): string {
  return `UNKNOWN_${type}`;
}

/**
 * Decodes the attributes in `buf[start,end)`. Unknown types are kept as raw bytes under
 * `UNKNOWN_<n>` so they survive decode → encode unchanged.
 */
export function decodeAttrs(
  set: AttrSet,
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecCtx,
): Attr[] {
  const { attrs } = parseAttrs(buf, start, end, ctx.base - start, ctx.path);
  const out: Attr[] = [];
  for (const ra of attrs) {
    const spec = set.byType.get(ra.type) ?? (set.fallback ? { ...set.fallback, type: ra.type } : undefined);
    const a: Attr = { type: ra.type, name: spec ? spec.name : unknownName(ra.type), value: undefined };
    // record the flag bits when they are set, and also when they are absent but the table would add
    // them on encoding (a nest sent without NLA_F_NESTED must re-encode without it)
    if (ra.flagBits || spec?.nestedFlag) a.flagBits = ra.flagBits;
    if (ra.padding) a.padding = ra.padding;
    if (!spec) {
      a.value = ra.payload.slice();
      out.push(a);
      continue;
    }
    const payloadOff = ra.payload.byteOffset - buf.byteOffset;
    // codec convention: ctx.base + (index into buf) = offset from the start of the message
    const sub: CodecCtx = {
      base: ra.offset + NLA_HDRLEN - payloadOff,
      path: ctx.path ? `${ctx.path} > ${spec.name}` : spec.name,
      family: ctx.family,
    };
    if (ra.payload.length < spec.codec.minSize) {
      throw new NetlinkDecodeError(
        `${spec.name} payload is ${ra.payload.length} bytes, ${spec.codec.desc} needs at least ${spec.codec.minSize}`,
        ra.offset,
        sub.path,
      );
    }
    a.value = spec.codec.decode(buf, payloadOff, ra.payload.length, sub);
    const canonical = spec.codec.size ?? spec.codec.length(a.value);
    if (canonical !== ra.payload.length) a.raw = ra.payload.slice();
    out.push(a);
  }
  return out;
}

/** A request-side attribute: by name (looked up in the set) or by number with raw payload. */
export type AttrInput = Attr | { name: string; value: unknown; flagBits?: number };

export function encodeAttrs(set: AttrSet, attrs: readonly AttrInput[], w: ByteWriter, path = ''): void {
  for (const a of attrs) {
    const typeFromAttr = 'type' in a ? a.type : undefined;
    const spec =
      (typeFromAttr !== undefined ? set.byType.get(typeFromAttr) : set.byName.get(a.name)) ??
      (typeFromAttr !== undefined && set.fallback ? { ...set.fallback, type: typeFromAttr } : undefined);
    const p = path ? `${path} > ${a.name}` : a.name;
    const raw = 'raw' in a ? a.raw : undefined;
    const padding = 'padding' in a ? a.padding : undefined;
    if (!spec) {
      if (typeFromAttr === undefined) throw new NetlinkEncodeError(`unknown attribute in set ${set.name}`, p);
      if (!(a.value instanceof Uint8Array))
        throw new NetlinkEncodeError('unknown attribute needs raw bytes', p);
      w.attr(typeFromAttr | (a.flagBits ?? 0), a.value, padding);
      continue;
    }
    const flagBits = a.flagBits ?? (spec.nestedFlag ? NLA_F_NESTED : 0);
    if (raw) {
      w.attr(spec.type | flagBits, raw, padding);
      continue;
    }
    const at = w.startAttr(spec.type | flagBits);
    const len = spec.codec.length(a.value as never);
    const off = w.alloc(len);
    spec.codec.encode(a.value as never, w.buf, off, p);
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
      return decodeAttrs(getSet(), b, off, off + len, { ...ctx, base: ctx.base + off });
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
