/**
 * ESP datapath throughput: encap and decap (tunnel mode, IPv4, AES-128-GCM, ICV 16) at 64, 512 and
 * 1400-byte IP packets and simple IMIX (64/576/1500 bytes, 7:4:1), each next to the raw AES-GCM
 * ceiling: the native provider sealing/opening the same bytes of the same batch in one call, with no
 * ESP work (for the one-packet-per-call variant: the same bytes, one AES-GCM call per packet).
 *
 * Per packet size, one default configuration and one-factor-at-a-time variants of it:
 *   esp.{encap,decap}.SIZE          ESN, batches of 256 (`encapBatch`/`decapBatch`), native provider
 *   esp.{encap,decap}.SIZE.noesn    32-bit sequence numbers
 *   esp.{encap,decap}.SIZE.single   one packet per call (`encap`/`decap` into preallocated buffers)
 *   esp.{encap,decap}.SIZE.node     the `node:crypto` fallback provider (XFRMKIT_GCM=node)
 *   esp.raw_{seal,open}.SIZE        the ceiling (native AES-GCM, batch, no ESP) — the baselines
 *   esp.raw_{seal,open}.SIZE.single the same one packet per call (`GcmContext.seal`/`open`, one N-API
 *                                   call each) — the baselines of the `.single` variants, which pay
 *                                   the same per-call cost
 *
 * All measurements of one size are sampled round-robin (one round of each, then the next sample), so
 * a burst of load from elsewhere on the machine hits the ceiling and the figures next to it alike.
 * Rates are packets per second of timed wall time on one core; Gb/s counts the IP packets' bytes
 * (the plaintext datagram for encap, the same inner datagram for decap).
 *
 * Run: `npx tsx packages/bench/src/esp.ts [--quick]`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  EspSa,
  type EspSaConfig,
  GCM_DESC_STRIDE,
  type GcmProvider,
  nodeGcmProvider,
  PacketBatch,
  selectGcmProvider,
} from '@xfrmkit/core';
import { type BenchResult, result, selected, withBaseline } from './harness.ts';

export const ESP_SIZES = ['64', '512', '1400', 'imix'] as const;
export type EspSize = (typeof ESP_SIZES)[number];
export const ESP_VARIANTS = ['', 'noesn', 'single', 'node'] as const;
export type EspVariant = (typeof ESP_VARIANTS)[number];

export interface EspBenchOptions {
  quick?: boolean;
  /** Packets per batch call (default 256). */
  batch?: number;
  /** Samples per measurement (default 7, quick 3) and their timed length (default 150 ms, quick 25 ms). */
  samples?: number;
  roundMs?: number;
  /** The provider of the ceiling and of the default configuration (default: native, else the fallback). */
  provider?: GcmProvider;
  /** The fallback provider of the `.node` variant (default `node:crypto`). */
  fallback?: GcmProvider;
  sizes?: readonly EspSize[];
  variants?: readonly EspVariant[];
  /** `--only` filter: sizes/variants whose ids it excludes are not measured */
  only?: string;
  log?: (s: string) => void;
}

const KEY = new Uint8Array(16).map((_, i) => i * 7 + 1);
const SALT = new Uint8Array([0xca, 0xfe, 0xba, 0xbe]);
const TUNNEL = { src: '192.0.2.1', dst: '198.51.100.1' };
const SLOT = 1600;

function udp4(size: number, seed: number): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = 0x45;
  p[2] = size >> 8;
  p[3] = size & 0xff;
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 17;
  p.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  for (let i = 20; i < size; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}

/** Packet sizes of one batch for a profile. */
export function sizesFor(profile: EspSize, n: number): number[] {
  if (profile !== 'imix') return new Array<number>(n).fill(Number(profile));
  const cycle = [64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500];
  return Array.from({ length: n }, (_, i) => cycle[i % cycle.length]!);
}

/** One measured thing: `call()` does `packets` packets and returns the timed milliseconds. */
interface Task {
  id: string;
  packets: number;
  call: () => number;
  rates: number[];
}

/**
 * Samples every task round-robin: a warm-up round each, then `samples` rounds of each task in turn,
 * each round ≥ `roundMs` of timed work. Rates in Mpps.
 */
export function sampleRoundRobin(tasks: Task[], samples: number, roundMs: number): void {
  const round = (t: Task): number => {
    let timed = 0;
    let pkts = 0;
    while (timed < roundMs) {
      timed += t.call();
      pkts += t.packets;
    }
    return pkts / timed / 1000;
  };
  for (const t of tasks) round(t);
  for (let s = 0; s < samples; s++) for (const t of tasks) t.rates.push(round(t));
}

function espResult(id: string, what: string, samples: number[], bytesPerPacket: number): BenchResult {
  const r = result(id, what, 'Mpps', samples);
  r.gbps = (r.value * 1e6 * bytesPerPacket * 8) / 1e9;
  return r;
}

function variantText(v: EspVariant, n: number, provider: string): string {
  const esn = v === 'noesn' ? 'no ESN (32-bit seq)' : 'ESN';
  const calls = v === 'single' ? 'one packet per call' : `batch ${n}`;
  return `${esn}, ${calls}, ${provider}${v === 'node' ? ' (fallback)' : ''}`;
}

function nativeOrDefault(log: (s: string) => void): GcmProvider {
  return selectGcmProvider({ warn: (m) => log(m) });
}

export function benchEsp(opts: EspBenchOptions = {}): BenchResult[] {
  const n = opts.batch ?? 256;
  const samples = opts.samples ?? (opts.quick ? 3 : 7);
  const roundMs = opts.roundMs ?? (opts.quick ? 25 : 150);
  const log = opts.log ?? (() => {});
  const provider = opts.provider ?? nativeOrDefault(log);
  const fallback = opts.fallback ?? nodeGcmProvider;
  let variants = opts.variants ?? ESP_VARIANTS;
  if (fallback.name === provider.name && variants.includes('node')) {
    log(`esp: the ${provider.name} provider is already the fallback: no separate .node variant`);
    variants = variants.filter((v) => v !== 'node');
  }
  const out: BenchResult[] = [];

  for (const profile of opts.sizes ?? ESP_SIZES) {
    const wanted = (id: string) => selected(id, opts.only);
    const vs = variants.filter((v) =>
      ['encap', 'decap'].some((d) => wanted(`esp.${d}.${profile}${v ? `.${v}` : ''}`)),
    );
    if (vs.length === 0 && !wanted(`esp.raw_seal.${profile}`) && !wanted(`esp.raw_open.${profile}`)) continue;
    const rawSingle = vs.includes('single');
    const t0 = performance.now();
    const sizes = sizesFor(profile, n);
    const avgBytes = sizes.reduce((a, b) => a + b, 0) / n;
    const label = profile === 'imix' ? 'IMIX 7:4:1 of 64/576/1500 B' : `${profile} B`;
    const plain = PacketBatch.withSlots(n, SLOT);
    for (const [i, s] of sizes.entries()) plain.set(i, udp4(s, i));
    plain.count = n;
    const plainViews = Array.from({ length: n }, (_, i) => plain.packet(i));
    const disposers: Array<() => void> = [];

    // raw AES-GCM ceiling: seal/open each packet's bytes in place, 8-byte AAD, no ESP work
    const raw = new Uint8Array(n * SLOT);
    const aad = new Uint8Array(n * 12);
    const desc = new Uint32Array(n * GCM_DESC_STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * SLOT;
      desc.set([o + 8, sizes[i]!, o + 8, 0, o, i * 12, 8, 16], i * GCM_DESC_STRIDE);
    }
    const sctx = provider.createContext(KEY, SALT, 'seal');
    const octx = provider.createContext(KEY, SALT, 'open');
    disposers.push(
      () => sctx.dispose(),
      () => octx.dispose(),
    );
    const ok = new Uint8Array(n);
    const rawSeal: Task = {
      id: `esp.raw_seal.${profile}`,
      packets: n,
      rates: [],
      call: () => {
        const t = performance.now();
        sctx.sealBatch(raw, raw, aad, desc, n);
        return performance.now() - t;
      },
    };
    const rawOpen: Task = {
      id: `esp.raw_open.${profile}`,
      packets: n,
      rates: [],
      call: () => {
        sctx.sealBatch(raw, raw, aad, desc, n);
        const t = performance.now();
        const v = octx.openBatch(raw, raw, aad, desc, n, ok);
        const dt = performance.now() - t;
        if (v !== n) throw new Error(`esp.raw_open.${profile}: ${v}/${n} tags verified`);
        return dt;
      },
    };
    const tasks: Task[] = [rawSeal, rawOpen];
    // the same, one packet per call: the fair ceiling of `encap`/`decap`
    const rawSealOne: Task = {
      id: `esp.raw_seal.${profile}.single`,
      packets: n,
      rates: [],
      call: () => {
        const t = performance.now();
        for (let i = 0; i < n; i++) {
          const o = i * SLOT;
          sctx.seal(raw, o + 8, sizes[i]!, raw, o + 8, 0, raw, o, aad, i * 12, 8, 16);
        }
        return performance.now() - t;
      },
    };
    const rawOpenOne: Task = {
      id: `esp.raw_open.${profile}.single`,
      packets: n,
      rates: [],
      call: () => {
        sctx.sealBatch(raw, raw, aad, desc, n);
        let v = 0;
        const t = performance.now();
        for (let i = 0; i < n; i++) {
          const o = i * SLOT;
          if (octx.open(raw, o + 8, sizes[i]!, raw, o + 8, raw, o, aad, i * 12, 8, 16)) v++;
        }
        const dt = performance.now() - t;
        if (v !== n) throw new Error(`esp.raw_open.${profile}.single: ${v}/${n} tags verified`);
        return dt;
      },
    };
    const rawTasks = rawSingle ? 4 : 2;
    if (rawSingle) tasks.push(rawSealOne, rawOpenOne);

    for (const v of vs) {
      const suffix = v ? `.${v}` : '';
      const cfg: EspSaConfig = {
        spi: 0x1000,
        mode: 'tunnel',
        key: KEY,
        salt: SALT,
        icvLen: 16,
        esn: v !== 'noesn',
        tunnel: TUNNEL,
        provider: v === 'node' ? fallback : provider,
      };
      const tx = new EspSa(cfg);
      // decap input comes from a feeder SA (same key and sequence space, untimed) on the fast provider
      const feeder = new EspSa({ ...cfg, provider });
      const rx = new EspSa({ ...cfg, replayWindow: 4096 });
      disposers.push(
        () => tx.dispose(),
        () => feeder.dispose(),
        () => rx.dispose(),
      );
      const esp = PacketBatch.withSlots(n, SLOT);
      const dec = PacketBatch.withSlots(n, SLOT);
      const encId = `esp.encap.${profile}${suffix}`;
      const decId = `esp.decap.${profile}${suffix}`;
      let encap: () => number;
      let decap: () => number;
      if (v === 'single') {
        const outs = Array.from({ length: n }, () => ({ out: new Uint8Array(SLOT) }));
        const decOuts = Array.from({ length: n }, () => ({ out: new Uint8Array(SLOT) }));
        // encapBatch writes fixed slots: views of the feeder's output are valid across calls
        if (feeder.encapBatch(plain, esp) !== n) throw new Error(`${decId}: feeder encap failed`);
        const espViews = Array.from({ length: n }, (_, i) => esp.packet(i));
        if (rx.decapBatch(esp, dec) !== n) throw new Error(`${decId}: warm decap failed`);
        encap = () => {
          const t = performance.now();
          for (let i = 0; i < n; i++) tx.encap(plainViews[i]!, outs[i]);
          return performance.now() - t;
        };
        decap = () => {
          feeder.encapBatch(plain, esp);
          const t = performance.now();
          for (let i = 0; i < n; i++) rx.decap(espViews[i]!, decOuts[i]);
          return performance.now() - t;
        };
        // correctness once: the single-call path round-trips the batch's first packet
        const check = new EspSa({ ...cfg, replayWindow: 4096 });
        const d = check.decap(tx.encap(plainViews[0]!));
        check.dispose();
        if (!equal(d.packet, plainViews[0]!)) throw new Error(`${encId}: round trip mismatch`);
      } else {
        encap = () => {
          const t = performance.now();
          const k = tx.encapBatch(plain, esp);
          const dt = performance.now() - t;
          if (k !== n) throw new Error(`${encId}: encap ${k}/${n}`);
          return dt;
        };
        decap = () => {
          feeder.encapBatch(plain, esp);
          const t = performance.now();
          const k = rx.decapBatch(esp, dec);
          const dt = performance.now() - t;
          if (k !== n) throw new Error(`${decId}: decap accepted ${k}/${n}`);
          return dt;
        };
        // correctness once: the tx SA's output decapsulates to the input (through a fresh receiver:
        // tx has its own sequence space, rx follows the feeder's)
        tx.encapBatch(plain, esp);
        const check = new EspSa({ ...cfg, replayWindow: 4096 });
        const k = check.decapBatch(esp, dec);
        check.dispose();
        if (k !== n || !equal(dec.packet(n - 1), plainViews[n - 1]!))
          throw new Error(`${encId}: round trip mismatch`);
      }
      if (wanted(encId)) tasks.push({ id: encId, packets: n, rates: [], call: encap });
      if (wanted(decId)) tasks.push({ id: decId, packets: n, rates: [], call: decap });
    }

    try {
      sampleRoundRobin(tasks, samples, roundMs);
    } finally {
      for (const d of disposers) d();
    }

    const seal = espResult(
      rawSeal.id,
      `AES-128-GCM seal of ${label}, batch ${n}, ${provider.name} (ceiling)`,
      rawSeal.rates,
      avgBytes,
    );
    const open = espResult(
      rawOpen.id,
      `AES-128-GCM open of ${label}, batch ${n}, ${provider.name} (ceiling)`,
      rawOpen.rates,
      avgBytes,
    );
    if (wanted(seal.id)) out.push(seal);
    if (wanted(open.id)) out.push(open);
    let sealOne: BenchResult | undefined;
    let openOne: BenchResult | undefined;
    if (rawSingle) {
      sealOne = espResult(
        rawSealOne.id,
        `AES-128-GCM seal of ${label}, one packet per call, ${provider.name} (ceiling of .single)`,
        rawSealOne.rates,
        avgBytes,
      );
      openOne = espResult(
        rawOpenOne.id,
        `AES-128-GCM open of ${label}, one packet per call, ${provider.name} (ceiling of .single)`,
        rawOpenOne.rates,
        avgBytes,
      );
      if (wanted(sealOne.id)) out.push(sealOne);
      if (wanted(openOne.id)) out.push(openOne);
    }
    for (const t of tasks.slice(rawTasks)) {
      const dir = t.id.startsWith('esp.encap') ? 'encap' : 'decap';
      const v = (t.id.split('.')[3] ?? '') as EspVariant;
      const prov = v === 'node' ? fallback.name : provider.name;
      const op = dir === 'encap' ? 'seal' : 'open';
      let what = `ESP tunnel ${dir}, ${label}, ${variantText(v, n, prov)}`;
      let base = dir === 'encap' ? seal : open;
      let baseName = `raw AES-GCM ${op} (${provider.name})`;
      const one = dir === 'encap' ? sealOne : openOne;
      if (v === 'single' && one) {
        // one call per packet on both sides: the ceiling pays the same per-call cost
        base = one;
        baseName = `raw AES-GCM ${op} (${provider.name}), one packet per call`;
        what += `; baseline: raw AES-GCM ${op} of one packet per call (${one.id})`;
      }
      out.push(withBaseline(espResult(t.id, what, t.rates, avgBytes), baseName, base.value));
    }
    log(
      `esp ${profile}: ${tasks.length} measurements in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
        `(encap ${fmt(out.find((r) => r.id === `esp.encap.${profile}`)?.value)} Mpps, ceiling ${fmt(seal.value)})`,
    );
  }
  return out;
}

function fmt(v: number | undefined): string {
  return v === undefined ? '–' : v.toFixed(2);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

if (import.meta.url.endsWith('/esp.ts') && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  for (const r of benchEsp({ quick, log: (s) => process.stderr.write(`${s}\n`) })) {
    const base =
      r.ratio === undefined
        ? ''
        : `  (${(r.ratio * 100).toFixed(0)}% of ${r.baseline_name} ${r.baseline!.toFixed(2)})`;
    console.log(
      `${r.id.padEnd(24)} ${r.value.toFixed(3).padStart(7)} Mpps ${r.gbps!.toFixed(2).padStart(6)} Gb/s ±${(r.spread * 100).toFixed(1)}%${base}`,
    );
  }
}
