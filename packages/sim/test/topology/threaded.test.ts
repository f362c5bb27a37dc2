/**
 * The two-thread link is `sendBatch`, pipelined over two threads: on two topologies seeded alike,
 * `ThreadedLink.send` (receiving DPU in a worker) and `sendBatch` give the same packets (delivered
 * bytes, drops, per-packet cycles), the same sending DPU and wire, and the worker's replica of the
 * receiving DPU ends in the same state as the single-threaded one (counters, cycle sums, SA/SAD).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BatchDelivery,
  dpuSnapshot,
  hostFrame,
  seedConfig,
  seedDpu,
  seedTopologyOptions,
  ThreadedLink,
  TwoDpuTopology,
} from '../../src/index.ts';
import { rng } from './support.ts';

interface Scenario {
  seed: number;
  esn: boolean;
  p0Mtu: number;
  warm: number;
  batches: number[][];
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  esn: fc.boolean(),
  p0Mtu: fc.constantFrom(1600, 1400),
  warm: fc.constantFrom(0, 140),
  batches: fc.array(
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 42, max: 1414 }) },
        { weight: 1, arbitrary: fc.integer({ min: 1380, max: 1530 }) },
      ),
      { minLength: 0, maxLength: 64 },
    ),
    { minLength: 1, maxLength: 8 },
  ),
});

async function build(s: Scenario, modeled: boolean) {
  const cfg = seedConfig({ esn: s.esn, random: rng(s.seed), p0Mtu: s.p0Mtu });
  const topo = new TwoDpuTopology({
    profile: 'bf3',
    ...seedTopologyOptions(cfg),
    modeledCrypto: modeled,
  });
  await seedDpu(topo.bfl, cfg, 'left');
  await seedDpu(topo.bfr, cfg, 'right');
  return { topo, cfg };
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

function record(d: BatchDelivery, into: unknown[]): void {
  for (let i = 0; i < d.count; i++) {
    const dr = d.drops[i];
    into.push([
      hex(d.frame(i)),
      dr ? `${dr.where}|${dr.reason}|${dr.counter}` : undefined,
      d.latencyCycles[i],
      d.rxCycles[i],
      d.ipsec[i],
    ]);
  }
  into.push(['batch', d.count, d.delivered, d.wireFrames, d.wireBytes]);
}

for (const modeled of [true, false]) {
  describe(`ThreadedLink ≡ sendBatch (${modeled ? 'modeled' : 'real'} crypto)`, () => {
    it('same packets, counters and cycle sums; the replica ends as the single-threaded DPU', async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const one = await build(s, modeled);
          const two = await build(s, modeled);
          const link = await ThreadedLink.start(two.topo, { from: 'left', cfg: two.cfg, slabs: 3 });
          try {
            const a: unknown[] = [];
            const b: unknown[] = [];
            let ipId = 1;
            const batches = [...(s.warm ? [new Array<number>(s.warm).fill(200)] : []), ...s.batches];
            for (const sizes of batches) {
              for (let at = 0; at < sizes.length || at === 0; at += 64) {
                const part = sizes.slice(at, at + 64);
                const frames = part.map((n, i) => hostFrame(one.topo.hostL, one.topo.hostR, n, ipId + i));
                record(one.topo.sendBatch('left', frames, ipId), a);
                link.send(frames, ipId, (d) => record(d, b));
                ipId += frames.length;
                if (part.length === 0) break;
              }
            }
            const replica = await link.stop();
            expect(b).toEqual(a);
            expect(replica).toEqual(dpuSnapshot(one.topo.bfr));
            expect(dpuSnapshot(two.topo.bfl)).toEqual(dpuSnapshot(one.topo.bfl));
            const w = (t: TwoDpuTopology) => [t.wire.timeNs, t.wire.frames, t.wire.bytes];
            expect(w(two.topo)).toEqual(w(one.topo));
          } finally {
            one.topo.dispose();
            two.topo.dispose();
          }
        }),
        { numRuns: modeled ? 6 : 4 },
      );
    }, 180_000);
  });
}

describe('ThreadedLink', () => {
  it('steady 1400-byte traffic: every packet delivered intact, batches reported in order', async () => {
    const s: Scenario = { seed: 7, esn: true, p0Mtu: 1600, warm: 0, batches: [] };
    const { topo, cfg } = await build(s, true);
    const link = await ThreadedLink.start(topo, { from: 'left', cfg });
    try {
      const frames = Array.from({ length: 64 }, (_, i) => hostFrame(topo.hostL, topo.hostR, 1414, i));
      const seen: number[] = [];
      for (let r = 0; r < 20; r++)
        link.send(frames, r * 64, (d) => {
          seen.push(r);
          expect(d.delivered).toBe(64);
          for (let i = 0; i < 64; i++) expect(Buffer.from(d.frame(i)!)).toEqual(Buffer.from(frames[i]!));
        });
      const replica = await link.stop();
      expect(seen).toEqual(Array.from({ length: 20 }, (_, r) => r));
      expect(replica.ethtool.ipsec_rx_pkts).toBe(20n * 64n);
    } finally {
      topo.dispose();
    }
  }, 60_000);
});
