/**
 * The seed scenario: two BlueField DPUs, "BFL" and "BFR", whose p0 uplinks face each other; each
 * DPU's OVS bridge joins the host representors to a VXLAN tunnel (UDP 4789) to the other DPU, and
 * strongSwan-style IPsec rules packet-offload exactly the VXLAN traffic:
 *
 *   - one SA per direction, ESP transport mode, rfc4106(gcm(aes)) with a 128-bit ICV, `offload
 *     packet dev p0 dir in|out`, SA selector = the VXLAN flow (UDP dport 4789)
 *   - one policy per direction selecting UDP dport 4789 between the two p0 addresses, template ESP
 *     transport with the SA's reqid, `offload packet dev p0`
 *
 * (transport mode because mainline refuses tunnel-mode packet SAs on a switchdev uplink,
 * mlx5-ipsec.md §7.4). Keys and SPIs are drawn at random per run; the same configuration is
 * available as `ip xfrm` command lines (what the demo sends through iproute2's parser) and as
 * objects (what tests send with XfrmClient).
 */
import { randomBytes } from 'node:crypto';
import {
  AF_INET,
  userTmpl,
  XFRM_INF,
  XFRM_OFFLOAD_FLAG,
  XFRM_POLICY_DIR,
  XFRM_SA_DIR,
  XFRM_STATE_FLAG,
  type XfrmPolicy,
  type XfrmSelector,
  type XfrmState,
} from '@xfrmkit/core';
import { VXLAN_PORT } from '../datapath/packet.ts';
import type { TwoDpuOptions } from './topology.ts';

export interface SeedSa {
  spi: number;
  reqid: number;
  /** AES-128 key ‖ 4-byte salt (20 bytes) */
  keyMat: Uint8Array;
}

export interface SeedEnd {
  name: string;
  /** p0 underlay address */
  ip: string;
  /** host overlay address behind this DPU */
  hostIp: string;
}

export interface SeedConfig {
  left: SeedEnd;
  right: SeedEnd;
  vni: number;
  /** SA protecting left → right (BFL out, BFR in) and right → left */
  lr: SeedSa;
  rl: SeedSa;
  /** extended sequence numbers (gives the HW anti-replay window, mlx5-ipsec.md §6.3) */
  esn: boolean;
  /** inbound replay window (32/64/128/256 with ESN) */
  replayWindow: number;
  /** p0 MTU and VXLAN representor MTU (PF MTU must be ≥ VXLAN MTU + 50) */
  p0Mtu: number;
  vxlanMtu: number;
}

export interface SeedOptions {
  esn?: boolean;
  replayWindow?: number;
  p0Mtu?: number;
  vxlanMtu?: number;
  random?: (n: number) => Uint8Array;
}

function u32(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function seedConfig(opts: SeedOptions = {}): SeedConfig {
  const rnd = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  // SPIs ≥ 0x100 (0..255 are reserved, RFC 4303 §2.1); reqids non-zero (packet offload needs one)
  const sa = (): SeedSa => ({
    spi: (u32(rnd(4)) % 0xfeffff00) + 0x100,
    reqid: (u32(rnd(4)) % 0xfffe) + 1,
    keyMat: rnd(20),
  });
  const lr = sa();
  let rl = sa();
  while (rl.spi === lr.spi || rl.reqid === lr.reqid) rl = sa();
  return {
    left: { name: 'BFL', ip: '192.168.1.64', hostIp: '10.10.10.1' },
    right: { name: 'BFR', ip: '192.168.1.65', hostIp: '10.10.10.2' },
    vni: 100,
    lr,
    rl,
    esn: opts.esn ?? false,
    replayWindow: opts.replayWindow ?? (opts.esn ? 128 : 32),
    p0Mtu: opts.p0Mtu ?? 1600,
    vxlanMtu: opts.vxlanMtu ?? 1500,
  };
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export type Side = 'left' | 'right';

/** The parts of a two-DPU topology the seed configuration decides (VNI, ends, MTUs). */
export function seedTopologyOptions(
  cfg: SeedConfig,
): Pick<TwoDpuOptions, 'vni' | 'left' | 'right' | 'p0Mtu' | 'vxlanMtu'> {
  return { vni: cfg.vni, left: cfg.left, right: cfg.right, p0Mtu: cfg.p0Mtu, vxlanMtu: cfg.vxlanMtu };
}

function ends(cfg: SeedConfig, side: Side): { me: SeedEnd; peer: SeedEnd; out: SeedSa; in: SeedSa } {
  return side === 'left'
    ? { me: cfg.left, peer: cfg.right, out: cfg.lr, in: cfg.rl }
    : { me: cfg.right, peer: cfg.left, out: cfg.rl, in: cfg.lr };
}

/** The four `ip xfrm` command lines (argv after `ip xfrm`) of one DPU. */
export function ipXfrmLines(cfg: SeedConfig, side: Side, dev = 'p0'): string[][] {
  const { me, peer, out, in: inn } = ends(cfg, side);
  const sel = (src: string, dst: string) => [
    'sel',
    'src',
    src,
    'dst',
    dst,
    'proto',
    'udp',
    'dport',
    String(VXLAN_PORT),
  ];
  const aead = (sa: SeedSa) => ['aead', 'rfc4106(gcm(aes))', `0x${hex(sa.keyMat)}`, '128'];
  const esn = cfg.esn ? ['flag', 'esn'] : [];
  const state = (src: string, dst: string, sa: SeedSa, dir: 'in' | 'out') => [
    'state',
    'add',
    'src',
    src,
    'dst',
    dst,
    'proto',
    'esp',
    'spi',
    `0x${sa.spi.toString(16).padStart(8, '0')}`,
    'reqid',
    String(sa.reqid),
    'mode',
    'transport',
    ...(dir === 'in' ? ['replay-window', String(cfg.replayWindow)] : []),
    ...esn,
    ...aead(sa),
    ...sel(src, dst),
    'offload',
    'packet',
    'dev',
    dev,
    'dir',
    dir,
  ];
  const policy = (src: string, dst: string, sa: SeedSa, dir: 'in' | 'out') => [
    'policy',
    'add',
    'src',
    src,
    'dst',
    dst,
    'proto',
    'udp',
    'dport',
    String(VXLAN_PORT),
    'dir',
    dir,
    'tmpl',
    'src',
    src,
    'dst',
    dst,
    'proto',
    'esp',
    'reqid',
    String(sa.reqid),
    'mode',
    'transport',
    'offload',
    'packet',
    'dev',
    dev,
  ];
  return [
    state(me.ip, peer.ip, out, 'out'),
    state(peer.ip, me.ip, inn, 'in'),
    policy(me.ip, peer.ip, out, 'out'),
    policy(peer.ip, me.ip, inn, 'in'),
  ];
}

function vxlanSel(src: string, dst: string): XfrmSelector {
  return {
    daddr: dst,
    saddr: src,
    dport: VXLAN_PORT,
    dportMask: 0xffff,
    sport: 0,
    sportMask: 0,
    family: AF_INET,
    prefixlenD: 32,
    prefixlenS: 32,
    proto: 17,
    ifindex: 0,
    user: 0,
  };
}

const LFT = () => ({
  softByteLimit: XFRM_INF,
  hardByteLimit: XFRM_INF,
  softPacketLimit: XFRM_INF,
  hardPacketLimit: XFRM_INF,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
});

/** An SA of the seed as an XFRM object (what `ip xfrm state add …` of `ipXfrmLines` sends). */
export function seedState(cfg: SeedConfig, side: Side, dir: 'in' | 'out', ifindex: number): XfrmState {
  const { me, peer, out, in: inn } = ends(cfg, side);
  const sa = dir === 'out' ? out : inn;
  const src = dir === 'out' ? me.ip : peer.ip;
  const dst = dir === 'out' ? peer.ip : me.ip;
  const s: XfrmState = {
    info: {
      sel: vxlanSel(src, dst),
      id: { daddr: dst, spi: sa.spi, proto: 50 },
      saddr: src,
      lft: LFT(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      seq: 0,
      reqid: sa.reqid,
      family: AF_INET,
      mode: 0,
      replayWindow: dir === 'in' && !cfg.esn ? cfg.replayWindow : 0,
      flags: cfg.esn ? XFRM_STATE_FLAG.ESN : 0,
    },
    aead: { name: 'rfc4106(gcm(aes))', keyLen: sa.keyMat.length * 8, key: sa.keyMat, icvLen: 128 },
    offload: { ifindex, flags: XFRM_OFFLOAD_FLAG.PACKET | (dir === 'in' ? XFRM_OFFLOAD_FLAG.INBOUND : 0) },
    dir: dir === 'in' ? XFRM_SA_DIR.IN : XFRM_SA_DIR.OUT,
  };
  if (cfg.esn) {
    const w = dir === 'in' ? cfg.replayWindow : 0;
    s.replayEsn = {
      bmpLen: Math.ceil(w / 32),
      oseq: 0,
      seq: 0,
      oseqHi: 0,
      seqHi: 0,
      replayWindow: w,
      bmp: new Array(Math.ceil(w / 32)).fill(0),
    };
  }
  return s;
}

/** A policy of the seed (what `ip xfrm policy add …` of `ipXfrmLines` sends). */
export function seedPolicy(cfg: SeedConfig, side: Side, dir: 'in' | 'out', ifindex: number): XfrmPolicy {
  const { me, peer, out, in: inn } = ends(cfg, side);
  const sa = dir === 'out' ? out : inn;
  const src = dir === 'out' ? me.ip : peer.ip;
  const dst = dir === 'out' ? peer.ip : me.ip;
  return {
    info: {
      sel: vxlanSel(src, dst),
      lft: LFT(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      priority: 0,
      index: 0,
      dir: dir === 'in' ? XFRM_POLICY_DIR.IN : XFRM_POLICY_DIR.OUT,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [
      userTmpl({
        id: { daddr: dst, spi: 0, proto: 50 },
        family: AF_INET,
        saddr: src,
        reqid: sa.reqid,
        mode: 0,
      }),
    ],
    offload: { ifindex, flags: XFRM_OFFLOAD_FLAG.PACKET },
  };
}

/**
 * Wireshark `esp_sa` UAT lines (Edit › Preferences › Protocols › ESP › ESP SAs, or the file
 * `~/.config/wireshark/esp_sa`): protocol, source, destination, SPI, encryption, key ‖ salt,
 * authentication, authentication key.
 */
export function espSaLines(cfg: SeedConfig): string[] {
  const line = (src: string, dst: string, sa: SeedSa) =>
    `"IPv4","${src}","${dst}","0x${sa.spi.toString(16).padStart(8, '0')}","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(sa.keyMat)}","NULL",""`;
  return [line(cfg.left.ip, cfg.right.ip, cfg.lr), line(cfg.right.ip, cfg.left.ip, cfg.rl)];
}

/** Parses an `esp_sa` UAT line back (tests, tools). */
export function parseEspSaLine(l: string): { src: string; dst: string; spi: number; keyMat: Uint8Array } {
  const f = [...l.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  if (f.length < 8 || f[4] !== 'AES-GCM with 16 octet ICV [RFC4106]')
    throw new Error(`not an AES-GCM-16 esp_sa line: ${l}`);
  const k = f[5]!.replace(/^0x/, '');
  return {
    src: f[1]!,
    dst: f[2]!,
    spi: Number.parseInt(f[3]!, 16),
    keyMat: Uint8Array.from(Buffer.from(k, 'hex')),
  };
}
