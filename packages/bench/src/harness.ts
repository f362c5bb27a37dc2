/**
 * Benchmark harness: tinybench for warm-up and sampling; every result keeps its samples, median and
 * spread, and may carry a baseline measured in the same run (ratio = value / baseline).
 */
import { cpus, totalmem } from 'node:os';
import { Bench } from 'tinybench';

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
}

export interface BenchOptions {
  quick: boolean;
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
  if (baseline) {
    const b = summarize(baseline.samples).median;
    r.baseline = b;
    r.baseline_name = baseline.name;
    r.ratio = b === 0 ? undefined : s.median / b;
  }
  return r;
}
