/**
 * `xfrmkit swanctl plan FILE [--profile bf3|bf2|cx7|cx6dx]`: parses a swanctl.conf (strongSwan's
 * settings syntax, includes resolved) and prints, per CHILD_SA, the SAs and policies charon would
 * install and where the hw_offload ladder ends up on the profile (see swanctl/plan.ts).
 */

import { formatPlan, PlanError, planSwanctl } from '../swanctl/plan.ts';
import { parseSettingsFile, SettingsError } from '../swanctl/settings.ts';
import { CliUsageError } from '../usage.ts';

const USAGE = 'usage: xfrmkit swanctl plan FILE [--profile bf3|bf2|cx7|cx6dx] [--json]';
const PROFILES = ['bf3', 'bf2', 'cx7', 'cx6dx'];

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'plan') throw new CliUsageError(USAGE);
  let file: string | undefined;
  let profile = 'bf3';
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--profile') {
      profile = rest[++i] ?? '';
      if (!PROFILES.includes(profile))
        throw new CliUsageError(`--profile must be one of ${PROFILES.join(', ')}`);
    } else if (a === '--json') json = true;
    else if (a.startsWith('-')) throw new CliUsageError(`unknown option ${a} (${USAGE})`);
    else if (file === undefined) file = a;
    else throw new CliUsageError(USAGE);
  }
  if (!file) throw new CliUsageError(USAGE);
  try {
    const plan = planSwanctl(parseSettingsFile(file), { profile });
    if (json) {
      const replacer = (_k: string, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
      process.stdout.write(`${JSON.stringify(plan, replacer, 2)}\n`);
    } else process.stdout.write(formatPlan(plan));
    const failed = plan.children.some(
      (c) =>
        c.sas.some((s) => s.ladder.sa === 'failed') || c.policies.some((p) => p.outcome.startsWith('failed')),
    );
    return failed ? 3 : 0;
  } catch (e) {
    if (e instanceof SettingsError || e instanceof PlanError) {
      process.stderr.write(`xfrmkit swanctl: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
