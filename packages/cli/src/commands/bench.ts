/**
 * `xfrmkit bench [--quick] [--only NAME] [--json FILE] [--svg FILE]`: runs the benchmark suites and
 * prints a table (value, spread, best sample, Gb/s, ns/op, baseline measured in the same run, ratio)
 * and the verdicts of the targets the run measured; progress goes to stderr. `--json` writes every sample, `--svg` the charts (throughput vs packet size, SPD lookup
 * time vs policies).
 */
import { formatTable, formatVerdicts, judge, machineInfo, runBenchmarks, writeSvg } from '@xfrmkit/bench';
import { CliUsageError } from '../usage.ts';

const USAGE = 'usage: xfrmkit bench [--quick] [--only NAME] [--json FILE] [--svg FILE]';

export async function run(argv: string[]): Promise<number> {
  let quick = false;
  let only: string | undefined;
  let json: string | undefined;
  let svg: string | undefined;
  const value = (i: number, opt: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw new CliUsageError(`${opt} needs a value (${USAGE})`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (a === '--quick') quick = true;
    else if (a === '--only') only = value(++i, a);
    else if (a === '--json') json = value(++i, a);
    else if (a === '--svg') svg = value(++i, a);
    else throw new CliUsageError(`unknown option ${a} (${USAGE})`);
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const m = machineInfo();
  log(`xfrmkit bench${quick ? ' --quick' : ''}: node ${m.node}, ${m.cpu} × ${m.cores}, ${m.platform}`);
  const results = await runBenchmarks({ quick, only, json, log });
  if (results.length === 0) throw new CliUsageError(`no benchmark matches --only ${only}`);
  process.stdout.write(`${formatTable(results)}\n`);
  const verdicts = formatVerdicts(judge(results, quick));
  if (verdicts) process.stdout.write(`\n${verdicts}\n`);
  if (json) log(`wrote ${json}`);
  if (svg) {
    await writeSvg(
      svg,
      results,
      `${m.cpu} × ${m.cores}, node ${m.node}${quick ? ', --quick' : ''}, ${m.date}`,
    );
    log(`wrote ${svg}`);
  }
  return 0;
}
