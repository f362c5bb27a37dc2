/**
 * XfrmHandler: the NETLINK_XFRM side of the simulated kernel (`xfrm_user.c` on top of the SAD/SPD
 * engine of @xfrmkit/core). Answers every XFRM_MSG_* request with the kernel's replies, errors
 * (errno + extack, attribute-policy errors with OFFS and POLICY), dumps and multicast notifications,
 * per network namespace. See xfrm-uapi.md §4–§10 for the rules reproduced here.
 */
import {
  AF_INET,
  AF_INET6,
  addressWords,
  isSpiProto,
  type PolicyQuery,
  readAddress,
  Sad,
  type SadEntry,
  Spd,
  XFRM_OFFLOAD_FLAG,
  type XfrmAddressFilter,
  type XfrmAeventId,
  type XfrmAlgo,
  type XfrmAlgoAead,
  type XfrmAlgoAuth,
  XfrmError,
  type XfrmMark,
  type XfrmPolicy,
  type XfrmSelector,
  type XfrmState,
  type XfrmUserAcquire,
  type XfrmUserExpire,
  type XfrmUserOffload,
  type XfrmUserPolexpire,
  type XfrmUserpolicyDefault,
  type XfrmUserpolicyId,
  type XfrmUserpolicyInfo,
  type XfrmUsersaId,
  type XfrmUsersaInfo,
  type XfrmUserspiInfo,
  type XfrmUserTmpl,
} from '@xfrmkit/core';
import { type PayloadCodec, xfrmStructs as S, XFRM_MSG, XFRMNLGRP, xfrmAttrs } from '@xfrmkit/netlink';
import type { SimClock } from '../clock.ts';
import { NETLINK_XFRM, type SimMachine } from '../machine.ts';
import type { ProtocolHandler, SimContext, SimRequest, SimResult } from '../netlink/endpoint.ts';
import { findAlgo, VM_CRYPTO } from './algorithms.ts';
import {
  isNlaError,
  type NlaTable,
  parseNla,
  type TbAttr,
  XFRMA_POLICY,
  XFRMA_SPD_POLICY,
} from './attr-policy.ts';
import {
  delPolicyMsg,
  delStateMsg,
  expireMsg,
  polExpireMsg,
  policyExtraAttrs,
  policyMsg,
  ptypeAttr,
  type SaExtra,
  stateMsg,
  userPolicy,
  xmsg,
} from './build.ts';
import { noDeviceOffload, type XfrmOffloadHook } from './offload.ts';

/** XFRM_MSG_* numbers: the codec's table (`@xfrmkit/netlink`). */
const M = XFRM_MSG;
/** XFRM_MSG_MAX of the 6.18 kernel (MIGRATE_STATE 0x29 does not exist there). */
const XFRM_MSG_MAX = 0x28;
const GRP = XFRMNLGRP;
const HZ = 250;
const LEFTOVER = 'bytes leftover after parsing attributes';
const NLM_F_REPLACE = 0x100;

/** `xfrm_msg_min[]` (types without an entry are 0). */
const MSG_MIN: Record<number, number> = {
  [M.NEWSA]: 224,
  [M.DELSA]: 24,
  [M.GETSA]: 24,
  [M.NEWPOLICY]: 168,
  [M.DELPOLICY]: 64,
  [M.GETPOLICY]: 64,
  [M.ALLOCSPI]: 232,
  [M.ACQUIRE]: 280,
  [M.EXPIRE]: 232,
  [M.UPDPOLICY]: 168,
  [M.UPDSA]: 224,
  [M.POLEXPIRE]: 176,
  [M.FLUSHSA]: 1,
  [M.FLUSHPOLICY]: 0,
  [M.NEWAE]: 48,
  [M.GETAE]: 48,
  [M.REPORT]: 60,
  [M.MIGRATE]: 64,
  [M.MAPPING]: 64,
  [M.GETSADINFO]: 4,
  [M.NEWSPDINFO]: 4,
  [M.GETSPDINFO]: 4,
  [M.SETDEFAULT]: 3,
  [M.GETDEFAULT]: 3,
};

export interface XfrmHandlerOptions {
  /** time source for add_time and lifetimes (default: the machine's clock) */
  clock?: SimClock;
  /**
   * Kernel personality. false (default) = the 6.18 test VM: no ESP/AH/IPCOMP, no gcm, no
   * CONFIG_XFRM_OFFLOAD — every NEWSA with algorithms is refused, OFFLOAD_DEV ignored.
   * true = ESP/AH/IPCOMP built, all §14 algorithms present, CONFIG_XFRM_OFFLOAD with `offload`.
   */
  esp?: boolean;
  /** device offload (only with `esp: true`); default: no device has xfrmdev_ops */
  offload?: XfrmOffloadHook;
  /** crypto API contents (default: the VM's for esp=false, everything for esp=true) */
  cryptoAvailable?: (name: string) => boolean;
  /** num_possible_cpus() */
  possibleCpus?: number;
  /** random source of ALLOCSPI */
  randomU32?: () => number;
}

/** Per-netns XFRM state. */
export class XfrmNetns {
  readonly sad: Sad;
  readonly spd: Spd;
  readonly extra = new WeakMap<SadEntry, SaExtra>();
  constructor(
    readonly name: string,
    clock: { now(): number },
    randomU32: () => number,
  ) {
    this.sad = new Sad({ clock, randomU32 });
    this.spd = new Spd({ clock });
  }
}

class Fail {
  constructor(
    readonly errno: number,
    readonly msg?: string,
  ) {}
}

function fail(errno: number, msg?: string): never {
  throw new Fail(errno, msg);
}

interface Req {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
  tb: (TbAttr | undefined)[];
  ctx: SimContext;
  portid: number;
  ns: XfrmNetns;
}

function dec<T>(codec: PayloadCodec<T>, b: Uint8Array, len = b.length, family = 0): T {
  return codec.decode(b, 0, len, { base: 0, path: '', family });
}

function u32(b: Uint8Array, off = 0): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function attrVal<T>(r: Req, type: number, family = 0): T | undefined {
  const a = r.tb[type];
  if (!a) return undefined;
  const spec = xfrmAttrs.byType.get(type)!;
  return spec.codec.decode(a.payload, 0, a.payload.length, { base: 0, path: spec.name, family }) as T;
}

/** `xfrm_mark_get`: stored/lookup form, v &= m. */
function markOf(r: Req): XfrmMark {
  const a = r.tb[21];
  if (!a) return { v: 0, m: 0 };
  const v = u32(a.payload);
  const m = u32(a.payload, 4);
  return { v: (v & m) >>> 0, m };
}

/** The XFRMA_MARK attribute as sent (what the kernel stores in SAs). */
function rawMark(r: Req): XfrmMark {
  const a = r.tb[21];
  return a ? { v: u32(a.payload), m: u32(a.payload, 4) } : { v: 0, m: 0 };
}

/** Keeps only the first 4 bytes of an IPv4 address (the kernel copies `a4`). */
function addr4(a: string, family: number): string {
  if (family !== AF_INET) return a;
  const w = addressWords(a);
  const x = w[0]! >>> 0;
  return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
}

function validFamily(f: number): boolean {
  return f === AF_INET || f === AF_INET6;
}

export class XfrmHandler implements ProtocolHandler {
  readonly esp: boolean;
  private readonly offload: XfrmOffloadHook;
  private readonly crypto: (name: string) => boolean;
  private readonly cpus: number;
  private readonly namespaces = new Map<string, XfrmNetns>();
  private readonly coreClock: { now(): number };
  private readonly randQueue: number[] = [];
  private readonly random: () => number;
  private timer?: number;
  private acqSeq = 1;

  constructor(
    private readonly machine: SimMachine,
    opts: XfrmHandlerOptions = {},
  ) {
    const clock = opts.clock ?? machine.clock;
    this.clock = clock;
    this.coreClock = { now: () => clock.now() / 1000 };
    this.esp = opts.esp ?? false;
    this.offload = opts.offload ?? noDeviceOffload;
    this.crypto = opts.cryptoAvailable ?? (this.esp ? () => true : (n) => VM_CRYPTO.has(n));
    this.cpus = opts.possibleCpus ?? 2;
    const base = opts.randomU32 ?? (() => Math.floor(Math.random() * 0x1_0000_0000));
    this.random = () => this.randQueue.shift() ?? base();
  }

  private readonly clock: SimClock;

  /** Creates the handler and installs it as the machine's NETLINK_XFRM handler. */
  static attach(machine: SimMachine, opts: XfrmHandlerOptions = {}): XfrmHandler {
    const h = new XfrmHandler(machine, opts);
    machine.setHandler(NETLINK_XFRM, h);
    return h;
  }

  /**
   * Queues values the ALLOCSPI random source returns while the next request is handled (tests use it
   * to make the simulator pick the SPI a real kernel picked: value = spi − min). Cleared after it.
   */
  queueRandom(...v: number[]): void {
    this.randQueue.push(...v.map((x) => x >>> 0));
  }

  netns(name: string): XfrmNetns {
    let ns = this.namespaces.get(name);
    if (!ns) {
      ns = new XfrmNetns(name, this.coreClock, this.random);
      const n = ns;
      ns.sad.onExpire((ev) => {
        // a hard expiry deletes the SA: its hardware entry goes with it
        if (ev.hard && ev.state.offload) this.offload.stateDel(ev.state, name);
        this.machine.notify(
          NETLINK_XFRM,
          name,
          GRP.EXPIRE,
          expireMsg(ev.state, ev.hard, ev.reason === 'user' ? this.userPid : 0),
        );
      });
      ns.spd.onExpire((ev) => {
        if (ev.hard && ev.policy.offload) this.offload.policyDel(ev.policy, name);
        this.machine.notify(
          NETLINK_XFRM,
          name,
          GRP.EXPIRE,
          polExpireMsg(ev.policy, ev.dir, ev.hard, this.userPid),
        );
      });
      this.namespaces.set(name, n);
    }
    return ns;
  }

  /** request nlmsg_pid of user-triggered expire events (0 for timers) */
  private userPid = 0;

  handle(req: SimRequest, ctx: SimContext): SimResult {
    this.tick();
    try {
      return this.dispatch(req, ctx);
    } finally {
      this.userPid = 0;
      this.randQueue.length = 0;
      this.schedule();
    }
  }

  private dispatch(req: SimRequest, ctx: SimContext): SimResult {
    const h = req.header;
    const type = h.type;
    if (type > XFRM_MSG_MAX) return { kind: 'error', errno: 22 };
    const ns = this.netns(req.sock.netns);
    if ((type === M.GETSA || type === M.GETPOLICY) && (h.flags & 0x300) !== 0)
      return this.dump(type, req, ns);
    const min = MSG_MIN[type] ?? 0;
    if (h.len < 16 + min) return { kind: 'error', errno: 22, extack: { msg: 'Invalid header length' } };
    const table: NlaTable = type === M.NEWSPDINFO ? XFRMA_SPD_POLICY : XFRMA_POLICY;
    const parsed = parseNla(req.bytes, 16 + ((min + 3) & ~3), h.len, table);
    if (isNlaError(parsed)) {
      return {
        kind: 'error',
        errno: parsed.errno,
        extack: { msg: parsed.msg, offs: parsed.offs },
        policy: parsed.policy,
      };
    }
    const warning = parsed.leftover ? LEFTOVER : undefined;
    const r: Req = {
      type,
      flags: h.flags,
      seq: h.seq,
      pid: h.pid,
      payload: req.payload,
      tb: parsed.tb,
      ctx,
      portid: req.sock.portid,
      ns,
    };
    try {
      if (table === XFRMA_POLICY) {
        if (r.tb[33] && type !== M.NEWSA && type !== M.UPDSA && type !== M.ALLOCSPI)
          fail(22, 'Invalid attribute SA_DIR');
        if (r.tb[35] && type !== M.NEWSA && type !== M.UPDSA && type !== M.ALLOCSPI && type !== M.ACQUIRE) {
          fail(22, 'Invalid attribute SA_PCPU');
        }
      }
      this.doit(r);
      return warning ? { kind: 'ok', warning } : { kind: 'ok' };
    } catch (e) {
      let f: Fail;
      if (e instanceof Fail) f = e;
      else if (e instanceof XfrmError) f = new Fail(e.code, e.extack);
      else throw e;
      const msg = f.msg ?? warning;
      return { kind: 'error', errno: f.errno, extack: msg !== undefined ? { msg } : undefined };
    }
  }

  private doit(r: Req): void {
    switch (r.type) {
      case M.NEWSA:
      case M.UPDSA:
        this.addSa(r);
        return;
      case M.DELSA:
      case M.GETSA:
        this.getSa(r);
        return;
      case M.NEWPOLICY:
      case M.UPDPOLICY:
        this.addPolicy(r);
        return;
      case M.DELPOLICY:
      case M.GETPOLICY:
        this.getPolicy(r);
        return;
      case M.ALLOCSPI:
        this.allocSpi(r);
        return;
      case M.ACQUIRE:
        this.acquire(r);
        return;
      case M.EXPIRE:
        this.expireSa(r);
        return;
      case M.POLEXPIRE:
        this.expirePolicy(r);
        return;
      case M.FLUSHSA:
        this.flushSa(r);
        return;
      case M.FLUSHPOLICY:
        this.flushPolicy(r);
        return;
      case M.NEWAE:
        this.newAe(r);
        return;
      case M.GETAE:
        this.getAe(r);
        return;
      case M.MIGRATE:
        this.migrate(r);
        return;
      case M.GETSADINFO:
        this.sadInfo(r);
        return;
      case M.NEWSPDINFO:
        this.setSpdInfo(r);
        return;
      case M.GETSPDINFO:
        this.spdInfo(r);
        return;
      case M.SETDEFAULT:
        this.setDefault(r);
        return;
      case M.GETDEFAULT:
        this.getDefault(r);
        return;
      default:
        // REPORT, NEWSADINFO, MAPPING: no doit
        fail(22);
    }
  }

  // ------------------------------------------------------------------ timers

  /** Runs due SA/policy timers of every netns (kernel-originated EXPIRE/POLEXPIRE). */
  tick(): void {
    // runs before every request; a table with nothing due returns at once (TimerQueue.popDue)
    for (const ns of this.namespaces.values()) {
      ns.sad.tick();
      ns.spd.tick();
    }
  }

  private schedule(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const ns of this.namespaces.values()) next = Math.min(next, ns.sad.nextTimer(), ns.spd.nextTimer());
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    if (!Number.isFinite(next)) return;
    const ms = Math.max(0, next * 1000 - this.clock.now());
    this.timer = this.clock.after(ms, () => {
      this.timer = undefined;
      this.tick();
      this.schedule();
    });
  }

  // ------------------------------------------------------------------ SA add / update

  private addSa(r: Req): void {
    const p = dec(S.usersaInfo, r.payload, 224);
    const tb = r.tb;
    this.verifyNewsa(p, r);
    const s = this.constructState(p, r);
    const { sad } = r.ns;
    const res = r.type === M.NEWSA ? sad.add(s) : sad.update(s);
    r.ns.extra.set(res.entry, this.saExtra(tb));
    // xfrm_add_sa notifies with the state it constructed from the request (km_state_notify(x)); an
    // UPDSA that edited an existing SA in place still reports that constructed state, with the
    // stored SA's lifetime counters
    const inPlace = r.type === M.UPDSA && res.entry.state !== s;
    const notified = inPlace
      ? { ...s, info: { ...s.info, curlft: res.entry.state.info.curlft } }
      : res.entry.state;
    if (r.ctx.listening(GRP.SA)) r.ctx.multicast(GRP.SA, stateMsg(r.type, notified, r.seq, r.pid));
  }

  private saExtra(tb: (TbAttr | undefined)[]): SaExtra {
    return {
      replayMaxdiff: tb[11] ? u32(tb[11].payload) : 2,
      replayMaxage: tb[12] ? u32(tb[12].payload) : HZ,
    };
  }

  /** `verify_newsa_info` + `verify_replay` (§5.1, §5.2). */
  private verifyNewsa(p: XfrmUsersaInfo, r: Req): void {
    const tb = r.tb;
    const dir = tb[33] ? tb[33].payload[0]! : 0;
    if (!validFamily(p.family)) fail(22, 'Invalid address family');
    let fam = p.sel.family;
    if (!fam && !(p.flags & 32)) fam = p.family;
    if (fam === AF_INET) {
      if (p.sel.prefixlenD > 32 || p.sel.prefixlenS > 32)
        fail(22, 'Invalid prefix length in selector (must be <= 32 for IPv4)');
    } else if (fam === AF_INET6) {
      if (p.sel.prefixlenD > 128 || p.sel.prefixlenS > 128)
        fail(22, 'Invalid prefix length in selector (must be <= 128 for IPv6)');
    } else if (fam !== 0) fail(22, 'Invalid address family in selector');
    const has = (t: number) => tb[t] !== undefined;
    const iptfs = [36, 37, 38, 39, 40, 41].some(has);
    switch (p.id.proto) {
      case 51:
        if (!has(1) && !has(20)) fail(22, 'Missing required attribute for AH: AUTH_TRUNC or AUTH');
        if (has(18) || has(2) || has(3) || has(22))
          fail(22, 'Invalid attributes for AH: AEAD, CRYPT, COMP, TFCPAD');
        break;
      case 50:
        if (has(3)) fail(22, 'Invalid attribute for ESP: COMP');
        if (!has(1) && !has(20) && !has(2) && !has(18)) {
          fail(22, 'Missing required attribute for ESP: at least one of AUTH, AUTH_TRUNC, CRYPT, AEAD');
        }
        if ((has(1) || has(20) || has(2)) && has(18)) {
          fail(22, "Invalid attribute combination for ESP: AEAD can't be used with AUTH, AUTH_TRUNC, CRYPT");
        }
        if (has(22) && p.mode !== 1) fail(22, 'TFC padding can only be used in tunnel mode');
        if (iptfs && p.mode !== 5) fail(22, 'IP-TFS options can only be used in IP-TFS mode');
        break;
      case 108:
        if (!has(3)) fail(22, 'Missing required attribute for COMP: COMP');
        if (has(18) || has(1) || has(20) || has(2) || has(22)) {
          fail(22, 'Invalid attributes for COMP: AEAD, AUTH, AUTH_TRUNC, CRYPT, TFCPAD');
        }
        if (p.id.spi >>> 0 >= 0x10000) fail(22, 'SPI is too large for COMP (must be < 0x10000)');
        break;
      case 43:
      case 60:
        if (has(3) || has(1) || has(20) || has(18) || has(2) || has(4) || has(8) || has(22)) {
          fail(22, 'Invalid attributes for DSTOPTS/ROUTING');
        }
        if (!has(14)) fail(22, 'Missing required COADDR attribute for DSTOPTS/ROUTING');
        break;
      default:
        fail(22, 'Unsupported protocol');
    }
    // verify_aead / verify_auth_trunc / verify_one_alg: length, then alg_name[63] = 0 in the request
    const keyBytes = (a: TbAttr) => Math.floor(((u32(a.payload, 64) + 7) >>> 0) / 8);
    if (tb[18]) {
      if (tb[18].payload.length < 72 + keyBytes(tb[18])) fail(22, 'Invalid AEAD attribute length');
      tb[18].payload[63] = 0;
    }
    if (tb[20]) {
      if (tb[20].payload.length < 72 + keyBytes(tb[20])) fail(22, 'Invalid AUTH_TRUNC attribute length');
      tb[20].payload[63] = 0;
    }
    for (const t of [1, 2, 3]) {
      const a = tb[t];
      if (!a) continue;
      if (a.payload.length < 68 + keyBytes(a)) fail(22, 'Invalid AUTH/CRYPT/COMP attribute length');
      a.payload[63] = 0;
    }
    verifySecCtx(tb);
    // verify_replay
    const esnA = tb[23];
    if (!esnA) {
      if (p.flags & 128) fail(22, 'Missing required attribute for ESN');
    } else {
      const b = esnA.payload;
      const bmpLen = u32(b);
      const [oseq, seq, oseqHi, seqHi, win] = [u32(b, 4), u32(b, 8), u32(b, 12), u32(b, 16), u32(b, 20)];
      if (bmpLen > 128) fail(22, 'ESN bitmap length must be <= 128');
      if (b.length < 24 + bmpLen * 4 && b.length !== 24)
        fail(22, 'ESN attribute is too short to fit the full bitmap length');
      if (p.id.proto !== 50 && p.id.proto !== 51) fail(22, 'ESN only supported for ESP and AH');
      if (p.replayWindow !== 0) fail(22, 'ESN not compatible with legacy replay_window');
      const esn = (p.flags & 128) !== 0;
      const MAX = 0xffffffff;
      if (dir === 2) {
        if (win) fail(22, 'Replay window should be 0 for output SA');
        if (seq || seqHi) fail(22, 'Replay seq and seq_hi should be 0 for output SA');
        if (!esn) {
          if (oseqHi) fail(22, 'Replay oseq_hi should be 0 in non-ESN mode for output SA');
          if (oseq === MAX)
            fail(22, 'Replay oseq should be less than 0xFFFFFFFF in non-ESN mode for output SA');
        } else if (oseq === MAX && oseqHi === MAX) {
          fail(22, 'Replay oseq and oseq_hi should be less than 0xFFFFFFFF for output SA');
        }
        if (bmpLen) fail(22, 'Replay bmp_len should 0 for output SA');
      }
      if (dir === 1) {
        if (oseq || oseqHi) fail(22, 'Replay oseq and oseq_hi should be 0 for input SA');
        if (!esn) {
          if (seqHi) fail(22, 'Replay seq_hi should be 0 in non-ESN mode for input SA');
          if (seq === MAX) fail(22, 'Replay seq should be less than 0xFFFFFFFF in non-ESN mode for input SA');
        } else if (seq === MAX && seqHi === MAX) {
          fail(22, 'Replay seq and seq_hi should be less than 0xFFFFFFFF for input SA');
        }
      }
    }
    switch (p.mode) {
      case 0:
      case 1:
      case 2:
      case 4:
        break;
      case 5:
        if (p.id.proto !== 50) fail(22, 'IP-TFS mode only supported with ESP');
        if (dir === 0) fail(22, 'IP-TFS mode requires in or out direction attribute');
        break;
      default:
        fail(22, 'Unsupported mode');
    }
    if (has(32)) {
      if (!has(4)) fail(22, 'MTIMER_THRESH attribute can only be set on ENCAP states');
      if (dir === 2) fail(22, 'MTIMER_THRESH attribute should not be set on output SA');
    }
    if (dir === 2) {
      if (p.flags & 2) fail(22, 'Flag DECAP_DSCP should not be set for output SA');
      if (p.flags & 16) fail(22, 'Flag ICMP should not be set for output SA');
      if (p.flags & 8) fail(22, 'Flag WILDRECV should not be set for output SA');
      if (p.replayWindow) fail(22, 'Replay window should be 0 for output SA');
      if (has(36)) fail(22, 'IP-TFS drop time should not be set for output SA');
      if (has(37)) fail(22, 'IP-TFS reorder window should not be set for output SA');
      const rv = tb[10];
      if (rv && (u32(rv.payload, 4) || u32(rv.payload, 8)))
        fail(22, 'Replay seq and bitmap should be 0 for output SA');
    }
    if (dir === 1) {
      if (p.flags & 4) fail(22, 'Flag NOPMTUDISC should not be set for input SA');
      if (tb[24]) {
        const x = u32(tb[24].payload);
        if (x & 1) fail(22, 'Flag DONT_ENCAP_DSCP should not be set for input SA');
        if (x & 2) fail(22, 'Flag OSEQ_MAY_WRAP should not be set for input SA');
      }
      if (has(38)) fail(22, "IP-TFS don't fragment should not be set for input SA");
      if (has(39)) fail(22, 'IP-TFS initial delay should not be set for input SA');
      if (has(40)) fail(22, 'IP-TFS max queue size should not be set for input SA');
      if (has(41)) fail(22, 'IP-TFS packet size should not be set for input SA');
    }
    if (!dir && has(35)) fail(22, 'SA_PCPU only supported with SA_DIR');
  }

  /** `xfrm_state_construct` + `__xfrm_init_state` (§5.3). */
  private constructState(p: XfrmUsersaInfo, r: Req): XfrmState {
    const tb = r.tb;
    const s: XfrmState = { info: { ...p, replayWindow: Math.min(p.replayWindow, 32) } };
    if (!p.sel.family && !(p.flags & 32)) s.info.sel = { ...p.sel, family: p.family };
    if (tb[4]) s.encap = attrVal(r, 4);
    if (tb[14]) s.coaddr = attrVal(r, 14, p.family);
    if (tb[24]) s.extraFlags = u32(tb[24].payload);
    if (tb[18]) {
      const a = decodeAlgo<XfrmAlgoAead>(S.algoAead, tb[18], 72);
      const e = findAlgo('aead', a.name, this.crypto, a.icvLen);
      if (!e) fail(38, 'Requested AEAD algorithm not found');
      s.aead = { ...a, name: e.name };
    }
    if (tb[20]) {
      const a = decodeAlgo<XfrmAlgoAuth>(S.algoAuth, tb[20], 72);
      const e = findAlgo('auth', a.name, this.crypto);
      if (!e) fail(38, 'Requested AUTH_TRUNC algorithm not found');
      if (a.truncLen >>> 0 > e.icvFull!) fail(22, 'Invalid length requested for truncated ICV');
      s.authTrunc = { ...a, name: e.name, truncLen: a.truncLen || e.icvTrunc! };
    }
    if (!s.authTrunc && tb[1]) {
      const a = decodeAlgo<XfrmAlgo>(S.algo, tb[1], 68);
      const e = findAlgo('auth', a.name, this.crypto);
      if (!e) fail(38, 'Requested AUTH algorithm not found');
      s.authTrunc = { ...a, name: e.name, truncLen: e.icvTrunc! };
    }
    if (tb[2]) {
      const a = decodeAlgo<XfrmAlgo>(S.algo, tb[2], 68);
      const e = findAlgo('crypt', a.name, this.crypto);
      if (!e) fail(38, 'Requested CRYPT algorithm not found');
      s.crypt = { ...a, name: e.name };
    }
    if (tb[3]) {
      const a = decodeAlgo<XfrmAlgo>(S.algo, tb[3], 68);
      const e = findAlgo('comp', a.name, this.crypto);
      if (!e) fail(38, 'Requested COMP algorithm not found');
      s.comp = { ...a, name: e.name };
    }
    if (tb[22]) s.tfcpad = u32(tb[22].payload);
    const mark = rawMark(r);
    if (mark.v | mark.m) s.mark = mark;
    if (tb[29]) {
      s.setMark = u32(tb[29].payload);
      s.setMarkMask = tb[30] ? u32(tb[30].payload) : 0xffffffff;
    }
    if (tb[31]) s.ifId = u32(tb[31].payload);
    if (tb[33]) s.dir = tb[33].payload[0]!;
    if (tb[34]) s.natKeepaliveInterval = u32(tb[34].payload);
    if (tb[35]) {
      s.pcpu = u32(tb[35].payload);
      if (s.pcpu >= this.cpus) fail(34, 'pCPU number too big');
    }
    // __xfrm_init_state: inner mode, type
    const selFam = s.info.sel.family;
    const modeOk = (mode: number, fam: number) =>
      mode === 0 || mode === 1 || mode === 4 || mode === 5 || (mode === 2 && fam === AF_INET6);
    const tunnel = (mode: number) => mode === 1 || mode === 4 || mode === 5;
    if (selFam !== 0) {
      if (!modeOk(p.mode, selFam)) fail(93, 'Requested mode not found');
      if (!tunnel(p.mode) && p.family !== selFam)
        fail(93, 'Only tunnel modes can accommodate a change of family');
    } else if (!modeOk(p.mode, p.family)) fail(93, 'Requested mode not found');
    const typeOk = this.esp && isSpiProto(p.id.proto);
    if (!typeOk) fail(93, 'Requested type not found');
    if (p.id.proto === 50) {
      if (!s.aead && !s.crypt) fail(22, 'ESP: AEAD or CRYPT must be provided');
      // esp_init_aead / esp_init_authenc: crypto_aead_setkey refuses key sizes the cipher lacks
      if (!espKeyOk(s)) fail(22, 'Kernel was unable to initialize cryptographic operations');
      if (s.encap && s.encap.encapType !== 2 && s.encap.encapType !== 7)
        fail(22, 'Unsupported encapsulation type for ESP');
    }
    if (!modeOk(p.mode, p.family)) fail(93, 'Requested mode not found');
    if (s.natKeepaliveInterval) {
      if (s.dir !== 2) fail(22, 'NAT keepalive is only supported for outbound SAs');
      if (s.encap?.encapType !== 2) fail(22, 'NAT keepalive is only supported for UDP encapsulation');
    }
    // replay state
    if (tb[23]) {
      const esn = dec(S.replayStateEsn, tb[23].payload);
      if (esn.replayWindow > esn.bmpLen * 32)
        fail(22, 'ESN replay window is too large for the chosen bitmap size');
      if (p.flags & 128 && esn.replayWindow === 0 && s.dir !== 2) fail(22, 'ESN replay window must be > 0');
      s.replayEsn = esn;
    } else {
      s.replay = tb[10] ? dec(S.replayState, tb[10].payload, 12) : { oseq: 0, seq: 0, bitmap: 0 };
    }
    if (tb[9]) {
      const lt = dec(S.lifetimeCur, tb[9].payload, 32);
      s.info.curlft = lt;
    }
    if (tb[32]) s.mtimerThresh = u32(tb[32].payload);
    if (tb[28]) {
      const xuo = dec(S.userOffload, tb[28].payload, 8);
      this.stateOffload(s, xuo, r);
    }
    return s;
  }

  /** `xfrm_dev_state_add` (§10.1). */
  private stateOffload(s: XfrmState, xuo: XfrmUserOffload, r: Req): void {
    if (xuo.flags & ~(XFRM_OFFLOAD_FLAG.IPV6 | XFRM_OFFLOAD_FLAG.INBOUND | XFRM_OFFLOAD_FLAG.PACKET)) {
      fail(22, 'Unrecognized flags in offload request');
    }
    const inbound = (xuo.flags & XFRM_OFFLOAD_FLAG.INBOUND) !== 0;
    if ((inbound && s.dir === 2) || (!inbound && s.dir === 1))
      fail(22, 'Mismatched SA and offload direction');
    if (inbound && s.ifId) fail(22, 'XFRM if_id is not supported in RX path');
    if (s.tfcpad) fail(22, "TFC padding can't be offloaded");
    const res = this.offload.stateAdd(s, xuo, r.ns.name);
    if (!res.ok) fail(res.errno, res.extack);
    if (res.mode === 'none') return;
    s.offload = { ifindex: xuo.ifindex, flags: (inbound ? 2 : 0) | (res.mode === 'packet' ? 4 : 0) };
  }

  // ------------------------------------------------------------------ SA get / delete / flush

  /** `xfrm_user_state_lookup`. */
  private lookupSa(r: Req, id: XfrmUsersaId): SadEntry {
    const mark = markOf(r);
    if (isSpiProto(id.proto)) {
      const e = validFamily(id.family)
        ? r.ns.sad.lookup(id.daddr, id.spi, id.proto, id.family, mark.v | 0)
        : undefined;
      if (!e) fail(3);
      return e;
    }
    if (!r.tb[13]) fail(22);
    const saddr = readAddress(r.tb[13].payload, 0, id.family);
    const e = validFamily(id.family)
      ? r.ns.sad.lookupByAddr(id.daddr, saddr, id.proto, id.family, mark.v | 0)
      : undefined;
    if (!e) fail(3);
    return e;
  }

  private getSa(r: Req): void {
    const id = dec(S.usersaId, r.payload, 24);
    const e = this.lookupSa(r, id);
    if (r.type === M.GETSA) {
      r.ctx.unicast(stateMsg(M.NEWSA, e.state, r.seq, r.portid));
      return;
    }
    r.ns.sad.remove(e);
    if (e.state.offload) this.offload.stateDel(e.state, r.ns.name);
    if (r.ctx.listening(GRP.SA)) r.ctx.multicast(GRP.SA, delStateMsg(e.state, r.seq, r.pid));
  }

  private flushSa(r: Req): void {
    const proto = r.payload[0]!;
    const offloaded = r.ns.sad.entries().filter((e) => e.state.offload);
    const n = r.ns.sad.flush(proto);
    // flushed SAs give their hardware entries back (xfrm_state_flush → xfrm_dev_state_delete)
    const left = new Set(r.ns.sad.entries());
    for (const e of offloaded) if (!left.has(e)) this.offload.stateDel(e.state, r.ns.name);
    if (n === 0) return;
    r.ctx.multicast(GRP.SA, xmsg(M.FLUSHSA, r.seq, r.pid, { proto }));
  }

  private dump(type: number, req: SimRequest, ns: XfrmNetns): SimResult {
    if (type === M.GETPOLICY) {
      // the policy dump does not parse attributes
      const msgs = ns.spd.entries().map((e) => policyMsg(M.NEWPOLICY, e.policy, e.dir, 0, 0, true));
      return { kind: 'dump', messages: msgs, doneSeparate: true };
    }
    const parsed = parseNla(req.bytes, 16, req.header.len, XFRMA_POLICY);
    if (isNlaError(parsed)) {
      return {
        kind: 'dump',
        messages: [],
        doneSeparate: true,
        doneErrno: parsed.errno,
        doneExtack: { msg: parsed.msg, offs: parsed.offs },
        donePolicy: parsed.policy,
      };
    }
    // extack is per netlink_dump() call: the parse warning reaches the DONE only when the DONE is
    // built in the first call (empty result or error), not after a batch of entries (observed on 6.18)
    const warn = parsed.leftover ? { msg: LEFTOVER } : undefined;
    let filter: XfrmAddressFilter | undefined;
    const fa = parsed.tb[26];
    if (fa) {
      filter = dec(S.addressFilter, fa.payload, 36);
      if (filter.splen > 128 || filter.dplen > 128)
        return { kind: 'dump', messages: [], doneSeparate: true, doneErrno: 22, doneExtack: warn };
    }
    const proto = parsed.tb[25] ? parsed.tb[25].payload[0]! : 0;
    const msgs: Uint8Array[] = [];
    for (const e of ns.sad.entries()) {
      const s = e.state;
      if (!(proto === 0 || s.info.id.proto === proto || (proto === 255 && isSpiProto(s.info.id.proto))))
        continue;
      if (filter && !filterMatch(filter, s)) continue;
      msgs.push(stateMsg(M.NEWSA, s, 0, 0));
    }
    return { kind: 'dump', messages: msgs, doneSeparate: true, doneExtack: msgs.length ? undefined : warn };
  }

  // ------------------------------------------------------------------ ALLOCSPI / ACQUIRE / EXPIRE / AE

  private allocSpi(r: Req): void {
    const p = dec<XfrmUserspiInfo>(S.userspiInfo, r.payload, 232);
    const proto = p.info.id.proto;
    if (proto !== 50 && proto !== 51 && proto !== 108)
      fail(22, 'Invalid protocol, must be one of AH, ESP, IPCOMP');
    if (proto === 108 && p.max >= 0x10000) fail(22, 'IPCOMP SPI must be <= 65535');
    if (p.min > p.max) fail(22, 'Invalid SPI range: min > max');
    const mark = rawMark(r);
    const ifId = r.tb[31] ? u32(r.tb[31].payload) : 0;
    if (r.tb[35] && u32(r.tb[35].payload) >= this.cpus) fail(22, 'pCPU number too big');
    const fam = p.info.family;
    if (!validFamily(fam)) fail(22, 'Invalid address family');
    const info = {
      ...p.info,
      id: { ...p.info.id, daddr: addr4(p.info.id.daddr, fam) },
      saddr: addr4(p.info.saddr, fam),
    };
    const dir = r.tb[33] ? r.tb[33].payload[0]! : undefined;
    const e = r.ns.sad.allocSpi({ info, min: p.min, max: p.max, mark, ifId, dir });
    if (!r.ns.extra.has(e)) r.ns.extra.set(e, { replayMaxdiff: 0, replayMaxage: 0 });
    r.ctx.unicast(stateMsg(M.NEWSA, e.state, r.seq, r.portid));
  }

  private acquire(r: Req): void {
    const ua = dec<XfrmUserAcquire>(S.userAcquire, r.payload, 280);
    if (r.tb[35] && u32(r.tb[35].payload) >= this.cpus) fail(22, 'pCPU number too big');
    const pol = this.buildPolicy(ua.policy, r);
    const mark = markOf(r);
    const attrs = policyExtraAttrs({ ...pol, mark, secCtx: undefined }, false);
    for (const t of pol.tmpls) {
      const seq = this.acqSeq;
      this.acqSeq = (this.acqSeq + 1) >>> 0 || 1;
      const body: XfrmUserAcquire = {
        id: t.id,
        saddr: ua.saddr,
        sel: ua.sel,
        policy: { ...userPolicy(pol, 1), curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n } },
        aalgos: ua.aalgos,
        ealgos: ua.ealgos,
        calgos: ua.calgos,
        seq,
      };
      const extra = r.tb[35] ? [{ name: 'SA_PCPU', value: u32(r.tb[35].payload) }] : [];
      r.ctx.multicast(GRP.ACQUIRE, xmsg(M.ACQUIRE, 0, 0, body, [...attrs, ...extra]));
    }
  }

  private findValid(r: Req, daddr: string, spi: number, proto: number, family: number): SadEntry | undefined {
    if (!validFamily(family) || !isSpiProto(proto)) return undefined;
    return r.ns.sad.lookup(daddr, spi, proto, family, markOf(r).v | 0);
  }

  private expireSa(r: Req): void {
    const ue = dec<XfrmUserExpire>(S.userExpire, r.payload, 232);
    const p = ue.state;
    const e = this.findValid(r, p.id.daddr, p.id.spi, p.id.proto, p.family);
    if (!e) fail(2);
    if (e.kmState !== 'valid') fail(22, 'SA must be in VALID state');
    this.userPid = r.pid;
    r.ns.sad.expire(
      { daddr: p.id.daddr, spi: p.id.spi, proto: p.id.proto, family: p.family },
      ue.hard !== 0,
      markOf(r),
    );
  }

  private getAe(r: Req): void {
    const id = dec<XfrmAeventId>(S.aeventId, r.payload, 48);
    const e = this.findValid(r, id.saId.daddr, id.saId.spi, id.saId.proto, id.saId.family);
    if (!e) fail(3);
    r.ctx.unicast(this.aeMsg(r.ns, e, id.flags, r.seq, r.pid));
  }

  private aeMsg(ns: XfrmNetns, e: SadEntry, flags: number, seq: number, pid: number): Uint8Array {
    const s = e.state;
    const x = ns.extra.get(e) ?? { replayMaxdiff: 0, replayMaxage: 0 };
    const a = [] as { name: string; value: unknown }[];
    if (s.replayEsn) a.push({ name: 'REPLAY_ESN_VAL', value: s.replayEsn });
    else a.push({ name: 'REPLAY_VAL', value: s.replay ?? { oseq: 0, seq: 0, bitmap: 0 } });
    a.push({ name: 'LTIME_VAL', value: s.info.curlft });
    if (flags & 1) a.push({ name: 'REPLAY_THRESH', value: x.replayMaxdiff });
    if (flags & 8) a.push({ name: 'ETIMER_THRESH', value: Math.floor((x.replayMaxage * 10) / HZ) >>> 0 });
    if (s.mark && (s.mark.v | s.mark.m) !== 0) a.push({ name: 'MARK', value: s.mark });
    if (s.ifId) a.push({ name: 'IF_ID', value: s.ifId });
    if (s.pcpu !== undefined) a.push({ name: 'SA_PCPU', value: s.pcpu });
    if (s.dir) a.push({ name: 'SA_DIR', value: s.dir });
    const body = {
      saId: { daddr: s.info.id.daddr, spi: s.info.id.spi, family: s.info.family, proto: s.info.id.proto },
      saddr: s.info.saddr,
      flags: flags >>> 0,
      reqid: s.info.reqid,
    };
    return xmsg(M.NEWAE, seq, pid, body, a);
  }

  private newAe(r: Req): void {
    const tb = r.tb;
    if (!tb[9] && !tb[10] && !tb[23] && !tb[12] && !tb[11]) fail(22, 'Missing required attribute for AE');
    if (!(r.flags & NLM_F_REPLACE)) fail(22, 'NLM_F_REPLACE flag is required');
    const id = dec<XfrmAeventId>(S.aeventId, r.payload, 48);
    const e = this.findValid(r, id.saId.daddr, id.saId.spi, id.saId.proto, id.saId.family);
    if (!e) fail(3);
    if (e.kmState !== 'valid') fail(22, 'SA must be in VALID state');
    const s = e.state as XfrmState;
    // xfrm_replay_verify_len: only when the SA has an ESN state; sizes are computed from bmp_len
    // (24 + 4·bmp_len), not from the attribute length (a longer attribute is fine)
    if (tb[23] && s.replayEsn) {
      const b = tb[23].payload;
      const bmpLen = u32(b);
      if (b.length < 24 + 4 * bmpLen) fail(22, 'ESN attribute is too short');
      if (24 + 4 * bmpLen !== 24 + 4 * s.replayEsn.bmpLen)
        fail(22, "New ESN size doesn't match the existing SA's ESN size");
      if (bmpLen !== s.replayEsn.bmpLen)
        fail(22, "New ESN bitmap size doesn't match the existing SA's ESN bitmap");
      if (u32(b, 20) > bmpLen * 32) fail(22, 'ESN replay window is longer than the bitmap');
    }
    const x = r.ns.extra.get(e) ?? { replayMaxdiff: 2, replayMaxage: HZ };
    if (tb[23] && s.replayEsn) s.replayEsn = dec(S.replayStateEsn, tb[23].payload);
    if (tb[10]) s.replay = dec(S.replayState, tb[10].payload, 12);
    if (tb[9]) s.info.curlft = dec(S.lifetimeCur, tb[9].payload, 32);
    if (tb[12]) x.replayMaxage = u32(tb[12].payload);
    if (tb[11]) x.replayMaxdiff = u32(tb[11].payload);
    if (tb[32]) s.mtimerThresh = u32(tb[32].payload);
    r.ns.extra.set(e, x);
    r.ctx.multicast(GRP.AEVENTS, this.aeMsg(r.ns, e, 64, r.seq, r.pid));
  }

  // ------------------------------------------------------------------ policies

  /** `verify_newpolicy_info` + `verify_sec_ctx_len` + `xfrm_policy_construct` (§6.1). */
  private buildPolicy(info: XfrmUserpolicyInfo, r: Req): XfrmPolicy {
    const tb = r.tb;
    if (info.share > 3) fail(22, 'Invalid policy share');
    if (info.action > 1) fail(22, 'Invalid policy action');
    const fam = info.sel.family;
    if (fam === AF_INET) {
      if (info.sel.prefixlenD > 32 || info.sel.prefixlenS > 32)
        fail(22, 'Invalid prefix length in selector (must be <= 32 for IPv4)');
    } else if (fam === AF_INET6) {
      if (info.sel.prefixlenD > 128 || info.sel.prefixlenS > 128)
        fail(22, 'Invalid prefix length in selector (must be <= 128 for IPv6)');
    } else fail(22, 'Invalid selector family');
    if (info.dir > 2) fail(22, 'Invalid policy direction');
    if (info.index && (info.index & 7) !== info.dir) fail(22, "Policy index doesn't match direction");
    verifySecCtx(tb);
    const ptype = policyType(tb);
    let tmpls: XfrmUserTmpl[] = [];
    if (tb[5]) {
      const raw = tb[5].payload;
      const n = Math.floor(raw.length / 64);
      if (n > 6) fail(22, 'Template count must be <= XFRM_MAX_DEPTH (6)');
      validateTemplates(raw, n, fam, info.dir);
      tmpls = dec(S.tmplArray, raw.subarray(0, n * 64));
    }
    // `info` was decoded for this request alone (the SPD copies what it keeps): no copy of it here
    const p: XfrmPolicy = { info, tmpls, ptype };
    const mark = markOf(r);
    if (mark.v | mark.m) p.mark = mark;
    if (tb[31]) p.ifId = u32(tb[31].payload);
    return p;
  }

  private addPolicy(r: Req): void {
    const info = dec(S.userpolicyInfo, r.payload, 168);
    const p = this.buildPolicy(info, r);
    // template validation happens in the SPD (validate_tmpl), before the offload hook
    const tb = r.tb;
    if (tb[28] && this.esp) {
      const xuo = dec(S.userOffload, tb[28].payload, 8);
      if (xuo.flags !== XFRM_OFFLOAD_FLAG.PACKET) fail(22, 'Unrecognized flags in offload request');
      const res = this.offload.policyAdd(p, xuo, r.ns.name);
      if (!res.ok) fail(res.errno, res.extack);
      if (res.mode !== 'none') p.offload = { ifindex: xuo.ifindex, flags: (info.dir === 0 ? 2 : 0) | 4 };
    }
    const spd = r.ns.spd;
    let res: ReturnType<Spd['add']>;
    try {
      res = r.type === M.NEWPOLICY ? spd.add(p) : spd.update(p);
    } catch (e) {
      if (p.offload) this.offload.policyDel(p, r.ns.name);
      throw e;
    }
    if (res.replaced?.offload) this.offload.policyDel(res.replaced, r.ns.name);
    // the notification is built only when a socket listens (bulk programming usually has none)
    if (r.ctx.listening(GRP.POLICY))
      r.ctx.multicast(GRP.POLICY, policyMsg(r.type, res.entry.policy, info.dir, r.seq, r.pid, false));
  }

  private policyQuery(r: Req, sel: XfrmSelector, index: number, dir: number): PolicyQuery {
    const type = policyType(r.tb);
    if (dir > 2) fail(22, 'Invalid policy direction');
    const ifId = r.tb[31] ? u32(r.tb[31].payload) : 0;
    const a = r.tb[21];
    const mark = a ? { v: u32(a.payload), m: u32(a.payload, 4) } : { v: 0, m: 0 };
    if (!index) verifySecCtx(r.tb);
    return { dir, index, sel, type, ifId, mark };
  }

  private getPolicy(r: Req): void {
    const id = dec<XfrmUserpolicyId>(S.userpolicyId, r.payload, 64);
    const q = this.policyQuery(r, id.sel, id.index, id.dir);
    const e = r.ns.spd.find(q);
    if (!e) fail(2);
    if (r.type === M.GETPOLICY) {
      r.ctx.unicast(policyMsg(M.NEWPOLICY, e.policy, id.dir, r.seq, r.portid, true));
      return;
    }
    r.ns.spd.remove(e);
    if (e.policy.offload) this.offload.policyDel(e.policy, r.ns.name);
    if (r.ctx.listening(GRP.POLICY))
      r.ctx.multicast(GRP.POLICY, delPolicyMsg(e.policy, id.dir, id.index !== 0, r.seq, r.pid));
  }

  private expirePolicy(r: Req): void {
    const up = dec<XfrmUserPolexpire>(S.userPolexpire, r.payload, 176);
    const q = this.policyQuery(r, up.pol.sel, up.pol.index, up.pol.dir);
    const e = r.ns.spd.find(q);
    if (!e) fail(2);
    this.userPid = r.pid;
    r.ns.spd.expire(q, up.hard !== 0);
  }

  private flushPolicy(r: Req): void {
    const type = policyType(r.tb);
    const offloaded = r.ns.spd.entries().filter((e) => e.policy.offload);
    const n = r.ns.spd.flush(type);
    const left = new Set(r.ns.spd.entries());
    for (const e of offloaded) if (!left.has(e)) this.offload.policyDel(e.policy, r.ns.name);
    if (n === 0) return;
    r.ctx.multicast(GRP.POLICY, xmsg(M.FLUSHPOLICY, r.seq, r.pid, undefined, [ptypeAttr(type)]));
  }

  /** XFRM_MSG_MIGRATE: the generic checks of `xfrm_do_migrate` / `xfrm_migrate`. */
  private migrate(r: Req): void {
    const id = dec<XfrmUserpolicyId>(S.userpolicyId, r.payload, 64);
    const tb = r.tb;
    if (!tb[17]) fail(22, 'Missing required MIGRATE attribute');
    const type = policyType(tb);
    const n = Math.floor(tb[17].payload.length / 76);
    if (n <= 0 || n > 6) fail(22, 'Invalid number of SAs to migrate, must be 0 < num <= XFRM_MAX_DEPTH (6)');
    const raw = tb[17].payload;
    for (let i = 0; i < n; i++) {
      const mi = raw.subarray(i * 76, i * 76 + 76);
      const nf = mi[74]! | (mi[75]! << 8);
      const zero = (o: number) => mi.subarray(o, o + (nf === AF_INET ? 4 : 16)).every((b) => b === 0);
      if (zero(32) || zero(48)) fail(22, "Addresses in the MIGRATE attribute's list cannot be null");
      for (let j = i + 1; j < n; j++) {
        const mj = raw.subarray(j * 76, j * 76 + 76);
        const same = (a: number, b: number) => mi.subarray(a, b).every((v, k) => v === mj[a + k]);
        if (same(0, 32) && mi[64] === mj[64] && mi[65] === mj[65] && same(68, 74)) {
          fail(22, "Entries in the MIGRATE attribute's list must be unique");
        }
      }
    }
    const ifId = tb[31] ? u32(tb[31].payload) : 0;
    const pol = r.ns.spd
      .entries()
      .find(
        (e) =>
          e.type === type && e.dir === id.dir && e.ifId === ifId && sameSelector(e.policy.info.sel, id.sel),
      );
    if (!pol) fail(2, 'Target policy not found');
    // template and SA migration is not modelled: report it instead of pretending
    fail(95, 'simulator: XFRM_MSG_MIGRATE of existing policies is not modelled');
  }

  // ------------------------------------------------------------------ info / defaults

  private sadInfo(r: Req): void {
    const i = r.ns.sad.info();
    r.ctx.unicast(
      xmsg(M.NEWSADINFO, r.seq, r.portid, u32(r.payload), [
        { name: 'SAD_CNT', value: i.count },
        { name: 'SAD_HINFO', value: { sadhcnt: i.hashSize, sadhmcnt: i.hashMax } },
      ]),
    );
  }

  private spdInfo(r: Req): void {
    const i = r.ns.spd.info();
    r.ctx.unicast(
      xmsg(M.NEWSPDINFO, r.seq, r.portid, u32(r.payload), [
        { name: 'SPD_INFO', value: i.info },
        { name: 'SPD_HINFO', value: { spdhcnt: i.spdhcnt, spdhmcnt: i.spdhmcnt } },
        { name: 'SPD_IPV4_HTHRESH', value: i.ipv4Thresh },
        { name: 'SPD_IPV6_HTHRESH', value: i.ipv6Thresh },
      ]),
    );
  }

  private setSpdInfo(r: Req): void {
    const t4 = r.tb[3]?.payload;
    const t6 = r.tb[4]?.payload;
    if (t4 && (t4[0]! > 32 || t4[1]! > 32)) fail(22, 'Invalid hash threshold (must be <= 32 for IPv4)');
    if (t6 && (t6[0]! > 128 || t6[1]! > 128)) fail(22, 'Invalid hash threshold (must be <= 128 for IPv6)');
    if (t4) r.ns.spd.setHashThresholds(AF_INET, t4[0]!, t4[1]!);
    if (t6) r.ns.spd.setHashThresholds(AF_INET6, t6[0]!, t6[1]!);
  }

  private setDefault(r: Req): void {
    const d = dec<XfrmUserpolicyDefault>(S.userpolicyDefault, r.payload, 3);
    r.ns.spd.setDefault(d);
    r.ctx.multicast(GRP.POLICY, xmsg(M.GETDEFAULT, 0, 0, r.ns.spd.getDefault()));
  }

  private getDefault(r: Req): void {
    r.ctx.unicast(xmsg(M.GETDEFAULT, r.seq, r.portid, r.ns.spd.getDefault()));
  }

  // ------------------------------------------------------------------ invariants

  /**
   * Checks the tables: policy indexes unique with `index & 7 == dir`, SAD keys unique, counts equal
   * to what SPDINFO/SADINFO report. Returns the violations (empty = consistent).
   */
  checkInvariants(): string[] {
    const out: string[] = [];
    for (const ns of this.namespaces.values()) {
      const idx = new Set<number>();
      const counts = [0, 0, 0];
      for (const e of ns.spd.entries()) {
        if (idx.has(e.index)) out.push(`${ns.name}: duplicate policy index ${e.index}`);
        idx.add(e.index);
        if ((e.index & 7) !== e.dir)
          out.push(`${ns.name}: policy index ${e.index} does not encode dir ${e.dir}`);
        if (e.policy.info.index !== e.index)
          out.push(`${ns.name}: stored index ${e.policy.info.index} != ${e.index}`);
        counts[e.dir]!++;
      }
      const si = ns.spd.info().info;
      if (si.incnt !== counts[0] || si.outcnt !== counts[1] || si.fwdcnt !== counts[2]) {
        out.push(`${ns.name}: SPDINFO counts ${si.incnt}/${si.outcnt}/${si.fwdcnt} != ${counts.join('/')}`);
      }
      const keys = new Set<string>();
      const entries = ns.sad.entries();
      for (const e of entries) {
        if (e.spi === 0 || !isSpiProto(e.proto)) continue;
        const k = `${e.family}|${e.d0},${e.d1},${e.d2},${e.d3}|${e.spi}|${e.proto}|${e.markV}/${e.markM}`;
        if (keys.has(k)) out.push(`${ns.name}: duplicate SA key ${k}`);
        keys.add(k);
      }
      if (ns.sad.info().count !== entries.length)
        out.push(`${ns.name}: SADINFO count ${ns.sad.info().count} != ${entries.length}`);
    }
    return out;
  }
}

function decodeAlgo<T>(codec: PayloadCodec<T>, a: TbAttr, head: number): T {
  // the kernel force-terminates alg_name at byte 63 and reads only the key bytes key_len announces
  const b = a.payload.slice();
  b[63] = 0;
  const keyLen = u32(b, 64);
  const need = head + Math.ceil(keyLen / 8);
  return dec(codec, b.subarray(0, need), need);
}

function verifySecCtx(tb: (TbAttr | undefined)[]): void {
  const a = tb[8];
  if (!a) return;
  const b = a.payload;
  const len = b[0]! | (b[1]! << 8);
  const ctxLen = b[6]! | (b[7]! << 8);
  if (len > b.length || len !== 8 + ctxLen) fail(22, 'Invalid security context length');
}

function policyType(tb: (TbAttr | undefined)[]): number {
  const t = tb[16] ? tb[16].payload[0]! : 0;
  if (t !== 0 && t !== 1) fail(22, 'Invalid policy type');
  return t;
}

/**
 * `validate_tmpl`, on the request bytes: like the kernel it writes the policy family into templates
 * whose family is 0 (so an error reply echoes the modified request).
 */
function validateTemplates(raw: Uint8Array, n: number, family: number, dir: number): void {
  let prev = family;
  for (let i = 0; i < n; i++) {
    const t = raw.subarray(i * 64, i * 64 + 64);
    let tf = t[24]! | (t[25]! << 8);
    if (tf === 0) {
      t[24] = family & 0xff;
      t[25] = family >> 8;
      tf = family;
    }
    const mode = t[48]!;
    if (mode === 1 || mode === 4 || mode === 5) {
      if (t[50] && dir === 1) fail(22, 'Mode in optional template not allowed in outbound policy');
    } else if (tf !== prev) fail(22, "Mode in template doesn't support a family change");
    if (mode >= 6) fail(22, 'Mode in template must be < XFRM_MODE_MAX (6)');
    prev = tf;
    if (!validFamily(tf)) fail(22, 'Invalid family in template');
    if (![50, 51, 108, 43, 60].includes(t[20]!)) fail(22, 'Invalid XFRM protocol in template');
  }
}

function sameSelector(a: XfrmSelector, b: XfrmSelector): boolean {
  const ka = S.selector;
  const ba = new Uint8Array(56);
  const bb = new Uint8Array(56);
  ka.encode(a, ba, 0, '');
  ka.encode(b, bb, 0, '');
  return ba.every((v, i) => v === bb[i]);
}

/** `xfrm_state_filter_match` / `addr_match` for the SA dump address filter. */
function filterMatch(f: XfrmAddressFilter, s: XfrmState): boolean {
  if (f.family !== AF_INET && f.family !== AF_INET6) return true;
  if (s.info.family !== f.family) return false;
  return prefixMatch(s.info.saddr, f.saddr, f.splen) && prefixMatch(s.info.id.daddr, f.daddr, f.dplen);
}

function prefixMatch(a: string, b: string, bits: number): boolean {
  const wa = addressWords(a);
  const wb = addressWords(b);
  let left = bits;
  for (let i = 0; i < 4 && left > 0; i++) {
    const n = Math.min(32, left);
    const mask = n === 32 ? 0xffffffff : ~(0xffffffff >>> n) >>> 0;
    if (((wa[i]! ^ wb[i]!) & mask) >>> 0 !== 0) return false;
    left -= n;
  }
  return true;
}

/** Key sizes (bytes) the kernel's ciphers accept, after the nonce salt of the RFC 4106/4309/7539 wrappers. */
const AEAD_KEYS: Record<string, { salt: number; sizes: number[] }> = {
  'rfc4106(gcm(aes))': { salt: 4, sizes: [16, 24, 32] },
  'rfc4543(gcm(aes))': { salt: 4, sizes: [16, 24, 32] },
  'rfc4309(ccm(aes))': { salt: 3, sizes: [16, 24, 32] },
  'rfc7539esp(chacha20,poly1305)': { salt: 4, sizes: [32] },
};
const CRYPT_KEYS: Record<string, (n: number) => boolean> = {
  'ecb(cipher_null)': (n) => n === 0,
  'cbc(des)': (n) => n === 8,
  'cbc(des3_ede)': (n) => n === 24,
  'cbc(cast5)': (n) => n >= 5 && n <= 16,
  'cbc(blowfish)': (n) => n >= 4 && n <= 56,
  'cbc(aes)': (n) => n === 16 || n === 24 || n === 32,
  'cbc(serpent)': (n) => n <= 32,
  'cbc(camellia)': (n) => n === 16 || n === 24 || n === 32,
  'cbc(twofish)': (n) => n === 16 || n === 24 || n === 32,
  'rfc3686(ctr(aes))': (n) => n === 20 || n === 28 || n === 36,
  'cbc(sm4)': (n) => n === 16,
};

function espKeyOk(s: {
  aead?: { name: string; key: Uint8Array };
  crypt?: { name: string; key: Uint8Array };
}): boolean {
  if (s.aead) {
    const k = AEAD_KEYS[s.aead.name];
    if (k && !k.sizes.includes(s.aead.key.length - k.salt)) return false;
  }
  if (s.crypt) {
    const ok = CRYPT_KEYS[s.crypt.name];
    if (ok && !ok(s.crypt.key.length)) return false;
  }
  return true;
}
