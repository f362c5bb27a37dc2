/**
 * End to end against the running kernel, in a network namespace made for this file: the `xfrmkit`
 * binary adds, lists, gets, counts and deletes policies (and ALLOCSPI larval states, the only SAs a
 * kernel without ESP accepts) with `--backend kernel --netns NS`, and each listing equals what the
 * real `ip` (Debian 6.1, and 6.15 from the capture cache when present) prints in the same namespace.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, kernelTestSkipReason } from '../../netlink/test/support/netns.ts';

const REPO = join(import.meta.dirname, '../../..');
const XFRMKIT = join(REPO, 'node_modules/.bin/xfrmkit');
const CACHE = process.env.XFRMKIT_CACHE ?? join(process.env.XDG_CACHE_HOME ?? '/var/cache', 'xfrmkit');
const IP615 = join(CACHE, 'iproute2-6.15/root/bin/ip');
const IP615_LIB = join(CACHE, 'iproute2-6.15/root/usr/lib/x86_64-linux-gnu');

const SKIP = kernelTestSkipReason() ?? (existsSync(XFRMKIT) ? undefined : `no ${XFRMKIT}`);

let ns = '';
let dir = '';

/** A command line split on spaces (none of these arguments contains one). */
const words = (line: string): string[] => line.split(' ');

function xfrmkit(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(XFRMKIT, ['ip', '--backend', 'kernel', '--netns', ns, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TZ: 'UTC' },
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function realIp(version: '6.1' | '6.15', args: string[]): string {
  if (version === '6.1')
    return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  return execFileSync(IP615, ['-n', ns, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC', LD_LIBRARY_PATH: IP615_LIB },
  });
}

const versions = (): Array<'6.1' | '6.15'> => (existsSync(IP615) ? ['6.1', '6.15'] : ['6.1']);

describe.skipIf(SKIP !== undefined)(`xfrmkit ip --backend kernel${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  beforeAll(() => {
    ns = createNetns('xk-cli-e2e');
    execFileSync('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p0peer']);
    dir = mkdtempSync(join(tmpdir(), 'xk-cli-e2e-'));
  });
  afterAll(() => {
    if (ns) deleteNetns(ns);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('policy add (batch), list, get, count and delete print like ip', () => {
    const batch = join(dir, 'add.batch');
    writeFileSync(
      batch,
      [
        'xfrm policy add src 192.168.1.64 dst 192.168.1.65 dir out tmpl src 192.168.1.64 dst 192.168.1.65 proto esp reqid 0x4834535d mode transport',
        'xfrm policy add src 10.60.0.1 dst 10.60.0.2 proto tcp dport 443 dev p0 dir in priority 7 tmpl src 10.60.0.2 dst 10.60.0.1 proto esp reqid 0x60 mode tunnel level use',
        '# a comment line',
        'xfrm policy add src 10.30.0.0/16 dst 10.31.0.0/16 dir fwd action block priority 50 mark 0x10 mask 0xff flag localok',
        'xfrm policy add src 2001:db8::64 dst 2001:db8::65 dir out ptype sub if_id 7 tmpl src 2001:db8::64 dst 2001:db8::65 proto esp reqid 0x2003 mode transport',
        'xfrm policy add src 10.70.0.1 dst 10.70.0.2 dir out limit time-soft 600 limit byte-hard 4096',
        'xfrm state allocspi src 10.1.0.1 dst 10.1.0.2 proto esp mode tunnel reqid 9 min 0x4000 max 0x4000',
        '',
      ].join('\n'),
    );
    const add = xfrmkit(['-batch', batch]);
    expect(add.err).toBe('');
    expect(add.code).toBe(0);
    expect(add.out).toBe(
      realIp('6.1', [
        'xfrm',
        'state',
        'get',
        'src',
        '10.1.0.1',
        'dst',
        '10.1.0.2',
        'proto',
        'esp',
        'spi',
        '0x4000',
      ]),
    );

    for (const v of versions()) {
      const persona = ['--iproute2', v];
      for (const args of [
        ['xfrm', 'policy', 'list'],
        ['-s', 'xfrm', 'policy', 'list'],
        ['xfrm', 'policy', 'list', 'dir', 'out'],
        ['xfrm', 'policy', 'list', 'src', '10.60.0.0/16'],
        ['xfrm', 'policy', 'list', 'ptype', 'sub'],
        [
          'xfrm',
          'policy',
          'get',
          'src',
          '10.30.0.0/16',
          'dst',
          '10.31.0.0/16',
          'dir',
          'fwd',
          'mark',
          '0x10',
          'mask',
          '0xff',
        ],
        ['xfrm', 'policy', 'count'],
        ['-s', '-s', 'xfrm', 'policy', 'count'],
        ['xfrm', 'state', 'list'],
        ['-s', 'xfrm', 'state', 'list'],
        ['xfrm', 'state', 'count'],
      ]) {
        const ours = xfrmkit([...persona, ...args]);
        expect(ours.err, `${v}: ${args.join(' ')}`).toBe('');
        expect(ours.out, `${v}: ${args.join(' ')}`).toBe(realIp(v, args));
      }
    }

    const dup = xfrmkit(
      words('xfrm policy add src 10.30.0.0/16 dst 10.31.0.0/16 dir fwd mark 0x10 mask 0xff'),
    );
    expect(dup).toEqual({ code: 2, out: '', err: 'RTNETLINK answers: File exists\n' });

    const del = xfrmkit(words('xfrm policy delete src 192.168.1.64 dst 192.168.1.65 dir out'));
    expect(del).toEqual({ code: 0, out: '', err: '' });
    const again = xfrmkit(words('xfrm policy delete src 192.168.1.64 dst 192.168.1.65 dir out'));
    expect(again).toEqual({ code: 2, out: '', err: 'RTNETLINK answers: No such file or directory\n' });
    expect(xfrmkit(['xfrm', 'policy', 'list']).out).toBe(realIp('6.1', ['xfrm', 'policy', 'list']));
    expect(realIp('6.1', ['xfrm', 'policy', 'list'])).not.toContain('192.168.1.64');

    const delall = xfrmkit(['xfrm', 'policy', 'deleteall', 'dir', 'out']);
    expect(delall).toEqual({ code: 0, out: '', err: '' });
    const left = realIp('6.1', ['xfrm', 'policy', 'list']);
    expect(left).not.toMatch(/dir out/);
    expect(left).toMatch(/dir fwd/);
    expect(xfrmkit(['xfrm', 'policy', 'list']).out).toBe(left);

    expect(xfrmkit(['xfrm', 'state', 'deleteall']).code).toBe(0);
    expect(realIp('6.1', ['xfrm', 'state', 'list'])).toBe('');
  });

  it('refuses what the kernel refuses, with iproute2 texts and statuses', () => {
    const aead = xfrmkit(
      words(
        'xfrm state add src 10.1.0.1 dst 10.1.0.2 proto esp spi 0x5000 mode transport aead rfc4106(gcm(aes)) 0xc57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c 128 offload packet dev p0 dir out',
      ),
    );
    expect(aead).toEqual({ code: 2, out: '', err: 'Error: Requested AEAD algorithm not found.\n' });
    expect(aead.err).not.toContain('c57f6f08');
    const bad = xfrmkit(['xfrm', 'policy', 'list', 'dir', 'bogus']);
    const real = spawnSync('ip', ['-n', ns, 'xfrm', 'policy', 'list', 'dir', 'bogus'], { encoding: 'utf8' });
    expect(bad).toEqual({ code: real.status, out: real.stdout, err: real.stderr });
    const noDev = xfrmkit(words('xfrm policy add src 10.0.0.1 dst 10.0.0.2 dev nosuchdev dir out'));
    expect(noDev.code).toBe(255);
  });
});
