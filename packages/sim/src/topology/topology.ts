/**
 * Two simulated DPUs on a simulated wire, with a host behind each:
 *
 *   host L ─VF─ [BFL: pf0vf0 rep ─ OVS br0 ─ vxlan (UDP 4789) ─ p0] ══wire══ [p0 ─ … BFR] ─VF─ host R
 *
 * Each DPU is a `createSimMachine` machine (devices, devlink, NETLINK_XFRM with the mlx5 offload
 * hook) plus the hardware datapath of its p0 (datapath/pipeline.ts). Configuration happens through
 * netlink clients (the demo: devlink + `ip xfrm` lines); this module only moves packets:
 *
 *   host frame → VF representor → OVS: VXLAN encap (outer DF set, OVS df_default) → p0 TX datapath
 *   (policy → SA → ESP) → wire → p0 RX datapath (SA → decrypt → status → SA-sel → policy) →
 *   kernel/OVS: cleartext VXLAN that an IPsec policy protects is refused (xfrm_policy_check,
 *   XfrmInTmplMismatch) → VXLAN decap → representor → host.
 *
 * Rules enforced (BlueField OVS-IPsec deployment notes): only traffic the policies select (UDP
 * dport 4789) is packet-offloaded; the PF MTU must be ≥ VXLAN representor MTU + 50 (a violation is
 * reported, and the packets that no longer fit are dropped where the kernel/hardware drop them);
 * OVS hardware offload with IPv6 IPsec is refused.
 */
import { AF_INET, type ProfileId, XFRM_POLICY_DIR } from '@xfrmkit/core';
import { createSimMachine, type SimHost } from '../create.ts';
import {
  ETH_P_IP,
  ethFrame,
  IPPROTO_UDP,
  ipv4Packet,
  macBytes,
  parseFrame,
  udpDatagram,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  vxlanDecap,
  vxlanPayload,
  vxlanSourcePort,
} from '../datapath/packet.ts';
import { type DatapathResult, Mlx5Datapath } from '../datapath/pipeline.ts';
import type { SimNetdev } from '../devices/netdev.ts';

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

export interface DpuOptions {
  name: string;
  profile: ProfileId;
  /** p0 underlay address and the peer's */
  ip: string;
  peerIp: string;
  /** 'ipv6' underlay IPsec (refused with OVS hardware offload) */
  family?: 'ipv4' | 'ipv6';
  vni: number;
  p0Mtu: number;
  vxlanMtu: number;
  /** OVS `other_config:hw-offload=true` (default true on BlueField) */
  ovsHwOffload?: boolean;
  modeledCrypto?: boolean;
}

/** What happened to one host frame end to end (or to one injected wire frame). */
export interface Delivery {
  /** the frame the destination host received (undefined when dropped) */
  delivered?: Uint8Array;
  tx?: DatapathResult;
  rx?: DatapathResult[];
  /** frames that crossed the wire */
  wire: Uint8Array[];
  drop?: { where: string; reason: string; counter: string };
}

export class Dpu {
  readonly name: string;
  readonly sim: SimHost;
  readonly datapath: Mlx5Datapath;
  readonly ip: string;
  readonly peerIp: string;
  readonly vni: number;
  readonly vxlanMtu: number;
  readonly ovsHwOffload: boolean;
  readonly warnings: string[] = [];
  /** OVS / VXLAN / kernel counters that are not the NIC's */
  readonly counters = new Map<string, number>();
  peerMac: Uint8Array = new Uint8Array(6);

  constructor(o: DpuOptions) {
    this.name = o.name;
    this.ovsHwOffload = o.ovsHwOffload ?? true;
    if ((o.family ?? 'ipv4') === 'ipv6') {
      if (this.ovsHwOffload)
        throw new TopologyError(
          `${o.name}: OVS hardware offload with IPv6 IPsec is not supported (set other_config:hw-offload=false or use an IPv4 underlay)`,
        );
      throw new TopologyError(`${o.name}: the simulated topology carries an IPv4 underlay only`);
    }
    this.sim = createSimMachine(o.profile, { name: o.name });
    this.ip = o.ip;
    this.peerIp = o.peerIp;
    this.vni = o.vni;
    this.vxlanMtu = o.vxlanMtu;
    this.p0.mtu = o.p0Mtu;
    if (o.p0Mtu < o.vxlanMtu + VXLAN_OVERHEAD) {
      this.warnings.push(
        `${o.name}: PF MTU ${o.p0Mtu} < VXLAN representor MTU ${o.vxlanMtu} + ${VXLAN_OVERHEAD}: frames above ${o.p0Mtu - VXLAN_OVERHEAD} B cannot cross the tunnel`,
      );
    }
    const dev = this.sim.deviceOf('p0');
    if (!dev) throw new TopologyError(`${o.name}: no device owns p0`);
    this.datapath = new Mlx5Datapath({
      device: dev,
      sad: () => this.sim.xfrm.netns('default').sad,
      modeledCrypto: o.modeledCrypto ?? false,
    });
  }

  get p0(): SimNetdev {
    const nd = this.sim.netdev('p0');
    if (!nd) throw new TopologyError(`${this.name}: p0 is gone`);
    return nd;
  }

  /** The representor of host VF 0 (pf0vf0) if the eswitch is in switchdev, else undefined. */
  get vfRep(): SimNetdev | undefined {
    return this.sim.netdev('pf0vf0');
  }

  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  /** OVS: a frame from the host VF representor → VXLAN to the peer → p0 TX datapath. */
  fromHost(inner: Uint8Array, ipId: number): DatapathResult | { drop: { reason: string; counter: string } } {
    if (!this.vfRep) {
      this.count('ovs_no_representor_drop');
      return {
        drop: {
          reason: 'eswitch not in switchdev: no VF representor on the OVS bridge',
          counter: 'ovs_no_representor_drop',
        },
      };
    }
    if (inner.length - 14 > this.vxlanMtu) {
      // the VXLAN port cannot take it: OVS drops (vxlan_sys_4789 tx_dropped)
      this.count('vxlan_tx_dropped');
      return {
        drop: {
          reason: `inner L3 ${inner.length - 14} B > VXLAN MTU ${this.vxlanMtu}`,
          counter: 'vxlan_tx_dropped',
        },
      };
    }
    const udp = udpDatagram(vxlanSourcePort(inner), VXLAN_PORT, vxlanPayload(this.vni, inner));
    const ip = ipv4Packet(
      { src: this.ip, dst: this.peerIp, proto: IPPROTO_UDP, df: true, id: ipId & 0xffff },
      udp,
    );
    const frame = ethFrame(this.peerMac, this.p0.mac, ETH_P_IP, ip);
    this.count('vxlan_tx_packets');
    return this.datapath.transmit(frame);
  }

  /** Underlay traffic of the DPU itself (not VXLAN), e.g. UDP to the peer's p0. */
  sendUnderlay(dport: number, payload: Uint8Array, ipId = 0): DatapathResult {
    const ip = ipv4Packet(
      { src: this.ip, dst: this.peerIp, proto: IPPROTO_UDP, df: true, id: ipId },
      udpDatagram(40000, dport, payload),
    );
    return this.datapath.transmit(ethFrame(this.peerMac, this.p0.mac, ETH_P_IP, ip));
  }

  /** p0 RX datapath → kernel/OVS → VXLAN decap → VF representor → host. */
  fromWire(frame: Uint8Array): {
    rx: DatapathResult;
    delivered?: Uint8Array;
    drop?: { where: string; reason: string; counter: string };
  } {
    const rx = this.datapath.receive(frame);
    if (rx.verdict === 'drop')
      return { rx, drop: { where: `${this.name} NIC`, reason: rx.drop!.reason, counter: rx.drop!.counter } };
    if (rx.verdict === 'software') {
      this.count('xfrm_software_input');
      return {
        rx,
        drop: {
          where: `${this.name} kernel`,
          reason: 'software IPsec path (SA not offloaded)',
          counter: 'xfrm_software_input',
        },
      };
    }
    const out = rx.frames[0]!;
    const p = parseFrame(out);
    if (!p || p.ipVersion !== 4) {
      this.count('ovs_non_ip');
      return { rx, drop: { where: `${this.name} OVS`, reason: 'not IPv4', counter: 'ovs_non_ip' } };
    }
    if (!rx.ipsec) {
      // the kernel sees cleartext: xfrm_policy_check on input (the OVS upcall path installs HW rules
      // only for what the kernel accepted) — a policy that requires ESP refuses it
      const spd = this.sim.xfrm.netns('default').spd;
      const r = spd.lookup(XFRM_POLICY_DIR.IN, {
        family: AF_INET,
        saddr: p.src,
        daddr: p.dst,
        proto: p.proto,
        sport: p.sport,
        dport: p.dport,
      });
      if (r.policy && r.policy.policy.tmpls.length > 0) {
        this.datapath.countMib('XfrmInTmplMismatch');
        return {
          rx,
          drop: {
            where: `${this.name} kernel`,
            reason: 'cleartext packet for an ESP-protected flow',
            counter: 'XfrmInTmplMismatch',
          },
        };
      }
      if (r.action === 'block') {
        this.datapath.countMib('XfrmInPolBlock');
        return {
          rx,
          drop: { where: `${this.name} kernel`, reason: 'policy block', counter: 'XfrmInPolBlock' },
        };
      }
    }
    if (p.dst !== this.ip) {
      this.count('ip_in_addr_errors');
      return {
        rx,
        drop: { where: `${this.name} kernel`, reason: `not for ${this.ip}`, counter: 'ip_in_addr_errors' },
      };
    }
    const v = vxlanDecap(out, p);
    if (!v) {
      this.count('udp_local_delivered');
      return { rx };
    }
    if (v.vni !== this.vni) {
      this.count('vxlan_rx_unknown_vni');
      return {
        rx,
        drop: { where: `${this.name} VXLAN`, reason: `VNI ${v.vni}`, counter: 'vxlan_rx_unknown_vni' },
      };
    }
    this.count('vxlan_rx_packets');
    return { rx, delivered: v.inner };
  }
}

export interface Host {
  name: string;
  mac: Uint8Array;
  ip: string;
}

/** A UDP frame of `frameBytes` bytes (Ethernet header included) from one host to another. */
export function hostFrame(src: Host, dst: Host, frameBytes: number, seq: number, dport = 5001): Uint8Array {
  const payloadLen = Math.max(0, frameBytes - 14 - 20 - 8);
  const payload = new Uint8Array(payloadLen);
  for (let i = 0; i < payloadLen; i++) payload[i] = (seq + i * 7) & 0xff;
  if (payloadLen >= 4) new DataView(payload.buffer).setUint32(0, seq >>> 0);
  const ip = ipv4Packet(
    { src: src.ip, dst: dst.ip, proto: IPPROTO_UDP, df: true, id: seq & 0xffff },
    udpDatagram(5000 + (seq % 16), dport, payload),
  );
  return ethFrame(dst.mac, src.mac, ETH_P_IP, ip);
}

/** The simulated wire between two p0 ports: delivers frames, taps them (pcap), can impair them. */
export class SimWire {
  /** serialisation clock: ns since the start of the run */
  timeNs = 0;
  readonly taps: Array<(frame: Uint8Array, timeNs: number, from: string) => void> = [];
  /** test hook: replaces a frame by 0..n frames (corrupt, duplicate, drop) */
  impair?: (frame: Uint8Array, from: string) => Uint8Array[];
  frames = 0;
  bytes = 0;

  constructor(readonly gbps: number) {}

  carry(frame: Uint8Array, from: string): Uint8Array[] {
    const out = this.impair ? this.impair(frame, from) : [frame];
    for (const f of out) {
      this.timeNs += ((f.length + 20) * 8) / this.gbps;
      for (const t of this.taps) t(f, this.timeNs, from);
      this.frames++;
      this.bytes += f.length;
    }
    return out;
  }
}

export interface TwoDpuOptions {
  profile: ProfileId;
  vni: number;
  left: { ip: string; hostIp: string };
  right: { ip: string; hostIp: string };
  p0Mtu: number;
  vxlanMtu: number;
  modeledCrypto?: boolean;
  family?: 'ipv4' | 'ipv6';
  ovsHwOffload?: boolean;
}

export class TwoDpuTopology {
  readonly bfl: Dpu;
  readonly bfr: Dpu;
  readonly wire: SimWire;
  readonly hostL: Host;
  readonly hostR: Host;

  constructor(o: TwoDpuOptions) {
    const common = { profile: o.profile, vni: o.vni, p0Mtu: o.p0Mtu, vxlanMtu: o.vxlanMtu };
    const extra: Partial<DpuOptions> = {};
    if (o.modeledCrypto !== undefined) extra.modeledCrypto = o.modeledCrypto;
    if (o.family !== undefined) extra.family = o.family;
    if (o.ovsHwOffload !== undefined) extra.ovsHwOffload = o.ovsHwOffload;
    this.bfl = new Dpu({ ...common, ...extra, name: 'BFL', ip: o.left.ip, peerIp: o.right.ip });
    this.bfr = new Dpu({ ...common, ...extra, name: 'BFR', ip: o.right.ip, peerIp: o.left.ip });
    this.bfl.peerMac = this.bfr.p0.mac;
    this.bfr.peerMac = this.bfl.p0.mac;
    this.wire = new SimWire(this.bfl.datapath.costs.lineRateGbps);
    this.hostL = { name: 'hostL', mac: macBytes('02:00:00:00:0a:01'), ip: o.left.hostIp };
    this.hostR = { name: 'hostR', mac: macBytes('02:00:00:00:0a:02'), ip: o.right.hostIp };
  }

  get warnings(): string[] {
    return [...this.bfl.warnings, ...this.bfr.warnings];
  }

  /** Sends one host frame from one side to the other through both DPUs and the wire. */
  send(from: 'left' | 'right', inner: Uint8Array, ipId = 0): Delivery {
    const [src, dst] = from === 'left' ? [this.bfl, this.bfr] : [this.bfr, this.bfl];
    const tx = src.fromHost(inner, ipId);
    if (!('verdict' in tx)) return { wire: [], drop: { where: `${src.name} OVS`, ...tx.drop } };
    if (tx.verdict !== 'wire')
      return {
        tx,
        wire: [],
        drop: { where: `${src.name} NIC`, reason: tx.drop!.reason, counter: tx.drop!.counter },
      };
    return this.across(src, dst, tx.frames, tx);
  }

  /** Puts raw frames on the wire from one side (tests: crafted/injected packets). */
  inject(from: 'left' | 'right', frames: Uint8Array[]): Delivery {
    const [src, dst] = from === 'left' ? [this.bfl, this.bfr] : [this.bfr, this.bfl];
    return this.across(src, dst, frames, undefined);
  }

  private across(src: Dpu, dst: Dpu, frames: Uint8Array[], tx: DatapathResult | undefined): Delivery {
    const d: Delivery = { wire: [], rx: [] };
    if (tx) d.tx = tx;
    for (const f of frames) {
      for (const w of this.wire.carry(f, src.name)) {
        d.wire.push(w);
        const r = dst.fromWire(w);
        d.rx!.push(r.rx);
        if (r.drop) d.drop = r.drop;
        if (r.delivered) d.delivered = r.delivered;
      }
    }
    return d;
  }

  dispose(): void {
    this.bfl.datapath.dispose();
    this.bfr.datapath.dispose();
  }
}
