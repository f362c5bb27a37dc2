/**
 * `xfrmkit ethtool -S DEV [--sim PATH] [--profile P]`: the simulated device's ethtool statistics
 * (the mlx5 ipsec_hw / ipsec_sw groups), printed like ethtool(8). The counters are read with the
 * same SIOCETHTOOL exchanges ethtool(8) makes (GSSET_INFO, GSTRINGS, GSTATS), over the simulator's
 * IOCTL frames: from `xfrmkit sim serve` at PATH (`--sim`, else $XFRMKIT_SIM / $NLSIM_SOCKET), or
 * from a fresh in-process simulator of the profile.
 */
import type { ProfileId } from '@xfrmkit/core';
import {
  answerIoctl,
  createSimMachine,
  EthtoolError,
  ethtoolStats,
  formatEthtoolStats,
  type IoctlFn,
  ioctlOverUnix,
} from '@xfrmkit/sim';
import { CliUsageError } from '../usage.ts';

const USAGE = 'usage: xfrmkit ethtool -S DEV [--sim PATH] [--profile bf3|bf2|cx7|cx6dx]';
const PROFILES = ['bf3', 'bf2', 'cx7', 'cx6dx'];

export async function run(argv: string[]): Promise<number> {
  let dev: string | undefined;
  let stats = false;
  let sim: string | undefined = process.env.XFRMKIT_SIM || process.env.NLSIM_SOCKET || undefined;
  let profile = 'bf3';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-S' || a === '--statistics') stats = true;
    else if (a === '--sim') sim = argv[++i];
    else if (a.startsWith('--sim=')) sim = a.slice(6);
    else if (a === '--profile') {
      profile = argv[++i] ?? '';
      if (!PROFILES.includes(profile))
        throw new CliUsageError(`--profile must be one of ${PROFILES.join(', ')}`);
    } else if (a.startsWith('-')) throw new CliUsageError(`unknown option ${a} (${USAGE})`);
    else if (dev === undefined) dev = a;
    else throw new CliUsageError(USAGE);
  }
  if (!stats || !dev) throw new CliUsageError(USAGE);
  let io: IoctlFn;
  if (sim) io = ioctlOverUnix(sim);
  else {
    const host = createSimMachine(profile as ProfileId);
    io = async (req, ifname, data) => {
      const name = Buffer.alloc(16);
      name.write(ifname.slice(0, 15), 'latin1');
      return answerIoctl(host, req, Buffer.concat([name, data]));
    };
  }
  try {
    process.stdout.write(formatEthtoolStats(await ethtoolStats(io, dev)));
    return 0;
  } catch (e) {
    if (e instanceof EthtoolError) {
      // ethtool(8)'s wording for the same failures
      process.stderr.write(
        e.errno === 19
          ? `Cannot get stats strings information: No such device\n`
          : e.errno === 95
            ? 'no stats available\n'
            : `${e.message}\n`,
      );
      return e.errno === 19 ? 1 : 94;
    }
    throw e;
  }
}
