/**
 * `xfrmkit bench [--quick] [--only NAME] [--json FILE]`: runs the benchmark suites and prints a
 * table (value, spread, baseline measured in the same run, ratio).
 */
import { formatTable, runBenchmarks } from '@xfrmkit/bench';
import { CliUsageError } from '../usage.ts';

export async function run(argv: string[]): Promise<number> {
  let quick = false;
  let only: string | undefined;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only') only = argv[++i];
    else if (a === '--json') json = argv[++i];
    else
      throw new CliUsageError(
        `unknown option ${a} (usage: xfrmkit bench [--quick] [--only NAME] [--json FILE])`,
      );
  }
  const results = await runBenchmarks({ quick, only, json, log: (s) => process.stderr.write(`${s}\n`) });
  if (results.length === 0) throw new CliUsageError(`no benchmark matches --only ${only}`);
  process.stdout.write(`${formatTable(results)}\n`);
  return 0;
}
