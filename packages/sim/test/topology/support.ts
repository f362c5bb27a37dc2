/** Test support: the seed topology configured through XfrmClient (the objects `ipXfrmLines` describe). */
import { type CipherGCMTypes, createCipheriv, createDecipheriv } from 'node:crypto';
import type { XfrmPolicy, XfrmState } from '@xfrmkit/core';
import { XfrmClient } from '@xfrmkit/netlink';
import {
  type Dpu,
  InProcTransport,
  NETLINK_XFRM,
  type SeedConfig,
  type SeedOptions,
  seedConfig,
  seedPolicy,
  seedState,
  seedTopologyOptions,
  type TwoDpuOptions,
  TwoDpuTopology,
} from '../../src/index.ts';

export async function xfrmOf(dpu: Dpu): Promise<XfrmClient> {
  return XfrmClient.over(new InProcTransport(dpu.sim.machine, NETLINK_XFRM));
}

export interface Built {
  topo: TwoDpuTopology;
  cfg: SeedConfig;
  clients: { left: XfrmClient; right: XfrmClient };
}

export async function seeded(
  seed: SeedOptions = {},
  topo: Partial<TwoDpuOptions> = {},
  tweak: { policy?: (p: XfrmPolicy) => void; state?: (s: XfrmState) => void } = {},
): Promise<Built> {
  const cfg = seedConfig(seed);
  const t = new TwoDpuTopology({
    profile: 'bf3',
    ...seedTopologyOptions(cfg),
    ...topo,
  });
  const clients = { left: await xfrmOf(t.bfl), right: await xfrmOf(t.bfr) };
  for (const [side, dpu] of [
    ['left', t.bfl],
    ['right', t.bfr],
  ] as const) {
    const ifx = dpu.sim.ifindex('p0');
    for (const dir of ['out', 'in'] as const) {
      const s = seedState(cfg, side, dir, ifx);
      tweak.state?.(s);
      await clients[side].addState(s);
    }
    for (const dir of ['out', 'in'] as const) {
      const p = seedPolicy(cfg, side, dir, ifx);
      tweak.policy?.(p);
      await clients[side].addPolicy(p);
    }
  }
  return { topo: t, cfg, clients };
}

/** Independent RFC 4106 ESP (transport, IPv4) with node:crypto — for crafting and checking packets. */
export function espSeal(opts: {
  keyMat: Uint8Array;
  spi: number;
  seq: number;
  ipHeader: Uint8Array;
  payload: Uint8Array;
  nextHeader: number;
  /** override the trailer (bad trailer tests) */
  padding?: Uint8Array;
}): Uint8Array {
  const key = opts.keyMat.subarray(0, opts.keyMat.length - 4);
  const salt = opts.keyMat.subarray(opts.keyMat.length - 4);
  const iv = new Uint8Array(8);
  new DataView(iv.buffer).setUint32(4, opts.seq);
  const pad =
    opts.padding ?? Uint8Array.from({ length: (4 - ((opts.payload.length + 2) % 4)) % 4 }, (_, i) => i + 1);
  const plain = new Uint8Array(opts.payload.length + pad.length + 2);
  plain.set(opts.payload, 0);
  plain.set(pad, opts.payload.length);
  plain[plain.length - 2] = pad.length;
  plain[plain.length - 1] = opts.nextHeader;
  const hdr = new Uint8Array(8);
  new DataView(hdr.buffer).setUint32(0, opts.spi);
  new DataView(hdr.buffer).setUint32(4, opts.seq);
  const c = createCipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, Buffer.concat([salt, iv]), {
    authTagLength: 16,
  });
  c.setAAD(hdr);
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const ip = new Uint8Array(opts.ipHeader.length + 16 + ct.length);
  ip.set(opts.ipHeader, 0);
  new DataView(ip.buffer).setUint16(2, ip.length);
  ip[9] = 50;
  ip[10] = 0;
  ip[11] = 0;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (ip[i]! << 8) | ip[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  new DataView(ip.buffer).setUint16(10, ~sum & 0xffff);
  ip.set(hdr, 20);
  ip.set(iv, 28);
  ip.set(ct, 36);
  return ip;
}

/** Decrypts the ESP payload of an IPv4 ESP datagram; returns the plaintext (payload‖pad‖padlen‖nh). */
export function espOpen(keyMat: Uint8Array, ip: Uint8Array): Uint8Array {
  const ihl = (ip[0]! & 0x0f) * 4;
  const key = keyMat.subarray(0, keyMat.length - 4);
  const salt = keyMat.subarray(keyMat.length - 4);
  const aad = ip.subarray(ihl, ihl + 8);
  const iv = ip.subarray(ihl + 8, ihl + 16);
  const ct = ip.subarray(ihl + 16, ip.length - 16);
  const tag = ip.subarray(ip.length - 16);
  const d = createDecipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, Buffer.concat([salt, iv]), {
    authTagLength: 16,
  });
  d.setAAD(aad);
  d.setAuthTag(tag);
  return new Uint8Array(Buffer.concat([d.update(ct), d.final()]));
}

/** Deterministic bytes (xorshift32) so that both topologies get the same keys and SPIs. */
export function rng(seed: number): (n: number) => Uint8Array {
  let x = seed | 1;
  return (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    return b;
  };
}
