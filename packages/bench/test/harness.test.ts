/** The harness itself: summaries, ratios, the report shape and its checker, the table, filters. */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import {
  type BenchResult,
  fastest,
  formatRate,
  formatTable,
  measureRate,
  nsPerOp,
  reportProblems,
  result,
  sampleRoundRobin,
  selected,
  summarize,
  withBaseline,
} from '../src/index.ts';

function good(): BenchResult {
  return result('x.rate', 'one thing', 'ops/s', [10, 30, 20], { name: 'base', samples: [4, 5, 6] });
}

describe('summarize', () => {
  it('takes the median and the relative median absolute deviation', () => {
    expect(summarize([3, 1, 2])).toEqual({ median: 2, spread: 0.5 });
    // even count: mean of the middle two; deviations from 2.5 are 1.5, 0.5, 0.5, 1.5 → MAD 1
    const s = summarize([4, 1, 2, 3]);
    expect(s.median).toBe(2.5);
    expect(s.spread).toBeCloseTo(1 / 2.5, 12);
    expect(summarize([5, 5, 5]).spread).toBe(0);
    expect(summarize([0, 0]).spread).toBe(0);
  });

  it('does not reorder the caller’s samples', () => {
    const xs = [3, 1, 2];
    summarize(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('result and baselines', () => {
  it('reports the median, keeps every sample, and divides by the baseline median', () => {
    const r = good();
    expect(r.value).toBe(20);
    expect(r.samples).toEqual([10, 30, 20]);
    expect(r.baseline).toBe(5);
    expect(r.baseline_name).toBe('base');
    expect(r.ratio).toBe(4);
    expect(r.ns_per_op).toBeCloseTo(1e9 / 20, 6);
    // the fastest sample, beside the median
    expect(r.best).toBe(30);
  });

  it('finds the fastest of a full run’s million samples (no spread call to overflow the stack)', () => {
    const xs = Array.from({ length: 1_000_000 }, (_, i) => (i * 7919) % 1_000_003);
    expect(fastest(xs)).toBe(xs.reduce((a, b) => Math.max(a, b)));
    expect(result('x.many', 'w', 'msg/s', xs).best).toBe(fastest(xs));
  });

  it('gives no best sample for a unit that is not a rate', () => {
    expect(result('mem.x', 'w', 'bytes', [100, 90])).not.toHaveProperty('best');
  });

  it('has no baseline fields without a baseline', () => {
    const r = result('x.y', 'w', 'msg/s', [1, 2, 3]);
    expect(r).not.toHaveProperty('baseline');
    expect(r).not.toHaveProperty('ratio');
  });

  it('withBaseline sets value/baseline and drops the ratio for a zero baseline', () => {
    const r = result('x.y', 'w', 'Mpps', [2]);
    withBaseline(r, 'ceiling', 8);
    expect(r.ratio).toBe(0.25);
    withBaseline(r, 'zero', 0);
    expect(r.ratio).toBeUndefined();
  });

  it('converts rates to ns per operation by unit', () => {
    expect(nsPerOp(2, 'Mpps')).toBe(500);
    expect(nsPerOp(1e6, 'lookups/s')).toBe(1000);
    expect(nsPerOp(100, 'bytes')).toBeUndefined();
    expect(nsPerOp(0, 'ops/s')).toBeUndefined();
  });
});

describe('reportProblems', () => {
  const report = (results: unknown[]) => ({ machine: { node: 'v20' }, results });

  it('accepts a well-formed report', () => {
    expect(reportProblems(report([good(), result('x.other', 'w', 'msg/s', [1])]))).toEqual([]);
  });

  it.each([
    ['not an object', 5, 'not an object'],
    ['no results', { machine: {} }, 'results is not an array'],
    ['no machine', { results: [] }, 'machine missing'],
  ])('rejects %s', (_, rep, msg) => {
    expect(reportProblems(rep).join('; ')).toContain(msg);
  });

  it.each<[string, (r: BenchResult) => void, string]>([
    ['a bad id', (r) => (r.id = 'Nope'), 'bad id'],
    ['an empty what', (r) => (r.what = ''), 'what missing'],
    ['no samples', (r) => (r.samples = []), 'no samples'],
    ['a NaN sample', (r) => (r.samples = [1, Number.NaN]), 'bad sample'],
    ['a value that is not the median', (r) => (r.value = 21), 'not the median'],
    ['a wrong ratio', (r) => (r.ratio = 3), 'ratio is not value / baseline'],
    ['a best that is not the fastest sample', (r) => (r.best = 20), 'best is not the fastest sample'],
    [
      'a ratio without baseline',
      (r) => delete r.baseline && delete r.baseline_name,
      'ratio without baseline',
    ],
    ['a baseline without name', (r) => delete r.baseline_name, 'baseline without baseline_name'],
    ['a baseline without ratio', (r) => delete r.ratio, 'baseline without ratio'],
  ])('rejects a result with %s', (_, spoil, msg) => {
    const r = good();
    spoil(r);
    expect(reportProblems(report([r])).join('; ')).toContain(msg);
  });

  it('rejects duplicate ids', () => {
    expect(reportProblems(report([good(), good()])).join('; ')).toContain('duplicate id');
  });
});

describe('selected (--only)', () => {
  it('selects ids by prefix', () => {
    expect(selected('esp.encap.64', undefined)).toBe(true);
    expect(selected('esp.encap.64', 'esp')).toBe(true);
    expect(selected('esp.encap.64.node', 'esp.encap.64')).toBe(true);
    expect(selected('esp.decap.64', 'esp.encap')).toBe(false);
    expect(selected('esp.encap.64', 'esp.encap.64.node')).toBe(false);
  });
});

describe('formatTable', () => {
  it('has the ratio, baseline, Gb/s and ns/op columns, one row per result', () => {
    const r = good();
    r.gbps = 1.5;
    const lines = formatTable([r, result('x.plain', 'no base', 'msg/s', [2500])]).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      'id',
      'value',
      'unit',
      'spread',
      'best',
      'Gb/s',
      'ns/op',
      'baseline',
      'ratio',
      'what',
    ]);
    expect(lines[1]).toMatch(
      /x\.rate\s+20\.0\s+ops\/s\s+±50\.0%\s+30\.0\s+1\.50\s+50000000\s+5\.00 \(base\)\s+4\.00\s+one thing/,
    );
    expect(lines[2]).toMatch(/x\.plain\s+2\.5 k\s+msg\/s\s+±0\.0%\s+2\.5 k\s+400000\s+no base/);
  });

  it('formats rates with k/M suffixes and 3 significant digits', () => {
    expect(formatRate(2_345_000)).toBe('2.35 M');
    expect(formatRate(12_345)).toBe('12.3 k');
    expect(formatRate(0.8123)).toBe('0.812');
    expect(formatRate(0)).toBe('0');
  });
});

describe('measurement loops', () => {
  it('measureRate returns one positive finite rate per sample', async () => {
    let calls = 0;
    // ~50 µs per call (tinybench keeps one latency sample per call: keep the count small)
    const work = () => {
      calls++;
      const end = performance.now() + 0.05;
      while (performance.now() < end);
    };
    const xs = await measureRate('busy', work, 4, { quick: true });
    expect(xs.length).toBeGreaterThan(0);
    expect(calls).toBeGreaterThan(0);
    for (const x of xs) expect(Number.isFinite(x) && x > 0).toBe(true);
  });

  it('sampleRoundRobin samples every task the asked number of times, in turn', () => {
    const order: string[] = [];
    const task = (id: string) => ({
      id,
      packets: 10,
      rates: [] as number[],
      call: () => {
        order.push(id);
        return 1; // 1 ms of "timed" work per call
      },
    });
    const a = task('a');
    const b = task('b');
    sampleRoundRobin([a, b], 3, 2);
    expect(a.rates).toEqual([0.01, 0.01, 0.01]); // 20 packets / 2 ms = 0.01 Mpps
    expect(b.rates).toHaveLength(3);
    // warm-up a,a b,b then a,a b,b ×3: never two rounds of one task back to back after warm-up
    expect(order.join('')).toBe('aabbaabbaabbaabb');
  });
});
