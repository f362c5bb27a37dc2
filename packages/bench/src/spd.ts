/**
 * SPD policy lookup: `Spd.lookupCompiled` (the allocation-free hot path) over a mixed-prefix policy
 * set of 1k, 10k, 100k and 1M policies in one chain (MAIN, dir OUT), next to the linear-scan
 * reference (`referenceLookup`, the test oracle) at the same size in the same run.
 *
 * Policy mix (seeded, see `mixedPolicies`): 80 % IPv4 / 20 % IPv6; 25 % host/host selectors (/32 or
 * /128 both sides), 75 % wide prefixes (IPv4 destination /8../28, source /0../32; IPv6 /32../64 and
 * /0../128); ~40 % of the wide ones filter on proto + destination port, some also on source port;
 * random priorities 0..65535; 2 % packet-offloaded, 3 % with a mark, 2 % with an if_id. Lookups cycle
 * through 65,536 distinct flows, 90 % drawn inside a random policy's selector and 10 % random.
 *
 * The suite first measures the machine's memory references (`latency.ts`: `spd.load.cache`,
 * `spd.load.dram`, one dependent load in and beyond the cache) and gives each lookup's time in
 * units of `spd.load.dram` as well: what a lookup that must leave the cache cannot go below.
 *
 * Run: `xfrmkit bench --only spd [--quick]` (bundled with esbuild and run in a child node, see
 * `runBundled` in mem.ts), or directly `npx tsx packages/bench/src/spd.ts [--quick]`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  AF_INET,
  AF_INET6,
  type CompiledFlow,
  compileFlow,
  type Flow,
  IPPROTO,
  infiniteLifetime,
  referenceLookup,
  Spd,
  XFRM_OFFLOAD_FLAG,
  XFRM_POLICY_DIR,
  XfrmError,
  type XfrmPolicy,
} from '@xfrmkit/core';
import { type BenchOptions, type BenchResult, measureRate, result, selected, summarize } from './harness.ts';
import { benchLoads } from './latency.ts';

/** Small fast seeded PRNG (mulberry32): u32 values. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function pick<T>(r: () => number, weighted: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of weighted) total += w;
  let x = (r() / 0x1_0000_0000) * total;
  for (const [v, w] of weighted) {
    x -= w;
    if (x < 0) return v;
  }
  return weighted[weighted.length - 1]![0];
}

function maskU32(x: number, plen: number): number {
  return plen === 0 ? 0 : (x & (-1 << (32 - plen))) >>> 0;
}

function v4Text(x: number): string {
  return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
}

/** IPv6 text from four u32 words. */
function v6Text(w: readonly number[]): string {
  const g: string[] = [];
  for (const x of w) g.push(((x >>> 16) & 0xffff).toString(16), (x & 0xffff).toString(16));
  return g.join(':');
}

/** A random unicast-looking IPv4 address (first octet 1..223). */
function randV4(r: () => number): number {
  return ((((r() % 223) + 1) << 24) | (r() & 0xffffff)) >>> 0;
}

/** A random address in 2000::/3 as four u32 words. */
function randV6(r: () => number): number[] {
  return [((r() & 0x1fffffff) | 0x20000000) >>> 0, r(), r(), r()];
}

function maskV6(w: readonly number[], plen: number): number[] {
  return w.map((x, i) => maskU32(x, Math.max(0, Math.min(32, plen - 32 * i))));
}

/** Fills the bits below `plen` of a prefix with random bits. */
function within4(r: () => number, prefix: number, plen: number): number {
  if (plen >= 32) return prefix;
  const host = plen === 0 ? r() : r() & ((1 << (32 - plen)) - 1);
  return (prefix | host) >>> 0;
}

function within6(r: () => number, prefix: readonly number[], plen: number): number[] {
  return prefix.map((x, i) => within4(r, x, Math.max(0, Math.min(32, plen - 32 * i))));
}

const PORTS = [22, 25, 53, 80, 123, 179, 443, 500, 993, 1194, 1701, 3306, 4500, 5060, 8080, 8443];

interface GenPolicy {
  policy: XfrmPolicy;
  /** inclusive address generator for flows inside the selector. */
  flow: (r: () => number) => Flow;
}

function genPolicy(r: () => number): GenPolicy {
  const v6 = r() % 5 === 0;
  const exact = r() % 4 === 0;
  const bits = v6 ? 128 : 32;
  const pd = exact
    ? bits
    : v6
      ? pick(r, [
          [32, 5],
          [48, 35],
          [56, 20],
          [64, 40],
        ] as const)
      : pick(r, [
          [8, 2],
          [12, 5],
          [16, 20],
          [20, 15],
          [24, 40],
          [28, 18],
        ] as const);
  const ps = exact
    ? bits
    : v6
      ? pick(r, [
          [0, 50],
          [48, 15],
          [64, 25],
          [128, 10],
        ] as const)
      : pick(r, [
          [0, 50],
          [8, 5],
          [16, 10],
          [24, 25],
          [32, 10],
        ] as const);
  let proto = 0;
  let dport = 0;
  let dportMask = 0;
  let sport = 0;
  let sportMask = 0;
  const portKind = exact ? r() % 10 : r() % 5;
  if (portKind < 2) {
    proto = r() % 3 === 0 ? IPPROTO.UDP : IPPROTO.TCP;
    dport = PORTS[r() % PORTS.length]!;
    dportMask = 0xffff;
    if (portKind === 0 && r() % 3 === 0) {
      sport = 1024 + (r() % 64512);
      sportMask = 0xffff;
    }
  }
  const mark = r() % 100 < 3 ? { v: r() & 0xff, m: 0xff } : undefined;
  const ifId = r() % 100 < 2 ? 1 + (r() % 4) : 0;
  const offload = r() % 100 < 2;
  const family = v6 ? AF_INET6 : AF_INET;
  let daddr: string;
  let saddr: string;
  let flowAddrs: (r: () => number) => [string, string];
  if (v6) {
    const d = maskV6(randV6(r), pd);
    const s = maskV6(randV6(r), ps);
    daddr = v6Text(d);
    saddr = v6Text(s);
    flowAddrs = (q) => [v6Text(within6(q, d, pd)), v6Text(within6(q, s, ps))];
  } else {
    const d = maskU32(randV4(r), pd);
    const s = maskU32(randV4(r), ps);
    daddr = v4Text(d);
    saddr = v4Text(s);
    flowAddrs = (q) => [v4Text(within4(q, d, pd)), v4Text(within4(q, s, ps))];
  }
  const policy: XfrmPolicy = {
    info: {
      sel: {
        daddr,
        saddr,
        dport,
        dportMask,
        sport,
        sportMask,
        family,
        prefixlenD: pd,
        prefixlenS: ps,
        proto,
        ifindex: 0,
        user: 0,
      },
      lft: infiniteLifetime(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      priority: r() & 0xffff,
      index: 0,
      dir: XFRM_POLICY_DIR.OUT,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [],
    ...(mark ? { mark } : {}),
    ...(ifId ? { ifId } : {}),
    ...(offload ? { offload: { ifindex: 4, flags: XFRM_OFFLOAD_FLAG.PACKET } } : {}),
  };
  const flow = (q: () => number): Flow => {
    const [fd, fs] = flowAddrs(q);
    return {
      family,
      daddr: fd,
      saddr: fs,
      proto: proto === 0 ? (q() % 2 === 0 ? IPPROTO.TCP : IPPROTO.UDP) : proto,
      dport: dportMask ? dport : PORTS[q() % PORTS.length]!,
      sport: sportMask ? sport : 1024 + (q() % 64512),
      mark: mark ? mark.v : 0,
      ifId,
    };
  };
  return { policy, flow };
}

/** `n` distinct mixed-prefix policies (dir OUT), deterministic for a seed. */
export function mixedPolicies(n: number, seed = 1): GenPolicy[] {
  const r = rng(seed);
  const out: GenPolicy[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    const g = genPolicy(r);
    const s = g.policy.info.sel;
    const key = `${s.family}/${s.daddr}/${s.prefixlenD}/${s.saddr}/${s.prefixlenS}/${s.proto}/${s.dport}/${s.sport}/${g.policy.mark?.v}/${g.policy.ifId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(g);
  }
  return out;
}

/** `count` flows: 90 % inside a random policy's selector, 10 % random addresses. */
export function mixedFlows(pols: readonly GenPolicy[], count: number, seed = 2): Flow[] {
  const r = rng(seed);
  const flows: Flow[] = [];
  for (let i = 0; i < count; i++) {
    if (r() % 10 === 0) {
      const v6 = r() % 5 === 0;
      flows.push({
        family: v6 ? AF_INET6 : AF_INET,
        daddr: v6 ? v6Text(randV6(r)) : v4Text(randV4(r)),
        saddr: v6 ? v6Text(randV6(r)) : v4Text(randV4(r)),
        proto: IPPROTO.TCP,
        dport: PORTS[r() % PORTS.length]!,
        sport: 1024 + (r() % 64512),
      });
    } else {
      flows.push(pols[r() % pols.length]!.flow(r));
    }
  }
  return flows;
}

/** Builds an SPD from generated policies; returns it with the build time in ms. */
export function buildSpd(pols: readonly GenPolicy[]): { spd: Spd; ms: number } {
  const spd = new Spd();
  const t0 = performance.now();
  for (const g of pols) {
    try {
      spd.add(g.policy);
    } catch (e) {
      if (!(e instanceof XfrmError) || e.errno !== 'EEXIST') throw e;
    }
  }
  return { spd, ms: performance.now() - t0 };
}

const OUT = XFRM_POLICY_DIR.OUT;
const FLOWS = 65_536;
const BATCH = 4096;

function label(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`;
}

/** Samples the linear reference: `perSample` lookups per sample, `samples` samples (lookups/s). */
function sampleReference(
  spd: Spd,
  flows: readonly Flow[],
  samples: number,
  perSample: number,
): { rates: number[]; lookups: number; agree: boolean } {
  const entries = spd.entries();
  const rates: number[] = [];
  let k = 0;
  let agree = true;
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < perSample; i++) {
      const f = flows[k++ % flows.length]!;
      const want = referenceLookup(entries, OUT, f);
      if (want?.index !== spd.lookupCompiled(OUT, compileFlow(f))?.index) agree = false;
    }
    rates.push((perSample * 1000) / (performance.now() - t0));
  }
  return { rates, lookups: samples * perSample, agree };
}

export interface SpdBenchOptions extends BenchOptions {
  /** sizes for the ids 1k, 10k, 100k, 1m (defaults: full sizes; quick: 1k, 5k, 20k, 100k). */
  sizes?: readonly [number, number, number, number];
  log?: (s: string) => void;
}

export async function benchSpd(opts: SpdBenchOptions): Promise<BenchResult[]> {
  const ids = ['1k', '10k', '100k', '1m'] as const;
  const sizes =
    opts.sizes ?? (opts.quick ? [1_000, 5_000, 20_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000]);
  const log = opts.log ?? (() => {});
  const out: BenchResult[] = await benchLoads(opts);
  const dramNs = 1e9 / out.find((r) => r.id === 'spd.load.dram')!.value;
  log(`spd: one dependent load beyond the cache takes ${dramNs.toFixed(0)} ns`);
  for (let i = 0; i < ids.length; i++) {
    const n = sizes[i]!;
    if (!selected(`spd.lookup.${ids[i]}`, opts.only)) continue;
    const pols = mixedPolicies(n, 1000 + i);
    const flows = mixedFlows(pols, FLOWS, 7 + i);
    const { spd, ms } = buildSpd(pols);
    log(`spd ${label(n)}: built ${spd.size} policies in ${(ms / 1000).toFixed(2)} s`);
    const compiled: CompiledFlow[] = flows.map(compileFlow);
    let k = 0;
    let hits = 0;
    const fn = () => {
      for (let j = 0; j < BATCH; j++) {
        if (spd.lookupCompiled(OUT, compiled[k]!) !== undefined) hits++;
        k = (k + 1) & (FLOWS - 1);
      }
    };
    const samples = await measureRate(`spd.lookup.${label(n)}`, fn, BATCH, opts);
    let matched = 0;
    for (const f of compiled) if (spd.lookupCompiled(OUT, f) !== undefined) matched++;
    // the reference costs ~n µs per lookup: fewer lookups at large sizes
    const perSample = Math.max(1, Math.min(2000, Math.round(2e6 / n / (opts.quick ? 4 : 1))));
    const nSamples = n >= 1_000_000 ? 3 : opts.quick ? 3 : 5;
    const ref = sampleReference(spd, flows, nSamples, perSample);
    if (!ref.agree) throw new Error(`spd.lookup.${label(n)}: indexed lookup disagrees with the reference`);
    log(`spd ${label(n)}: ${(summarize(samples).median / 1e6).toFixed(2)} M/s (hits ${hits})`);
    const refNote =
      n >= 1_000_000
        ? `; linear-scan baseline sampled on only ${ref.lookups} lookups (${nSamples}×${perSample}; a full run would take hours)`
        : `; linear-scan baseline on ${ref.lookups} lookups`;
    const ns = 1e9 / summarize(samples).median;
    out.push(
      result(
        `spd.lookup.${ids[i]}`,
        `lookupCompiled, ${spd.size} mixed-prefix policies (v4+v6, 25% host/host, ports, random prio), ` +
          `${FLOWS} flows, ${((100 * matched) / FLOWS).toFixed(0)}% matched; built in ${(ms / 1000).toFixed(2)} s` +
          refNote +
          `; ${ns.toFixed(0)} ns = ${(ns / dramNs).toFixed(1)}× spd.load.dram`,
        'lookups/s',
        samples,
        { name: 'referenceLookup linear scan', samples: ref.rates },
      ),
    );
  }
  return out;
}

// direct run of this file only (a bundle that includes this module has another entry)
if (import.meta.url.endsWith('/spd.ts') && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  const rs = await benchSpd({ quick, log: (s) => process.stderr.write(`${s}\n`) });
  if (json) process.stdout.write(`${JSON.stringify(rs)}\n`);
  else
    for (const r of rs)
      process.stdout.write(`${r.id} ${(r.value / 1e6).toFixed(2)} M/s ×${r.ratio?.toFixed(0)} ${r.what}\n`);
}
