/**
 * `xfrmkit sim serve|exec|trace …`: the simulator as a service (`serve`), unmodified netlink
 * programs run against it through the LD_PRELOAD shim (`exec`), and packet traces (`trace`).
 */
import { runExec, runServe } from '../sim/serve.ts';
import { CliUsageError } from '../usage.ts';

const USAGE = 'usage: xfrmkit sim serve --socket PATH [--profile P] | exec [--profile P] [--socket PATH] -- CMD… | trace …';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return runServe(rest);
    case 'exec':
      return runExec(rest);
    default:
      throw new CliUsageError(USAGE);
  }
}
