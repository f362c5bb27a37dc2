/**
 * Programming benchmark: N policies into a fresh network namespace through xfrmkit's kernel backend
 * (`XfrmClient.addPolicies`, pipelined, several requests per datagram) versus `ip -batch` with the
 * same N command lines, timed in the same run; and the same N policies into the simulator.
 * Needs root (it creates and deletes its own netns); skipped with a reason otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { XfrmPolicy } from '@xfrmkit/core';
import { DEFAULT_LFT, KernelTransport, XfrmClient, ZERO_CUR } from '@xfrmkit/netlink';
import { type BenchOptions, type BenchResult, result } from './harness.ts';

function addr(i: number, net: number): string {
  return `10.${net}.${(i >> 8) & 255}.${i & 255}`;
}

/** Policy i: out, /32 → /32, one ESP tunnel template; the matching `ip` line. */
export function programPolicy(i: number): { policy: XfrmPolicy; line: string } {
  const src = addr(i, 100 + (i >> 16));
  const dst = addr(i, 200 + (i >> 16));
  const policy: XfrmPolicy = {
    info: {
      sel: { daddr: dst, saddr: src, dport: 0, dportMask: 0, sport: 0, sportMask: 0, family: 2, prefixlenD: 32, prefixlenS: 32, proto: 0, ifindex: 0, user: 0 },
      lft: DEFAULT_LFT(),
      curlft: ZERO_CUR(),
      priority: 0,
      index: 0,
      dir: 1,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [
      {
        id: { daddr: '192.0.2.2', spi: 0, proto: 50 },
        family: 2,
        saddr: '192.0.2.1',
        reqid: (i % 1000) + 1,
        mode: 1,
        share: 0,
        optional: 0,
        aalgos: 0xffffffff,
        ealgos: 0xffffffff,
        calgos: 0xffffffff,
      },
    ],
  };
  const line = `xfrm policy add src ${src}/32 dst ${dst}/32 dir out tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${(i % 1000) + 1} mode tunnel`;
  return { policy, line };
}

function canRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns add)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 not installed';
  }
  return undefined;
}

function countPolicies(ns: string): number {
  const out = execFileSync('ip', ['-n', ns, 'xfrm', 'policy', 'count'], { encoding: 'utf8' });
  const m = /SPD IN\s+(\d+)\s+OUT\s+(\d+)\s+FWD\s+(\d+)/.exec(out);
  return m ? Number(m[1]) + Number(m[2]) + Number(m[3]) : -1;
}

export async function programBenchmarks(opts: BenchOptions & { log?: (s: string) => void }): Promise<BenchResult[]> {
  const n = opts.quick ? 5_000 : 100_000;
  const label = opts.quick ? '5k' : '100k';
  const why = canRun();
  if (why) {
    opts.log?.(`kernel.program skipped: ${why}`);
    return [];
  }
  const items = Array.from({ length: n }, (_, i) => programPolicy(i));
  const dir = mkdtempSync(join(tmpdir(), 'xk-prog-'));
  const batchFile = join(dir, 'batch');
  writeFileSync(batchFile, `${items.map((x) => x.line).join('\n')}\n`);
  const samplesOurs: number[] = [];
  const samplesIp: number[] = [];
  const rounds = opts.quick ? 1 : 3;
  for (let r = 0; r < rounds; r++) {
    // ours
    let ns = `xk-prog-${process.pid}-${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const t = await KernelTransport.open({ protocol: 6, netns: ns, recvBufferSize: 8 << 20 });
      const c = XfrmClient.over(t);
      const t0 = performance.now();
      await c.addPolicies(items.map((x) => x.policy), { window: 2048, perDatagram: 128 });
      const dt = performance.now() - t0;
      c.close();
      if (countPolicies(ns) !== n) throw new Error(`xfrmkit programmed ${countPolicies(ns)} of ${n} policies`);
      samplesOurs.push((n * 1000) / dt);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
    // iproute2
    ns = `xk-prog-${process.pid}-${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const t0 = performance.now();
      const res = spawnSync('ip', ['-n', ns, '-batch', batchFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      const dt = performance.now() - t0;
      if (res.status !== 0) throw new Error(`ip -batch failed: ${res.stderr.toString().slice(0, 200)}`);
      if (countPolicies(ns) !== n) throw new Error(`ip -batch programmed ${countPolicies(ns)} of ${n} policies`);
      samplesIp.push((n * 1000) / dt);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  }
  return [
    result(
      `kernel.program.${label}`,
      `${n} policies into a fresh netns via KernelTransport (pipelined), vs \`ip -batch\` with the same lines`,
      'policies/s',
      samplesOurs,
      { name: 'ip -batch', samples: samplesIp },
    ),
  ];
}
