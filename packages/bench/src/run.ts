/**
 * Runs the benchmark suites and reports: a table on stdout, and optionally a JSON file with every
 * sample ({machine, results:[{id, value, unit, baseline?, baseline_name?, ratio?, samples}]}).
 */
import { writeFileSync } from 'node:fs';
import { codecBenchmarks } from './codec.ts';
import { benchEsp } from './esp.ts';
import { type BenchOptions, type BenchResult, machineInfo } from './harness.ts';

export interface Suite {
  name: string;
  run(opts: BenchOptions): Promise<BenchResult[]>;
}

export const SUITES: Suite[] = [
  { name: 'esp', run: async (o) => benchEsp({ quick: o.quick }) },
  { name: 'codec', run: codecBenchmarks },
];

export function formatRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(1);
}

export function formatTable(results: BenchResult[]): string {
  const rows = [['id', 'value', 'unit', 'spread', 'baseline', 'ratio', 'what']];
  for (const r of results) {
    rows.push([
      r.id,
      formatRate(r.value),
      r.unit,
      `±${(r.spread * 100).toFixed(1)}%`,
      r.baseline === undefined ? '' : `${formatRate(r.baseline)} (${r.baseline_name})`,
      r.ratio === undefined ? '' : r.ratio.toFixed(2),
      r.what,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
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
  for (const s of SUITES) {
    if (opts.only && !s.name.startsWith(opts.only) && !opts.only.startsWith(s.name)) continue;
    log(`running ${s.name}…`);
    for (const r of await s.run(opts)) {
      if (opts.only && !r.id.startsWith(opts.only) && !opts.only.startsWith(s.name)) continue;
      results.push(r);
    }
  }
  if (opts.json)
    writeFileSync(opts.json, `${JSON.stringify({ machine: machineInfo(), results }, null, 1)}\n`);
  return results;
}
