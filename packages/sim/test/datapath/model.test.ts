/** The performance model: bounds, RSS by SPI, cache term, Toeplitz. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DATAPATH_PROFILES,
  EspRss,
  LoadAccumulator,
  missFraction,
  STAGES,
  type StageName,
  type StageVisit,
  toeplitz,
  wireCycles,
} from '../../src/index.ts';

const txPath = (bytes: number, policyHops = 1): StageVisit[] =>
  (
    [
      'tx.sq',
      'tx.root',
      'tx.policy',
      'tx.sa',
      'tx.aso',
      'tx.reformat',
      'tx.encrypt',
      'tx.status',
      'tx.wire',
    ] as StageName[]
  ).map((stage) => ({
    stage,
    hops: stage === 'tx.policy' ? policyHops : 1,
    bytes,
  }));

describe('throughput model', () => {
  it('never exceeds the wire rate or the slowest stage', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(DATAPATH_PROFILES)),
        fc.array(fc.integer({ min: 60, max: 9000 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 20000 }),
        fc.integer({ min: 1, max: 4 }),
        (id, sizes, contexts, hops) => {
          const p = DATAPATH_PROFILES[id]!;
          const acc = new LoadAccumulator(p, () => contexts);
          for (const s of sizes) acc.add(txPath(s, hops), s);
          const t = acc.throughput()!;
          expect(t.pps).toBeLessThanOrEqual(t.wirePps * (1 + 1e-9));
          for (const s of t.stages) expect(t.pps).toBeLessThanOrEqual(s.capacityPps * (1 + 1e-9));
          expect(t.gbps).toBeLessThanOrEqual(p.lineRateGbps * (1 + 1e-9));
          expect(
            t.stages.some((s) => s.stage === t.bottleneck && Math.abs(s.capacityPps - t.pps) < 1e-6 * t.pps),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the SA-context cache term only costs beyond on-chip capacity and grows with the SA count', () => {
    const p = DATAPATH_PROFILES.bf3!;
    expect(missFraction(p, p.saCache.contexts)).toBe(0);
    const rate = (n: number) => {
      const acc = new LoadAccumulator(p, () => n);
      acc.add(txPath(627), 627);
      return acc.throughput()!.pps;
    };
    expect(rate(10)).toBe(rate(p.saCache.contexts));
    expect(rate(p.saCache.contexts * 2)).toBeLessThan(rate(p.saCache.contexts));
    expect(rate(p.saCache.contexts * 4)).toBeLessThan(rate(p.saCache.contexts * 2));
  });

  it('receive throughput scales with the queues RSS spreads SPIs over', () => {
    const p = DATAPATH_PROFILES.bf3!;
    const rxRate = (spis: number, queues: number) => {
      const rss = new EspRss(queues);
      const acc = new LoadAccumulator(p, () => 2);
      const src = Uint8Array.from([192, 168, 1, 64]);
      const dst = Uint8Array.from([192, 168, 1, 65]);
      for (let i = 0; i < 4096; i++) {
        const spi = 0x1000 + (i % spis) * 0x101;
        const q = rss.queue(src, dst, spi);
        acc.add(
          [
            { stage: 'rx.wire', hops: 1, bytes: 256 },
            { stage: 'rx.rq', hops: 1, bytes: 256, queue: q },
          ],
          256,
        );
      }
      return acc.throughput()!;
    };
    const one = rxRate(1, 8);
    const many = rxRate(256, 8);
    expect(one.bottleneck).toBe('rx.rq');
    expect(many.pps).toBeGreaterThan(3 * one.pps);
    expect(rxRate(256, 1).pps).toBeCloseTo(one.pps, 6);
  });

  it('wire cycles follow the line rate (20 B preamble + IFG per frame)', () => {
    const p = DATAPATH_PROFILES.cx7!;
    expect(wireCycles(p, 1500) * (p.lineRateGbps * 1e9)).toBeCloseTo(1520 * 8 * p.clockHz, 3);
  });

  it('every stage has a cost in every profile', () => {
    for (const p of Object.values(DATAPATH_PROFILES))
      for (const s of STAGES)
        if (s !== 'tx.wire' && s !== 'rx.wire') expect(p.stages[s].units).toBeGreaterThan(0);
  });
});

describe('Toeplitz RSS', () => {
  it('matches the Microsoft RSS verification vectors', () => {
    // 66.9.149.187:2794 → 161.142.100.80:1766 (IPv4 only and IPv4+TCP)
    const addr = Uint8Array.from([66, 9, 149, 187, 161, 142, 100, 80]);
    expect(toeplitz(addr)).toBe(0x323e8fc2);
    const withPorts = Uint8Array.from([...addr, 2794 >> 8, 2794 & 255, 1766 >> 8, 1766 & 255]);
    expect(toeplitz(withPorts)).toBe(0x51ccc178);
  });
});
