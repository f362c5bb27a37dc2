/**
 * The mlx5 IPsec packet-offload datapath of one simulated PF (mlx5-ipsec.md §7): the hardware
 * tables are built from what the driver model offloaded (`SimDevice.ipsec.objects`, filled by the
 * xfrmdev_ops hook when `ip xfrm … offload packet` succeeded), and every packet walks the stage
 * list of §7.3 with real bytes:
 *
 *   TX: SQ → egress root → policy table(s) [reg_c_4 := reqid | block → drop] → SA table (reqid +
 *       upper proto/ports) [miss → leaves in clear] → ASO (SN) → reformat + AES-GCM → status
 *       (ipsec_tx_pkts/bytes) → wire
 *   RX: wire → TTC (ESP?) → SA table (addresses + SPI) [miss → software IPsec] → AES-GCM + ASO
 *       (replay, ESN SAs only) + reformat → status (auth / bad trailer / replay drops per SA,
 *       else ipsec_rx_pkts/bytes) → [SA selector] → policy table(s) per priority [block → drop]
 *       → policy miss → TTC / TC root → RQ (RSS by SPI)
 *
 * Each visited stage is recorded with its table, hit/miss, action and cycles (costs.ts); the
 * accumulated visits feed the throughput/latency model (model.ts). Counters go where the device
 * keeps them: the ethtool `ipsec_hw` group on the SimDevice, per-SA flow counters (pushed to the
 * XFRM SAD as `update_stats` does: integrity_failed, replay, curlft), port counters (`*_phy`) and
 * the kernel MIBs the software paths touch (`/proc/net/xfrm_stat`, `/proc/net/snmp`).
 *
 * Only packet-offload objects are programmed into these tables; crypto-offload SAs are not
 * modelled here (their packets are built by the kernel and would take the software path).
 *
 * Two entry points walk the same stages: `transmit` / `receive` take one frame and return its trace
 * (stage, table, hit, cycles, action); `transmitBatch` / `receiveBatch` take a ring of frames
 * (`FrameBatch`) and process it stage by stage — classification per frame, one ESP engine call per
 * SA for the whole batch (in place in the ring memory), cycle charges per run of packets
 * (`LoadAccumulator.chargeRun`), counters summed per batch — with the same bytes, counters and
 * cycle sums as the per-frame calls in order (test/topology/batch.property.test.ts). Anything
 * unusual in a batch (other frames, drops, engine errors) goes through the per-frame code at its
 * place in the order; no traces are recorded for the batched packets.
 */
import {
  AF_INET,
  type CompiledFlow,
  type CompiledSelector,
  compileFlow,
  compileSelector,
  EspError,
  espStatusCode,
  PacketBatch,
  type Sad,
  selectorMatchesFlow,
  XFRM_POLICY_ACTION,
  XFRM_POLICY_DIR,
  type XfrmPolicy,
  type XfrmState,
} from '@xfrmkit/core';
import type { SimDevice } from '../devices/device.ts';
import type { IpsecCounterName, OffloadedObject } from '../devices/ipsec.ts';
import { type DatapathProfile, datapathProfile, type StageName } from './costs.ts';
import { type EspEngine, modeledEngine, realEngine } from './esp-engine.ts';
import { copyBytes, FrameBatch, u16View } from './frames.ts';
import { LoadAccumulator, STAGE_INDEX, type StagePath, type StageVisit, visitCycles } from './model.ts';
import {
  ethFrame,
  fragmentIpv4,
  IPPROTO_ESP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Bytes,
  ipv4Text,
  l3Of,
  type ParsedFrame,
  packetBytes,
  parseFrame,
} from './packet.ts';
import { EspRss } from './rss.ts';

type SadEntry = NonNullable<ReturnType<Sad['lookup']>>;

export type Verdict = 'wire' | 'stack' | 'software' | 'drop';

export type DropReason =
  | 'policy-block'
  | 'no-state'
  | 'icv'
  | 'trailer'
  | 'replay'
  | 'sa-selector'
  | 'mtu'
  | 'oversize'
  | 'tmpl-mismatch'
  | 'malformed';

export interface TraceStep {
  stage: StageName;
  table: string;
  /** table hit (true), miss (false), or not a lookup (null) */
  hit: boolean | null;
  cycles: number;
  action: string;
}

export interface DatapathResult {
  verdict: Verdict;
  /** frames leaving the stage: to the wire (TX) or to the host/representor (RX) */
  frames: Uint8Array[];
  trace: TraceStep[];
  latencyCycles: number;
  /** ESP was added (TX) or removed (RX) by the hardware */
  ipsec: boolean;
  drop?: { reason: DropReason; counter: string };
  spi?: number;
  seq?: bigint;
  queue?: number;
}

/** Per-SA hardware flow counters (SA rule counter + the status-table drop counters). */
export interface SaHwCounters {
  packets: number;
  bytes: number;
  auth: number;
  trailer: number;
  replay: number;
  selectorMiss: number;
}

interface HwSa {
  key: string;
  state: XfrmState;
  dir: 'in' | 'out';
  family: number;
  spi: number;
  daddr: string;
  saddr: string;
  reqid: number;
  sel: CompiledSelector;
  selProto: number;
  transport: boolean;
  esn: boolean;
  esp: EspEngine;
  counters: SaHwCounters;
  /** IPv4 SA whose addresses the batch path can compare as words (text canonical or zero) */
  v4Words: boolean;
  daddrW: number;
  saddrW: number;
  daddrAny: boolean;
  saddrAny: boolean;
  /** batch scratch: group index in the current batch (−1: none), packets and curlft bytes of it */
  grp: number;
  gPkts: number;
  gBytes: number;
  /** packets of the group that passed, and their curlft bytes */
  gOk: number;
  gOkBytes: number;
}

interface HwPolicy {
  key: string;
  policy: XfrmPolicy;
  priority: number;
  family: number;
  block: boolean;
  reqid: number;
  sel: CompiledSelector;
  tunnel: boolean;
}

export const XFRM_MIB = [
  'XfrmInError',
  'XfrmInNoStates',
  'XfrmInStateProtoError',
  'XfrmInHdrError',
  'XfrmInStateSeqError',
  'XfrmInTmplMismatch',
  'XfrmInNoPols',
  'XfrmInPolBlock',
  'XfrmOutError',
  'XfrmOutPolBlock',
] as const;
export const IP_MIB = ['IpFragFails', 'IpFragOKs', 'IpFragCreates'] as const;
export const PORT_COUNTERS = [
  'rx_packets_phy',
  'rx_bytes_phy',
  'tx_packets_phy',
  'tx_bytes_phy',
  'rx_oversize_pkts_phy',
] as const;
export type MibName = (typeof XFRM_MIB)[number] | (typeof IP_MIB)[number];
type PortCounter = (typeof PORT_COUNTERS)[number];

export interface DatapathOptions {
  device: SimDevice;
  /** cost profile (default: the device profile's) */
  costs?: DatapathProfile;
  /** the XFRM SAD of the device's netns, to push per-SA stats as `xdo_dev_state_update_stats` */
  sad?: () => Sad | undefined;
  /** skip AES-GCM (payload stays in clear, ICV zero): for large what-if runs */
  modeledCrypto?: boolean;
  /** receive queues (default: the cost profile's) */
  queues?: number;
  /** SA contexts the cache term sees (default: the SAs offloaded on this device) */
  saContexts?: () => number;
  /** the RSS Toeplitz key */
  rssKey?: Uint8Array;
}

/** Driver approximation of curlft bytes: HW counts whole frames, minus Ethernet + IPv4 header. */
const CURLFT_HDR_V4 = 14 + 20;
const CURLFT_HDR_V6 = 14 + 40;

export class Mlx5Datapath {
  readonly device: SimDevice;
  readonly costs: DatapathProfile;
  readonly modeledCrypto: boolean;
  readonly rss: EspRss;
  readonly mib = new Map<MibName, number>();
  readonly port = new Map<PortCounter, number>();
  readonly queuePackets: number[];
  /** modelled load of what went out (TX) and came in (RX) */
  readonly txLoad: LoadAccumulator;
  readonly rxLoad: LoadAccumulator;
  private readonly sadRef: () => Sad | undefined;
  /** the offloaded objects the tables were built from (identity), to notice changes cheaply */
  private synced: OffloadedObject[] | undefined;
  private sas = new Map<string, HwSa>();
  private rxSas = new Map<string, HwSa[]>();
  /** IPv4 RX SAs by SPI (the batch path's SA table) */
  private rxSasV4 = new Map<number, HwSa[]>();
  private txSas: HwSa[] = [];
  private policies: { in: HwPolicy[][]; out: HwPolicy[][] } = { in: [], out: [] };

  constructor(opts: DatapathOptions) {
    this.device = opts.device;
    this.costs = opts.costs ?? datapathProfile(opts.device.profile.id);
    this.modeledCrypto = opts.modeledCrypto ?? false;
    this.sadRef = opts.sad ?? (() => undefined);
    const queues = opts.queues ?? this.costs.rss.queues;
    this.rss = new EspRss(queues, this.costs.rss.indirectionEntries, opts.rssKey);
    this.queuePackets = new Array<number>(queues).fill(0);
    const ctx = opts.saContexts ?? (() => this.sas.size);
    this.txLoad = new LoadAccumulator(this.costs, ctx);
    this.rxLoad = new LoadAccumulator(this.costs, ctx);
    for (const n of [...XFRM_MIB, ...IP_MIB]) this.mib.set(n, 0);
    for (const n of PORT_COUNTERS) this.port.set(n, 0);
  }

  // ---- hardware tables ------------------------------------------------------------------------

  /** Re-reads the offloaded objects when they changed; SA contexts that stay keep their state. */
  sync(): void {
    const objs = this.device.ipsec.objects;
    const prev = this.synced;
    if (prev !== undefined && prev.length === objs.size) {
      let same = true;
      let i = 0;
      for (const o of objs.values()) {
        if (o !== prev[i++]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    this.synced = [...objs.values()];
    const next = new Map<string, HwSa>();
    const inPol: HwPolicy[] = [];
    const outPol: HwPolicy[] = [];
    for (const o of objs.values()) {
      if (o.type !== 'packet') continue;
      if (o.kind === 'state') {
        const old = this.sas.get(o.key);
        if (old) {
          next.set(o.key, old);
          continue;
        }
        const s = o.object as XfrmState;
        const esp = this.modeledCrypto ? modeledEngine(s, o.dir) : realEngine(s, o.dir);
        next.set(o.key, {
          key: o.key,
          state: s,
          dir: o.dir,
          family: s.info.family,
          spi: s.info.id.spi,
          daddr: s.info.id.daddr,
          saddr: s.info.saddr,
          reqid: s.info.reqid,
          sel: compileSelector(s.info.sel, s.info.sel.family || s.info.family),
          selProto: s.info.sel.proto,
          transport: s.info.mode === 0,
          esn: (s.info.flags & 128) !== 0,
          esp,
          counters: { packets: 0, bytes: 0, auth: 0, trailer: 0, replay: 0, selectorMiss: 0 },
          ...v4WordsOf(s.info.family, s.info.id.daddr, s.info.saddr),
          grp: -1,
          gPkts: 0,
          gBytes: 0,
          gOk: 0,
          gOkBytes: 0,
        });
      } else {
        const p = o.object as XfrmPolicy;
        const hp: HwPolicy = {
          key: o.key,
          policy: p,
          priority: p.info.priority,
          family: p.info.sel.family,
          block: p.info.action === XFRM_POLICY_ACTION.BLOCK,
          reqid: p.tmpls[0]?.reqid ?? 0,
          sel: compileSelector(p.info.sel),
          tunnel: p.tmpls[0]?.mode === 1,
        };
        (p.info.dir === XFRM_POLICY_DIR.OUT ? outPol : inPol).push(hp);
      }
    }
    for (const [k, sa] of this.sas) if (!next.has(k)) sa.esp.dispose();
    this.sas = next;
    this.rxSas = new Map();
    this.rxSasV4 = new Map();
    this.txSas = [];
    for (const sa of next.values()) {
      if (sa.dir === 'out') this.txSas.push(sa);
      else {
        const k = `${sa.family}|${sa.spi}`;
        const l = this.rxSas.get(k) ?? [];
        l.push(sa);
        this.rxSas.set(k, l);
        if (sa.family === AF_INET) {
          const l4 = this.rxSasV4.get(sa.spi) ?? [];
          l4.push(sa);
          this.rxSasV4.set(sa.spi, l4);
        }
      }
    }
    this.policies = { in: chains(inPol), out: chains(outPol) };
  }

  /** Offloaded packet SAs with their hardware counters. */
  saCounters(): Array<{ spi: number; dir: 'in' | 'out'; daddr: string; counters: SaHwCounters }> {
    this.sync();
    return [...this.sas.values()].map((s) => ({
      spi: s.spi,
      dir: s.dir,
      daddr: s.daddr,
      counters: { ...s.counters },
    }));
  }

  /** SA contexts programmed in hardware. */
  get saContextCount(): number {
    return this.sas.size;
  }

  // ---- counters ---------------------------------------------------------------------------------

  private countIpsec(name: IpsecCounterName, delta: number): void {
    this.device.countIpsec(name, delta);
  }

  private bump<K extends MibName>(name: K, n = 1): void {
    this.mib.set(name, (this.mib.get(name) ?? 0) + n);
  }

  /** Counts a kernel MIB event of a software path that runs after this datapath (topology). */
  countMib(name: MibName, n = 1): void {
    this.bump(name, n);
  }

  private bumpPort(name: PortCounter, n = 1): void {
    this.port.set(name, (this.port.get(name) ?? 0) + n);
  }

  /** ethtool -S of the uplink: the device's ipsec groups plus the port counters. */
  ethtool(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    for (const [k, v] of this.port) out[k] = BigInt(v);
    for (let q = 0; q < this.queuePackets.length; q++) out[`rx${q}_packets`] = BigInt(this.queuePackets[q]!);
    Object.assign(out, this.device.ethtoolStats());
    return out;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private trace(): Tracer {
    return new Tracer(this.costs, () => this.sas.size);
  }

  /** The flow the tables match on (IPv4: address words read from the frame; IPv6 through text). */
  private flowOf(frame: Uint8Array, p: ParsedFrame): CompiledFlow {
    if (p.ipVersion === 4) {
      const f = emptyFlow();
      setFlowV4(f, frame, p.l3Off, p.proto, p.sport, p.dport);
      return f;
    }
    return compileFlow({
      family: p.family,
      saddr: p.src,
      daddr: p.dst,
      proto: p.proto,
      sport: p.sport,
      dport: p.dport,
    });
  }

  /** result of the last `policyWalk`: the policy hit (or undefined) and the tables visited */
  private walkHit: HwPolicy | undefined;
  private walkHops = 1;

  /** Walks policy tables in priority order (result in walkHit / walkHops; hops = tables visited). */
  private policyWalk(tables: HwPolicy[][], f: CompiledFlow, fragment: boolean): void {
    let hops = 0;
    for (const t of tables) {
      hops++;
      for (const pol of t) {
        if (pol.family !== f.family) continue;
        // "not fragment unless the policy is tunnel mode" (§7.2)
        if (fragment && !pol.tunnel) continue;
        if (selectorMatchesFlow(pol.sel, f)) {
          this.walkHit = pol;
          this.walkHops = hops;
          return;
        }
      }
    }
    this.walkHit = undefined;
    this.walkHops = Math.max(hops, 1);
  }

  /** The TX SA table: reqid + family + upper protocol/ports (transport SAs take no fragments). */
  private txSaFor(reqid: number, family: number, fragment: boolean, f: CompiledFlow): HwSa | undefined {
    for (const s of this.txSas) {
      if (
        s.reqid === reqid &&
        s.family === family &&
        !(s.transport && fragment) &&
        (s.selProto === 0 || selectorPortsMatch(s.sel, f))
      )
        return s;
    }
    return undefined;
  }

  private syncSad(sa: HwSa, fn: (sad: Sad, e: NonNullable<ReturnType<Sad['lookup']>>) => void): void {
    const sad = this.sadRef();
    if (!sad) return;
    const e = sad.lookup(sa.daddr, sa.spi, IPPROTO_ESP, sa.family);
    if (e) fn(sad, e);
  }

  private finish(
    load: LoadAccumulator,
    t: Tracer,
    r: Omit<DatapathResult, 'trace' | 'latencyCycles'>,
    bytes: number,
  ): DatapathResult {
    const latency = load.add(t.visits, bytes);
    // `r` is always a fresh literal: completing it in place gives the same object as a spread copy
    // (same keys, same order) without the generic object-clone path
    const out = r as DatapathResult;
    out.trace = t.steps;
    out.latencyCycles = latency;
    return out;
  }

  /** A dropped packet: nothing leaves the device; `counter` is where the drop is counted. */
  private dropped(
    load: LoadAccumulator,
    t: Tracer,
    frameLen: number,
    ipsec: boolean,
    reason: DropReason,
    counter: string,
    extra: { spi?: number; seq?: bigint } = {},
  ): DatapathResult {
    return this.finish(
      load,
      t,
      { verdict: 'drop', frames: [], ipsec, ...extra, drop: { reason, counter } },
      frameLen,
    );
  }

  /**
   * A BLOCK policy of the TX or RX policy table matched the packet (`bytes` long at that point):
   * dropped and counted in ipsec_{tx,rx}_drop_pkts/bytes.
   */
  private policyBlocked(
    dir: 'tx' | 'rx',
    t: Tracer,
    hit: HwPolicy,
    hops: number,
    bytes: number,
    frameLen: number,
    extra: { spi?: number; seq?: bigint } = {},
  ): DatapathResult {
    const tx = dir === 'tx';
    t.visit(
      tx ? 'tx.policy' : 'rx.policy',
      tx ? 'TX policy' : 'RX policy',
      true,
      hops,
      bytes,
      `block (priority ${hit.priority}) → drop`,
    );
    this.countIpsec(tx ? 'ipsec_tx_drop_pkts' : 'ipsec_rx_drop_pkts', 1);
    this.countIpsec(tx ? 'ipsec_tx_drop_bytes' : 'ipsec_rx_drop_bytes', bytes);
    const counter = tx ? 'ipsec_tx_drop_pkts' : 'ipsec_rx_drop_pkts';
    return this.dropped(tx ? this.txLoad : this.rxLoad, t, frameLen, !tx, 'policy-block', counter, extra);
  }

  // ---- transmit -----------------------------------------------------------------------------------

  /** A frame the eswitch/stack sends out of the uplink. */
  transmit(frame: Uint8Array): DatapathResult {
    this.sync();
    const t = this.trace();
    const p = parseFrame(frame);
    t.visit('tx.sq', 'SQ', null, 1, frame.length, 'WQE fetch, DMA read');
    if (!p || p.ipVersion === 0) {
      return this.toWire(t, frame, p, false, {});
    }
    t.visit('tx.root', 'egress root', true, 1, frame.length, 'IP → IPsec TX policy table');
    const f = this.flowOf(frame, p);
    this.policyWalk(this.policies.out, f, p.fragment);
    const pol = { hit: this.walkHit, hops: this.walkHops };
    if (pol.hit?.block) return this.policyBlocked('tx', t, pol.hit, pol.hops, frame.length, frame.length);
    const reqid = pol.hit?.reqid ?? 0;
    t.visit(
      'tx.policy',
      'TX policy',
      pol.hit !== undefined,
      pol.hops,
      frame.length,
      pol.hit ? `allow: reg_c_4 := reqid ${reqid}` : 'miss → SA table without reqid',
    );
    const sa = reqid === 0 ? undefined : this.txSaFor(reqid, p.family, p.fragment, f);
    if (!sa) {
      t.visit('tx.sa', 'TX SA', false, 1, frame.length, 'miss → uplink in clear');
      return this.toWire(t, frame, p, false, {});
    }
    const l3 = l3Of(frame, p);
    const espLen = sa.esp.encapLen(l3);
    if (espLen > this.device.uplink.mtu) {
      // xfrm_dev_offload_ok(): an over-MTU skb is not handed to a packet-offload SA; xfrm_output
      // drops it (XfrmOutError) — the hardware never fragments
      t.visit(
        'tx.sa',
        'TX SA',
        true,
        1,
        frame.length,
        `spi 0x${hex(sa.spi)}: ESP ${espLen} B > MTU ${this.device.uplink.mtu} → drop`,
      );
      this.bump('XfrmOutError');
      return this.dropped(this.txLoad, t, frame.length, false, 'mtu', 'XfrmOutError', { spi: sa.spi });
    }
    t.visit('tx.sa', 'TX SA', true, 1, frame.length, `reqid ${reqid} → spi 0x${hex(sa.spi)}`);
    // the ESP datagram is written behind the Ethernet header of the outgoing frame (one buffer)
    const buf = packetBytes(14 + l3.length + 80);
    let esp: Uint8Array;
    try {
      esp = sa.esp.encap(l3, buf, 14);
    } catch (e) {
      if (!(e instanceof EspError)) throw e;
      return this.txEncapFailed(t, frame.length, sa, e.code);
    }
    for (let k = 0; k < 14; k++) buf[k] = frame[k]!;
    const out = buf.subarray(0, 14 + esp.length);
    const po = parseFrame(out);
    const seq = BigInt(po?.seq ?? 0);
    t.visit('tx.aso', 'ASO', null, 1, out.length, `SN ${seq}`);
    t.visit(
      'tx.reformat',
      'reformat',
      null,
      1,
      out.length,
      `ADD_ESP_${sa.transport ? 'TRANSPORT' : 'TUNNEL'}`,
    );
    t.visit(
      'tx.encrypt',
      'crypto',
      null,
      1,
      out.length,
      this.modeledCrypto ? 'modeled AES-GCM (payload in clear)' : 'AES-GCM encrypt + ICV',
    );
    sa.counters.packets++;
    sa.counters.bytes += out.length;
    this.syncSad(sa, (sad, e) =>
      sad.account(e, Math.max(0, out.length - (sa.family === AF_INET ? CURLFT_HDR_V4 : CURLFT_HDR_V6))),
    );
    t.visit('tx.status', 'TX status', true, 1, out.length, 'count ipsec_tx_pkts/bytes');
    this.countIpsec('ipsec_tx_pkts', 1);
    this.countIpsec('ipsec_tx_bytes', out.length);
    return this.toWire(t, out, po, true, { spi: sa.spi, seq });
  }

  /** The ESP engine refused the packet (ASO/trailer error): dropped, ipsec_tx_drop_trailer. */
  private txEncapFailed(t: Tracer, frameLen: number, sa: HwSa, code: string): DatapathResult {
    t.visit('tx.aso', 'ASO', null, 1, frameLen, `${code} → drop`);
    this.countIpsec('ipsec_tx_drop_trailer', 1);
    return this.dropped(this.txLoad, t, frameLen, false, 'malformed', 'ipsec_tx_drop_trailer', {
      spi: sa.spi,
    });
  }

  private toWire(
    t: Tracer,
    frame: Uint8Array,
    p: ParsedFrame | undefined,
    ipsec: boolean,
    extra: { spi?: number; seq?: bigint },
  ): DatapathResult {
    const mtu = this.device.uplink.mtu;
    let frames = [frame];
    if (p && p.ipVersion !== 0 && p.l3Len > mtu) {
      if (p.ipVersion === 6 || p.df) {
        // DF set / IPv6: ip_fragment refuses, ICMP "fragmentation needed" goes back to the sender
        t.visit('tx.wire', 'port', null, 1, frame.length, `L3 ${p.l3Len} B > MTU ${mtu}, DF → drop`);
        this.bump('IpFragFails');
        return this.dropped(this.txLoad, t, frame.length, ipsec, 'mtu', 'IpFragFails', extra);
      }
      const frags = fragmentIpv4(l3Of(frame, p), mtu);
      frames = frags.map((ip) => ethFrame(frame.subarray(0, 6), frame.subarray(6, 12), 0x0800, ip));
      this.bump('IpFragOKs');
      this.bump('IpFragCreates', frags.length);
    }
    for (const f of frames) {
      t.visit('tx.wire', 'port', null, 1, f.length, frames.length > 1 ? 'transmit fragment' : 'transmit');
      this.bumpPort('tx_packets_phy');
      this.bumpPort('tx_bytes_phy', f.length);
    }
    return this.finish(this.txLoad, t, { verdict: 'wire', frames, ipsec, ...extra }, frame.length);
  }

  // ---- receive ------------------------------------------------------------------------------------

  /** A frame arriving on the uplink from the wire. */
  receive(frame: Uint8Array): DatapathResult {
    this.sync();
    const t = this.trace();
    const p = parseFrame(frame);
    t.visit('rx.wire', 'port', null, 1, frame.length, 'receive');
    this.bumpPort('rx_packets_phy');
    this.bumpPort('rx_bytes_phy', frame.length);
    if (p && p.ipVersion !== 0 && p.l3Len > this.device.uplink.mtu) {
      this.bumpPort('rx_oversize_pkts_phy');
      return this.dropped(this.rxLoad, t, frame.length, false, 'oversize', 'rx_oversize_pkts_phy');
    }
    if (!p || p.ipVersion === 0 || p.proto !== IPPROTO_ESP || p.fragment || p.spi === undefined) {
      t.visit('rx.ttc', 'TTC', false, 1, frame.length, 'not ESP → default traffic type');
      return this.deliver(t, frame, p, false, {});
    }
    t.visit('rx.ttc', 'TTC', true, 1, frame.length, 'ESP → IPsec SA table');
    const spi = p.spi;
    const sa = this.rxSas
      .get(`${p.family}|${spi}`)
      ?.find((s) => (isZero(s.daddr) || s.daddr === p.dst) && (isZero(s.saddr) || s.saddr === p.src));
    if (!sa) {
      t.visit('rx.sa', 'RX SA', false, 1, frame.length, `spi 0x${hex(spi)} miss → software IPsec`);
      const sad = this.sadRef();
      const e = sad?.lookup(p.dst, spi, IPPROTO_ESP, p.family);
      if (e)
        return this.finish(
          this.rxLoad,
          t,
          { verdict: 'software', frames: [frame], ipsec: false, spi },
          frame.length,
        );
      // xfrm_input: no state for (daddr, SPI, ESP) → XfrmInNoStates, dropped
      this.bump('XfrmInNoStates');
      return this.dropped(this.rxLoad, t, frame.length, false, 'no-state', 'XfrmInNoStates', { spi });
    }
    t.visit('rx.sa', 'RX SA', true, 1, frame.length, `spi 0x${hex(spi)} → DECRYPT obj`);
    sa.counters.packets++;
    sa.counters.bytes += frame.length;
    let plain: Uint8Array | undefined;
    let seq: bigint | undefined;
    let code: string | undefined;
    const l3 = l3Of(frame, p);
    // the datagram is written behind room for the Ethernet header of the frame to the stack
    const buf = packetBytes(14 + l3.length);
    try {
      const r = sa.esp.decap(l3, buf, 14);
      plain = r.packet;
      seq = r.seq;
    } catch (e) {
      if (!(e instanceof EspError)) throw e;
      code = e.code;
    }
    return this.rxAfterDecap(t, frame, sa, spi, plain, seq, code, p.src, p.dst, true);
  }

  /**
   * RX after the decrypt engine: status table (syndrome drops), reformat, SA selector, policy, delivery.
   * `code` is the EspError code when the engine refused the packet (then `plain` is undefined);
   * `rssSrc`/`rssDst` are the outer addresses (RSS of decrypted ESP hashes them with the SPI).
   */
  private rxAfterDecap(
    t: Tracer,
    frame: Uint8Array,
    sa: HwSa,
    spi: number,
    plain: Uint8Array | undefined,
    seq: bigint | undefined,
    code: string | undefined,
    rssSrc: string,
    rssDst: string,
    /** the 14 bytes in front of `plain` (same buffer) are free for the Ethernet header */
    headroom = false,
  ): DatapathResult {
    const detail = code ?? '';
    const syndrome: 'ok' | 'auth' | 'trailer' | 'replay' =
      code === undefined
        ? 'ok'
        : code === 'ICV_MISMATCH'
          ? 'auth'
          : code === 'REPLAY' || code === 'REPLAY_WINDOW'
            ? 'replay'
            : 'trailer';
    t.visit(
      'rx.decrypt',
      'crypto',
      null,
      1,
      frame.length,
      this.modeledCrypto ? 'modeled AES-GCM (no ICV)' : 'AES-GCM decrypt + ICV check',
    );
    t.visit(
      'rx.aso',
      'ASO',
      null,
      1,
      frame.length,
      syndrome === 'replay'
        ? `replay window: ${detail}`
        : sa.esn
          ? 'replay window + lifetime'
          : 'lifetime count (no HW replay: non-ESN SA)',
    );
    if (syndrome !== 'ok') {
      const counter =
        syndrome === 'auth'
          ? 'XfrmInStateProtoError'
          : syndrome === 'replay'
            ? 'XfrmInStateSeqError'
            : 'XfrmInHdrError';
      t.visit(
        'rx.status',
        'RX status',
        true,
        1,
        frame.length,
        `${syndrome === 'auth' ? 'syndrome 1 (auth)' : syndrome === 'trailer' ? 'syndrome 2 (bad trailer)' : 'reg_c_4 = 1 (replay)'} → drop`,
      );
      if (syndrome === 'auth') {
        sa.counters.auth++;
        this.syncSad(sa, (sad, e) => sad.recordIntegrityFailure(e));
      } else if (syndrome === 'replay') {
        sa.counters.replay++;
        this.syncSad(sa, (sad, e) => sad.recordReplay(e));
      } else {
        sa.counters.trailer++;
      }
      this.bump(counter);
      return this.dropped(
        this.rxLoad,
        t,
        frame.length,
        true,
        syndrome === 'auth' ? 'icv' : syndrome,
        counter,
        {
          spi,
        },
      );
    }
    t.visit(
      'rx.reformat',
      'reformat',
      null,
      1,
      frame.length,
      `DEL_ESP_${sa.transport ? 'TRANSPORT' : 'TUNNEL'}`,
    );
    const ethertype = plain![0]! >> 4 === 6 ? 0x86dd : 0x0800;
    let out: Uint8Array;
    if (headroom) {
      const hb = new Uint8Array(plain!.buffer, plain!.byteOffset - 14, 14 + plain!.length);
      for (let k = 0; k < 12; k++) hb[k] = frame[k]!;
      hb[12] = ethertype >> 8;
      hb[13] = ethertype & 0xff;
      out = hb;
    } else out = ethFrame(frame.subarray(0, 6), frame.subarray(6, 12), ethertype, plain!);
    t.visit('rx.status', 'RX status', true, 1, out.length, 'pass: count ipsec_rx_pkts/bytes');
    this.countIpsec('ipsec_rx_pkts', 1);
    this.countIpsec('ipsec_rx_bytes', out.length);
    this.syncSad(sa, (sad, e) =>
      sad.account(e, Math.max(0, frame.length - (sa.family === AF_INET ? CURLFT_HDR_V4 : CURLFT_HDR_V6))),
    );
    const ip = parseFrame(out)!;
    const f = this.flowOf(out, ip);
    if (sa.selProto !== 0) {
      const ok = f.proto === sa.selProto && selectorPortsMatch(sa.sel, f);
      t.visit(
        'rx.sasel',
        'SA selector',
        ok,
        1,
        out.length,
        ok ? 'match → policy' : `proto ${f.proto} port ${f.dport} ≠ selector → drop`,
      );
      if (!ok) {
        sa.counters.selectorMiss++;
        this.countIpsec('ipsec_rx_drop_mismatch_sa_sel', 1);
        const counter = 'ipsec_rx_drop_mismatch_sa_sel';
        return this.dropped(this.rxLoad, t, frame.length, true, 'sa-selector', counter, { spi, seq: seq! });
      }
    }
    this.policyWalk(this.policies.in, f, ip.fragment);
    const pol = { hit: this.walkHit, hops: this.walkHops };
    if (pol.hit?.block)
      return this.policyBlocked('rx', t, pol.hit, pol.hops, out.length, frame.length, { spi, seq: seq! });
    t.visit(
      'rx.policy',
      'RX policy',
      pol.hit !== undefined,
      pol.hops,
      out.length,
      pol.hit ? `allow (priority ${pol.hit.priority})` : 'miss → policy-miss (default allow)',
    );
    t.visit('rx.policy_miss', 'policy miss', true, 1, out.length, 'forward → TTC / TC root');
    return this.deliver(t, out, ip, true, { spi, seq: seq!, rssSrc, rssDst });
  }

  private deliver(
    t: Tracer,
    frame: Uint8Array,
    p: ParsedFrame | undefined,
    ipsec: boolean,
    extra: { spi?: number; seq?: bigint; rssSrc?: string; rssDst?: string },
  ): DatapathResult {
    t.visit(
      'rx.deliver',
      'TTC/TC root',
      true,
      1,
      frame.length,
      ipsec ? 'decrypted L4 RSS / OVS rules' : 'L3/L4 RSS',
    );
    let q = 0;
    if (extra.spi !== undefined && extra.rssSrc && extra.rssDst && p?.ipVersion === 4) {
      q = this.rss.queueV4(v4Word(extra.rssSrc), v4Word(extra.rssDst), extra.spi);
    } else if (p && p.ipVersion === 4) {
      const o = p.l3Off;
      q = this.rss.queueV4(rd32(frame, o + 12), rd32(frame, o + 16), ((p.sport << 16) | p.dport) >>> 0);
    }
    this.queuePackets[q] = (this.queuePackets[q] ?? 0) + 1;
    t.visit('rx.rq', `RQ ${q}`, null, 1, frame.length, `CQE on queue ${q}`, q);
    const r: Omit<DatapathResult, 'trace' | 'latencyCycles'> = {
      verdict: 'stack',
      frames: [frame],
      ipsec,
      queue: q,
    };
    if (extra.spi !== undefined) r.spi = extra.spi;
    if (extra.seq !== undefined) r.seq = extra.seq;
    return this.finish(this.rxLoad, t, r, frame.length);
  }

  // ---- batches ----------------------------------------------------------------------------------

  private readonly sc = new BatchScratch();
  private readonly groups: HwSa[] = [];
  private readonly groupSad: (SadEntry | undefined)[] = [];
  private readonly flowB = emptyFlow();
  private readonly ipv4B: Ipv4Header = { l3: 0, ihl: 0, len: 0, frag: 0 };
  private readonly pbViews = new WeakMap<Uint8Array, [PacketBatch, PacketBatch]>();
  /** TX output frames of the real-crypto batch path (AES writes the ESP packets here) */
  private readonly txOut = new FrameBatch(0, 2048);
  private readonly txBatch = new DatapathBatch(this.txOut);
  private readonly rxBatch = new DatapathBatch(this.txOut);

  /** Two PacketBatch views over `buf` (descriptors rewritten per call) with room for `n` packets. */
  private views(buf: Uint8Array, n: number): [PacketBatch, PacketBatch] {
    let v = this.pbViews.get(buf);
    if (v === undefined || v[0].size < n) {
      const size = Math.max(n, 64);
      v = [new PacketBatch(size, buf), new PacketBatch(size, buf)];
      this.pbViews.set(buf, v);
    }
    return v;
  }

  private endGroups(): void {
    for (const g of this.groups) g.grp = -1;
    this.groups.length = 0;
    this.groupSad.length = 0;
  }

  /**
   * Looks up the groups' SAD entries; false when a group's packets could reach a soft/hard byte or
   * packet limit (the per-packet path must then run, since an expiry mid-batch changes the tables).
   */
  private groupsHaveLifetimeRoom(): boolean {
    const sad = this.sadRef();
    let ok = true;
    for (let gi = 0; gi < this.groups.length; gi++) {
      const g = this.groups[gi]!;
      const e = sad?.lookup(g.daddr, g.spi, IPPROTO_ESP, g.family);
      this.groupSad[gi] = e;
      if (e !== undefined && !lifetimeRoom(e, g.gBytes, g.gPkts)) ok = false;
    }
    return ok;
  }

  /** Pushes the accepted packets' curlft to the SAD, one `account` per SA (`update_stats`). */
  private accountGroups(): void {
    const sad = this.sadRef();
    if (sad === undefined) return;
    for (let gi = 0; gi < this.groups.length; gi++) {
      const g = this.groups[gi]!;
      const e = this.groupSad[gi];
      if (e !== undefined && g.gOk > 0) sad.account(e, g.gOkBytes, g.gOk);
    }
  }

  /**
   * Charges the batch packets [from, to) stage by stage along `path` (nothing when no run is open,
   * `from` < 0); returns -1, the value of a closed run.
   */
  private closeRun(
    acc: LoadAccumulator,
    path: StagePath,
    from: number,
    to: number,
    lat: Float64Array,
  ): number {
    const sc = this.sc;
    if (from >= 0) acc.chargeRun(path, from, to, sc.hops, sc.fa, sc.fb, sc.q, lat);
    return -1;
  }

  private joinGroup(sa: HwSa, curlftBytes: number): void {
    if (sa.grp < 0) {
      sa.grp = this.groups.length;
      this.groups.push(sa);
      sa.gPkts = 0;
      sa.gBytes = 0;
      sa.gOk = 0;
      sa.gOkBytes = 0;
    }
    sa.gPkts++;
    sa.gBytes += curlftBytes;
  }

  /**
   * A batch of frames the eswitch/stack sends out of the uplink: the same stages, counters, cycle
   * charges and bytes as `transmit` on each frame in order, without per-packet objects. Frames that
   * take an ESP SA are classified first (stateless: parse, policy, SA, MTU), encapsulated per SA with
   * one engine call (`EspEngine.encapBatch`), then charged in order; any other frame goes through
   * `transmit` at its place in the order. When an SA's lifetime could expire inside the batch, the
   * whole batch takes the per-packet path.
   *
   * Output: packets with `kind[i] === 0` left as ESP frame i of `result.frames` (modeled crypto: in
   * place in `inp`, headers moved into the headroom; real crypto: the datapath's own TX ring), the
   * others have their `DatapathResult` in `results[i]`. Valid until the next `transmitBatch`.
   */
  transmitBatch(inp: FrameBatch): DatapathBatch {
    this.sync();
    const n = inp.count;
    const modeled = this.modeledCrypto;
    const out = modeled ? inp : this.txOut;
    const r = this.txBatch;
    r.reset(n, out);
    const sc = this.sc;
    sc.ensure(n);
    const mtu = this.device.uplink.mtu;
    const f = this.flowB;
    const h = this.ipv4B;
    let whole = false;
    let maxOut = 0;
    for (let i = 0; i < n; i++) {
      r.kind[i] = 1;
      sc.sa[i] = undefined;
      const b = inp.bufs[i]!;
      const o = inp.off[i]!;
      const flen = inp.len[i]!;
      if (!readIpv4(h, b, o, flen)) continue;
      const { l3, ihl, len: l3Len } = h;
      if ((h.frag & 0x3fff) !== 0 || ihl < 20 || l3Len < ihl || l3Len > flen - 14) continue;
      setFlowV4Datagram(f, b, l3, ihl, flen - 14);
      this.policyWalk(this.policies.out, f, false);
      const hit = this.walkHit;
      if (hit === undefined || hit.block || hit.reqid === 0) continue;
      const sa = this.txSaFor(hit.reqid, AF_INET, false, f);
      if (sa === undefined) continue;
      const espLen = sa.esp.encapLenOf(l3Len, b[l3]!);
      if (espLen > mtu) continue;
      if (modeled) {
        const shift = sa.transport ? 16 : 36;
        if (!inp.roomAround(i, shift, Math.max(0, l3 - shift + espLen - (o + flen)))) {
          whole = true; // an SA packet the batch layout cannot take: keep the SA's order per packet
          continue;
        }
      } else if (b !== inp.slots) {
        whole = true;
        continue;
      }
      r.kind[i] = 0;
      sc.sa[i] = sa;
      sc.hops[i] = this.walkHops;
      sc.l3[i] = l3;
      sc.l3len[i] = l3Len;
      if (espLen > maxOut) maxOut = espLen;
      this.joinGroup(sa, Math.max(0, 14 + espLen - CURLFT_HDR_V4));
    }
    if (!this.groupsHaveLifetimeRoom()) whole = true;
    if (whole) for (let i = 0; i < n; i++) r.kind[i] = 1;

    if (!whole && this.groups.length > 0) {
      if (!modeled) {
        out.reserve(n, maxOut + 14);
        for (let i = 0; i < n; i++) out.pushSlot(0);
      }
      const ob = out.slots;
      const ib = inp.slots;
      const ob16 = u16View(ob);
      const ib16 = u16View(ib);
      for (const g of this.groups) {
        const [pin, pb] = this.views(inp.slots, n);
        const pout = modeled ? pb : this.views(ob, n)[0];
        let j = 0;
        for (let i = 0; i < n; i++) {
          if (sc.sa[i] !== g) continue;
          const l3 = sc.l3[i]!;
          const len = sc.l3len[i]!;
          pin.offsets[j] = l3;
          pin.lengths[j] = len;
          pin.capacities[j] = len;
          let ol3: number;
          if (modeled) {
            ol3 = l3 - (g.transport ? 16 : 36);
            pout.capacities[j] = (i + 1) * inp.slotSize - ol3; // entry i sits in slot i
          } else {
            ol3 = out.slotOffset(i) + 14;
            pout.capacities[j] = out.slotSize - out.headroom - 14;
          }
          pout.offsets[j] = ol3;
          // the output frame's Ethernet header (before the engine moves the IP header down)
          copyBytes(ob, ol3 - 14, ib, l3 - 14, 14, ob16, ib16);
          sc.out[i] = ol3;
          sc.j[i] = j++;
        }
        pin.count = j;
        g.esp.encapBatch(pin, pout);
        sc.collect(g, n, pout, false); // sc.out: the output offsets chosen above
      }
    }

    // charges in packet order: runs of batch packets stage by stage, the others as they come
    const acc = this.txLoad;
    let run = -1;
    let okPkts = 0;
    let okBytes = 0;
    for (let i = 0; i < n; i++) {
      if (r.kind[i] !== 0) {
        run = this.closeRun(acc, TX_PATH, run, i, r.latencyCycles);
        // a copy: the result's frames (cleartext to the wire) must outlive the batch memory
        const res = this.transmit(inp.view(i).slice());
        r.setResult(i, res);
        continue;
      }
      const sa = sc.sa[i]!;
      const flen = inp.len[i]!;
      const st = sc.st[i]!;
      if (st < 0) {
        run = this.closeRun(acc, TX_PATH, run, i, r.latencyCycles);
        const t = this.trace();
        t.visit('tx.sq', 'SQ', null, 1, flen, 'WQE fetch, DMA read');
        t.visit('tx.root', 'egress root', true, 1, flen, 'IP → IPsec TX policy table');
        t.visit('tx.policy', 'TX policy', true, sc.hops[i]!, flen, `allow: reg_c_4 := reqid ${sa.reqid}`);
        t.visit('tx.sa', 'TX SA', true, 1, flen, `reqid ${sa.reqid} → spi 0x${hex(sa.spi)}`);
        const res = this.txEncapFailed(t, flen, sa, espStatusCode(st) ?? 'MALFORMED');
        r.setResult(i, res);
        continue;
      }
      const olen = 14 + sc.olen[i]!;
      sc.fa[i] = flen;
      sc.fb[i] = olen;
      if (run < 0) run = i;
      sa.counters.packets++;
      sa.counters.bytes += olen;
      sa.gOk++;
      sa.gOkBytes += Math.max(0, olen - CURLFT_HDR_V4);
      okPkts++;
      okBytes += olen;
      r.spi[i] = sa.spi;
      r.seqLo[i] = sc.seqLo[i]!;
      r.seqHi[i] = 0;
      out.off[i] = sc.out[i]! - 14;
      out.len[i] = olen;
    }
    this.closeRun(acc, TX_PATH, run, n, r.latencyCycles);
    if (okPkts > 0) {
      this.countIpsec('ipsec_tx_pkts', okPkts);
      this.countIpsec('ipsec_tx_bytes', okBytes);
      this.bumpPort('tx_packets_phy', okPkts);
      this.bumpPort('tx_bytes_phy', okBytes);
      this.accountGroups();
    }
    this.endGroups();
    return r;
  }

  /**
   * A batch of frames arriving from the wire: the same stages, counters, cycle charges and bytes as
   * `receive` on each frame in order. ESP frames of an offloaded SA are decrypted per SA with one
   * engine call (`EspEngine.decapBatch`, in place), the rest go through `receive` at their place in
   * the order. The batch takes the per-packet path as a whole when the engine's batch would not be
   * exactly the per-packet sequence: an SA's sequence numbers not strictly above its replay window
   * (or an ESN window still wrapping), frames of one SA in different buffers, an SA lifetime that
   * could expire inside the batch.
   *
   * Output: packets with `kind[i] === 0` were delivered to the stack as frame i of `inp` (rewritten
   * in place: decrypted frame), the others have their `DatapathResult` in `results[i]`.
   */
  receiveBatch(inp: FrameBatch): DatapathBatch {
    this.sync();
    const n = inp.count;
    const modeled = this.modeledCrypto;
    const r = this.rxBatch;
    r.reset(n, inp);
    const sc = this.sc;
    sc.ensure(n);
    const mtu = this.device.uplink.mtu;
    const h = this.ipv4B;
    let whole = false;
    let lastSpi = -1;
    let lastList: HwSa[] | undefined;
    for (let i = 0; i < n; i++) {
      r.kind[i] = 1;
      sc.sa[i] = undefined;
      const b = inp.bufs[i]!;
      const o = inp.off[i]!;
      const flen = inp.len[i]!;
      if (!readIpv4(h, b, o, flen)) continue;
      const { l3, ihl, len: l3Len } = h;
      if (l3Len > mtu) continue;
      if (b[l3 + 9] !== IPPROTO_ESP || (h.frag & 0x3fff) !== 0 || flen < 14 + ihl + 8) continue;
      const spi = rd32(b, l3 + ihl);
      if (spi !== lastSpi) {
        lastSpi = spi;
        lastList = this.rxSasV4.get(spi);
      }
      const list = lastList;
      if (list === undefined) continue;
      const src = rd32(b, l3 + 12) | 0;
      const dst = rd32(b, l3 + 16) | 0;
      let sa: HwSa | undefined;
      let unknown = false;
      for (const s of list) {
        if (!s.v4Words) {
          unknown = true;
          break;
        }
        if ((s.daddrAny || s.daddrW === dst) && (s.saddrAny || s.saddrW === src)) {
          sa = s;
          break;
        }
      }
      if (unknown) {
        whole = true;
        continue;
      }
      if (sa === undefined) continue;
      const seq = rd32(b, l3 + ihl + 4);
      if (sa.grp < 0) {
        this.joinGroup(sa, Math.max(0, flen - CURLFT_HDR_V4));
        sc.gBuf[sa.grp] = b;
        sc.gSeqOk[sa.grp] = 1;
        sc.gFirst[sa.grp] = seq;
      } else {
        this.joinGroup(sa, Math.max(0, flen - CURLFT_HDR_V4));
        if (sc.gBuf[sa.grp] !== b) whole = true;
        if (seq <= sc.gLast[sa.grp]!) sc.gSeqOk[sa.grp] = 0;
      }
      sc.gLast[sa.grp] = seq;
      r.kind[i] = 0;
      sc.sa[i] = sa;
      sc.l3[i] = l3;
      sc.l3len[i] = Math.min(flen - 14, l3Len);
      sc.ihl[i] = ihl;
      sc.src[i] = src;
      sc.dst[i] = dst;
      sc.spi[i] = spi;
    }
    for (const g of this.groups) {
      const rw = g.esp.replay;
      const w = rw.window;
      if (w === 0) continue;
      if (sc.gSeqOk[g.grp] !== 1 || sc.gFirst[g.grp]! <= rw.seq) whole = true;
      else if (rw.mode === 'esn' && rw.seq < (w - 1) >>> 0) whole = true;
    }
    if (!this.groupsHaveLifetimeRoom()) whole = true;
    if (whole) for (let i = 0; i < n; i++) r.kind[i] = 1;

    if (!whole) {
      for (const g of this.groups) {
        const [pa, pb] = this.views(sc.gBuf[g.grp]!, n);
        const pout = modeled ? pb : pa;
        let j = 0;
        for (let i = 0; i < n; i++) {
          if (sc.sa[i] !== g) continue;
          const l3 = sc.l3[i]!;
          const len = sc.l3len[i]!;
          pa.offsets[j] = l3;
          pa.lengths[j] = len;
          pa.capacities[j] = len;
          if (modeled) {
            pb.offsets[j] = l3 + (g.transport ? 16 : sc.ihl[i]! + 16);
            pb.capacities[j] = len;
          }
          sc.j[i] = j++;
        }
        pa.count = j;
        g.esp.decapBatch(pa, pout);
        sc.collect(g, n, pout, true);
      }
    }

    // charges in packet order: runs of batch packets (same path) stage by stage, the others as they come
    const acc = this.rxLoad;
    const f = this.flowB;
    let run = -1;
    let runPath = RX_PATH;
    let b16buf: Uint8Array | undefined;
    let b16: Uint16Array | undefined;
    let portPkts = 0;
    let portBytes = 0;
    let okPkts = 0;
    let okBytes = 0;
    for (let i = 0; i < n; i++) {
      if (r.kind[i] !== 0) {
        run = this.closeRun(acc, runPath, run, i, r.latencyCycles);
        const res = this.receive(inp.view(i));
        r.setResult(i, res);
        continue;
      }
      const sa = sc.sa[i]!;
      const flen = inp.len[i]!;
      portPkts++;
      portBytes += flen;
      sa.counters.packets++;
      sa.counters.bytes += flen;
      const st = sc.st[i]!;
      const b = inp.bufs[i]!;
      const ol3 = sc.out[i]!;
      const plen = sc.olen[i]!;
      let fast = st === 0 && plen >= 20 && b[ol3]! >> 4 === 4;
      let hops = 1;
      if (fast) {
        const frag = (b[ol3 + 6]! << 8) | b[ol3 + 7]!;
        setFlowV4Datagram(f, b, ol3, (b[ol3]! & 0x0f) * 4, plen);
        if (sa.selProto !== 0 && !(f.proto === sa.selProto && selectorPortsMatch(sa.sel, f))) fast = false;
        else {
          this.policyWalk(this.policies.in, f, (frag & 0x3fff) !== 0);
          if (this.walkHit?.block) fast = false;
          hops = this.walkHops;
        }
      }
      if (!fast) {
        run = this.closeRun(acc, runPath, run, i, r.latencyCycles);
        const o = inp.off[i]!;
        const frame = b.subarray(o, o + flen);
        const t = this.trace();
        t.visit('rx.wire', 'port', null, 1, flen, 'receive');
        t.visit('rx.ttc', 'TTC', true, 1, flen, 'ESP → IPsec SA table');
        t.visit('rx.sa', 'RX SA', true, 1, flen, `spi 0x${hex(sc.spi[i]!)} → DECRYPT obj`);
        const ok = st === 0;
        const res = this.rxAfterDecap(
          t,
          frame,
          sa,
          sc.spi[i]!,
          ok ? b.subarray(ol3, ol3 + plen) : undefined,
          ok ? (BigInt(sc.seqHi[i]!) << 32n) | BigInt(sc.seqLo[i]!) : undefined,
          ok ? undefined : (espStatusCode(st) ?? 'MALFORMED'),
          ipv4Text(wordBytes(sc.src[i]!)),
          ipv4Text(wordBytes(sc.dst[i]!)),
        );
        r.setResult(i, res);
        continue;
      }
      // the frame to the stack: Ethernet header in front of the decrypted datagram
      const fo = ol3 - 14;
      if (modeled) {
        if (b !== b16buf) {
          b16buf = b;
          b16 = u16View(b);
        }
        copyBytes(b, fo, b, inp.off[i]!, 12, b16, b16);
      }
      b[fo + 12] = 0x08;
      b[fo + 13] = 0x00;
      const olen = 14 + plen;
      const spi = sc.spi[i]!;
      const q = this.rss.queueV4(sc.src[i]!, sc.dst[i]!, spi);
      this.queuePackets[q] = (this.queuePackets[q] ?? 0) + 1;
      const path = sa.selProto !== 0 ? RX_PATH_SEL : RX_PATH;
      if (path !== runPath) run = this.closeRun(acc, runPath, run, i, r.latencyCycles);
      if (run < 0) {
        run = i;
        runPath = path;
      }
      sc.fa[i] = flen;
      sc.fb[i] = olen;
      sc.hops[i] = hops;
      sc.q[i] = q;
      sa.gOk++;
      sa.gOkBytes += Math.max(0, flen - CURLFT_HDR_V4);
      okPkts++;
      okBytes += olen;
      r.spi[i] = spi;
      r.seqLo[i] = sc.seqLo[i]!;
      r.seqHi[i] = sc.seqHi[i]!;
      r.queue[i] = q;
      inp.off[i] = fo;
      inp.len[i] = olen;
    }
    this.closeRun(acc, runPath, run, n, r.latencyCycles);
    if (portPkts > 0) {
      this.bumpPort('rx_packets_phy', portPkts);
      this.bumpPort('rx_bytes_phy', portBytes);
    }
    if (okPkts > 0) {
      this.countIpsec('ipsec_rx_pkts', okPkts);
      this.countIpsec('ipsec_rx_bytes', okBytes);
      this.accountGroups();
    }
    this.endGroups();
    return r;
  }

  /** Releases the crypto contexts. */
  dispose(): void {
    for (const sa of this.sas.values()) sa.esp.dispose();
    this.sas.clear();
    this.synced = undefined;
  }
}

/** Trace builder: records visits (for the model) and printable steps. */
class Tracer {
  readonly visits: StageVisit[] = [];
  readonly steps: TraceStep[] = [];
  constructor(
    private readonly costs: DatapathProfile,
    private readonly contexts: () => number,
  ) {}
  visit(
    stage: StageName,
    table: string,
    hit: boolean | null,
    hops: number,
    bytes: number,
    action: string,
    queue?: number,
  ): void {
    const v: StageVisit = { stage, hops, bytes };
    if (queue !== undefined) v.queue = queue;
    this.visits.push(v);
    this.steps.push({ stage, table, hit, cycles: visitCycles(this.costs, v, this.contexts()), action });
  }
}

/** Policies grouped into per-priority tables (fs_chains), ascending priority. */
function chains(ps: HwPolicy[]): HwPolicy[][] {
  const by = new Map<number, HwPolicy[]>();
  for (const p of ps) {
    const l = by.get(p.priority) ?? [];
    l.push(p);
    by.set(p.priority, l);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
}

/** Upper protocol and ports of a selector (the SA rule's match), addresses not compared. */
function selectorPortsMatch(c: CompiledSelector, f: CompiledFlow): boolean {
  return (
    (c.proto === 0 || c.proto === f.proto) &&
    ((f.dport ^ c.dport) & c.dportMask) === 0 &&
    ((f.sport ^ c.sport) & c.sportMask) === 0
  );
}

const TX_SQ = STAGE_INDEX['tx.sq'];
const TX_ROOT = STAGE_INDEX['tx.root'];
const TX_POLICY = STAGE_INDEX['tx.policy'];
const TX_SA = STAGE_INDEX['tx.sa'];
const TX_ASO = STAGE_INDEX['tx.aso'];
const TX_REFORMAT = STAGE_INDEX['tx.reformat'];
const TX_ENCRYPT = STAGE_INDEX['tx.encrypt'];
const TX_STATUS = STAGE_INDEX['tx.status'];
const TX_WIRE = STAGE_INDEX['tx.wire'];
const RX_WIRE = STAGE_INDEX['rx.wire'];
const RX_TTC = STAGE_INDEX['rx.ttc'];
const RX_SA = STAGE_INDEX['rx.sa'];
const RX_DECRYPT = STAGE_INDEX['rx.decrypt'];
const RX_ASO = STAGE_INDEX['rx.aso'];
const RX_REFORMAT = STAGE_INDEX['rx.reformat'];
const RX_STATUS = STAGE_INDEX['rx.status'];
const RX_SASEL = STAGE_INDEX['rx.sasel'];
const RX_POLICY = STAGE_INDEX['rx.policy'];
const RX_POLICY_MISS = STAGE_INDEX['rx.policy_miss'];
const RX_DELIVER = STAGE_INDEX['rx.deliver'];
const RX_RQ = STAGE_INDEX['rx.rq'];

/** The stages a packet of the batch path walks (as `transmit` / `receive` visit them). */
const TX_PATH: StagePath = {
  stages: [TX_SQ, TX_ROOT, TX_POLICY, TX_SA, TX_ASO, TX_REFORMAT, TX_ENCRYPT, TX_STATUS, TX_WIRE],
  split: 4,
  hopsAt: 2,
};
const RX_PATH: StagePath = {
  stages: [
    RX_WIRE,
    RX_TTC,
    RX_SA,
    RX_DECRYPT,
    RX_ASO,
    RX_REFORMAT,
    RX_STATUS,
    RX_POLICY,
    RX_POLICY_MISS,
    RX_DELIVER,
    RX_RQ,
  ],
  split: 6,
  hopsAt: 7,
};
const RX_PATH_SEL: StagePath = {
  stages: [
    RX_WIRE,
    RX_TTC,
    RX_SA,
    RX_DECRYPT,
    RX_ASO,
    RX_REFORMAT,
    RX_STATUS,
    RX_SASEL,
    RX_POLICY,
    RX_POLICY_MISS,
    RX_DELIVER,
    RX_RQ,
  ],
  split: 6,
  hopsAt: 8,
};

/**
 * Per-packet results of one batch through one direction of the datapath, as arrays indexed by the
 * packet's position in the batch.
 */
export class DatapathBatch {
  count = 0;
  /**
   * 0: the batch path carried the packet (TX: ESP frame to the wire; RX: decrypted frame to the
   * stack), its output frame is entry i of `frames`; 1: the per-packet path did — `results[i]`.
   */
  kind = new Uint8Array(0);
  /** cycles the packet spent in the datapath (`DatapathResult.latencyCycles`) */
  latencyCycles = new Float64Array(0);
  /** kind 0: SPI and sequence number (TX: the low 32 bits on the wire; RX: as decapsulated) */
  spi = new Uint32Array(0);
  seqLo = new Uint32Array(0);
  seqHi = new Uint32Array(0);
  /** kind 0, RX: receive queue */
  queue = new Uint16Array(0);
  readonly results: (DatapathResult | undefined)[] = [];

  constructor(public frames: FrameBatch) {}

  /** Packet i took the per-packet path: its result (kind 1). */
  setResult(i: number, res: DatapathResult): void {
    this.kind[i] = 1;
    this.results[i] = res;
    this.latencyCycles[i] = res.latencyCycles;
  }

  reset(n: number, frames: FrameBatch): void {
    this.frames = frames;
    this.count = n;
    if (this.kind.length < n) {
      const c = Math.max(n, 64);
      this.kind = new Uint8Array(c);
      this.latencyCycles = new Float64Array(c);
      this.spi = new Uint32Array(c);
      this.seqLo = new Uint32Array(c);
      this.seqHi = new Uint32Array(c);
      this.queue = new Uint16Array(c);
    }
    this.results.length = 0;
  }
}

/** Per-packet and per-SA-group scratch of the batch path (grown, reused). */
class BatchScratch {
  cap = 0;
  sa: (HwSa | undefined)[] = [];
  hops = new Uint16Array(0);
  l3 = new Uint32Array(0);
  l3len = new Uint32Array(0);
  ihl = new Uint8Array(0);
  out = new Uint32Array(0);
  j = new Uint32Array(0);
  st = new Int32Array(0);
  olen = new Uint32Array(0);
  seqLo = new Uint32Array(0);
  seqHi = new Uint32Array(0);
  src = new Int32Array(0);
  dst = new Int32Array(0);
  spi = new Uint32Array(0);
  /** cycle-model inputs per packet: bytes before/after the crypto stages, receive queue */
  fa = new Uint32Array(0);
  fb = new Uint32Array(0);
  q = new Uint16Array(0);
  /** per group: input buffer, sequence numbers strictly increasing, first and last */
  gBuf: Uint8Array[] = [];
  gSeqOk = new Uint8Array(0);
  gFirst = new Uint32Array(0);
  gLast = new Uint32Array(0);

  ensure(n: number): void {
    if (n <= this.cap) return;
    const c = Math.max(n, 64);
    this.cap = c;
    this.hops = new Uint16Array(c);
    this.l3 = new Uint32Array(c);
    this.l3len = new Uint32Array(c);
    this.ihl = new Uint8Array(c);
    this.out = new Uint32Array(c);
    this.j = new Uint32Array(c);
    this.st = new Int32Array(c);
    this.olen = new Uint32Array(c);
    this.seqLo = new Uint32Array(c);
    this.seqHi = new Uint32Array(c);
    this.src = new Int32Array(c);
    this.dst = new Int32Array(c);
    this.spi = new Uint32Array(c);
    this.fa = new Uint32Array(c);
    this.fb = new Uint32Array(c);
    this.q = new Uint16Array(c);
    this.gSeqOk = new Uint8Array(c);
    this.gFirst = new Uint32Array(c);
    this.gLast = new Uint32Array(c);
  }

  /**
   * Takes the engine's output for the packets of SA `g` back into packet order (entry `j[i]` of
   * `out` is packet i): status, length, sequence number and, with `offsets`, where the output starts.
   */
  collect(g: HwSa, n: number, out: PacketBatch, offsets: boolean): void {
    for (let i = 0; i < n; i++) {
      if (this.sa[i] !== g) continue;
      const k = this.j[i]!;
      this.st[i] = out.status[k]!;
      this.olen[i] = out.lengths[k]!;
      if (offsets) this.out[i] = out.offsets[k]!;
      this.seqLo[i] = out.seqLo[k]!;
      this.seqHi[i] = out.seqHi[k]!;
    }
  }
}

/**
 * Whether `packets` more packets of `bytes` curlft bytes keep the SA below every soft and hard byte
 * and packet limit (then per-packet `account` calls would raise no expiry and one call is the same).
 */
function lifetimeRoom(e: SadEntry, bytes: number, packets: number): boolean {
  if (e.kmState !== 'valid') return true; // `account` is a no-op
  if (e.dying) return false;
  const cur = e.state.info.curlft;
  const lft = e.state.info.lft;
  const b = cur.bytes + BigInt(bytes);
  const p = cur.packets + BigInt(packets);
  return b < lft.softByteLimit && b < lft.hardByteLimit && p < lft.softPacketLimit && p < lft.hardPacketLimit;
}

/** The IPv4 header fields the batch paths read (`readIpv4` fills one, reused). */
interface Ipv4Header {
  /** offset of the IP header */
  l3: number;
  /** header length in bytes */
  ihl: number;
  /** total length */
  len: number;
  /** flags + fragment offset */
  frag: number;
}

/**
 * Reads into `h` the IPv4 header of the Ethernet frame `b[o .. o + flen)`; false when the frame is
 * too short or not IPv4 (Ethertype 0x0800, version 4). The caller checks the fields themselves.
 */
function readIpv4(h: Ipv4Header, b: Uint8Array, o: number, flen: number): boolean {
  if (flen < 34 || b[o + 12] !== 0x08 || b[o + 13] !== 0x00 || b[o + 14]! >> 4 !== 4) return false;
  const l3 = o + 14;
  h.l3 = l3;
  h.ihl = (b[l3]! & 0x0f) * 4;
  h.len = (b[l3 + 2]! << 8) | b[l3 + 3]!;
  h.frag = (b[l3 + 6]! << 8) | b[l3 + 7]!;
  return true;
}

/**
 * Fills `f` with the flow of the IPv4 datagram at `b[l3]` (`avail` bytes there, header `ihl` long):
 * the ports of a UDP/TCP first fragment whose ports are present, 0 otherwise.
 */
function setFlowV4Datagram(f: CompiledFlow, b: Uint8Array, l3: number, ihl: number, avail: number): void {
  const proto = b[l3 + 9]!;
  let sport = 0;
  let dport = 0;
  const firstFragment = (((b[l3 + 6]! << 8) | b[l3 + 7]!) & 0x1fff) === 0;
  if (firstFragment && (proto === IPPROTO_UDP || proto === IPPROTO_TCP) && avail >= ihl + 4) {
    sport = (b[l3 + ihl]! << 8) | b[l3 + ihl + 1]!;
    dport = (b[l3 + ihl + 2]! << 8) | b[l3 + ihl + 3]!;
  }
  setFlowV4(f, b, l3, proto, sport, dport);
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

const v4Words = new Map<string, number>();

/** The address word of dotted-quad text (as `ipv4Bytes`, which throws on bad text; remembered). */
function v4Word(a: string): number {
  let w = v4Words.get(a);
  if (w === undefined) {
    const b = ipv4Bytes(a);
    w = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v4Words.size > 4096) v4Words.clear();
    v4Words.set(a, w);
  }
  return w;
}

function wordBytes(w: number): Uint8Array {
  return Uint8Array.of(w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff);
}

function emptyFlow(): CompiledFlow {
  return {
    family: AF_INET,
    d0: 0,
    d1: 0,
    d2: 0,
    d3: 0,
    s0: 0,
    s1: 0,
    s2: 0,
    s3: 0,
    proto: 0,
    dport: 0,
    sport: 0,
    ifindex: 0,
    mark: 0,
    ifId: 0,
  };
}

/** Fills `f` with the IPv4 flow of the header at `b[l3]` (address words as core's `addressWords`). */
function setFlowV4(
  f: CompiledFlow,
  b: Uint8Array,
  l3: number,
  proto: number,
  sport: number,
  dport: number,
): void {
  f.family = AF_INET;
  f.s0 = (b[l3 + 12]! << 24) | (b[l3 + 13]! << 16) | (b[l3 + 14]! << 8) | b[l3 + 15]!;
  f.d0 = (b[l3 + 16]! << 24) | (b[l3 + 17]! << 16) | (b[l3 + 18]! << 8) | b[l3 + 19]!;
  f.proto = proto;
  f.sport = sport;
  f.dport = dport;
}

function v4WordsOf(
  family: number,
  daddr: string,
  saddr: string,
): Pick<HwSa, 'v4Words' | 'daddrW' | 'saddrW' | 'daddrAny' | 'saddrAny'> {
  const word = (a: string): number | undefined => {
    try {
      const b = ipv4Bytes(a);
      // only canonical dotted quads compare equal to the text the parser produces
      return ipv4Text(b) === a ? (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]! : undefined;
    } catch {
      return undefined;
    }
  };
  const dAny = isZero(daddr);
  const sAny = isZero(saddr);
  const d = dAny ? 0 : word(daddr);
  const sw = sAny ? 0 : word(saddr);
  return {
    v4Words: family === AF_INET && d !== undefined && sw !== undefined,
    daddrW: d ?? 0,
    saddrW: sw ?? 0,
    daddrAny: dAny,
    saddrAny: sAny,
  };
}

function isZero(a: string): boolean {
  return a === '0.0.0.0' || a === '::' || a === '';
}

let hexOf = -1;
let hexText = '';

function hex(n: number): string {
  if (n !== hexOf) {
    hexOf = n;
    hexText = n.toString(16).padStart(8, '0');
  }
  return hexText;
}
