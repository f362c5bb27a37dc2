/**
 * Benchmark harness: tinybench for warm-up and sampling; every result keeps its samples, median and
 * spread, and may carry a baseline measured in the same run (ratio = value / baseline).
 */
import { cpus, totalmem } from 'node:os';
import { Bench } from 'tinybench';
import type { Verdict } from './targets.ts';

export interface BenchResult {
  id: string;
  /** what one operation is, e.g. "decode+encode of one 372-byte NEWSA" */
  what: string;
  value: number;
  unit: string;
  baseline?: number;
  baseline_name?: string;
  ratio?: number;
  /** per-sample rates in `unit` */
  samples: number[];
  /** relative median absolute deviation of the samples */
  spread: number;
  /**
   * rate units: the fastest sample. On a shared machine load from elsewhere only ever slows a sample
   * down, so the fastest one estimates what the code does on a quiet machine (the minimum-time
   * estimator of Chen & Revels, "Robust benchmarking in noisy environments", 2016); `value` stays the
   * median, and targets are judged on it.
   */
  best?: number;
  /** packet suites: the median as Gb/s of the packets' IP bytes (value × bytes per packet × 8) */
  gbps?: number;
  /** time per operation at the median rate (1e9 / operations per second), when the unit is a rate */
  ns_per_op?: number;
}

export interface BenchOptions {
  quick: boolean;
  /** progress lines (stderr in the CLI) */
  log?: (s: string) => void;
  /** results of the suites that already ran in this run (baselines shared across suites) */
  prior?: readonly BenchResult[];
  /** the `--only` filter of the run: suites may skip measurements nobody asked for */
  only?: string;
}

/** The JSON report: `{machine, results}`, and the verdicts of the targets (`targets.ts`). */
export interface BenchReport {
  machine: Record<string, unknown>;
  results: BenchResult[];
  targets?: Verdict[];
}

/** Multipliers that turn a rate in `unit` into operations per second (for ns/op). */
const PER_SECOND: Record<string, number> = {
  'ops/s': 1,
  'msg/s': 1,
  'policies/s': 1,
  'lookups/s': 1,
  'loads/s': 1,
  pps: 1,
  Mpps: 1e6,
};

/** ns per operation of a rate `value` in `unit`, or undefined when the unit is not a known rate. */
export function nsPerOp(value: number, unit: string): number | undefined {
  const k = PER_SECOND[unit];
  return k === undefined || value <= 0 ? undefined : 1e9 / (value * k);
}

/** Whether a result id is selected by an `--only` prefix (no filter selects everything). */
export function selected(id: string, only: string | undefined): boolean {
  return !only || id.startsWith(only);
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The largest sample (a loop: a spread call overflows the stack on the ~10^6 samples of a 1 s run). */
export function fastest(samples: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const x of samples) if (x > m) m = x;
  return m;
}

export function summarize(samples: number[]): { median: number; spread: number } {
  const med = median(samples);
  const mad = median(samples.map((x) => Math.abs(x - med)));
  return { median: med, spread: med === 0 ? 0 : mad / med };
}

/**
 * Measures `fn`, which performs `opsPerCall` operations per call, and returns operations/s samples
 * (one per tinybench sample).
 */
export async function measureRate(
  name: string,
  fn: () => void,
  opsPerCall: number,
  opts: BenchOptions,
): Promise<number[]> {
  const bench = new Bench({
    time: opts.quick ? 150 : 1000,
    warmupTime: opts.quick ? 50 : 250,
    iterations: 10,
    retainSamples: true,
  } as ConstructorParameters<typeof Bench>[0]);
  bench.add(name, fn);
  await bench.run();
  const task = bench.tasks[0]!;
  const res = task.result as unknown as { samples?: number[]; latency?: { samples?: number[] } } | undefined;
  const lat = res?.latency?.samples ?? res?.samples ?? [];
  if (!lat.length) throw new Error(`benchmark ${name} produced no samples`);
  // latency samples are ms per call
  return lat.map((ms) => (opsPerCall * 1000) / ms);
}

export function result(
  id: string,
  what: string,
  unit: string,
  samples: number[],
  baseline?: { name: string; samples: number[] },
): BenchResult {
  const s = summarize(samples);
  const r: BenchResult = { id, what, value: s.median, unit, samples, spread: s.spread };
  const ns = nsPerOp(s.median, unit);
  if (ns !== undefined) {
    r.ns_per_op = ns;
    r.best = fastest(samples);
  }
  if (baseline) withBaseline(r, baseline.name, summarize(baseline.samples).median);
  return r;
}

/** Sets a result's baseline (a median measured in the same run) and ratio = value / baseline. */
export function withBaseline(r: BenchResult, name: string, value: number): BenchResult {
  r.baseline = value;
  r.baseline_name = name;
  if (value !== 0) r.ratio = r.value / value;
  else delete r.ratio;
  return r;
}

/**
 * Checks the shape of a report (what `--json` writes and the tests read); returns the problems found,
 * empty when well formed.
 */
export function reportProblems(report: unknown): string[] {
  const bad: string[] = [];
  if (typeof report !== 'object' || report === null) return ['report is not an object'];
  const { machine, results } = report as Partial<BenchReport>;
  if (typeof machine !== 'object' || machine === null) bad.push('machine missing');
  if (!Array.isArray(results)) return [...bad, 'results is not an array'];
  const seen = new Set<string>();
  for (const [i, r] of results.entries()) {
    const at = `results[${i}]${typeof r?.id === 'string' ? ` (${r.id})` : ''}`;
    if (typeof r?.id !== 'string' || !/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/.test(r.id))
      bad.push(`${at}: bad id`);
    else if (seen.has(r.id)) bad.push(`${at}: duplicate id`);
    else seen.add(r.id);
    if (typeof r.what !== 'string' || r.what.length === 0) bad.push(`${at}: what missing`);
    if (typeof r.unit !== 'string' || r.unit.length === 0) bad.push(`${at}: unit missing`);
    if (typeof r.value !== 'number' || !Number.isFinite(r.value) || r.value < 0) bad.push(`${at}: bad value`);
    if (!Array.isArray(r.samples) || r.samples.length === 0) bad.push(`${at}: no samples`);
    else if (r.samples.some((x) => typeof x !== 'number' || !Number.isFinite(x)))
      bad.push(`${at}: bad sample`);
    else if (Math.abs(summarize(r.samples).median - r.value) > 1e-9 * Math.max(1, Math.abs(r.value)))
      bad.push(`${at}: value is not the median of the samples`);
    if (r.best !== undefined && Array.isArray(r.samples) && r.best !== fastest(r.samples))
      bad.push(`${at}: best is not the fastest sample`);
    const hasBase = r.baseline !== undefined;
    if (hasBase !== (r.baseline_name !== undefined)) bad.push(`${at}: baseline without baseline_name`);
    if (hasBase && (typeof r.baseline !== 'number' || !(r.baseline > 0))) bad.push(`${at}: bad baseline`);
    if (hasBase && r.ratio === undefined) bad.push(`${at}: baseline without ratio`);
    if (r.ratio !== undefined) {
      if (!hasBase) bad.push(`${at}: ratio without baseline`);
      else if (Math.abs(r.ratio - r.value / r.baseline!) > 1e-9 * Math.max(1, r.ratio))
        bad.push(`${at}: ratio is not value / baseline`);
    }
  }
  return bad;
}
