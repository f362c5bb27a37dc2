/**
 * Edge cases of the chain index (chain-index.ts) against the linear reference: many policies in one
 * cell or one destination prefix (moved to the tuple tables, split by source prefix and merged back),
 * priority ties (age decides), deletions that empty lists, cells and whole prefix-length tables,
 * IPv6, /0 wildcards, marks and if_id, UPDPOLICY replacement and packet-offloaded policies — with the
 * default split thresholds and with tiny ones, so that every structure is passed through.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { CELL_SPLIT, SPLIT_AT } from '../../src/spd/chain-index.ts';
import { referenceLookup } from '../../src/spd/reference.ts';
import type { Flow } from '../../src/spd/selector.ts';
import { Spd } from '../../src/spd/spd.ts';
import type { XfrmPolicy } from '../../src/types/objects.ts';
import { AF_INET, AF_INET6, IPPROTO, XFRM_OFFLOAD_FLAG } from '../../src/types/xfrm.ts';
import { policy } from '../sad/fixtures.ts';

const OUT = 1;

interface Shape {
  family: number;
  d: number;
  s: number;
  pd: number;
  ps: number;
  dport: number;
  dportMask: number;
  proto: number;
  priority: number;
  mv: number;
  mm: number;
  ifId: number;
  offload: boolean;
}

// a tiny address space (4 values per side) so that bins collide and fill up
function addr(family: number, x: number): string {
  return family === AF_INET
    ? `10.0.${x & 3}.${(x >> 2) & 3}`
    : `2001:db8::${(x & 3).toString(16)}:${((x >> 2) & 3).toString(16)}`;
}

function shapeArb(family: number): fc.Arbitrary<Shape> {
  const bits = family === AF_INET ? 32 : 128;
  const plen = fc.constantFrom(0, bits - 16, bits - 8, bits, bits, bits);
  return fc.record({
    family: fc.constant(family),
    d: fc.integer({ min: 0, max: 15 }),
    s: fc.integer({ min: 0, max: 15 }),
    pd: plen,
    ps: plen,
    dport: fc.constantFrom(0, 80, 443),
    dportMask: fc.constantFrom(0, 0, 0xffff),
    proto: fc.constantFrom(0, IPPROTO.TCP, IPPROTO.UDP),
    // few distinct priorities: ties are the norm
    priority: fc.constantFrom(0, 1, 1, 2, 0xffffffff),
    mv: fc.constantFrom(0, 1, 0x10),
    mm: fc.constantFrom(0, 0, 0xff, 0xffffffff),
    ifId: fc.constantFrom(0, 0, 7),
    offload: fc.integer({ min: 0, max: 7 }).map((x) => x === 0),
  });
}

function toPolicy(x: Shape): XfrmPolicy {
  return policy(
    {
      family: x.family,
      daddr: addr(x.family, x.d),
      saddr: addr(x.family, x.s),
      prefixlenD: x.pd,
      prefixlenS: x.ps,
      dport: x.dport,
      dportMask: x.dportMask,
      proto: x.proto,
    },
    { dir: OUT, priority: x.priority },
    {
      ...(x.mv !== 0 || x.mm !== 0 ? { mark: { v: x.mv, m: x.mm } } : {}),
      ...(x.ifId !== 0 ? { ifId: x.ifId } : {}),
      ...(x.offload ? { offload: { ifindex: 2, flags: XFRM_OFFLOAD_FLAG.PACKET } } : {}),
    },
  );
}

function flowArb(family: number): fc.Arbitrary<Flow> {
  return fc
    .record({
      d: fc.integer({ min: 0, max: 15 }),
      s: fc.integer({ min: 0, max: 15 }),
      dport: fc.constantFrom(80, 443, 22),
      proto: fc.constantFrom(IPPROTO.TCP, IPPROTO.UDP),
      mark: fc.constantFrom(0, 1, 0x10, 0x101),
      ifId: fc.constantFrom(0, 7),
    })
    .map((r) => ({
      family,
      daddr: addr(family, r.d),
      saddr: addr(family, r.s),
      dport: r.dport,
      sport: 1000,
      proto: r.proto,
      mark: r.mark,
      ifId: r.ifId,
    }));
}

type Op = { kind: 'add' | 'upd'; x: Shape } | { kind: 'del'; at: number };

function check(spd: Spd, flows: Flow[]): void {
  const entries = spd.entries();
  for (const f of flows) {
    expect(spd.lookup(OUT, f).policy?.index).toBe(referenceLookup(entries, OUT, f)?.index);
  }
}

function apply(spd: Spd, op: Op): void {
  if (op.kind === 'del') {
    const all = spd.entries();
    if (all.length > 0) spd.remove(all[op.at % all.length]!);
    return;
  }
  try {
    if (op.kind === 'add') spd.add(toPolicy(op.x));
    else spd.update(toPolicy(op.x));
  } catch (e) {
    if (!(e instanceof XfrmError) || e.errno !== 'EEXIST') throw e;
  }
}

describe('chain index edge cases equal the linear reference', () => {
  for (const [name, family] of [
    ['IPv4', AF_INET],
    ['IPv6', AF_INET6],
  ] as const)
    for (const [variant, options] of [
      ['default index', {}],
      ['tiny split thresholds', { index: { cellSplit: 3, splitAt: 2, directCellsFrom: 1 } }],
    ] as const) {
      it(`${name}, ${variant}: dense collisions, ties, marks, if_id, offload, add/update/delete interleaved with lookups`, () => {
        const op: fc.Arbitrary<Op> = fc.oneof(
          { weight: 5, arbitrary: shapeArb(family).map((x) => ({ kind: 'add' as const, x })) },
          { weight: 2, arbitrary: shapeArb(family).map((x) => ({ kind: 'upd' as const, x })) },
          { weight: 3, arbitrary: fc.nat().map((at) => ({ kind: 'del' as const, at })) },
        );
        fc.assert(
          fc.property(
            fc.array(op, { minLength: 1, maxLength: 120 }),
            fc.array(flowArb(family), { minLength: 1, maxLength: 12 }),
            (ops, flows) => {
              const spd = new Spd(options);
              // check after every 10 operations: lists split, merge and disappear along the way
              ops.forEach((o, i) => {
                apply(spd, o);
                if (i % 10 === 9) check(spd, flows);
              });
              check(spd, flows);
            },
          ),
          { numRuns: 200 },
        );
      });
    }

  it('one destination bin far above the split threshold, then drained to empty', () => {
    fc.assert(
      fc.property(
        fc.array(shapeArb(AF_INET), { minLength: 2 * SPLIT_AT, maxLength: 3 * SPLIT_AT }),
        fc.array(flowArb(AF_INET), { minLength: 1, maxLength: 10 }),
        fc.nat(),
        (xs, flows, seed) => {
          const spd = new Spd();
          for (const x of xs) apply(spd, { kind: 'add', x: { ...x, d: 5, pd: 32 } });
          const pinned = flows.map((f) => ({ ...f, daddr: addr(AF_INET, 5) }));
          check(spd, pinned);
          // delete in a scrambled order, checking as the bin shrinks: at every step around the merge
          // threshold, every few steps elsewhere
          let k = seed;
          while (spd.size > 0) {
            const all = spd.entries();
            k = (k * 1103515245 + 12345) >>> 0;
            spd.remove(all[k % all.length]!);
            const n = spd.size;
            if (Math.abs(n - SPLIT_AT / 2) <= 2 || n % 16 === 0) check(spd, pinned);
          }
          expect(spd.lookup(OUT, pinned[0]!).usedDefault).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it(`IPv4 cells above ${CELL_SPLIT} policies (moved to the tuple tables and back), growing and shrinking`, () => {
    // destinations spread over a few /16 cells with prefix lengths on both sides of /16
    const dst = fc
      .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }))
      .map(([a, b, c]) => `10.${a}.${b * 64}.${c}`);
    const pol = fc
      .record({
        d: dst,
        pd: fc.constantFrom(0, 8, 12, 16, 17, 20, 24, 26, 31, 32, 32),
        s: fc.constantFrom('192.0.2.0', '192.0.2.77', '198.51.100.1'),
        ps: fc.constantFrom(0, 24, 32),
        priority: fc.integer({ min: 0, max: 20 }),
        dport: fc.constantFrom(0, 80),
        ifId: fc.constantFrom(0, 0, 0, 3),
      })
      .map((r) =>
        policy(
          {
            daddr: r.d,
            prefixlenD: r.pd,
            saddr: r.s,
            prefixlenS: r.ps,
            dport: r.dport,
            dportMask: r.dport === 0 ? 0 : 0xffff,
            proto: r.dport === 0 ? 0 : IPPROTO.TCP,
          },
          { dir: OUT, priority: r.priority },
          r.ifId !== 0 ? { ifId: r.ifId } : {},
        ),
      );
    const flow = fc
      .record({
        d: dst,
        s: fc.constantFrom('192.0.2.77', '198.51.100.1', '203.0.113.5'),
        ifId: fc.constantFrom(0, 3),
      })
      .map((r) => ({
        family: AF_INET,
        daddr: r.d,
        saddr: r.s,
        proto: IPPROTO.TCP,
        dport: 80,
        sport: 999,
        ifId: r.ifId,
      }));
    fc.assert(
      fc.property(
        fc.array(pol, { minLength: CELL_SPLIT + 20, maxLength: 4 * CELL_SPLIT }),
        fc.array(flow, { minLength: 5, maxLength: 30 }),
        fc.nat(),
        (ps, flows, seed) => {
          const spd = new Spd();
          for (const p of ps) {
            try {
              spd.add(p);
            } catch (e) {
              if (!(e instanceof XfrmError) || e.errno !== 'EEXIST') throw e;
            }
          }
          check(spd, flows);
          // remove most of them in a scrambled order (bins, tables and filter bits go away)
          let k = seed;
          let step = 0;
          while (spd.size > 10) {
            const all = spd.entries();
            k = (k * 1103515245 + 12345) >>> 0;
            spd.remove(all[k % all.length]!);
            if (++step % 40 === 0) check(spd, flows);
          }
          check(spd, flows);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('/0 wildcards on both sides match every flow, ordered by priority then age', () => {
    const spd = new Spd();
    const any = { family: AF_INET, daddr: '0.0.0.0', saddr: '0.0.0.0', prefixlenD: 0, prefixlenS: 0 };
    const a = spd.add(policy({ ...any, proto: IPPROTO.TCP }, { dir: OUT, priority: 5 })).entry;
    const b = spd.add(policy({ ...any, proto: IPPROTO.UDP }, { dir: OUT, priority: 5 })).entry;
    const c = spd.add(policy(any, { dir: OUT, priority: 5 })).entry;
    const flow = (proto: number) => ({ family: AF_INET, daddr: '198.51.100.7', saddr: '203.0.113.9', proto });
    expect(spd.lookup(OUT, flow(IPPROTO.TCP)).policy).toBe(a);
    expect(spd.lookup(OUT, flow(IPPROTO.UDP)).policy).toBe(b);
    expect(spd.lookup(OUT, flow(IPPROTO.ICMP)).policy).toBe(c);
    // UPDPOLICY of the TCP one counts as new: the ICMP-any policy c is now older at equal priority
    const a2 = spd.update(policy({ ...any, proto: IPPROTO.TCP }, { dir: OUT, priority: 5 })).entry;
    expect(spd.lookup(OUT, flow(IPPROTO.TCP)).policy).toBe(c);
    spd.remove(c);
    expect(spd.lookup(OUT, flow(IPPROTO.TCP)).policy).toBe(a2);
    spd.remove(a2);
    spd.remove(b);
    expect(spd.lookup(OUT, flow(IPPROTO.TCP)).usedDefault).toBe(true);
  });
});
