/**
 * `xfrmkit sim serve --socket PATH [--profile bf3|bf2|cx7|cx6dx]`: one simulated machine served to
 * other processes (UnixTransport clients, and unmodified `ip`/`devlink`/charon through the
 * LD_PRELOAD shim). Runs until SIGINT/SIGTERM.
 *
 * `xfrmkit sim exec [--profile P] [--socket PATH] -- CMD ARGS…`: runs CMD with its NETLINK_XFRM and
 * NETLINK_GENERIC sockets redirected to a simulator (the one serving PATH if it answers, else a
 * fresh one for this command) and exits with CMD's status.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProfileId } from '@xfrmkit/core';
import { createSimMachine, SimServer } from '@xfrmkit/sim';
import { CliUsageError } from '../usage.ts';

const PROFILES = ['bf3', 'bf2', 'cx7', 'cx6dx'];

/** The LD_PRELOAD shim built at install (packages/sim/preload/build/libnlsim.so). */
export function shimPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', '..', 'sim', 'preload', 'build', 'libnlsim.so');
}

function parseProfile(v: string | undefined): ProfileId {
  if (!v || !PROFILES.includes(v)) throw new CliUsageError(`--profile must be one of ${PROFILES.join(', ')}`);
  return v as ProfileId;
}

export async function startServer(
  socketPath: string,
  profile: ProfileId,
  log?: (s: string) => void,
): Promise<SimServer> {
  const sim = createSimMachine(profile);
  const opts: ConstructorParameters<typeof SimServer>[1] = { socketPath, host: sim };
  if (log) opts.log = log;
  const server = new SimServer(sim.machine, opts);
  await server.listen();
  return server;
}

export async function runServe(argv: string[]): Promise<number> {
  let socketPath: string | undefined;
  let profile: ProfileId = 'bf3';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--socket') socketPath = argv[++i];
    else if (a === '--profile') profile = parseProfile(argv[++i]);
    else
      throw new CliUsageError(`unknown argument ${a} (usage: xfrmkit sim serve --socket PATH [--profile P])`);
  }
  if (!socketPath) throw new CliUsageError('xfrmkit sim serve needs --socket PATH');
  const server = await startServer(socketPath, profile, (s) => process.stderr.write(`xfrmkit sim: ${s}\n`));
  process.stderr.write(`xfrmkit sim: serving a simulated ${profile} on ${socketPath} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function runExec(argv: string[]): Promise<number> {
  let socketPath: string | undefined;
  let profile: ProfileId = 'bf3';
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '--socket') socketPath = argv[++i];
    else if (a === '--profile') profile = parseProfile(argv[++i]);
    else break;
  }
  const cmd = argv.slice(i);
  if (cmd.length === 0)
    throw new CliUsageError('usage: xfrmkit sim exec [--profile P] [--socket PATH] -- CMD ARGS…');
  const shim = shimPath();
  if (!existsSync(shim)) {
    process.stderr.write(
      `xfrmkit sim exec: ${shim} is missing; build it with \`make -C packages/sim/preload\` (needs gcc)\n`,
    );
    return 1;
  }
  let server: SimServer | undefined;
  if (!socketPath || !(await answers(socketPath))) {
    socketPath ??= join(mkdtempSync(join(tmpdir(), 'xfrmkit-sim-')), 'sim.sock');
    server = await startServer(socketPath, profile);
  }
  const child = spawn(cmd[0]!, cmd.slice(1), {
    stdio: 'inherit',
    env: {
      ...process.env,
      LD_PRELOAD: [shim, process.env.LD_PRELOAD].filter(Boolean).join(':'),
      NLSIM_SOCKET: socketPath,
    },
  });
  const code = await new Promise<number>((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(`xfrmkit sim exec: cannot run ${cmd[0]}: ${e.message}\n`);
      resolve(127);
    });
    child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 + 15 : 1)));
  });
  await server?.close();
  return code;
}
