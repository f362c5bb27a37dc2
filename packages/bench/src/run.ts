/**
 * Runs the benchmark suites and reports: a table on stdout, and optionally a JSON file with every
 * sample ({machine, results:[{id, value, unit, baseline?, baseline_name?, ratio?, samples}]}).
 */
import { writeFileSync } from 'node:fs';
import { codecBenchmarks } from './codec.ts';
import { benchEsp } from './esp.ts';
import { type BenchOptions, type BenchReport, type BenchResult, machineInfo, selected } from './harness.ts';
import { benchMem, runBundled } from './mem.ts';
import { programBenchmarks } from './program.ts';
import { benchSad } from './sad.ts';
import { benchSim } from './sim.ts';
import { benchSpd } from './spd.ts';
import { judge } from './targets.ts';

export interface Suite {
  name: string;
  run(opts: BenchOptions): Promise<BenchResult[]>;
}

export const SUITES: Suite[] = [
  { name: 'esp', run: async (o) => benchEsp({ quick: o.quick, only: o.only, log: o.log }) },
  { name: 'codec', run: codecBenchmarks },
  { name: 'spd', run: (o) => runBundled('spd', o, benchSpd) },
  { name: 'sad', run: (o) => runBundled('sad', o, benchSad) },
  { name: 'mem', run: (o) => runBundled('mem', o, benchMem) },
  { name: 'kernel', run: programBenchmarks },
  { name: 'sim', run: benchSim },
];

/** A rate with 3 significant digits and a k/M suffix above 1000. */
export function formatRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  if (v === 0) return '0';
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** ns per operation: integers above 100 ns, else 3 significant digits. */
function formatNs(ns: number | undefined): string {
  if (ns === undefined) return '';
  return ns >= 100 ? ns.toFixed(0) : ns.toPrecision(3);
}

export function formatTable(results: BenchResult[]): string {
  const rows = [['id', 'value', 'unit', 'spread', 'best', 'Gb/s', 'ns/op', 'baseline', 'ratio', 'what']];
  for (const r of results) {
    rows.push([
      r.id,
      formatRate(r.value),
      r.unit,
      `±${(r.spread * 100).toFixed(1)}%`,
      r.best === undefined ? '' : formatRate(r.best),
      r.gbps === undefined ? '' : r.gbps.toFixed(2),
      formatNs(r.ns_per_op),
      r.baseline === undefined ? '' : `${formatRate(r.baseline)} (${r.baseline_name})`,
      r.ratio === undefined ? '' : r.ratio.toFixed(2),
      r.what,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const right = new Set([1, 3, 4, 5, 6, 8]);
  return rows
    .map((row) =>
      row
        .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function runBenchmarks(
  opts: BenchOptions & { only?: string; json?: string; log?: (s: string) => void },
): Promise<BenchResult[]> {
  const log = opts.log ?? (() => {});
  const results: BenchResult[] = [];
  const suites = SUITES.filter(
    (s) => !opts.only || s.name.startsWith(opts.only) || opts.only.startsWith(s.name),
  );
  const t0 = Date.now();
  for (const [i, s] of suites.entries()) {
    log(
      `[${i + 1}/${suites.length}] running ${s.name}… (${((Date.now() - t0) / 1000).toFixed(0)} s elapsed)`,
    );
    // suite names are prefixes of their ids: `--only esp` keeps the suite, `--only esp.encap.64` filters ids
    const keepAll = !opts.only || s.name.startsWith(opts.only);
    for (const r of await s.run({ ...opts, log, prior: results })) {
      if (keepAll || selected(r.id, opts.only)) results.push(r);
    }
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(report(results, opts.quick), null, 1)}\n`);
  return results;
}

/** The JSON report of a run (what `--json` writes), with the verdicts of the targets it measured. */
export function report(results: BenchResult[], quick = false): BenchReport {
  return { machine: machineInfo(), results, targets: judge(results, quick) };
}
