/**
 * Unmodified iproute2 binaries against the simulator through the LD_PRELOAD shim (`xfrmkit sim
 * exec`): one `sim serve` process, several client processes, state shared between them.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shimPath } from '../src/sim/serve.ts';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const haveTools = (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('devlink', ['-V'], { stdio: 'ignore' });
    return existsSync(shimPath());
  } catch {
    return false;
  }
})();

const SEED_OUT =
  'ip xfrm state add src 192.168.1.64/24 dst 192.168.1.65/24 proto esp spi 0x4834535d reqid 0x4834535d mode transport aead rfc4106(gcm(aes)) 0xc57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c 128 sel src 192.168.1.64 dst 192.168.1.65';

describe.skipIf(!haveTools)(
  `real ip/devlink through the shim${haveTools ? '' : ' (skipped: ip, devlink or libnlsim.so missing)'}`,
  () => {
    let server: ChildProcess;
    let sock: string;

    beforeAll(async () => {
      sock = join(mkdtempSync(join(tmpdir(), 'xk-sim-')), 'sim.sock');
      server = spawn(BIN, ['sim', 'serve', '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(sock)).toBe(true);
    });

    afterAll(() => {
      server?.kill('SIGTERM');
    });

    const run = (cmd: string[]) =>
      spawnSync(BIN, ['sim', 'exec', '--socket', sock, '--', ...cmd], { encoding: 'utf8' });

    it('a policy added by one process is listed by another; the host kernel is untouched', () => {
      const add = run([
        'ip',
        'xfrm',
        'policy',
        'add',
        'src',
        '10.1.0.1',
        'dst',
        '10.1.0.2',
        'dir',
        'out',
        'tmpl',
        'src',
        '10.1.0.1',
        'dst',
        '10.1.0.2',
        'proto',
        'esp',
        'reqid',
        '5',
        'mode',
        'tunnel',
      ]);
      expect(add.status, add.stderr).toBe(0);
      const list = run(['ip', 'xfrm', 'policy', 'list']);
      expect(list.stdout).toContain('src 10.1.0.1/32 dst 10.1.0.2/32');
      expect(list.stdout).toContain('proto esp reqid 5 mode tunnel');
      // the same policy again: the kernel's EEXIST, printed by the real binary
      const dup = run(['ip', 'xfrm', 'policy', 'add', 'src', '10.1.0.1', 'dst', '10.1.0.2', 'dir', 'out']);
      expect(dup.status).toBe(2);
      expect(dup.stderr).toContain('File exists');
      expect(execFileSync('ip', ['xfrm', 'policy', 'list'], { encoding: 'utf8' })).not.toContain('10.1.0.1');
    });

    it('an AEAD state (refused by this host kernel) is accepted by the simulated kernel and listed', () => {
      const add = run(SEED_OUT.split(' ').map((w) => w.replace(/^'|'$/g, '')));
      expect(add.status, add.stderr).toBe(0);
      const list = run(['ip', 'xfrm', 'state', 'list']);
      expect(list.stdout).toContain('proto esp spi 0x4834535d reqid 1211388765 mode transport');
      expect(list.stdout).toContain('aead rfc4106(gcm(aes))');
    });

    it('devlink sees the simulated BlueField-3', () => {
      const show = run(['devlink', 'dev', 'show']);
      expect(show.status, show.stderr).toBe(0);
      expect(show.stdout).toContain('pci/0000:03:00.0');
      const esw = run(['devlink', 'dev', 'eswitch', 'show', 'pci/0000:03:00.0']);
      expect(esw.stdout).toContain('mode switchdev');
    });
  },
);
