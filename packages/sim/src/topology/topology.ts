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
 * `send` carries one frame and returns every stage's trace; `sendBatch` carries many frames with
 * each stage working on the whole batch (p0 TX/RX rings, no per-packet objects) and the same
 * packets, bytes and counters.
 *
 * Rules enforced (BlueField OVS-IPsec deployment notes): only traffic the policies select (UDP
 * dport 4789) is packet-offloaded; the PF MTU must be ≥ VXLAN representor MTU + 50 (a violation is
 * reported, and the packets that no longer fit are dropped where the kernel/hardware drop them);
 * OVS hardware offload with IPv6 IPsec is refused.
 */
import { AF_INET, type ProfileId, XFRM_POLICY_DIR } from '@xfrmkit/core';
import { createSimMachine, type SimHost } from '../create.ts';
import { FrameBatch } from '../datapath/frames.ts';
import {
  ETH_P_IP,
  ethFrame,
  IPPROTO_UDP,
  ipv4Bytes,
  ipv4Packet,
  ipv4Text,
  macBytes,
  packetBytes,
  parseFrame,
  udpDatagram,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  vxlanDecap,
  vxlanSourcePort,
} from '../datapath/packet.ts';
import { type DatapathBatch, type DatapathResult, Mlx5Datapath } from '../datapath/pipeline.ts';
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

/** What happened to a batch of host frames end to end (`TwoDpuTopology.sendBatch`). */
export class BatchDelivery {
  count = 0;
  /** packets delivered to the destination host */
  delivered = 0;
  /** frames that crossed the wire, and their bytes */
  wireFrames = 0;
  wireBytes = 0;
  /**
   * Per packet: the frame the destination host received is `bufs[i][off[i], off[i] + len[i])` when
   * `ok[i]` is 1 (memory of the topology, valid until the next `sendBatch`).
   */
  ok = new Uint8Array(0);
  readonly bufs: Uint8Array[] = [];
  off = new Uint32Array(0);
  len = new Uint32Array(0);
  /** TX datapath + RX datapath cycles of the packet (as `Delivery.tx.latencyCycles` + Σ rx) */
  latencyCycles = new Float64Array(0);
  /** the RX part of it (Σ over the frames the packet became on the wire) */
  rxCycles = new Float64Array(0);
  /** the packet crossed the wire as ESP */
  ipsec = new Uint8Array(0);
  /** per packet: why it was not delivered (the last drop on its way, as `Delivery.drop`) */
  readonly drops: ({ where: string; reason: string; counter: string } | undefined)[] = [];

  reset(n: number): void {
    this.count = n;
    this.delivered = 0;
    this.wireFrames = 0;
    this.wireBytes = 0;
    if (this.ok.length < n) {
      const c = Math.max(n, 64);
      this.ok = new Uint8Array(c);
      this.off = new Uint32Array(c);
      this.len = new Uint32Array(c);
      this.latencyCycles = new Float64Array(c);
      this.rxCycles = new Float64Array(c);
      this.ipsec = new Uint8Array(c);
    }
    this.ok.fill(0, 0, n);
    this.ipsec.fill(0, 0, n);
    this.latencyCycles.fill(0, 0, n);
    this.rxCycles.fill(0, 0, n);
    this.bufs.length = 0;
    this.drops.length = 0;
  }

  /** The frame packet i delivered (a view; undefined when dropped). */
  frame(i: number): Uint8Array | undefined {
    if (this.ok[i] !== 1) return undefined;
    const o = this.off[i]!;
    return this.bufs[i]!.subarray(o, o + this.len[i]!);
  }
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
  /** batch path: VXLAN frames built for the p0 TX ring, and the frames the RX ring got */
  private readonly txRing = new FrameBatch(64, 2048);
  readonly rxRing = new FrameBatch(0, 0, 0);
  private readonly ipBytes: Uint8Array | undefined;
  private readonly peerIpBytes: Uint8Array | undefined;
  /** this.ip as an address word when it is a canonical dotted quad (what parsed text equals) */
  private readonly ipWord: number | undefined;

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
    const bytesOf = (a: string) => {
      try {
        return ipv4Bytes(a);
      } catch {
        return undefined;
      }
    };
    this.ipBytes = bytesOf(o.ip);
    this.peerIpBytes = bytesOf(o.peerIp);
    const ib = this.ipBytes;
    this.ipWord =
      ib && ipv4Text(ib) === o.ip ? (ib[0]! << 24) | (ib[1]! << 16) | (ib[2]! << 8) | ib[3]! | 0 : undefined;
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
    // Ethernet + IPv4 (DF) + UDP + VXLAN + the inner frame, built in one buffer
    const frame = packetBytes(50 + inner.length);
    this.writeVxlan(frame, 0, inner, ipId, this.vxlanTemplate());
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
    return this.afterReceive(this.datapath.receive(frame));
  }

  /** Kernel/OVS after the p0 RX datapath: policy check of cleartext, VXLAN decap → host. */
  afterReceive(rx: DatapathResult): {
    rx: DatapathResult;
    delivered?: Uint8Array;
    drop?: { where: string; reason: string; counter: string };
  } {
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
    if (p?.ipVersion !== 4) {
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

  /**
   * OVS for a batch of host frames: VXLAN-encapsulates each (as `fromHost`) into the p0 TX ring, in
   * order; frames OVS drops are recorded in `d` and left out. Returns the ring and, per ring entry,
   * the packet index.
   */
  encapBatch(frames: readonly Uint8Array[], ipId: number, d: BatchDelivery, idx: Uint32Array): FrameBatch {
    const ring = this.txRing;
    const n = frames.length;
    let max = 0;
    for (let i = 0; i < n; i++) if (frames[i]!.length > max) max = frames[i]!.length;
    ring.reserve(n, max + 14 + 20 + 8 + 8);
    if (!this.vfRep) {
      for (let i = 0; i < n; i++) {
        this.count('ovs_no_representor_drop');
        d.drops[i] = {
          where: `${this.name} OVS`,
          reason: 'eswitch not in switchdev: no VF representor on the OVS bridge',
          counter: 'ovs_no_representor_drop',
        };
      }
      return ring;
    }
    const b = ring.slots;
    const tpl = this.vxlanTemplate();
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const inner = frames[i]!;
      if (inner.length - 14 > this.vxlanMtu) {
        this.count('vxlan_tx_dropped');
        d.drops[i] = {
          where: `${this.name} OVS`,
          reason: `inner L3 ${inner.length - 14} B > VXLAN MTU ${this.vxlanMtu}`,
          counter: 'vxlan_tx_dropped',
        };
        continue;
      }
      if (sent === 0) this.count('vxlan_tx_packets', 0); // the counter's place among the others
      const e = ring.pushSlot(50 + inner.length);
      idx[e] = i;
      this.writeVxlan(b, ring.off[e]!, inner, ipId + i, tpl);
      sent++;
    }
    if (sent > 0) this.count('vxlan_tx_packets', sent);
    return ring;
  }

  /**
   * Writes the VXLAN frame of `inner` at `b[o]` (50 + inner.length bytes): Ethernet to the peer,
   * IPv4 p0 → peer (DF, TTL 64, id `ipId`), UDP (source port from the inner flow hash, dport 4789,
   * checksum 0), VXLAN (VNI), the inner frame — the bytes `ethFrame(ipv4Packet(udpDatagram(
   * vxlanPayload())))` build.
   */
  private writeVxlan(b: Uint8Array, o: number, inner: Uint8Array, ipId: number, tpl: Uint8Array): void {
    b.set(tpl, o);
    b.set(inner, o + 50);
    const ipLen = 36 + inner.length;
    const l3 = o + 14;
    const id = ipId & 0xffff;
    b[l3 + 2] = ipLen >> 8;
    b[l3 + 3] = ipLen & 0xff;
    b[l3 + 4] = id >> 8;
    b[l3 + 5] = id & 0xff;
    // RFC 1071: the template's constant words plus the two that vary, summed before folding — the
    // same sum as over the finished header
    let sum = this.tplSum + ipLen + id;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const cs = ~sum & 0xffff;
    b[l3 + 10] = cs >> 8;
    b[l3 + 11] = cs & 0xff;
    const u = l3 + 20;
    const sport = vxlanSourcePort(inner);
    const udpLen = ipLen - 20;
    b[u] = sport >> 8;
    b[u + 1] = sport & 0xff;
    b[u + 4] = udpLen >> 8;
    b[u + 5] = udpLen & 0xff;
  }

  private tpl = new Uint8Array(50);
  private tplFor: [Uint8Array, Uint8Array, Uint8Array, Uint8Array, number] | undefined;
  /** ones'-complement sum (unfolded) of the template's IPv4 header words (length, id, checksum 0) */
  private tplSum = 0;

  /** Ethernet + IPv4 (DF, TTL 64, UDP) + UDP (dport 4789, checksum 0) + VXLAN (I flag, VNI) header. */
  private vxlanTemplate(): Uint8Array {
    const mac = this.p0.mac;
    const peer = this.peerMac;
    const k = this.tplFor;
    if (
      k !== undefined &&
      k[0] === mac &&
      k[1] === peer &&
      k[4] === this.vni &&
      Buffer.compare(k[2], mac) === 0 &&
      Buffer.compare(k[3], peer) === 0
    )
      return this.tpl;
    const src = this.ipBytes ?? ipv4Bytes(this.ip);
    const dst = this.peerIpBytes ?? ipv4Bytes(this.peerIp);
    const t = new Uint8Array(50);
    t.set(mac.subarray(0, 6), 6);
    t.set(peer.subarray(0, 6), 0);
    t[12] = ETH_P_IP >> 8;
    t[13] = ETH_P_IP & 0xff;
    t[14] = 0x45;
    t[20] = 0x40;
    t[22] = 64;
    t[23] = IPPROTO_UDP;
    t.set(src, 26);
    t.set(dst, 30);
    t[36] = VXLAN_PORT >> 8;
    t[37] = VXLAN_PORT & 0xff;
    t[42] = 0x08;
    t[46] = (this.vni >>> 16) & 0xff;
    t[47] = (this.vni >>> 8) & 0xff;
    t[48] = this.vni & 0xff;
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += (t[i]! << 8) | t[i + 1]!;
    this.tpl = t;
    this.tplSum = sum;
    this.tplFor = [mac, peer, mac.slice(0, 6), peer.slice(0, 6), this.vni];
    return t;
  }

  /**
   * The receiving half of `TwoDpuTopology.sendBatch`: the p0 RX datapath on the frames that crossed
   * the wire (`ring`, entry e belongs to packet `idx[e]` of `d`), kernel/OVS after it, then each
   * packet's latency (its TX part, already in `d`, plus the RX cycles) and the delivered count.
   */
  receiveBatchInto(ring: FrameBatch, idx: Uint32Array, d: BatchDelivery): void {
    const rx = this.datapath.receiveBatch(ring);
    this.afterReceiveBatch(rx, idx, d);
    for (let i = 0; i < d.count; i++) {
      d.latencyCycles[i] = d.latencyCycles[i]! + d.rxCycles[i]!;
      if (d.ok[i] === 1) d.delivered++;
    }
  }

  /**
   * Kernel/OVS after the RX batch: for each ring entry the RX datapath delivered (kind 0: decrypted
   * ESP), the checks of `afterReceive` on the bytes (destination address, VXLAN, VNI); entries the
   * per-packet path handled go through `afterReceive`. Results per packet into `d` (`pkt[e]` = the
   * packet of ring entry e).
   */
  afterReceiveBatch(rx: DatapathBatch, pkt: Uint32Array, d: BatchDelivery): void {
    const ring = rx.frames;
    let ok = 0;
    for (let e = 0; e < rx.count; e++) {
      const i = pkt[e]!;
      d.rxCycles[i] = d.rxCycles[i]! + rx.latencyCycles[e]!;
      if (rx.kind[e] !== 0) {
        const r = this.afterReceive(rx.results[e]!);
        if (r.drop) d.drops[i] = r.drop;
        if (r.delivered) {
          d.ok[i] = 1;
          d.bufs[i] = r.delivered;
          d.off[i] = 0;
          d.len[i] = r.delivered.length;
        }
        continue;
      }
      // decrypted ESP → kernel: policy already checked by the hardware (ipsec), then the address
      const b = ring.bufs[e]!;
      const o = ring.off[e]!;
      const flen = ring.len[e]!;
      const l3 = o + 14;
      const dst = (b[l3 + 16]! << 24) | (b[l3 + 17]! << 16) | (b[l3 + 18]! << 8) | b[l3 + 19]!;
      if (this.ipWord === undefined || dst !== this.ipWord) {
        this.count('ip_in_addr_errors');
        d.drops[i] = {
          where: `${this.name} kernel`,
          reason: `not for ${this.ip}`,
          counter: 'ip_in_addr_errors',
        };
        continue;
      }
      const ihl = (b[l3]! & 0x0f) * 4;
      const l3Len = (b[l3 + 2]! << 8) | b[l3 + 3]!;
      const frag = (b[l3 + 6]! << 8) | b[l3 + 7]!;
      const v = l3 + ihl + 8;
      const dport =
        (frag & 0x1fff) === 0 && flen >= 14 + ihl + 4 ? (b[l3 + ihl + 2]! << 8) | b[l3 + ihl + 3]! : 0;
      if (
        b[l3 + 9] !== IPPROTO_UDP ||
        dport !== VXLAN_PORT ||
        (frag & 0x3fff) !== 0 ||
        flen < v - o + 8 + 14 ||
        (b[v]! & 0x08) === 0
      ) {
        this.count('udp_local_delivered');
        continue;
      }
      const vni = (b[v + 4]! << 16) | (b[v + 5]! << 8) | b[v + 6]!;
      if (vni !== this.vni) {
        this.count('vxlan_rx_unknown_vni');
        d.drops[i] = { where: `${this.name} VXLAN`, reason: `VNI ${vni}`, counter: 'vxlan_rx_unknown_vni' };
        continue;
      }
      if (ok === 0) this.count('vxlan_rx_packets', 0);
      ok++;
      d.ok[i] = 1;
      d.bufs[i] = b;
      d.off[i] = v + 8;
      d.len[i] = Math.max(0, Math.min(o + flen, l3 + l3Len) - (v + 8));
    }
    if (ok > 0) this.count('vxlan_rx_packets', ok);
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

  /**
   * Puts one frame on the wire without the impairment hook (the batch path, which only runs when no
   * `impair` is set): clock, taps (a copy: the batch memory is reused), counters, as `carry`.
   */
  carryOne(buf: Uint8Array, off: number, len: number, from: string): void {
    this.timeNs += ((len + 20) * 8) / this.gbps;
    if (this.taps.length > 0) {
      const f = buf.slice(off, off + len);
      for (const t of this.taps) t(f, this.timeNs, from);
    }
    this.frames++;
    this.bytes += len;
  }

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

  private readonly batchResult = new BatchDelivery();
  private txIdx = new Uint32Array(64);
  private rxIdx = new Uint32Array(64);

  /**
   * Sends host frames from one side to the other as one batch through both DPUs and the wire: the
   * same packets, bytes, counters, cycle charges, wire clock and taps as `send` on each frame in
   * order (packet i with IP id `ipId + i`), with the stages working on the whole batch (OVS VXLAN
   * encap into the p0 TX ring, TX datapath, wire, RX datapath in place, VXLAN decap) and no
   * per-packet objects. What each packet became is in the returned `BatchDelivery` (reused: valid
   * until the next `sendBatch`; traces are not recorded — `send` gives them). With a wire `impair`
   * hook set, each frame goes through `send`.
   */
  sendBatch(from: 'left' | 'right', frames: readonly Uint8Array[], ipId = 0): BatchDelivery {
    const d = this.batchResult;
    const n = frames.length;
    if (this.wire.impair) {
      d.reset(n);
      for (let i = 0; i < n; i++) {
        const x = this.send(from, frames[i]!, ipId + i);
        for (const r of x.rx ?? []) d.rxCycles[i] = d.rxCycles[i]! + r.latencyCycles;
        d.latencyCycles[i] = (x.tx?.latencyCycles ?? 0) + d.rxCycles[i]!;
        if (x.tx?.ipsec) d.ipsec[i] = 1;
        d.wireFrames += x.wire.length;
        for (const w of x.wire) d.wireBytes += w.length;
        if (x.drop) d.drops[i] = x.drop;
        if (x.delivered) {
          d.ok[i] = 1;
          d.bufs[i] = x.delivered;
          d.off[i] = 0;
          d.len[i] = x.delivered.length;
          d.delivered++;
        }
      }
      return d;
    }
    const { dst, ring, idx } = this.transmitHalf(from, frames, ipId, d);
    dst.receiveBatchInto(ring, idx, d);
    return d;
  }

  /**
   * The sending half of `sendBatch` (no wire `impair` hook): OVS VXLAN encap and the TX datapath of
   * the sending DPU, the wire. Fills `d` (reset here) with what happened up to the wire and returns
   * the frames that crossed it as the receiving DPU's RX ring, with the packet index of each entry
   * (`idx[e]`); `dst.receiveBatchInto(ring, idx, d)` completes the batch. The ring and the index are
   * the topology's memory: valid until the next batch.
   */
  transmitHalf(
    from: 'left' | 'right',
    frames: readonly Uint8Array[],
    ipId: number,
    d: BatchDelivery,
  ): { dst: Dpu; ring: FrameBatch; idx: Uint32Array } {
    if (this.wire.impair) throw new TopologyError('transmitHalf: the wire has an impair hook (use send)');
    const n = frames.length;
    d.reset(n);
    const [src, dst] = from === 'left' ? [this.bfl, this.bfr] : [this.bfr, this.bfl];
    if (this.txIdx.length < n) this.txIdx = new Uint32Array(Math.max(n, 64));
    const ring = src.encapBatch(frames, ipId, d, this.txIdx);
    const tx = src.datapath.transmitBatch(ring);
    // the wire, in order; the RX ring takes every frame that crossed it
    const rxRing = dst.rxRing;
    rxRing.clear();
    const out = tx.frames;
    const push = (buf: Uint8Array, off: number, len: number, i: number) => {
      const e = rxRing.push(buf, off, len);
      if (e >= this.rxIdx.length) {
        const b = new Uint32Array(this.rxIdx.length * 2 + 64);
        b.set(this.rxIdx);
        this.rxIdx = b;
      }
      this.rxIdx[e] = i;
    };
    for (let e = 0; e < tx.count; e++) {
      const i = this.txIdx[e]!;
      d.latencyCycles[i] = tx.latencyCycles[e]!;
      if (tx.kind[e] === 0) {
        d.ipsec[i] = 1;
        const o = out.off[e]!;
        const len = out.len[e]!;
        this.wire.carryOne(out.bufs[e]!, o, len, src.name);
        d.wireFrames++;
        d.wireBytes += len;
        push(out.bufs[e]!, o, len, i);
        continue;
      }
      const r = tx.results[e]!;
      if (r.ipsec) d.ipsec[i] = 1;
      if (r.verdict !== 'wire') {
        d.drops[i] = { where: `${src.name} NIC`, reason: r.drop!.reason, counter: r.drop!.counter };
        continue;
      }
      for (const f of r.frames) {
        for (const w of this.wire.carry(f, src.name)) {
          d.wireFrames++;
          d.wireBytes += w.length;
          push(w, 0, w.length, i);
        }
      }
    }
    return { dst, ring: rxRing, idx: this.rxIdx };
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
