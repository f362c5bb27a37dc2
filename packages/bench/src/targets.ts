/**
 * The benchmark targets of the bench issue, as data, and their verdicts on a run's results: what
 * `xfrmkit bench` prints after its table and writes as `targets` in the JSON report.
 *
 * Each target reads one figure from the results (a median, or a ratio of medians) and compares it
 * with its bound. The verdict also gives the same figure from the fastest samples (`best`), because
 * on a shared machine load from elsewhere only slows samples down: a target met on the best samples
 * but not on the medians is one the code meets on a quiet machine. Targets are met on the medians only.
 *
 * Some targets also have a *limit*: the furthest this machine lets the figure go, worked out from
 * reference results of the same run (what one load from beyond the cache costs, what one encap plus
 * one decap cost), taken from their fastest samples: the estimate of a cost that load elsewhere on
 * the machine has not inflated. A target whose bound lies beyond its limit cannot be met here, by
 * any code.
 *
 * A quick run (`--quick`) measures smaller sizes under the same ids, so its verdicts are marked as
 * such; targets are judged on full runs.
 */
import type { BenchResult } from './harness.ts';

/** A figure read from the results: from the medians and from the fastest samples. */
interface Figure {
  value: number;
  best?: number;
}

export interface Target {
  /** short name, e.g. `esp.encap.64 / ceiling` */
  name: string;
  /** the target as the issue states it */
  goal: string;
  op: '>=' | '<=';
  bound: number;
  /** how the figure is printed */
  unit: 'ratio' | 'M/s' | 'Mpps' | '×';
  figure(byId: ReadonlyMap<string, BenchResult>): Figure | undefined;
  /** the furthest the figure can go on this machine (same direction as `op`), from the run's references */
  limit?(byId: ReadonlyMap<string, BenchResult>): Limit | undefined;
}

/** The furthest a figure can go on the machine of the run, and the reason. */
export interface Limit {
  value: number;
  why: string;
}

export interface Verdict {
  name: string;
  goal: string;
  /** the figure from the medians, undefined when the run lacks the results it needs */
  measured?: number;
  /** the figure from the fastest samples */
  best?: number;
  met: boolean;
  /** not met on the medians, met on the fastest samples */
  metOnBest: boolean;
  /** a quick run: smaller sizes under the same ids, not judged */
  quick: boolean;
  /** the furthest the figure can go on this machine (when the target has a limit and the run its references) */
  limit?: Limit;
  /** the bound lies beyond the limit: no code can meet the target on this machine */
  outOfReach: boolean;
}

/**
 * `r.ratio`; from the fastest samples when the baseline is itself a result of the run (`baselineId`),
 * fastest over fastest (a fastest sample over a median would flatter the figure).
 */
function ratioOf(id: string, baselineId?: string): Target['figure'] {
  return (m) => {
    const r = m.get(id);
    if (r?.ratio === undefined) return undefined;
    const base = baselineId === undefined ? undefined : m.get(baselineId);
    const best = r.best !== undefined && base?.best ? r.best / base.best : undefined;
    return { value: r.ratio, ...(best !== undefined ? { best } : {}) };
  };
}

/** A result's median (and fastest sample), divided by `scale`. */
function medianOf(id: string, scale = 1): Target['figure'] {
  return (m) => {
    const r = m.get(id);
    if (r === undefined) return undefined;
    return { value: r.value / scale, ...(r.best !== undefined ? { best: r.best / scale } : {}) };
  };
}

/** How many times slower `slow` runs than `fast` (rates: fast / slow). */
function slowdown(fast: string, slow: string): Target['figure'] {
  return (m) => {
    const f = m.get(fast);
    const s = m.get(slow);
    if (f === undefined || s === undefined || s.value <= 0) return undefined;
    const best = f.best !== undefined && s.best !== undefined && s.best > 0 ? f.best / s.best : undefined;
    return { value: f.value / s.value, ...(best !== undefined ? { best } : {}) };
  };
}

/**
 * The fewest times slower a lookup among 1M policies can be than one among 1k: one dependent load
 * from beyond the cache (`spd.load.dram`) over a whole 1k lookup (its index fits in cache). A million
 * policies' records (≥ 32 bytes each) are far larger than the cache, so a lookup of a random flow reads
 * at least one record from memory; lookups are long dependent chains, so little of that wait overlaps.
 */
const spdFlatLimit: Target['limit'] = (m) => {
  const k1 = fastest(m.get('spd.lookup.1k'));
  const dram = fastest(m.get('spd.load.dram'));
  if (k1 === undefined || dram === undefined) return undefined;
  const x = k1 / dram;
  return {
    value: x,
    why: `one load from beyond the cache (spd.load.dram, ${(1e9 / dram).toFixed(0)} ns) already takes ${x.toFixed(1)}× a whole 1k lookup (${(1e9 / k1).toFixed(0)} ns; fastest samples)`,
  };
};

/**
 * The most the two-DPU pipeline with real crypto can reach as a fraction of `esp.encap.1400` on one
 * thread: each packet is encrypted by one DPU and decrypted by the other, so with no simulation work
 * at all it costs one `esp.encap.1400` plus one `esp.decap.1400`: e·d/(e+d) packets/s, d/(e+d) of e.
 */
const pipelineRealLimit: Target['limit'] = (m) => {
  const e = fastest(m.get('esp.encap.1400'));
  const d = fastest(m.get('esp.decap.1400'));
  if (e === undefined || d === undefined) return undefined;
  const x = d / (e + d);
  return {
    value: x,
    why: `each packet is one encap and one decap: on one thread at most 1/(1/${e.toFixed(2)} + 1/${d.toFixed(2)} Mpps) = ${x.toFixed(2)} of esp.encap.1400 (fastest samples)`,
  };
};

/** A rate result's fastest sample (its median if it has none); undefined if missing or not positive. */
function fastest(r: BenchResult | undefined): number | undefined {
  const x = r?.best ?? r?.value;
  return x !== undefined && x > 0 ? x : undefined;
}

const ceiling = (dir: 'encap' | 'decap', size: string, bound: number): Target => ({
  name: `esp.${dir}.${size} / ceiling`,
  goal: `esp.${dir}.${size} ≥ ${bound.toFixed(2)} of the raw AES-GCM ceiling of the same run`,
  op: '>=',
  bound,
  unit: 'ratio',
  figure: ratioOf(`esp.${dir}.${size}`, `esp.${dir === 'encap' ? 'raw_seal' : 'raw_open'}.${size}`),
});

const rate = (id: string, boundPerSecond: number, what: string): Target => ({
  name: id,
  goal: `${id} ≥ ${boundPerSecond / 1e6} M ${what}/s`,
  op: '>=',
  bound: boundPerSecond / 1e6,
  unit: 'M/s',
  figure: medianOf(id, 1e6),
});

/** The targets of the bench issue, in its order. */
export const TARGETS: readonly Target[] = [
  ceiling('encap', '64', 0.8),
  ceiling('decap', '64', 0.8),
  ceiling('encap', '1400', 0.9),
  ceiling('decap', '1400', 0.9),
  rate('spd.lookup.100k', 5e6, 'lookups'),
  {
    name: 'spd.lookup.100k / linear scan',
    goal: 'spd.lookup.100k ≥ 100× the linear scan',
    op: '>=',
    bound: 100,
    unit: '×',
    figure: ratioOf('spd.lookup.100k'),
  },
  {
    name: 'spd.lookup 1k → 1m',
    goal: 'a lookup among 1M policies costs at most 2× one among 1k',
    op: '<=',
    bound: 2,
    unit: '×',
    figure: slowdown('spd.lookup.1k', 'spd.lookup.1m'),
    limit: spdFlatLimit,
  },
  rate('sad.lookup', 20e6, 'lookups'),
  rate('codec.newsa', 1e6, 'messages'),
  rate('codec.dump1000', 1e6, 'messages'),
  {
    name: 'kernel.program.100k / ip -batch',
    goal: 'programming 100k policies ≥ 1.5× faster than ip -batch',
    op: '>=',
    bound: 1.5,
    unit: '×',
    figure: ratioOf('kernel.program.100k'),
  },
  {
    name: 'sim.pipeline.real / esp.encap.1400',
    goal: 'the simulated pipeline with real crypto ≥ 0.75 of esp.encap.1400 (one thread)',
    op: '>=',
    bound: 0.75,
    unit: 'ratio',
    figure: ratioOf('sim.pipeline.real', 'esp.encap.1400'),
    limit: pipelineRealLimit,
  },
  {
    name: 'sim.pipeline.real.threaded / esp.encap.1400',
    goal: 'the same on two threads, one DPU each (one AES-GCM operation per packet per thread)',
    op: '>=',
    bound: 0.75,
    unit: 'ratio',
    figure: ratioOf('sim.pipeline.real.threaded', 'esp.encap.1400'),
  },
  {
    name: 'sim.pipeline.modeled',
    goal: 'the simulated pipeline with modeled crypto ≥ 5 Mpps (one thread)',
    op: '>=',
    bound: 5,
    unit: 'Mpps',
    figure: medianOf('sim.pipeline.modeled'),
  },
  {
    name: 'sim.pipeline.modeled.threaded',
    goal: 'the same on two threads, one DPU each',
    op: '>=',
    bound: 5,
    unit: 'Mpps',
    figure: medianOf('sim.pipeline.modeled.threaded'),
  },
];

function meets(t: Target, x: number): boolean {
  return t.op === '>=' ? x >= t.bound : x <= t.bound;
}

/** Verdicts of the targets whose results are in the run (all of them with `all`). */
export function judge(results: readonly BenchResult[], quick: boolean, all = false): Verdict[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  const out: Verdict[] = [];
  for (const t of TARGETS) {
    const f = t.figure(byId);
    if (f === undefined && !all) continue;
    const met = f !== undefined && meets(t, f.value);
    const limit = t.limit?.(byId);
    out.push({
      name: t.name,
      goal: t.goal,
      ...(f !== undefined ? { measured: f.value } : {}),
      ...(f?.best !== undefined ? { best: f.best } : {}),
      met,
      metOnBest: !met && f?.best !== undefined && meets(t, f.best),
      quick,
      ...(limit !== undefined ? { limit } : {}),
      // even a figure at the limit would not meet the target
      outOfReach: limit !== undefined && !meets(t, limit.value),
    });
  }
  return out;
}

function fmt(x: number | undefined, unit: Target['unit']): string {
  if (x === undefined) return '—';
  if (unit === 'ratio') return x.toFixed(2);
  if (unit === '×') return x >= 1000 ? `${Math.round(x)}×` : `${x.toPrecision(3)}×`;
  return `${x.toPrecision(3)} ${unit}`;
}

/** The verdicts as lines of text (what the CLI prints after the table). */
export function formatVerdicts(verdicts: readonly Verdict[]): string {
  if (verdicts.length === 0) return '';
  const unitOf = (name: string) => TARGETS.find((t) => t.name === name)!.unit;
  const quick = verdicts.some((v) => v.quick);
  const rows = [['target', 'measured', 'best samples', 'limit here', 'verdict']];
  const notes: string[] = [];
  for (const v of verdicts) {
    const unit = unitOf(v.name);
    let verdict =
      v.measured === undefined
        ? 'not measured'
        : v.met
          ? 'met'
          : v.metOnBest
            ? 'not met (met on the best samples)'
            : 'not met';
    if (v.outOfReach) verdict += ', out of reach (see limits)';
    if (v.limit !== undefined) notes.push(`  ${v.name}: ${v.limit.why}`);
    rows.push([
      v.goal,
      fmt(v.measured, unit),
      fmt(v.best, unit),
      fmt(v.limit?.value, unit),
      quick ? `${verdict} (quick run)` : verdict,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((c, i) => (i >= 1 && i <= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  const head = quick
    ? 'targets (a quick run measures smaller sizes under the same ids: judged on full runs only)'
    : 'targets (met on the medians; the best samples show what a quiet machine gives)';
  const limits = notes.length > 0 ? ['limits (from reference results of this run):', ...notes] : [];
  return [head, ...lines, ...limits].join('\n');
}
