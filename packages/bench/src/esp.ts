/**
 * ESP datapath throughput: encap and decap (tunnel mode, IPv4, AES-128-GCM, ICV 16, ESN, batches of
 * 256) at 64, 512 and 1400-byte IP packets and simple IMIX (64/576/1500 bytes, 7:4:1), each next to the
 * raw AES-GCM ceiling: the same provider sealing/opening the same number of bytes in one batch call
 * with no ESP work. Rates are packets per second of wall time on one core (samples of ~`roundMs`).
 *
 * Run: `npx tsx packages/bench/src/esp.ts [--quick]` (XFRMKIT_GCM=node measures the fallback).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { defaultGcmProvider, EspSa, GCM_DESC_STRIDE, type GcmProvider, PacketBatch } from '@xfrmkit/core';
import { type BenchResult, summarize } from './harness.ts';

export interface EspBenchOptions {
  quick?: boolean;
  /** Packets per batch call (default 256). */
  batch?: number;
  /** Samples per measurement (default 7, quick 3) and their length (default 150 ms, quick 60 ms). */
  samples?: number;
  roundMs?: number;
  provider?: GcmProvider;
}

const KEY = new Uint8Array(16).map((_, i) => i * 7 + 1);
const SALT = new Uint8Array([0xca, 0xfe, 0xba, 0xbe]);
const TUNNEL = { src: '192.0.2.1', dst: '198.51.100.1' };

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
function sizesFor(profile: string, n: number): number[] {
  if (profile !== 'imix') return new Array<number>(n).fill(Number(profile));
  const cycle = [64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500];
  return Array.from({ length: n }, (_, i) => cycle[i % cycle.length]!);
}

function measure(samples: number, roundMs: number, packetsPerCall: number, call: () => number): number[] {
  // warm-up
  const wEnd = performance.now() + roundMs;
  while (performance.now() < wEnd) call();
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    let timed = 0;
    let pkts = 0;
    while (timed < roundMs) {
      timed += call();
      pkts += packetsPerCall;
    }
    rates.push(pkts / timed / 1000); // Mpps
  }
  return rates;
}

function result(
  id: string,
  what: string,
  samples: number[],
  base?: { name: string; value: number },
): BenchResult {
  const { median, spread } = summarize(samples);
  const r: BenchResult = { id, what, value: median, unit: 'Mpps', samples, spread };
  if (base) {
    r.baseline = base.value;
    r.baseline_name = base.name;
    r.ratio = median / base.value;
  }
  return r;
}

export function benchEsp(opts: EspBenchOptions = {}): BenchResult[] {
  const n = opts.batch ?? 256;
  const samples = opts.samples ?? (opts.quick ? 3 : 7);
  const roundMs = opts.roundMs ?? (opts.quick ? 60 : 150);
  const provider = opts.provider ?? defaultGcmProvider();
  const out: BenchResult[] = [];

  for (const profile of ['64', '512', '1400', 'imix']) {
    const sizes = sizesFor(profile, n);
    const slot = 1600;
    const plain = PacketBatch.withSlots(n, slot);
    for (const [i, s] of sizes.entries()) plain.set(i, udp4(s, i));
    const esp = PacketBatch.withSlots(n, slot);
    const dec = PacketBatch.withSlots(n, slot);
    const cfg = {
      spi: 0x1000,
      mode: 'tunnel' as const,
      key: KEY,
      salt: SALT,
      icvLen: 16,
      esn: true,
      tunnel: TUNNEL,
      provider,
    };
    const tx = new EspSa(cfg);
    const rx = new EspSa({ ...cfg, replayWindow: 4096 });
    const label = profile === 'imix' ? 'IMIX 7:4:1 of 64/576/1500 B' : `${profile} B`;

    // raw AES-GCM ceiling: seal/open each packet's bytes in place, 8-byte AAD, no ESP work
    const raw = new Uint8Array(n * slot);
    const aad = new Uint8Array(n * 12);
    const sealDesc = new Uint32Array(n * GCM_DESC_STRIDE);
    const openDesc = new Uint32Array(n * GCM_DESC_STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * slot;
      sealDesc.set([o + 8, sizes[i]!, o + 8, 0, o, i * 12, 8, 16], i * GCM_DESC_STRIDE);
      openDesc.set([o + 8, sizes[i]!, o + 8, 0, o, i * 12, 8, 16], i * GCM_DESC_STRIDE);
    }
    const sctx = provider.createContext(KEY, SALT, 'seal');
    const octx = provider.createContext(KEY, SALT, 'open');
    const ok = new Uint8Array(n);
    const rawSeal = measure(samples, roundMs, n, () => {
      const t = performance.now();
      sctx.sealBatch(raw, raw, aad, sealDesc, n);
      return performance.now() - t;
    });
    const rawOpen = measure(samples, roundMs, n, () => {
      sctx.sealBatch(raw, raw, aad, sealDesc, n);
      const t = performance.now();
      const v = octx.openBatch(raw, raw, aad, openDesc, n, ok);
      const dt = performance.now() - t;
      if (v !== n) throw new Error('raw open failed');
      return dt;
    });
    sctx.dispose();
    octx.dispose();

    plain.count = n;
    const encap = measure(samples, roundMs, n, () => {
      const t = performance.now();
      const k = tx.encapBatch(plain, esp);
      const dt = performance.now() - t;
      if (k !== n) throw new Error('encap failed');
      return dt;
    });
    const decap = measure(samples, roundMs, n, () => {
      tx.encapBatch(plain, esp);
      const t = performance.now();
      const k = rx.decapBatch(esp, dec);
      const dt = performance.now() - t;
      if (k !== n) throw new Error(`decap accepted ${k}/${n}`);
      return dt;
    });
    tx.dispose();
    rx.dispose();

    const sealBase = { name: `raw AES-GCM seal (${provider.name})`, value: summarize(rawSeal).median };
    const openBase = { name: `raw AES-GCM open (${provider.name})`, value: summarize(rawOpen).median };
    out.push(result(`esp.raw_seal.${profile}`, `AES-128-GCM seal of ${label}, batch ${n}`, rawSeal));
    out.push(result(`esp.encap.${profile}`, `ESP tunnel encap, ESN, ${label}, batch ${n}`, encap, sealBase));
    out.push(result(`esp.raw_open.${profile}`, `AES-128-GCM open of ${label}, batch ${n}`, rawOpen));
    out.push(result(`esp.decap.${profile}`, `ESP tunnel decap, ESN, ${label}, batch ${n}`, decap, openBase));
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const provider = defaultGcmProvider();
  console.log(`provider: ${provider.name}`);
  for (const r of benchEsp({ quick, provider })) {
    const base =
      r.ratio === undefined
        ? ''
        : `  (${(r.ratio * 100).toFixed(0)}% of ${r.baseline_name} ${r.baseline!.toFixed(2)})`;
    console.log(
      `${r.id.padEnd(20)} ${r.value.toFixed(3).padStart(7)} Mpps ±${(r.spread * 100).toFixed(1)}%${base}`,
    );
  }
}
