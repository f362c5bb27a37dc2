/**
 * The by-SPI hash (`spi-table.ts`) against a linear model: random adds and removes of SAs with
 * colliding keys (few addresses and SPIs), both families, several protos, marks (including an
 * unmatchable v outside m) and bucket order, with lookups after every step — through growth,
 * shrinking and backward-shift deletion.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SpiKeyed, SpiTable } from '../../src/sad/spi-table.ts';
import { AF_INET, AF_INET6, IPPROTO } from '../../src/types/xfrm.ts';

interface Sa extends SpiKeyed {
  serial: number;
  offload: boolean;
}

/** Kernel bucket order: offloaded first, then newest first (as the SAD orders its lists). */
function order(list: Sa[], e: Sa): void {
  let i = 0;
  if (!e.offload) while (i < list.length && list[i]!.offload) i++;
  list.splice(i, 0, e);
}

function modelLookup(
  all: readonly Sa[],
  family: number,
  d: readonly number[],
  spi: number,
  proto: number,
  mark: number,
): Sa | undefined {
  const hits = all.filter(
    (e) =>
      e.family === family &&
      e.proto === proto &&
      e.spi === spi &&
      e.d0 === d[0] &&
      (family === AF_INET || (e.d1 === d[1] && e.d2 === d[2] && e.d3 === d[3])),
  );
  // bucket order = the order the table keeps: replay the inserts
  const list: Sa[] = [];
  for (const e of [...hits].sort((a, b) => a.serial - b.serial)) order(list, e);
  return list.find((e) => (mark & e.markM) === e.markV);
}

const saArb = fc.record({
  family: fc.constantFrom(AF_INET, AF_INET6),
  addr: fc.integer({ min: 0, max: 5 }),
  spi: fc.constantFrom(0x100, 0x101, 0x80000000, 0xffffffff),
  proto: fc.constantFrom(IPPROTO.ESP, IPPROTO.ESP, IPPROTO.AH, IPPROTO.COMP),
  mark: fc.constantFrom([0, 0], [0, 0], [1, 0xff], [2, 0xff], [0x10, 0xf0], [3, 1]),
  offload: fc.boolean(),
});

type SaShape = typeof saArb extends fc.Arbitrary<infer X> ? X : never;
type Op = { kind: 'add'; sa: SaShape } | { kind: 'del'; at: number };

describe('SpiTable equals a linear model', () => {
  it('random adds and removes with colliding keys, marks and both families', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: saArb.map((sa) => ({ kind: 'add' as const, sa })) },
      { weight: 2, arbitrary: fc.nat().map((at) => ({ kind: 'del' as const, at })) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 150 }), (ops) => {
        const table = new SpiTable<Sa>(order);
        const all: Sa[] = [];
        let serial = 0;
        const words = (family: number, addr: number) =>
          family === AF_INET ? [0x0a000000 + addr, 0, 0, 0] : [0x20010db8, 0, addr, -addr];
        for (const o of ops) {
          if (o.kind === 'add') {
            const w = words(o.sa.family, o.sa.addr);
            const [v, m] = o.sa.mark as [number, number];
            const e: Sa = {
              family: o.sa.family,
              proto: o.sa.proto,
              spi: o.sa.spi,
              d0: w[0]!,
              d1: w[1]!,
              d2: w[2]!,
              d3: w[3]!,
              markV: v,
              markM: m,
              serial: ++serial,
              offload: o.sa.offload,
            };
            table.add(e);
            all.push(e);
          } else if (all.length > 0) {
            const [e] = all.splice(o.at % all.length, 1);
            expect(table.remove(e!)).toBe(true);
            expect(table.remove(e!)).toBe(false);
          }
          for (const family of [AF_INET, AF_INET6]) {
            for (const addr of [0, 3, 5]) {
              const d = words(family, addr);
              for (const spi of [0x100, 0x80000000]) {
                for (const mark of [0, 1, 2, 0x13]) {
                  const want = modelLookup(all, family, d, spi, IPPROTO.ESP, mark);
                  expect(table.lookup(family, d[0]!, d[1]!, d[2]!, d[3]!, spi, IPPROTO.ESP, mark)).toBe(want);
                }
              }
            }
          }
        }
        expect(table.lookup(0, 0, 0, 0, 0, 0x100, IPPROTO.ESP, 0)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});
