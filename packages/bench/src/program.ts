/**
 * Programming benchmark: N policies into a fresh network namespace through xfrmkit's kernel backend
 * (`XfrmClient.addPolicies`, pipelined, several requests per datagram) versus `ip -batch` with the
 * same N command lines, timed in the same run (alternating, a fresh netns per run). N = 100k (5k with
 * --quick; the id stays `kernel.program.100k` and `what` gives the count). The same N policies into
 * the simulator are `sim.program.100k` (sim.ts). Needs root (it creates and deletes its own netns);
 * skipped with a reason otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { userTmpl, type XfrmPolicy } from '@xfrmkit/core';
import { DEFAULT_LFT, HOST_SELECTOR, KernelTransport, XfrmClient, ZERO_CUR } from '@xfrmkit/netlink';
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
      sel: HOST_SELECTOR(src, dst),
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
      userTmpl({
        id: { daddr: '192.0.2.2', spi: 0, proto: 50 },
        family: 2,
        saddr: '192.0.2.1',
        reqid: (i % 1000) + 1,
        mode: 1,
      }),
    ],
  };
  const line = `xfrm policy add src ${src}/32 dst ${dst}/32 dir out tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid ${(i % 1000) + 1} mode tunnel`;
  return { policy, line };
}

/** Why the kernel programming benchmark cannot run here, or undefined when it can. */
export function kernelProgramUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns add)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 not installed';
  }
  return undefined;
}

/** Policies programmed per run: 100k, 5k in quick mode (the id stays `*.program.100k`). */
export function programCount(quick: boolean): number {
  return quick ? 5_000 : 100_000;
}

function countPolicies(ns: string): number {
  const out = execFileSync('ip', ['-n', ns, 'xfrm', 'policy', 'count'], { encoding: 'utf8' });
  const m = /SPD IN\s+(\d+)\s+OUT\s+(\d+)\s+FWD\s+(\d+)/.exec(out);
  return m ? Number(m[1]) + Number(m[2]) + Number(m[3]) : -1;
}

function withNetns<T>(fn: (ns: string) => T): T {
  const ns = `xk-prog-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  let ok = false;
  try {
    const r = fn(ns);
    ok = true;
    return r;
  } finally {
    if (ok) execFileSync('ip', ['netns', 'del', ns]);
    else spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** One run: `items` into a fresh netns through KernelTransport + XfrmClient.addPolicies; policies/s. */
export async function kernelProgramRate(items: readonly XfrmPolicy[]): Promise<number> {
  const ns = `xk-prog-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const t = await KernelTransport.open({ protocol: 6, netns: ns, recvBufferSize: 8 << 20 });
    const c = XfrmClient.over(t);
    const t0 = performance.now();
    try {
      await c.addPolicies(items, PIPELINE);
    } finally {
      c.close();
    }
    const dt = performance.now() - t0;
    const got = countPolicies(ns);
    if (got !== items.length) throw new Error(`xfrmkit programmed ${got} of ${items.length} policies`);
    return (items.length * 1000) / dt;
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** The pipelining both the kernel and the simulator runs use. */
export const PIPELINE = { window: 2048, perDatagram: 128 } as const;

/** One run of `ip -n NS -batch FILE` into a fresh netns; policies/s. */
function ipBatchRate(batchFile: string, n: number): number {
  return withNetns((ns) => {
    const t0 = performance.now();
    const res = spawnSync('ip', ['-n', ns, '-batch', batchFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const dt = performance.now() - t0;
    if (res.status !== 0) throw new Error(`ip -batch failed: ${res.stderr.toString().slice(0, 200)}`);
    const got = countPolicies(ns);
    if (got !== n) throw new Error(`ip -batch programmed ${got} of ${n} policies`);
    return (n * 1000) / dt;
  });
}

export const KERNEL_PROGRAM_ID = 'kernel.program.100k';

export async function programBenchmarks(opts: BenchOptions): Promise<BenchResult[]> {
  const n = programCount(opts.quick);
  const why = kernelProgramUnavailable();
  if (why) {
    opts.log?.(`${KERNEL_PROGRAM_ID} skipped: ${why}`);
    return [];
  }
  const items = Array.from({ length: n }, (_, i) => programPolicy(i));
  const policies = items.map((x) => x.policy);
  const dir = mkdtempSync(join(tmpdir(), 'xk-prog-'));
  const batchFile = join(dir, 'batch');
  writeFileSync(batchFile, `${items.map((x) => x.line).join('\n')}\n`);
  const samplesOurs: number[] = [];
  const samplesIp: number[] = [];
  const rounds = opts.quick ? 1 : 3;
  try {
    // alternate the two, one fresh netns per run
    for (let r = 0; r < rounds; r++) {
      samplesOurs.push(await kernelProgramRate(policies));
      samplesIp.push(ipBatchRate(batchFile, n));
      opts.log?.(
        `${KERNEL_PROGRAM_ID} round ${r + 1}/${rounds}: xfrmkit ${Math.round(samplesOurs[r]!)}/s, ip -batch ${Math.round(samplesIp[r]!)}/s`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    result(
      KERNEL_PROGRAM_ID,
      `${n} policies (/32→/32 out, one ESP tunnel template) into a fresh netns via KernelTransport + XfrmClient.addPolicies ` +
        `(window ${PIPELINE.window}, ${PIPELINE.perDatagram} per datagram), vs \`ip -batch\` with the same ${n} lines; ${rounds} run(s) each`,
      'policies/s',
      samplesOurs,
      { name: 'ip -batch', samples: samplesIp },
    ),
  ];
}
