/** Packet builders and arbitraries for the ESP tests. */
import { native } from '@xfrmkit/native';
import fc from 'fast-check';
import { createNativeGcmProvider, type GcmProvider, nodeGcmProvider } from '../../src/crypto/index.ts';
import { fixIpv4Checksum } from '../../src/esp/ip.ts';
import type { EspMode, EspSa, EspSaConfig } from '../../src/esp/sa.ts';
import type { ReplayMode } from '../../src/replay/index.ts';

export const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export const providers: GcmProvider[] = native
  ? [createNativeGcmProvider(native), nodeGcmProvider]
  : [nodeGcmProvider];

export interface Ipv4Spec {
  tos: number;
  id: number;
  df: boolean;
  ttl: number;
  proto: number;
  options: Uint8Array; // multiple of 4, ≤ 40
  payload: Uint8Array;
}

export function ipv4(spec: Partial<Ipv4Spec> & { payload: Uint8Array }): Uint8Array {
  const opts = spec.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const p = new Uint8Array(hl + spec.payload.length);
  p[0] = 0x40 | (hl / 4);
  p[1] = spec.tos ?? 0;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[4] = (spec.id ?? 0x1234) >> 8;
  p[5] = (spec.id ?? 0x1234) & 0xff;
  p[6] = spec.df ? 0x40 : 0;
  p[8] = spec.ttl ?? 64;
  p[9] = spec.proto ?? 17;
  p.set([192, 0, 2, 1, 198, 51, 100, 7], 12);
  p.set(opts, 20);
  p.set(spec.payload, hl);
  fixIpv4Checksum(p, 0);
  return p;
}

export interface Ipv6Ext {
  type: 0 | 43 | 44 | 60;
  /** 8-byte units beyond the first (ignored for fragment headers). */
  units: number;
  fill: number;
}

export function ipv6(spec: {
  tclass?: number;
  flow?: number;
  exts?: Ipv6Ext[];
  nh?: number;
  payload: Uint8Array;
}): Uint8Array {
  const exts = spec.exts ?? [];
  const extLen = exts.reduce((n, e) => n + (e.type === 44 ? 8 : (e.units + 1) * 8), 0);
  const p = new Uint8Array(40 + extLen + spec.payload.length);
  const tc = spec.tclass ?? 0;
  const flow = spec.flow ?? 0;
  p[0] = 0x60 | (tc >> 4);
  p[1] = ((tc & 0x0f) << 4) | ((flow >> 16) & 0x0f);
  p[2] = (flow >> 8) & 0xff;
  p[3] = flow & 0xff;
  const plen = p.length - 40;
  p[4] = plen >> 8;
  p[5] = plen & 0xff;
  p[7] = 64;
  p.set(hex('20010db8000000000000000000000001'), 8);
  p.set(hex('20010db8000000000000000000000002'), 24);
  let nhPos = 6;
  let off = 40;
  for (const e of exts) {
    p[nhPos] = e.type;
    const len = e.type === 44 ? 8 : (e.units + 1) * 8;
    p.fill(e.fill, off, off + len);
    if (e.type !== 44) p[off + 1] = e.units;
    nhPos = off;
    off += len;
  }
  p[nhPos] = spec.nh ?? 6;
  p.set(spec.payload, off);
  return p;
}

const upperProto = fc.constantFrom(1, 4, 6, 17, 41, 47, 58, 132, 253);

export const ipv4Arb = fc
  .record({
    tos: fc.integer({ min: 0, max: 255 }),
    id: fc.integer({ min: 0, max: 0xffff }),
    df: fc.boolean(),
    ttl: fc.integer({ min: 1, max: 255 }),
    proto: upperProto,
    options: fc
      .integer({ min: 0, max: 10 })
      .chain((n) => fc.uint8Array({ minLength: n * 4, maxLength: n * 4 })),
    payload: fc.uint8Array({ minLength: 1, maxLength: 1400 }),
  })
  .map(ipv4);

export const ipv6Arb = fc
  .record({
    tclass: fc.integer({ min: 0, max: 255 }),
    flow: fc.integer({ min: 0, max: 0xfffff }),
    exts: fc.array(
      fc.record({
        type: fc.constantFrom(0, 43, 44, 60) as fc.Arbitrary<0 | 43 | 44 | 60>,
        units: fc.integer({ min: 0, max: 3 }),
        fill: fc.integer({ min: 0, max: 255 }),
      }),
      { maxLength: 4 },
    ),
    nh: upperProto,
    payload: fc.uint8Array({ minLength: 1, maxLength: 1400 }),
  })
  .map(ipv6);

export const packetArb = fc.oneof(ipv4Arb, ipv6Arb);

/** The basics of a random ESP SA: mode, outer family, ICV size, ESN, 128/256-bit key, salt, SPI. */
export const ESP_SA_BASICS = {
  mode: fc.constantFrom<EspMode>('transport', 'tunnel'),
  outer: fc.constantFrom(4, 6),
  icvLen: fc.constantFrom(8, 12, 16),
  esn: fc.boolean(),
  key: fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
  ),
  salt: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  spi: fc.integer({ min: 1, max: 0xffffffff }),
};

/**
 * Random ESP SA configurations: modes, outer families, ICV sizes, ESN, 128/256-bit keys, IV masks,
 * DSCP/ECN/DF flags, replay layouts, windows from `windows`, and sequence numbers near 2^32 boundaries.
 */
export function espSaConfigArb(windows: readonly number[]): fc.Arbitrary<EspSaConfig> {
  return fc
    .record({
      ...ESP_SA_BASICS,
      ivMask: fc.option(fc.uint8Array({ minLength: 8, maxLength: 8 }), { nil: undefined }),
      ttl: fc.integer({ min: 1, max: 255 }),
      noPmtuDisc: fc.boolean(),
      dontEncapDscp: fc.boolean(),
      decapDscp: fc.boolean(),
      noEcn: fc.boolean(),
      strictPadding: fc.boolean(),
      window: fc.constantFrom(...windows),
      bmp: fc.boolean(),
      oseq: fc.constantFrom(0n, 5n, 0xfffffff0n, 0xfffffffen, 0x1_ffff_fff8n, 0xffff_ffff_ffff_fffcn),
      oseqMayWrap: fc.boolean(),
    })
    .map((c) => {
      const esn = c.esn;
      const window = esn && c.window === 0 ? 32 : c.window;
      const replayMode: ReplayMode = esn ? 'esn' : c.bmp || window > 32 ? 'bmp' : 'legacy';
      const cfg: EspSaConfig = {
        spi: c.spi,
        mode: c.mode,
        key: c.key,
        salt: c.salt,
        icvLen: c.icvLen,
        esn,
        tunnel:
          c.outer === 4
            ? { src: '203.0.113.1', dst: '203.0.113.2' }
            : { src: '2001:db8:1::1', dst: '2001:db8:2::2' },
        ttl: c.ttl,
        noPmtuDisc: c.noPmtuDisc,
        dontEncapDscp: c.dontEncapDscp,
        decapDscp: c.decapDscp,
        noEcn: c.noEcn,
        strictPadding: c.strictPadding,
        replayWindow: window,
        replayMode,
        oseq: esn ? c.oseq : c.oseq & 0xffff_ffffn,
        oseqMayWrap: !esn && c.oseqMayWrap,
      };
      if (c.ivMask) cfg.ivMask = c.ivMask;
      return cfg;
    });
}

/** What the native-vs-TypeScript differential tests compare after every call: counters and replay state. */
export function snapshot(sa: EspSa) {
  return {
    stats: sa.stats(),
    replay: sa.replay.toXfrmReplayStateEsn(),
    lastSent: sa.replay.lastSent,
    top: sa.replay.top,
  };
}

/**
 * Puts the receivers' window top a little around the sender's first sequence number (`cfg.oseq`,
 * shifted by `rxStart % 8` below and 3 above), so that packets arrive in, ahead of and behind the window.
 */
export function startReceivers(cfg: EspSaConfig, rxStart: number, rxs: readonly EspSa[]): void {
  const start = (cfg.oseq ?? 0n) - BigInt(rxStart % 8) + 3n;
  const top = start < 0n ? 0n : start;
  for (const rx of rxs) {
    rx.replay.seq = Number(top & 0xffff_ffffn);
    rx.replay.seqHi = cfg.esn ? Number((top >> 32n) & 0xffff_ffffn) : 0;
  }
}
