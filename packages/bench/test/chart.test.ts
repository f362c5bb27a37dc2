/** The --svg charts: data extraction from results and headless SVG rendering (vega-lite). */
import { describe, expect, it } from 'vitest';
import {
  type BenchResult,
  chartSpec,
  lookupPoints,
  policyCount,
  renderSvg,
  result,
  throughputPoints,
  withBaseline,
} from '../src/index.ts';

function esp(id: string, mpps: number, gbps: number): BenchResult {
  const r = result(id, 'w', 'Mpps', [mpps]);
  r.gbps = gbps;
  return r;
}

const espResults = [
  esp('esp.encap.64', 1, 0.5),
  esp('esp.raw_seal.64', 3, 1.5),
  esp('esp.decap.imix', 0.8, 2.2),
  esp('esp.encap.64.node', 0.1, 0.05), // a variant: not charted
];

function spd(id: string, n: number, rate: number, base: number): BenchResult {
  return withBaseline(
    result(id, `lookupCompiled, ${n} mixed-prefix policies`, 'lookups/s', [rate]),
    'linear scan',
    base,
  );
}

describe('chart data', () => {
  it('charts the default configuration and the ceilings per size', () => {
    expect(throughputPoints(espResults)).toEqual([
      { size: '64 B', series: 'ESP encap', mpps: 1, gbps: 0.5 },
      { size: '64 B', series: 'ceiling: raw AES-GCM seal', mpps: 3, gbps: 1.5 },
      { size: 'IMIX', series: 'ESP decap', mpps: 0.8, gbps: 2.2 },
    ]);
  });

  it('reads the policy count from what, else from the id', () => {
    expect(policyCount(spd('spd.lookup.10k', 5000, 1, 1))).toBe(5000);
    expect(policyCount(result('spd.lookup.1m', 'no count here', 'lookups/s', [1]))).toBe(1_000_000);
    expect(policyCount(result('spd.lookup.100k', 'x', 'lookups/s', [1]))).toBe(100_000);
  });

  it('turns lookup rates into ns per lookup, indexed and baseline', () => {
    expect(lookupPoints([spd('spd.lookup.1k', 1000, 1e7, 1e5)])).toEqual([
      { policies: 1000, series: 'indexed lookup', ns: 100 },
      { policies: 1000, series: 'linear scan', ns: 10_000 },
    ]);
  });

  it('draws the memory references of the run as flat lines at the lookup sizes', () => {
    const loads = [
      result('spd.load.dram', 'x', 'loads/s', [5e6]),
      result('spd.load.cache', 'x', 'loads/s', [2e8]),
    ];
    const pts = lookupPoints([
      spd('spd.lookup.1k', 1000, 1e7, 1e5),
      spd('spd.lookup.1m', 1e6, 1e6, 1),
      ...loads,
    ]);
    expect(pts.filter((p) => p.series.includes('spd.load.dram'))).toEqual([
      { policies: 1000, series: 'one load beyond the cache (spd.load.dram)', ns: 200 },
      { policies: 1e6, series: 'one load beyond the cache (spd.load.dram)', ns: 200 },
    ]);
    expect(pts.filter((p) => p.series.includes('spd.load.cache')).map((p) => p.ns)).toEqual([5, 5]);
    // no lookups, no lines
    expect(lookupPoints(loads)).toEqual([]);
  });
});

describe('renderSvg', () => {
  it('draws the throughput panels and the log–log lookup panel', async () => {
    const svg = await renderSvg(
      [...espResults, spd('spd.lookup.1k', 1000, 1e7, 1e5), spd('spd.lookup.10k', 10_000, 9e6, 1e4)],
      'test',
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('ESP throughput vs packet size (Mpps)');
    expect(svg).toContain('ESP throughput vs packet size (Gb/s)');
    expect(svg).toContain('SPD lookup time vs number of policies (log–log)');
    expect(svg).toContain('ceiling: raw AES-GCM seal');
    expect(svg).not.toContain('no spd.lookup');
    const lookup = (
      chartSpec(espResults, 't') as { vconcat: Array<{ encoding?: { x?: { scale?: unknown } } }> }
    ).vconcat;
    expect(lookup).toHaveLength(2);
  });

  it('replaces the lookup panel by a note when there are no spd.lookup results', async () => {
    const svg = await renderSvg(espResults, 'test');
    expect(svg).toContain('no spd.lookup.* results in this run');
    const spec = chartSpec([...espResults, spd('spd.lookup.1k', 1000, 1e7, 1e5)], 't') as {
      vconcat: Array<{ encoding?: { x?: { scale?: { type?: string } }; y?: { scale?: { type?: string } } } }>;
    };
    expect(spec.vconcat[1]!.encoding!.x!.scale!.type).toBe('log');
    expect(spec.vconcat[1]!.encoding!.y!.scale!.type).toBe('log');
  });
});
