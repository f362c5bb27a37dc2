/** Verdicts of the bench issue's targets (targets.ts) on synthetic results: no timing here. */
import { describe, expect, it } from 'vitest';
import { type BenchResult, formatVerdicts, judge, result, TARGETS, withBaseline } from '../src/index.ts';

const rate = (id: string, unit: string, samples: number[], base?: number): BenchResult => {
  const r = result(id, 'w', unit, samples);
  return base === undefined ? r : withBaseline(r, 'base', base);
};

/** A full run's worth of results: every id a target reads. */
function run(): BenchResult[] {
  return [
    rate('esp.raw_seal.64', 'Mpps', [3.9, 4.0, 4.4]),
    rate('esp.encap.64', 'Mpps', [3.0, 3.1, 3.6], 4.0), // 0.775 on medians, 3.6/4.4 = 0.82 on best
    rate('esp.raw_open.64', 'Mpps', [4.0, 4.0, 4.0]),
    rate('esp.decap.64', 'Mpps', [3.6, 3.6, 3.6], 4.0), // 0.90
    rate('esp.raw_seal.1400', 'Mpps', [1.6, 1.6, 1.6]),
    rate('esp.encap.1400', 'Mpps', [1.5, 1.5, 1.5], 1.6), // 0.9375
    rate('esp.raw_open.1400', 'Mpps', [1.6, 1.6, 1.6]),
    rate('esp.decap.1400', 'Mpps', [1.4, 1.4, 1.4], 1.6), // 0.875
    rate('spd.lookup.1k', 'lookups/s', [14e6, 15e6, 16e6]),
    rate('spd.load.dram', 'loads/s', [4e6, 5e6, 5e6]), // fastest 200 ns: 3.2× the fastest 1k lookup (62.5 ns)
    rate('spd.lookup.100k', 'lookups/s', [4e6, 4.5e6, 6e6], 4), // ratio 1.1e6
    rate('spd.lookup.1m', 'lookups/s', [1e6, 1.5e6, 2e6]), // 15/1.5 = 10×
    rate('sad.lookup', 'lookups/s', [21e6, 22e6, 23e6]),
    rate('codec.newsa', 'msg/s', [0.7e6, 0.7e6, 0.7e6]),
    rate('codec.dump1000', 'msg/s', [0.7e6, 0.7e6, 1.1e6]),
    rate('kernel.program.100k', 'policies/s', [120e3, 120e3, 120e3], 40e3), // 3×
    rate('sim.pipeline.real', 'Mpps', [0.45, 0.45, 0.45], 1.5), // 0.3
    rate('sim.pipeline.real.threaded', 'Mpps', [0.7, 0.7, 0.7], 1.5),
    rate('sim.pipeline.modeled', 'Mpps', [1.2, 1.2, 1.2]),
    rate('sim.pipeline.modeled.threaded', 'Mpps', [1.3, 1.3, 1.3]),
  ];
}

const byName = (vs: ReturnType<typeof judge>) => new Map(vs.map((v) => [v.name, v]));

describe('judge', () => {
  it('judges every target of a full run on the medians', () => {
    const v = byName(judge(run(), false));
    expect(v.size).toBe(TARGETS.length);
    const met = [...v.values()].filter((x) => x.met).map((x) => x.name);
    expect(met.sort()).toEqual(
      [
        'esp.decap.64 / ceiling',
        'esp.encap.1400 / ceiling',
        'spd.lookup.100k / linear scan',
        'sad.lookup',
        'kernel.program.100k / ip -batch',
      ].sort(),
    );
    expect(v.get('esp.encap.64 / ceiling')!.measured).toBeCloseTo(0.775, 12);
    expect(v.get('esp.decap.1400 / ceiling')!.measured).toBeCloseTo(0.875, 12);
    expect(v.get('spd.lookup.100k')!.measured).toBeCloseTo(4.5, 12);
    expect(v.get('sim.pipeline.modeled')!.measured).toBe(1.2);
  });

  it('gives the slowdown from 1k to 1m policies as 1k rate / 1m rate, median and best', () => {
    const f = byName(judge(run(), false)).get('spd.lookup 1k → 1m')!;
    expect(f.measured).toBeCloseTo(10, 12);
    expect(f.best).toBeCloseTo(8, 12);
    expect(f.met).toBe(false);
  });

  it('tells a target met only on the fastest samples, fastest over fastest', () => {
    const v = byName(judge(run(), false));
    const encap = v.get('esp.encap.64 / ceiling')!;
    expect(encap.met).toBe(false);
    expect(encap.best).toBeCloseTo(3.6 / 4.4, 12);
    expect(encap.metOnBest).toBe(true);
    expect(v.get('codec.dump1000')!.metOnBest).toBe(true);
    expect(v.get('codec.newsa')!.metOnBest).toBe(false);
    expect(v.get('spd.lookup.100k')!.metOnBest).toBe(true);
    // a ratio whose baseline is not a result of the run has no best figure
    expect(v.get('kernel.program.100k / ip -batch')!.best).toBeUndefined();
    // a met target is not "met on best"
    expect(v.get('sad.lookup')!.metOnBest).toBe(false);
  });

  it('skips the targets whose results the run lacks, unless asked for all', () => {
    const some = run().filter((r) => r.id.startsWith('codec.'));
    expect(judge(some, false).map((v) => v.name)).toEqual(['codec.newsa', 'codec.dump1000']);
    const all = judge(some, false, true);
    expect(all).toHaveLength(TARGETS.length);
    const spd = all.find((v) => v.name === 'spd.lookup.100k')!;
    expect(spd).toMatchObject({ met: false, metOnBest: false });
    expect(spd.measured).toBeUndefined();
  });

  it('works out the limits of this machine from the reference results and tells targets out of reach', () => {
    const v = byName(judge(run(), false));
    const flat = v.get('spd.lookup 1k → 1m')!;
    // from the fastest samples (their medians would give 15/5 = 3): 200 ns load / 62.5 ns lookup
    expect(flat.limit!.value).toBeCloseTo(3.2, 12);
    expect(flat.limit!.why).toContain('200 ns');
    expect(flat.outOfReach).toBe(true);
    const real = v.get('sim.pipeline.real / esp.encap.1400')!;
    expect(real.limit!.value).toBeCloseTo(1.4 / (1.5 + 1.4), 12); // one encap + one decap per packet
    expect(real.outOfReach).toBe(true);
    // two threads, one AES-GCM operation per packet each: no such limit
    expect(v.get('sim.pipeline.real.threaded / esp.encap.1400')!).toMatchObject({
      met: false,
      outOfReach: false,
    });
    expect(v.get('sim.pipeline.real.threaded / esp.encap.1400')!.measured).toBeCloseTo(0.7 / 1.5, 12);
    // no limit: never out of reach
    expect(v.get('codec.newsa')!.limit).toBeUndefined();
    expect(v.get('codec.newsa')!.outOfReach).toBe(false);
    // a limit the bound lies within: reachable (a 1M lookup could be 1.5× a 1k one), met or not
    const fast = run().map((r) =>
      r.id === 'spd.load.dram' ? rate('spd.load.dram', 'loads/s', [30e6, 30e6, 30e6]) : r,
    );
    const within = byName(judge(fast, false)).get('spd.lookup 1k → 1m')!;
    expect(within.limit!.value).toBeCloseTo(16 / 30, 12);
    expect(within).toMatchObject({ met: false, outOfReach: false });
    const slowDecap = run().map((r) =>
      r.id === 'esp.decap.1400' ? rate('esp.decap.1400', 'Mpps', [6, 6, 6], 6.4) : r,
    );
    const reachable = byName(judge(slowDecap, false)).get('sim.pipeline.real / esp.encap.1400')!;
    expect(reachable.limit!.value).toBeCloseTo(0.8, 12); // 6 / (1.5 + 6)
    expect(reachable.outOfReach).toBe(false);
    // without its references a target has no limit
    const bare = byName(
      judge(
        run().filter((r) => r.id !== 'spd.load.dram'),
        false,
      ),
    );
    expect(bare.get('spd.lookup 1k → 1m')!.limit).toBeUndefined();
  });

  it('marks a quick run', () => {
    expect(judge(run(), true).every((v) => v.quick)).toBe(true);
  });
});

describe('formatVerdicts', () => {
  it('prints one line per target with the figure, the best samples and the verdict', () => {
    const text = formatVerdicts(judge(run(), false)).split('\n');
    expect(text[0]).toContain('met on the medians');
    expect(text[1]).toMatch(/^target\s+measured\s+best samples\s+limit here\s+verdict$/);
    const limited = TARGETS.filter((t) => t.limit !== undefined).length;
    expect(limited).toBe(2);
    // header, column names, one line per target, then the limits with their reasons
    expect(text).toHaveLength(2 + TARGETS.length + 1 + limited);
    expect(text[2 + TARGETS.length]).toMatch(/^limits/);
    expect(text.at(-2)).toMatch(
      /^ {2}spd\.lookup 1k → 1m: one load from beyond the cache .* 3\.2× a whole 1k lookup/,
    );
    expect(text.at(-1)).toMatch(
      /^ {2}sim\.pipeline\.real \/ esp\.encap\.1400: each packet is one encap and one decap/,
    );
    expect(text.find((l) => l.startsWith('esp.encap.64 ≥ 0.80'))).toMatch(
      /0\.78\s+0\.82\s+—\s+not met \(met on the best samples\)$/,
    );
    expect(text.find((l) => l.startsWith('a lookup among 1M'))).toMatch(
      /10\.0×\s+8\.00×\s+3\.20×\s+not met, out of reach \(see limits\)$/,
    );
    expect(text.find((l) => l.startsWith('sad.lookup'))).toMatch(/22\.0 M\/s\s+23\.0 M\/s\s+—\s+met$/);
  });

  it('says that a quick run is not judged, and prints nothing for no verdicts', () => {
    const text = formatVerdicts(judge(run(), true));
    expect(text.split('\n')[0]).toContain('judged on full runs only');
    expect(text).toContain('(quick run)');
    expect(formatVerdicts([])).toBe('');
  });
});
