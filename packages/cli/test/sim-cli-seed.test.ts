/**
 * The seed scenario through the xfrmkit command line against one `xfrmkit sim serve` (shared by
 * every command, as a user would run it): devlink, the four `ip xfrm` lines with `offload packet`,
 * `ip xfrm state` showing them offloaded, the eswitch-mode interlock, and its release.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const KEY = '0xc57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c';
const SEED = [
  `xfrm state add src 192.168.1.64/24 dst 192.168.1.65/24 proto esp spi 0x4834535d reqid 0x4834535d mode transport aead 'rfc4106(gcm(aes))' ${KEY} 128 offload packet dev p0 dir out sel src 192.168.1.64 dst 192.168.1.65`,
  `xfrm state add src 192.168.1.65/24 dst 192.168.1.64/24 proto esp spi 0x4834535e reqid 0x4834535e mode transport aead 'rfc4106(gcm(aes))' ${KEY} 128 offload packet dev p0 dir in sel src 192.168.1.65 dst 192.168.1.64`,
  'xfrm policy add src 192.168.1.64 dst 192.168.1.65 dir out tmpl src 192.168.1.64/24 dst 192.168.1.65/24 proto esp reqid 0x4834535d mode transport offload packet dev p0',
  'xfrm policy add src 192.168.1.65 dst 192.168.1.64 dir in tmpl src 192.168.1.65/24 dst 192.168.1.64/24 proto esp reqid 0x4834535e mode transport offload packet dev p0',
];

describe('seed scenario through the CLI against xfrmkit sim serve', () => {
  let server: ChildProcess;
  let sock: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xk-seed-'));
    sock = join(dir, 'sim.sock');
    server = spawn(BIN, ['sim', 'serve', '--socket', sock, '--profile', 'bf3'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(sock)).toBe(true);
  });

  afterAll(() => {
    server?.kill('SIGTERM');
  });

  const x = (args: string[]) =>
    spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, XFRMKIT_SIM: sock } });

  it('offloads the four objects, then the eswitch mode is locked until they are deleted', () => {
    expect(x(['devlink', 'dev', 'eswitch', 'show', 'pci/0000:03:00.0']).stdout).toContain('mode switchdev');
    writeFileSync(join(dir, 'seed.batch'), `${SEED.join('\n')}\n`);
    const add = x(['ip', '-batch', join(dir, 'seed.batch')]);
    expect(add.status, add.stderr).toBe(0);
    const states = x(['ip', 'xfrm', 'state']).stdout;
    expect(states).toContain('crypto offload parameters: dev p0 dir out mode packet');
    expect(states).toContain('crypto offload parameters: dev p0 dir in mode packet');
    expect(x(['ip', 'xfrm', 'policy']).stdout).toContain('crypto offload parameters: dev p0 mode packet');
    const refused = x(['devlink', 'dev', 'eswitch', 'set', 'pci/0000:03:00.0', 'mode', 'legacy']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(
      "Can't change eswitch mode when IPsec SA and/or policies are configured",
    );
    expect(x(['ip', 'xfrm', 'state', 'flush']).status).toBe(0);
    expect(x(['ip', 'xfrm', 'policy', 'flush']).status).toBe(0);
    const ok = x(['devlink', 'dev', 'eswitch', 'set', 'pci/0000:03:00.0', 'mode', 'legacy']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(x(['devlink', 'dev', 'eswitch', 'show', 'pci/0000:03:00.0']).stdout).toContain('mode legacy');
  });
});
