/**
 * Attributes whose payload type is named by another attribute, as data.
 *
 * devlink's PARAM_VALUE_DATA / PARAM_VALUE_DEFAULT are "dynamic": their wire type is the
 * DEVLINK_VAR_ATTR_TYPE_* value of the PARAM_TYPE attribute of the enclosing PARAM nest (or of the
 * message itself, in PARAM_SET requests). A `DynamicTypeRule` says which attribute carries the type
 * and which codec each type value selects; `scopedNest` opens a scope (an attribute list in which the
 * type attribute is looked up, pre-scanned before its members are decoded) and `dynamic` is the codec
 * of the typed attributes, which reads the innermost open scope. Decoding and encoding are
 * synchronous, so the scopes are a plain stack.
 *
 * The same module bounds nesting depth: devlink nests reuse the top-level attribute space, so a
 * malicious message could otherwise nest until the JavaScript stack overflows.
 */
import {
  type Attr,
  type AttrInput,
  type AttrSet,
  decodeAttrs,
  encodeAttrs,
  encodeAttrsToBytes,
} from '../schema/attrs.ts';
import type { CodecCtx, PayloadCodec } from '../schema/codec.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { type ByteWriter, parseAttrs } from '../wire/nlattr.ts';

export interface DynamicTypeRule {
  /** for errors and docs, e.g. "devlink param value" */
  readonly name: string;
  /** the attribute carrying the type: its number and name in the scope's attribute set, and codec */
  readonly typeAttr: { readonly type: number; readonly name: string; readonly codec: PayloadCodec<number> };
  /** payload codec per type value */
  readonly codecs: Readonly<Record<number, PayloadCodec<unknown>>>;
  /** codec for type values not listed, and for typed attributes outside any scope */
  readonly fallback: PayloadCodec<unknown>;
}

const scopes = new Map<DynamicTypeRule, Array<number | undefined>>();

function withScopes<T>(entries: Array<[DynamicTypeRule, number | undefined]>, fn: () => T): T {
  for (const [rule, t] of entries) {
    let st = scopes.get(rule);
    if (!st) {
      st = [];
      scopes.set(rule, st);
    }
    st.push(t);
  }
  try {
    return fn();
  } finally {
    for (const [rule] of entries) scopes.get(rule)!.pop();
  }
}

/** The type value in force for `rule` (undefined outside a scope or when the scope has no type attribute). */
export function currentType(rule: DynamicTypeRule): number | undefined {
  const st = scopes.get(rule);
  return st && st.length > 0 ? st[st.length - 1] : undefined;
}

function codecFor(
  rule: DynamicTypeRule,
  overrides?: Readonly<Record<number, PayloadCodec<unknown>>>,
): PayloadCodec<unknown> {
  const t = currentType(rule);
  if (t === undefined) return rule.fallback;
  return overrides?.[t] ?? rule.codecs[t] ?? rule.fallback;
}

/**
 * Codec of an attribute typed by `rule`. `overrides` replaces the codec of some type values for this
 * attribute only (devlink: a bool DEFAULT is a u8 while a bool DATA is a flag).
 */
export function dynamic(
  rule: DynamicTypeRule,
  overrides?: Readonly<Record<number, PayloadCodec<unknown>>>,
): PayloadCodec<unknown> {
  return {
    desc: `dynamic (${rule.name}, typed by ${rule.typeAttr.name})`,
    minSize: 0,
    decode(b, off, len, ctx) {
      const c = codecFor(rule, overrides);
      if (len < c.minSize) {
        throw new NetlinkDecodeError(
          `payload is ${len} bytes, ${c.desc} (${rule.typeAttr.name} ${currentType(rule)}) needs at least ${c.minSize}`,
          ctx.base + off,
          ctx.path,
        );
      }
      return c.decode(b, off, len, ctx);
    },
    length: (v) => codecFor(rule, overrides).length(v),
    encode(v, out, off, path) {
      codecFor(rule, overrides).encode(v, out, off, path);
    },
  };
}

/** Pre-scans raw attributes for the last type attribute of `rule` (the kernel uses the last duplicate). */
function scanType(rule: DynamicTypeRule, b: Uint8Array, start: number, end: number): number | undefined {
  let found: number | undefined;
  try {
    const { attrs } = parseAttrs(b, start, end);
    for (const a of attrs) {
      if (a.type !== rule.typeAttr.type || a.payload.length < rule.typeAttr.codec.minSize) continue;
      const off = a.payload.byteOffset - b.byteOffset;
      found = rule.typeAttr.codec.decode(b, off, a.payload.length, { base: 0, path: '', family: 0 });
    }
  } catch (e) {
    // malformed: the attribute walk that follows reports it with the right offset and path
    if (!(e instanceof NetlinkDecodeError)) throw e;
    return undefined;
  }
  return found;
}

function typeOf(rule: DynamicTypeRule, attrs: readonly AttrInput[]): number | undefined {
  let found: number | undefined;
  for (const a of attrs) {
    const isType = 'type' in a ? a.type === rule.typeAttr.type : a.name === rule.typeAttr.name;
    if (isType && typeof a.value === 'number') found = a.value;
  }
  return found;
}

/** Nesting limit of devlink attribute trees (the kernel's own nests are at most 6 deep). */
export const MAX_NEST_DEPTH = 32;
let depth = 0;

function guardDepth<T>(fn: () => T, onTooDeep: () => never): T {
  if (depth >= MAX_NEST_DEPTH) onTooDeep();
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/**
 * schema/attrs.ts records only non-zero flag bits, so an attribute whose table default is
 * NLA_F_NESTED but which came without it would re-encode *with* it. Pins `flagBits: 0` on those so
 * decode → encode stays byte-exact (decoded attributes line up 1:1 with the raw walk).
 */
function pinFlagBits(set: AttrSet, out: Attr[], b: Uint8Array, start: number, end: number): Attr[] {
  const { attrs } = parseAttrs(b, start, end);
  attrs.forEach((ra, i) => {
    const a = out[i];
    if (a && ra.flagBits === 0 && a.flagBits === undefined && set.byType.get(ra.type)?.nestedFlag)
      a.flagBits = 0;
  });
  return out;
}

/** Decodes a top-level attribute list that is a scope of `rules`. */
export function decodeScopedAttrs(
  rules: readonly DynamicTypeRule[],
  set: AttrSet,
  b: Uint8Array,
  start: number,
  end: number,
  ctx: CodecCtx,
): Attr[] {
  const entries = rules.map((r): [DynamicTypeRule, number | undefined] => [r, scanType(r, b, start, end)]);
  return pinFlagBits(
    set,
    withScopes(entries, () => decodeAttrs(set, b, start, end, ctx)),
    b,
    start,
    end,
  );
}

/** Encodes a top-level attribute list that is a scope of `rules`. */
export function encodeScopedAttrs(
  rules: readonly DynamicTypeRule[],
  set: AttrSet,
  attrs: readonly AttrInput[],
  w: ByteWriter,
  path: string,
): void {
  const entries = rules.map((r): [DynamicTypeRule, number | undefined] => [r, typeOf(r, attrs)]);
  withScopes(entries, () => encodeAttrs(set, attrs, w, path));
}

/**
 * A nested attribute list (like `nested()` of schema/attrs.ts) that opens a scope for `rules` and
 * counts towards MAX_NEST_DEPTH.
 */
export function scopedNest(
  getSet: () => AttrSet,
  rules: readonly DynamicTypeRule[] = [],
): PayloadCodec<Attr[]> {
  const scan = (b: Uint8Array, s: number, e: number) =>
    rules.map((r): [DynamicTypeRule, number | undefined] => [r, scanType(r, b, s, e)]);
  const fromAttrs = (v: readonly AttrInput[]) =>
    rules.map((r): [DynamicTypeRule, number | undefined] => [r, typeOf(r, v)]);
  const toBytes = (v: Attr[], path: string): Uint8Array => {
    if (!Array.isArray(v))
      throw new NetlinkEncodeError(`nest ${getSet().name}: attribute list expected`, path);
    return guardDepth(
      () => withScopes(fromAttrs(v), () => encodeAttrsToBytes(getSet(), v, path)),
      () => {
        throw new NetlinkEncodeError(`nesting deeper than ${MAX_NEST_DEPTH} levels`, path);
      },
    );
  };
  return {
    get desc() {
      return `nest ${getSet().name}`;
    },
    minSize: 0,
    decode(b, off, len, ctx) {
      return guardDepth(
        () =>
          pinFlagBits(
            getSet(),
            withScopes(scan(b, off, off + len), () => decodeAttrs(getSet(), b, off, off + len, ctx)),
            b,
            off,
            off + len,
          ),
        () => {
          throw new NetlinkDecodeError(
            `attributes nested deeper than ${MAX_NEST_DEPTH} levels`,
            ctx.base + off,
            ctx.path,
          );
        },
      );
    },
    length: (v) => toBytes(v, '').length,
    encode(v, out, off, path) {
      out.set(toBytes(v, path), off);
    },
  };
}
