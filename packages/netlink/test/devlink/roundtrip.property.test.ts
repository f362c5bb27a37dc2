/**
 * fast-check: random devlink messages (every command × attribute values of every wire type, port
 * function and param nests with dynamically typed values) encode → decode → encode to identical
 * bytes, and decoding gives back the values that were encoded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEVLINK_ATTR,
  DEVLINK_ATTR_TABLE,
  DEVLINK_CMD_MAX,
  type DevlinkWireType,
} from '../../src/devlink/constants.ts';
import { decodeParam, dlAttr } from '../../src/devlink/domain.ts';
import { devlinkRequest } from '../../src/devlink/requests.ts';
import { DEVLINK_VAR_ATTR_TYPE, devlinkFamily } from '../../src/devlink/tables.ts';
import { decodeDatagram, encodeMessage, GenlRegistry } from '../../src/message.ts';
import type { Attr } from '../../src/schema/attrs.ts';

const FAMILY = 0x16;
const genl = new GenlRegistry().define(devlinkFamily);
genl.bind(FAMILY, 'devlink');

const text = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789:._-/'.split('')),
  maxLength: 20,
});
const scalar: Partial<Record<DevlinkWireType, fc.Arbitrary<unknown>>> = {
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  s32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  u64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  uint: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.bigInt({ min: 2n ** 32n, max: 2n ** 64n - 1n })),
  string: text,
  flag: fc.constant(true),
  binary: fc.uint8Array({ maxLength: 12 }),
  bitfield32: fc.record({
    value: fc.integer({ min: 0, max: 0xffffffff }),
    selector: fc.integer({ min: 0, max: 0xffffffff }),
  }),
};

const SIMPLE = DEVLINK_ATTR_TABLE.map(([name, wt], type) => ({ name, wt, type })).filter(
  (a) => a.type > 0 && scalar[a.wt] !== undefined && !['PARAM_TYPE'].includes(a.name),
);

const simpleAttr: fc.Arbitrary<Attr> = fc
  .constantFrom(...SIMPLE)
  .chain((a) => scalar[a.wt]!.map((value) => dlAttr(a.name, value)));

/** Nests of the devlink space that hold devlink attributes (dpipe, resource, reload stats…). */
const GENERIC_NESTS = [
  'DEV_STATS',
  'RELOAD_STATS',
  'RELOAD_ACTION_INFO',
  'NESTED_DEVLINK',
  'RESOURCE',
  'INFO_VERSION_RUNNING',
  'FMSG',
];
const genericNest: fc.Arbitrary<Attr> = fc
  .tuple(fc.constantFrom(...GENERIC_NESTS), fc.array(simpleAttr, { maxLength: 4 }), fc.boolean())
  .map(([name, inner, flagged]) => dlAttr(name, inner, flagged ? 0x8000 : 0));

const portFunction: fc.Arbitrary<Attr> = fc
  .record(
    {
      HW_ADDR: fc.uint8Array({ minLength: 6, maxLength: 6 }),
      STATE: fc.integer({ min: 0, max: 1 }),
      OPSTATE: fc.integer({ min: 0, max: 1 }),
      CAPS: fc.record({ value: fc.integer({ min: 0, max: 15 }), selector: fc.integer({ min: 0, max: 15 }) }),
      MAX_IO_EQS: fc.integer({ min: 0, max: 0xffffffff }),
    },
    { requiredKeys: [] },
  )
  .map((r) => {
    const ids: Record<string, number> = { HW_ADDR: 1, STATE: 2, OPSTATE: 3, CAPS: 4, MAX_IO_EQS: 6 };
    return dlAttr(
      'PORT_FUNCTION',
      Object.entries(r).map(([name, value]) => ({ type: ids[name]!, name, value })),
    );
  });

/** A param type with a value arbitrary of that type (DATA), and one for DEFAULT. */
const PARAM_TYPES: Array<[number, fc.Arbitrary<unknown>, fc.Arbitrary<unknown>]> = [
  [DEVLINK_VAR_ATTR_TYPE.U8, scalar.u8!, scalar.u8!],
  [DEVLINK_VAR_ATTR_TYPE.U16, scalar.u16!, scalar.u16!],
  [DEVLINK_VAR_ATTR_TYPE.U32, scalar.u32!, scalar.u32!],
  [DEVLINK_VAR_ATTR_TYPE.U64, scalar.u64!, scalar.u64!],
  [DEVLINK_VAR_ATTR_TYPE.STRING, text, text],
  [DEVLINK_VAR_ATTR_TYPE.FLAG, fc.constant(true), fc.integer({ min: 0, max: 1 })],
  [DEVLINK_VAR_ATTR_TYPE.BINARY, scalar.binary!, scalar.binary!],
];

const paramNest: fc.Arbitrary<{ attrs: Attr[]; type: number; data: unknown[] }> = fc
  .constantFrom(...PARAM_TYPES)
  .chain(([type, data, def]) =>
    fc
      .tuple(
        text,
        fc.boolean(),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.option(data), fc.option(def)), { maxLength: 3 }),
      )
      .map(([name, generic, values]) => {
        const inner: Attr[] = [dlAttr('PARAM_NAME', name)];
        if (generic) inner.push(dlAttr('PARAM_GENERIC', true));
        inner.push(dlAttr('PARAM_TYPE', type));
        const list = values.map(([cmode, d, df]) => {
          const pv = [dlAttr('PARAM_VALUE_CMODE', cmode)];
          if (d !== null) pv.push(dlAttr('PARAM_VALUE_DATA', d));
          if (df !== null) pv.push(dlAttr('PARAM_VALUE_DEFAULT', df));
          return dlAttr('PARAM_VALUE', pv);
        });
        inner.push(dlAttr('PARAM_VALUES_LIST', list));
        return {
          attrs: [dlAttr('BUS_NAME', 'pci'), dlAttr('DEV_NAME', name || 'x'), dlAttr('PARAM', inner)],
          type,
          data: values.map(([, d]) => d),
        };
      }),
  );

/** top-level PARAM_SET shape: PARAM_TYPE and DATA side by side */
const paramSetTop: fc.Arbitrary<Attr[]> = fc
  .constantFrom(...PARAM_TYPES)
  .chain(([type, data]) =>
    data.map((d) => [
      dlAttr('PARAM_NAME', 'p'),
      dlAttr('PARAM_VALUE_CMODE', 0),
      dlAttr('PARAM_TYPE', type),
      dlAttr('PARAM_VALUE_DATA', d),
    ]),
  );

const message = fc
  .tuple(
    fc.integer({ min: 1, max: DEVLINK_CMD_MAX }),
    fc.constantFrom(0, 0x005, 0x305, 0x002, 0x022),
    fc.oneof(
      fc.array(fc.oneof({ weight: 5, arbitrary: simpleAttr }, genericNest, portFunction), { maxLength: 12 }),
      paramNest.map((p) => p.attrs),
      paramSetTop,
    ),
  )
  .map(([cmd, flags, attrs]) => devlinkRequest(FAMILY, cmd, flags, attrs));

const strip = (v: unknown): unknown =>
  JSON.parse(
    JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x)),
  );

describe('devlink codec round trip (fast-check)', () => {
  it('encode → decode → encode is identical and values survive', () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 0, max: 0xffffffff }), (m, seq) => {
        m.header.seq = seq;
        const bytes = encodeMessage(m, genl);
        const [d] = decodeDatagram(bytes, 'genl', genl);
        if (d?.kind !== 'genl') throw new Error('not genl');
        expect(d.family).toBe('devlink');
        expect(Buffer.from(encodeMessage(d, genl)).equals(Buffer.from(bytes))).toBe(true);
        if (m.kind !== 'genl') return;
        expect(d.genl.cmd).toBe(m.genl.cmd);
        const names = (as: Attr[]): unknown =>
          as.map((a) => [a.name, Array.isArray(a.value) ? names(a.value as Attr[]) : a.value]);
        expect(strip(names(d.genl.attrs))).toEqual(strip(names(m.genl.attrs)));
      }),
      { numRuns: 3000 },
    );
  });

  it('param values come back typed by PARAM_TYPE (bool DATA flag, bool DEFAULT u8)', () => {
    fc.assert(
      fc.property(paramNest, (p) => {
        const bytes = encodeMessage(devlinkRequest(FAMILY, 38, 0, p.attrs), genl);
        const [d] = decodeDatagram(bytes, 'genl', genl);
        if (d?.kind !== 'genl') throw new Error('not genl');
        const param = decodeParam(d.genl.attrs);
        expect(param.type).toBe(p.type);
        param.values.forEach((v, i) => {
          const want = p.data[i];
          if (p.type === DEVLINK_VAR_ATTR_TYPE.FLAG) expect(v.data).toBe(want === true);
          else if (want === null) expect(v.data).toBeUndefined();
          else expect(strip(v.data)).toEqual(strip(want));
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('every attribute number 1..MAX of the 7.2-pre header has a name (nothing decodes as UNKNOWN)', () => {
    const attrs: Attr[] = [];
    for (let t = 1; t < DEVLINK_ATTR_TABLE.length; t++) {
      // 8 zero bytes decode under every fixed-size type; nests get an empty list
      const raw = DEVLINK_ATTR_TABLE[t]![1] === 'nest' ? new Uint8Array(0) : new Uint8Array(8);
      attrs.push({ type: t, name: `UNKNOWN_${t}`, value: raw, raw });
    }
    const bytes = encodeMessage(devlinkRequest(FAMILY, 1, 0, attrs), genl);
    const [d] = decodeDatagram(bytes, 'genl', genl);
    if (d?.kind !== 'genl') throw new Error('not genl');
    expect(d.genl.attrs.map((a) => a.name)).toEqual(DEVLINK_ATTR_TABLE.slice(1).map(([n]) => n));
    expect(d.genl.attrs.some((a) => a.name.startsWith('UNKNOWN_'))).toBe(false);
    expect(Buffer.from(encodeMessage(d, genl)).equals(Buffer.from(bytes))).toBe(true);
    expect(DEVLINK_ATTR.RESOURCE_SCOPE_MASK).toBe(185);
  });
});
