/**
 * SAD datapath lookup: `Sad.lookupSpi` (the allocation-free hot path, by daddr words, SPI, proto,
 * family and mark) with 100k ESP SAs installed (80 % IPv4 / 20 % IPv6 destinations, random SPIs),
 * cycling through 65,536 (daddr, spi) keys of installed SAs held in a flat Int32Array. The baseline
 * is the string-keyed convenience form `Sad.lookup(daddr text, …)` over the same keys, which parses
 * the address on every call (what a caller without compiled keys pays). The `what` text also gives
 * the lookup time in units of one dependent load beyond the cache, measured in the same child
 * (`latency.ts`): a table of 100k SAs is about the size of this machine's last-level cache.
 *
 * Run: `xfrmkit bench --only sad [--quick]`.
 */
import {
  AF_INET,
  AF_INET6,
  addressWords,
  IPPROTO,
  infiniteLifetime,
  Sad,
  XFRM_MODE,
  type XfrmState,
} from '@xfrmkit/core';
import { type BenchOptions, type BenchResult, measureRate, result, summarize } from './harness.ts';
import { DRAM_BYTES, loadRate } from './latency.ts';
import { rng } from './spd.ts';

function v4Text(x: number): string {
  return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
}

function v6Text(w: readonly number[]): string {
  const g: string[] = [];
  for (const x of w) g.push(((x >>> 16) & 0xffff).toString(16), (x & 0xffff).toString(16));
  return g.join(':');
}

/** `n` ESP AES-GCM SAs with random destinations and distinct SPIs (deterministic for a seed). */
export function randomStates(n: number, seed = 1): XfrmState[] {
  const r = rng(seed);
  const spis = new Set<number>();
  const out: XfrmState[] = [];
  while (out.length < n) {
    const spi = r() >>> 0;
    if (spi < 256 || spis.has(spi)) continue;
    spis.add(spi);
    const v6 = r() % 5 === 0;
    const family = v6 ? AF_INET6 : AF_INET;
    const daddr = v6
      ? v6Text([((r() & 0x1fffffff) | 0x20000000) >>> 0, r(), r(), r()])
      : v4Text(((((r() % 223) + 1) << 24) | (r() & 0xffffff)) >>> 0);
    out.push({
      info: {
        sel: {
          daddr: '::',
          saddr: '::',
          dport: 0,
          dportMask: 0,
          sport: 0,
          sportMask: 0,
          family: 0,
          prefixlenD: 0,
          prefixlenS: 0,
          proto: 0,
          ifindex: 0,
          user: 0,
        },
        id: { daddr, spi, proto: IPPROTO.ESP },
        saddr: v6 ? '2001:db8::1' : '192.0.2.1',
        lft: infiniteLifetime(),
        curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
        stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
        seq: 0,
        reqid: 1 + (out.length % 4096),
        family,
        mode: XFRM_MODE.TUNNEL,
        replayWindow: 0,
        flags: 0,
      },
      aead: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: new Uint8Array(20), icvLen: 128 },
    });
  }
  return out;
}

const KEYS = 65_536;
const BATCH = 4096;

export async function benchSad(opts: BenchOptions): Promise<BenchResult[]> {
  const n = 100_000;
  const states = randomStates(n, 3);
  const sad = new Sad();
  for (const s of states) sad.add(s);
  // keys: family, d0..d3, spi per lookup (6 int32)
  const r = rng(4);
  const keys = new Int32Array(KEYS * 6);
  const texts: { daddr: string; spi: number; family: number }[] = [];
  for (let i = 0; i < KEYS; i++) {
    const s = states[r() % n]!;
    const w = addressWords(s.info.id.daddr);
    keys.set([s.info.family, w[0], w[1], w[2], w[3], s.info.id.spi | 0], i * 6);
    texts.push({ daddr: s.info.id.daddr, spi: s.info.id.spi, family: s.info.family });
  }
  let k = 0;
  let found = 0;
  const fast = () => {
    for (let j = 0; j < BATCH; j++) {
      const o = k * 6;
      const e = sad.lookupSpi(
        keys[o]!,
        keys[o + 1]!,
        keys[o + 2]!,
        keys[o + 3]!,
        keys[o + 4]!,
        keys[o + 5]! >>> 0,
        IPPROTO.ESP,
        0,
      );
      if (e !== undefined) found++;
      k = (k + 1) & (KEYS - 1);
    }
  };
  const slow = () => {
    for (let j = 0; j < BATCH / 8; j++) {
      const t = texts[k]!;
      if (sad.lookup(t.daddr, t.spi, IPPROTO.ESP, t.family) !== undefined) found++;
      k = (k + 1) & (KEYS - 1);
    }
  };
  const samples = await measureRate('sad.lookup', fast, BATCH, opts);
  const ns = 1e9 / summarize(samples).median;
  const dramNs = 1e9 / summarize(await loadRate('sad.load.dram', DRAM_BYTES, opts)).median;
  const base = await measureRate('sad.lookup.text', slow, BATCH / 8, opts);
  // every key is an installed SA: all lookups must hit
  k = 0;
  found = 0;
  fast();
  if (found !== BATCH) throw new Error(`sad.lookup: ${BATCH - found} of ${BATCH} lookups missed`);
  return [
    result(
      'sad.lookup',
      `lookupSpi(family, daddr words, spi, ESP, mark 0) with ${n} SAs (80% IPv4), ${KEYS} keys of installed SAs cycled; ` +
        `${ns.toFixed(0)} ns = ${(ns / dramNs).toFixed(2)}× one dependent load beyond the cache (${dramNs.toFixed(0)} ns, this run, as spd.load.dram)`,
      'lookups/s',
      samples,
      { name: 'Sad.lookup(daddr text) (parses the address per call)', samples: base },
    ),
  ];
}
