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
 */
import {
  AF_INET,
  type CompiledFlow,
  type CompiledSelector,
  compileFlow,
  compileSelector,
  EspError,
  type Sad,
  selectorMatchesFlow,
  XFRM_POLICY_ACTION,
  XFRM_POLICY_DIR,
  type XfrmPolicy,
  type XfrmState,
} from '@xfrmkit/core';
import type { SimDevice } from '../devices/device.ts';
import type { IpsecCounterName } from '../devices/ipsec.ts';
import { type DatapathProfile, datapathProfile, type StageName } from './costs.ts';
import { type EspEngine, modeledEngine, realEngine } from './esp-engine.ts';
import { LoadAccumulator, type StageVisit, visitCycles } from './model.ts';
import {
  ethFrame,
  fragmentIpv4,
  IPPROTO_ESP,
  ipv4Bytes,
  l3Of,
  type ParsedFrame,
  parseFrame,
} from './packet.ts';
import { EspRss } from './rss.ts';

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
  private signature = '';
  private sas = new Map<string, HwSa>();
  private rxSas = new Map<string, HwSa[]>();
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
    let sig = '';
    for (const k of objs.keys()) sig += `${k};`;
    if (sig === this.signature) return;
    this.signature = sig;
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
    this.txSas = [];
    for (const sa of next.values()) {
      if (sa.dir === 'out') this.txSas.push(sa);
      else {
        const k = `${sa.family}|${sa.spi}`;
        const l = this.rxSas.get(k) ?? [];
        l.push(sa);
        this.rxSas.set(k, l);
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

  private flowOf(p: ParsedFrame): CompiledFlow {
    return compileFlow({
      family: p.family,
      saddr: p.src,
      daddr: p.dst,
      proto: p.proto,
      sport: p.sport,
      dport: p.dport,
    });
  }

  /** Walks policy tables in priority order; hops = tables visited. */
  private policyWalk(
    tables: HwPolicy[][],
    f: CompiledFlow,
    fragment: boolean,
  ): { hit?: HwPolicy; hops: number } {
    let hops = 0;
    for (const t of tables) {
      hops++;
      for (const pol of t) {
        if (pol.family !== f.family) continue;
        // "not fragment unless the policy is tunnel mode" (§7.2)
        if (fragment && !pol.tunnel) continue;
        if (selectorMatchesFlow(pol.sel, f)) return { hit: pol, hops };
      }
    }
    return { hops: Math.max(hops, 1) };
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
    return { ...r, trace: t.steps, latencyCycles: latency };
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
    const f = this.flowOf(p);
    const pol = this.policyWalk(this.policies.out, f, p.fragment);
    if (pol.hit?.block) {
      t.visit(
        'tx.policy',
        'TX policy',
        true,
        pol.hops,
        frame.length,
        `block (priority ${pol.hit.priority}) → drop`,
      );
      this.countIpsec('ipsec_tx_drop_pkts', 1);
      this.countIpsec('ipsec_tx_drop_bytes', frame.length);
      return this.finish(
        this.txLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: false,
          drop: { reason: 'policy-block', counter: 'ipsec_tx_drop_pkts' },
        },
        frame.length,
      );
    }
    const reqid = pol.hit?.reqid ?? 0;
    t.visit(
      'tx.policy',
      'TX policy',
      pol.hit !== undefined,
      pol.hops,
      frame.length,
      pol.hit ? `allow: reg_c_4 := reqid ${reqid}` : 'miss → SA table without reqid',
    );
    const sa =
      reqid === 0
        ? undefined
        : this.txSas.find(
            (s) =>
              s.reqid === reqid &&
              s.family === p.family &&
              !(s.transport && p.fragment) &&
              (s.selProto === 0 || selectorPortsMatch(s.sel, f)),
          );
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
      return this.finish(
        this.txLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: false,
          spi: sa.spi,
          drop: { reason: 'mtu', counter: 'XfrmOutError' },
        },
        frame.length,
      );
    }
    t.visit('tx.sa', 'TX SA', true, 1, frame.length, `reqid ${reqid} → spi 0x${hex(sa.spi)}`);
    let esp: Uint8Array;
    try {
      esp = sa.esp.encap(l3);
    } catch (e) {
      if (!(e instanceof EspError)) throw e;
      t.visit('tx.aso', 'ASO', null, 1, frame.length, `${e.code} → drop`);
      this.countIpsec('ipsec_tx_drop_trailer', 1);
      return this.finish(
        this.txLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: false,
          spi: sa.spi,
          drop: { reason: 'malformed', counter: 'ipsec_tx_drop_trailer' },
        },
        frame.length,
      );
    }
    const out = ethFrame(frame.subarray(0, 6), frame.subarray(6, 12), (frame[12]! << 8) | frame[13]!, esp);
    const seq = BigInt(parseFrame(out)?.seq ?? 0);
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
    return this.toWire(t, out, parseFrame(out), true, { spi: sa.spi, seq });
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
        return this.finish(
          this.txLoad,
          t,
          { verdict: 'drop', frames: [], ipsec, drop: { reason: 'mtu', counter: 'IpFragFails' }, ...extra },
          frame.length,
        );
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
      return this.finish(
        this.rxLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: false,
          drop: { reason: 'oversize', counter: 'rx_oversize_pkts_phy' },
        },
        frame.length,
      );
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
      return this.finish(
        this.rxLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: false,
          spi,
          drop: { reason: 'no-state', counter: 'XfrmInNoStates' },
        },
        frame.length,
      );
    }
    t.visit('rx.sa', 'RX SA', true, 1, frame.length, `spi 0x${hex(spi)} → DECRYPT obj`);
    sa.counters.packets++;
    sa.counters.bytes += frame.length;
    let plain: Uint8Array | undefined;
    let seq: bigint | undefined;
    let syndrome: 'ok' | 'auth' | 'trailer' | 'replay' = 'ok';
    let detail = '';
    try {
      const r = sa.esp.decap(l3Of(frame, p));
      plain = r.packet;
      seq = r.seq;
    } catch (e) {
      if (!(e instanceof EspError)) throw e;
      detail = e.code;
      syndrome =
        e.code === 'ICV_MISMATCH'
          ? 'auth'
          : e.code === 'REPLAY' || e.code === 'REPLAY_WINDOW'
            ? 'replay'
            : 'trailer';
    }
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
      return this.finish(
        this.rxLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: true,
          spi,
          drop: { reason: syndrome === 'auth' ? 'icv' : syndrome, counter },
        },
        frame.length,
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
    const out = ethFrame(
      frame.subarray(0, 6),
      frame.subarray(6, 12),
      plain![0]! >> 4 === 6 ? 0x86dd : 0x0800,
      plain!,
    );
    t.visit('rx.status', 'RX status', true, 1, out.length, 'pass: count ipsec_rx_pkts/bytes');
    this.countIpsec('ipsec_rx_pkts', 1);
    this.countIpsec('ipsec_rx_bytes', out.length);
    this.syncSad(sa, (sad, e) =>
      sad.account(e, Math.max(0, frame.length - (sa.family === AF_INET ? CURLFT_HDR_V4 : CURLFT_HDR_V6))),
    );
    const ip = parseFrame(out)!;
    const f = this.flowOf(ip);
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
        return this.finish(
          this.rxLoad,
          t,
          {
            verdict: 'drop',
            frames: [],
            ipsec: true,
            spi,
            seq: seq!,
            drop: { reason: 'sa-selector', counter: 'ipsec_rx_drop_mismatch_sa_sel' },
          },
          frame.length,
        );
      }
    }
    const pol = this.policyWalk(this.policies.in, f, ip.fragment);
    if (pol.hit?.block) {
      t.visit(
        'rx.policy',
        'RX policy',
        true,
        pol.hops,
        out.length,
        `block (priority ${pol.hit.priority}) → drop`,
      );
      this.countIpsec('ipsec_rx_drop_pkts', 1);
      this.countIpsec('ipsec_rx_drop_bytes', out.length);
      return this.finish(
        this.rxLoad,
        t,
        {
          verdict: 'drop',
          frames: [],
          ipsec: true,
          spi,
          seq: seq!,
          drop: { reason: 'policy-block', counter: 'ipsec_rx_drop_pkts' },
        },
        frame.length,
      );
    }
    t.visit(
      'rx.policy',
      'RX policy',
      pol.hit !== undefined,
      pol.hops,
      out.length,
      pol.hit ? `allow (priority ${pol.hit.priority})` : 'miss → policy-miss (default allow)',
    );
    t.visit('rx.policy_miss', 'policy miss', true, 1, out.length, 'forward → TTC / TC root');
    return this.deliver(t, out, ip, true, { spi, seq: seq!, rssSrc: p.src, rssDst: p.dst });
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
      q = this.rss.queue(ipv4Bytes(extra.rssSrc), ipv4Bytes(extra.rssDst), extra.spi);
    } else if (p && p.ipVersion === 4) {
      q = this.rss.queue(ipv4Bytes(p.src), ipv4Bytes(p.dst), ((p.sport << 16) | p.dport) >>> 0);
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

  /** Releases the crypto contexts. */
  dispose(): void {
    for (const sa of this.sas.values()) sa.esp.dispose();
    this.sas.clear();
    this.signature = '';
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

function isZero(a: string): boolean {
  return a === '0.0.0.0' || a === '::' || a === '';
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
