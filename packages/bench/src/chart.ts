/**
 * `--svg FILE`: the run's results as charts, drawn with Vega-Lite (compiled to Vega, rendered to SVG
 * headless — no canvas, no native build):
 *
 *   1. throughput vs packet size: ESP encap/decap (default configuration) in Mpps and Gb/s at 64, 512,
 *      1400 B and IMIX, with the raw AES-GCM ceiling (seal/open) measured in the same run;
 *   2. SPD lookup time vs number of policies, log–log, indexed lookup vs the linear-scan reference
 *      (`spd.lookup.*`), with the latency of one dependent load in and beyond the cache of the same
 *      run as flat lines (`spd.load.*`); without lookup results the panel is replaced by a note.
 */
import { writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResult } from './harness.ts';

export interface ThroughputPoint {
  size: string;
  series: string;
  mpps: number;
  gbps: number;
}

export interface LookupPoint {
  policies: number;
  series: string;
  ns: number;
}

const SERIES = [
  ['encap', 'ESP encap'],
  ['decap', 'ESP decap'],
  ['raw_seal', 'ceiling: raw AES-GCM seal'],
  ['raw_open', 'ceiling: raw AES-GCM open'],
] as const;

/** Points of the throughput chart: `esp.{encap,decap,raw_seal,raw_open}.SIZE` (no variant suffix). */
export function throughputPoints(results: readonly BenchResult[]): ThroughputPoint[] {
  const out: ThroughputPoint[] = [];
  for (const r of results) {
    const m = /^esp\.(encap|decap|raw_seal|raw_open)\.(64|512|1400|imix)$/.exec(r.id);
    if (!m || r.unit !== 'Mpps' || r.gbps === undefined) continue;
    const series = SERIES.find(([k]) => k === m[1])![1];
    out.push({ size: m[2] === 'imix' ? 'IMIX' : `${m[2]} B`, series, mpps: r.value, gbps: r.gbps });
  }
  return out;
}

/** Number of policies of an `spd.lookup.*` result: from `what` ("N … policies"), else the id suffix. */
export function policyCount(r: BenchResult): number | undefined {
  const w = /(\d[\d_,]*)\s+(?:[\w-]+\s+){0,3}policies/.exec(r.what);
  if (w) return Number(w[1]!.replace(/[_,]/g, ''));
  const m = /\.(\d+)([km]?)$/i.exec(r.id);
  if (!m) return undefined;
  return Number(m[1]) * ({ k: 1e3, m: 1e6 }[m[2]!.toLowerCase()] ?? 1);
}

/** Memory references drawn as flat lines under the lookups: `spd.load.*` (latency.ts). */
const LOAD_SERIES = [
  ['spd.load.dram', 'one load beyond the cache (spd.load.dram)'],
  ['spd.load.cache', 'one load in cache (spd.load.cache)'],
] as const;

/**
 * Points of the lookup chart: ns per lookup of `spd.lookup.*` and of its baseline, and, when the run
 * measured them, the latency of one dependent load in and beyond the cache at the same sizes.
 */
export function lookupPoints(results: readonly BenchResult[]): LookupPoint[] {
  const out: LookupPoint[] = [];
  const sizes: number[] = [];
  for (const r of results) {
    if (!r.id.startsWith('spd.lookup.') || r.value <= 0) continue;
    const n = policyCount(r);
    if (n === undefined) continue;
    sizes.push(n);
    out.push({ policies: n, series: 'indexed lookup', ns: 1e9 / r.value });
    if (r.baseline) out.push({ policies: n, series: r.baseline_name ?? 'baseline', ns: 1e9 / r.baseline });
  }
  for (const [id, series] of LOAD_SERIES) {
    const load = results.find((r) => r.id === id);
    if (load === undefined || load.value <= 0) continue;
    for (const n of sizes) out.push({ policies: n, series, ns: 1e9 / load.value });
  }
  return out;
}

const SIZE_SORT = ['64 B', '512 B', '1400 B', 'IMIX'];
const DASH = {
  field: 'series',
  type: 'nominal',
  title: null,
  scale: {
    domain: SERIES.map((s) => s[1]),
    range: [
      [1, 0],
      [1, 0],
      [6, 4],
      [2, 3],
    ],
  },
} as const;
const COLOR = {
  field: 'series',
  type: 'nominal',
  title: null,
  scale: { domain: SERIES.map((s) => s[1]), range: ['#1f77b4', '#d62728', '#1f77b4', '#d62728'] },
} as const;

function throughputPanel(points: ThroughputPoint[], field: 'mpps' | 'gbps', title: string): object {
  return {
    title,
    width: 300,
    height: 220,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'size',
        type: 'ordinal',
        sort: SIZE_SORT,
        title: 'IP packet size',
        axis: { labelAngle: 0 },
      },
      y: { field, type: 'quantitative', title: field === 'mpps' ? 'Mpps' : 'Gb/s' },
      color: COLOR,
      strokeDash: DASH,
      tooltip: [{ field: 'series' }, { field: 'size' }, { field, format: '.3f' }],
    },
  };
}

function lookupPanel(points: LookupPoint[]): object {
  if (points.length === 0) {
    return {
      title: 'SPD lookup time vs number of policies',
      width: 300,
      height: 220,
      data: { values: [{ note: 'no spd.lookup.* results in this run (run the spd suite)' }] },
      mark: { type: 'text', fontSize: 12, color: '#555' },
      encoding: { text: { field: 'note' } },
    };
  }
  return {
    title: 'SPD lookup time vs number of policies (log–log)',
    width: 300,
    height: 220,
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'policies',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'policies',
        axis: { format: '~s', tickCount: 5 },
      },
      y: {
        field: 'ns',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'ns per lookup',
        axis: { format: '~s', tickCount: 6 },
      },
      color: { field: 'series', type: 'nominal', title: null },
      tooltip: [{ field: 'series' }, { field: 'policies' }, { field: 'ns', format: '.1f' }],
    },
  };
}

/** The Vega-Lite spec of the charts (exported for tests). */
export function chartSpec(results: readonly BenchResult[], subtitle: string): TopLevelSpec {
  const tp = throughputPoints(results);
  const panels: object[] = [];
  if (tp.length) {
    panels.push({
      hconcat: [
        throughputPanel(tp, 'mpps', 'ESP throughput vs packet size (Mpps)'),
        throughputPanel(tp, 'gbps', 'ESP throughput vs packet size (Gb/s)'),
      ],
    });
  } else {
    panels.push({
      title: 'ESP throughput vs packet size',
      width: 300,
      height: 60,
      data: { values: [{ note: 'no esp.* results in this run (run the esp suite)' }] },
      mark: { type: 'text', fontSize: 12, color: '#555' },
      encoding: { text: { field: 'note' } },
    });
  }
  panels.push(lookupPanel(lookupPoints(results)));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'xfrmkit bench', subtitle },
    vconcat: panels,
    resolve: { scale: { color: 'independent', strokeDash: 'independent' } },
    config: { font: 'sans-serif', legend: { orient: 'bottom', columns: 2, labelLimit: 400 } },
  } as TopLevelSpec;
}

/** Renders the charts to an SVG string. */
export async function renderSvg(results: readonly BenchResult[], subtitle: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSpec(results, subtitle)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function writeSvg(
  file: string,
  results: readonly BenchResult[],
  subtitle: string,
): Promise<void> {
  writeFileSync(file, await renderSvg(results, subtitle));
}
