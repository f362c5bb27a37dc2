import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { referenceLookup } from '../../src/spd/reference.ts';
import type { Flow } from '../../src/spd/selector.ts';
import { Spd, type SpdOptions } from '../../src/spd/spd.ts';
import type { XfrmPolicy } from '../../src/types/objects.ts';
import { AF_INET, AF_INET6, IPPROTO, XFRM_OFFLOAD_FLAG } from '../../src/types/xfrm.ts';
import { policy } from '../sad/fixtures.ts';

// addresses from a small pool so that prefixes and flows overlap often; the first part varies too,
// so that short prefixes and cells (/16 IPv4, /32 IPv6) differ
const v4 = fc
  .tuple(
    fc.constantFrom(10, 10, 11, 172, 255),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map(([o, a, b, c]) => `${o}.${a}.${b * 64}.${c}`);
const v6 = fc
  .tuple(
    fc.constantFrom('2001:db8', '2001:db8', '2001:db9', '3fff:0', 'fe80:8000'),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 0xffff }),
  )
  .map(([w, a, b, c]) => `${w}:${a.toString(16)}::${b.toString(16)}:${c.toString(16)}`);
const plen4 = fc.oneof(fc.constantFrom(0, 8, 15, 16, 24, 32, 32, 32), fc.integer({ min: 0, max: 32 }));
const plen6 = fc.oneof(
  fc.constantFrom(0, 16, 31, 32, 48, 64, 112, 128, 128, 128),
  fc.integer({ min: 0, max: 128 }),
);
const port = fc.constantFrom(0, 22, 80, 443, 4500, 8080);
const portMask = fc.constantFrom(0, 0, 0xffff, 0xff00, 0xfff0);
const proto = fc.constantFrom(0, 0, IPPROTO.TCP, IPPROTO.UDP, IPPROTO.ICMP);
// marks and if_ids with the top bit set too: the index compares them as int32 words
const markV = fc.constantFrom(0, 1, 2, 0x10, 0x11, 0x80000011);
const markM = fc.constantFrom(0, 0, 0xff, 0x0f, 0xffffffff);

function policyArb(family: number): fc.Arbitrary<XfrmPolicy> {
  const addr = family === AF_INET ? v4 : v6;
  const plen = family === AF_INET ? plen4 : plen6;
  return fc
    .record({
      daddr: addr,
      saddr: addr,
      pd: plen,
      ps: plen,
      dport: port,
      dportMask: portMask,
      sport: port,
      sportMask: portMask,
      proto,
      ifindex: fc.constantFrom(0, 0, 0, 3),
      dir: fc.constantFrom(0, 1, 2),
      priority: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(0xffffffff, 100)),
      ptype: fc.constantFrom(0, 0, 0, 1),
      mv: markV,
      mm: markM,
      ifId: fc.constantFrom(0, 0, 0, 9, 0x80000009),
      offload: fc.constantFrom(false, false, false, false, true),
    })
    .map((r) =>
      policy(
        {
          family,
          daddr: r.daddr,
          saddr: r.saddr,
          prefixlenD: r.pd,
          prefixlenS: r.ps,
          dport: r.dport,
          dportMask: r.dportMask,
          sport: r.sport,
          sportMask: r.sportMask,
          proto: r.proto,
          ifindex: r.ifindex,
        },
        { dir: r.dir, priority: r.priority, ptype: r.ptype },
        {
          ...(r.mm !== 0 || r.mv !== 0 ? { mark: { v: r.mv, m: r.mm } } : {}),
          ...(r.ifId !== 0 ? { ifId: r.ifId } : {}),
          ...(r.offload ? { offload: { ifindex: 4, flags: XFRM_OFFLOAD_FLAG.PACKET } } : {}),
        },
      ),
    );
}

function flowArb(family: number): fc.Arbitrary<Flow & { dir: number }> {
  const addr = family === AF_INET ? v4 : v6;
  return fc.record({
    family: fc.constant(family),
    daddr: addr,
    saddr: addr,
    proto,
    dport: port,
    sport: port,
    ifindex: fc.constantFrom(0, 3, 5),
    mark: fc.constantFrom(0, 1, 2, 0x10, 0x11, 0x21, 0x80000011, 0xffffffff),
    ifId: fc.constantFrom(0, 0, 9, 0x80000009),
    dir: fc.constantFrom(0, 1, 2),
  });
}

type Op = { kind: 'add' | 'upd'; p: XfrmPolicy } | { kind: 'del'; at: number };

function opsArb(family: number): fc.Arbitrary<Op[]> {
  const p = policyArb(family);
  return fc.array(
    fc.oneof(
      { weight: 6, arbitrary: p.map((x) => ({ kind: 'add' as const, p: x })) },
      { weight: 2, arbitrary: p.map((x) => ({ kind: 'upd' as const, p: x })) },
      { weight: 1, arbitrary: fc.nat().map((at) => ({ kind: 'del' as const, at })) },
    ),
    { minLength: 1, maxLength: 60 },
  );
}

function apply(spd: Spd, ops: Op[]): void {
  for (const op of ops) {
    if (op.kind === 'del') {
      const all = spd.entries();
      if (all.length > 0) spd.remove(all[op.at % all.length]!);
      continue;
    }
    try {
      if (op.kind === 'add') spd.add(op.p);
      else spd.update(op.p);
    } catch (e) {
      if (!(e instanceof XfrmError) || e.errno !== 'EEXIST') throw e;
    }
  }
}

// default split thresholds, and tiny ones so that cells and tuple entries split and merge constantly
const INDEX_OPTIONS: [string, SpdOptions][] = [
  ['default index', {}],
  ['tiny split thresholds', { index: { cellSplit: 2, splitAt: 2, directCellsFrom: 1 } }],
];

describe('indexed SPD lookup equals the linear-scan reference', () => {
  for (const [name, family] of [
    ['IPv4', AF_INET],
    ['IPv6', AF_INET6],
  ] as const)
    for (const [variant, options] of INDEX_OPTIONS) {
      it(`${name}, ${variant}: random policy sets and flows`, () => {
        fc.assert(
          fc.property(
            opsArb(family),
            fc.array(flowArb(family), { minLength: 1, maxLength: 40 }),
            (ops, flows) => {
              const spd = new Spd(options);
              const check = () => {
                const entries = spd.entries();
                for (const f of flows) {
                  const got = spd.lookup(f.dir, f).policy;
                  const want = referenceLookup(entries, f.dir, f);
                  expect(got?.index).toBe(want?.index);
                }
              };
              // lookups between the operations too: every structure the index passes through is checked
              for (let i = 0; i < ops.length; i += 8) {
                apply(spd, ops.slice(i, i + 8));
                check();
              }
            },
          ),
          { numRuns: 300 },
        );
      });
    }

  it('large buckets (many policies on one destination prefix) use the source trie correctly', () => {
    fc.assert(
      fc.property(
        fc.array(policyArb(AF_INET), { minLength: 20, maxLength: 120 }),
        fc.array(flowArb(AF_INET), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        (ps, flows, seed) => {
          const spd = new Spd();
          // force every policy onto the same destination prefix
          for (const p of ps) {
            p.info.sel.daddr = '10.1.0.0';
            p.info.sel.prefixlenD = 16;
            try {
              spd.add(p);
            } catch (e) {
              if (!(e instanceof XfrmError)) throw e;
            }
          }
          // delete some to exercise shrinking back to a small list
          const all = spd.entries();
          for (let i = 0; i < all.length; i += 2 + (seed % 3)) spd.remove(all[i]!);
          const entries = spd.entries();
          for (const f of flows) {
            const flow = { ...f, daddr: `10.1.${f.daddr.split('.')[2]}.${f.daddr.split('.')[3]}` };
            expect(spd.lookup(f.dir, flow).policy?.index).toBe(referenceLookup(entries, f.dir, flow)?.index);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
