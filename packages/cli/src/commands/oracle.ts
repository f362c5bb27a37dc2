/**
 * `xfrmkit oracle diff [--kernel 6.1|6.12] [--runs N] [--seed S] [--suite esp|netdevsim|all] [--path P]`
 *
 * Runs the differential suite of the real-kernel oracle (packages/oracle): random request sequences
 * against Debian's kernel under qemu and against the simulator, compared byte for byte after the
 * one normalisation. Per suite it prints a line, and for each divergence the minimal sequence
 * fast-check shrank it to (requests in hex, keys redacted) with both sides' answers and how to
 * replay it (`--suite S --seed S --path P`). The last line is `N sequences, M divergences`, where M
 * counts only the differences that are not on the allowed list (packages/oracle/src/diff/allowed.ts);
 * the exit status is 1 when M > 0.
 *
 * The kernel is prepared by `bash packages/oracle/scripts/prepare.sh` (XFRMKIT_ORACLE_KERNEL=6.1
 * for bookworm's 6.1); the first run boots it and saves a snapshot, later runs restore it.
 */
import {
  arbEspSequence,
  arbNetdevsimSequence,
  type DiffRunner,
  formatSuite,
  isOracleKernel,
  kernelSeriesOf,
  ORACLE_KERNELS,
  type OracleKernel,
  OracleVm,
  openEspRunner,
  openNetdevsimRunner,
  runSuite,
  type SuiteResult,
} from '@xfrmkit/oracle';
import { CliUsageError } from '../usage.ts';

export const USAGE =
  'usage: xfrmkit oracle diff [--kernel 6.1|6.12] [--runs N] [--seed S] [--suite esp|netdevsim|all] [--path P]';

export const SUITES = ['esp', 'netdevsim'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface DiffArgs {
  kernel: OracleKernel;
  /** sequences per suite */
  runs: number;
  seed: number;
  /** whether the seed was given (a random one is printed so that the run can be repeated) */
  seedGiven: boolean;
  suites: SuiteName[];
  /** replay one shrunk counterexample (with its suite and seed) */
  path?: string;
}

function intArg(name: string, v: string | undefined, max: number): number {
  if (v === undefined || v === '') throw new CliUsageError(`${name} needs a value\n${USAGE}`);
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new CliUsageError(`${name} must be an integer 0..${max}, got "${v}"\n${USAGE}`);
  return n;
}

/** Parses the arguments after `oracle diff`. */
export function parseDiffArgs(argv: readonly string[], random: () => number = Math.random): DiffArgs {
  const env = process.env.XFRMKIT_ORACLE_KERNEL;
  const a: DiffArgs = {
    kernel: env && isOracleKernel(env) ? env : '6.12',
    runs: 100,
    seed: 0,
    seedGiven: false,
    suites: [...SUITES],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--kernel': {
        const k = value();
        if (!k || !isOracleKernel(k))
          throw new CliUsageError(
            `--kernel must be one of ${ORACLE_KERNELS.join(', ')}, got "${k ?? ''}"\n${USAGE}`,
          );
        a.kernel = k;
        break;
      }
      case '--runs':
        a.runs = intArg('--runs', value(), 10_000_000);
        if (a.runs === 0) throw new CliUsageError(`--runs must be at least 1\n${USAGE}`);
        break;
      case '--seed':
        a.seed = intArg('--seed', value(), 0xffff_ffff);
        a.seedGiven = true;
        break;
      case '--suite': {
        const s = value();
        if (s === 'all') a.suites = [...SUITES];
        else if (s === 'esp' || s === 'netdevsim') a.suites = [s];
        else throw new CliUsageError(`--suite must be esp, netdevsim or all, got "${s ?? ''}"\n${USAGE}`);
        break;
      }
      case '--path': {
        const p = value();
        if (!p || !/^\d+(:\d+)*$/.test(p))
          throw new CliUsageError(`--path takes a fast-check path like 3:1:0\n${USAGE}`);
        a.path = p;
        break;
      }
      default:
        throw new CliUsageError(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  if (a.path !== undefined && (a.suites.length !== 1 || !a.seedGiven))
    throw new CliUsageError(`--path replays one divergence: give its --suite and --seed too\n${USAGE}`);
  if (!a.seedGiven) a.seed = Math.floor(random() * 0x1_0000_0000) >>> 0;
  return a;
}

/** The last line of `oracle diff`. */
export function summaryLine(results: readonly SuiteResult[]): string {
  const n = results.reduce((s, r) => s + r.sequences, 0);
  const m = results.reduce((s, r) => s + r.divergences.length, 0);
  return `${n} sequences, ${m} divergences`;
}

async function openRunner(vm: OracleVm, suite: SuiteName): Promise<DiffRunner> {
  return suite === 'esp' ? openEspRunner(vm) : (await openNetdevsimRunner(vm)).runner;
}

async function diff(argv: string[]): Promise<number> {
  const args = parseDiffArgs(argv);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  let reason: string | undefined;
  try {
    reason = OracleVm.skipReason(args.kernel);
  } catch (e) {
    reason = (e as Error).message;
  }
  if (reason) {
    process.stderr.write(`xfrmkit oracle: the kernel oracle cannot run: ${reason}\n`);
    return 1;
  }
  const vm = await OracleVm.shared({ series: args.kernel });
  const results: SuiteResult[] = [];
  try {
    const series = kernelSeriesOf(vm);
    const what = args.path !== undefined ? `replaying path ${args.path}` : `${args.runs} sequences per suite`;
    out(
      `oracle diff: kernel ${vm.kernelRelease} (series ${series}), seed ${args.seed}, ${what} (${args.suites.join(', ')})`,
    );
    for (const suite of args.suites) {
      if (suite === 'netdevsim' && !vm.artifacts.netdevsim) {
        out('netdevsim: skipped (the prepared kernel has no netdevsim module)');
        continue;
      }
      const runner = await openRunner(vm, suite);
      try {
        const arb = suite === 'esp' ? arbEspSequence(series) : arbNetdevsimSequence(series);
        const opts: Parameters<typeof runSuite>[3] = { runs: args.runs, seed: args.seed };
        if (args.path !== undefined) opts.path = args.path;
        const r = await runSuite(suite, arb, runner, opts);
        results.push(r);
        out(
          formatSuite(r).replaceAll(
            'replay with --seed',
            `replay with --suite ${suite} --kernel ${series} --seed`,
          ),
        );
      } finally {
        runner.kernel.close();
        runner.sim.close();
      }
    }
  } finally {
    await vm.shutdown();
  }
  out(summaryLine(results));
  return results.some((r) => r.divergences.length) ? 1 : 0;
}

export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'diff') return diff(rest);
  if (verb === '-h' || verb === '--help' || verb === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  throw new CliUsageError(USAGE);
}
