/**
 * Security Association Database: the kernel's state tables (`net/xfrm/xfrm_state.c`) as a model.
 *
 * - by-SPI hash (daddr, spi, proto, family) with the mark rule `(mark & sa.m) == sa.v`, allocation-free
 *   numeric lookup (`lookupSpi`) for the datapath;
 * - by-address table (daddr, saddr, proto, family) for protocols without SPI;
 * - by-destination table (family, reqid, daddr) for output SA resolution (`xfrm_state_find`) and
 *   larval (ACQUIRE) state matching;
 * - NEWSA/UPDSA/DELSA/GETSA/FLUSHSA/ALLOCSPI/EXPIRE semantics of xfrm-uapi.md §5.4, §7, §8.5, §8.6;
 * - lifetimes (bytes, packets, add/use time; soft once, hard then delete) on an injectable clock.
 *
 * Bucket order follows `XFRM_STATE_INSERT`: packet-offloaded SAs first, then the others newest first,
 * so the first match is the kernel's first match.
 */

import type { Clock } from '../lifetime/clock.ts';
import { systemClock } from '../lifetime/clock.ts';
import {
  checkVolume,
  evaluateSaTimer,
  hasTimeLimits,
  infiniteLifetime,
  saSoftTimeReached,
} from '../lifetime/lifetime.ts';
import { type Timed, TimerQueue } from '../lifetime/timer-queue.ts';
import { addressWords, type Words4, wordsKey } from '../spd/address-words.ts';
import {
  type CompiledFlow,
  type CompiledSelector,
  checkUint,
  compileFlow,
  compileSelector,
  type Flow,
  saSelectorMatches,
} from '../spd/selector.ts';
import type { XfrmState } from '../types/objects.ts';
import type { Address, XfrmMark, XfrmSelector, XfrmUsersaInfo } from '../types/xfrm.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, IPPROTO, XFRM_OFFLOAD_FLAG, XFRM_STATE_FLAG } from '../types/xfrm.ts';
import { SpiTable } from './spi-table.ts';
import { XfrmError } from './xfrm-error.ts';

/** `km.state` of an SA. */
export type SaKmState = 'acquire' | 'valid' | 'expired' | 'dead';

/** Default `net.core.xfrm_acq_expires`: larval SAs live 30 s. */
export const XFRM_ACQ_EXPIRES = 30;
/** SAD hash limit reported in SADINFO (`sadhmcnt`). */
export const XFRM_STATE_HASHMAX = 1_048_576;

/** One SA in the table. `state` is the stored record; treat it as read-only outside the SAD. */
export interface SadEntry extends Timed {
  readonly state: XfrmState;
  kmState: SaKmState;
  /** soft-expired (`km.dying`). */
  dying: boolean;
  /** insertion serial: larger = added later. */
  readonly serial: number;
  readonly family: number;
  readonly proto: number;
  spi: number;
  readonly d0: number;
  readonly d1: number;
  readonly d2: number;
  readonly d3: number;
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
  readonly s3: number;
  /** stored mark, signed 32-bit views, v already `&= m`. */
  readonly markV: number;
  readonly markM: number;
  readonly reqid: number;
  readonly mode: number;
  ifId: number;
  readonly packetOffload: boolean;
  /** compiled selector (for output resolution). */
  sel: CompiledSelector;
  selFamily: number;
  inSpiHash: boolean;
  readonly dstKey: string;
  readonly addrKey: string;
}

export type SaExpireReason = 'time' | 'bytes-or-packets' | 'larval-timeout' | 'user';

export interface SaExpireEvent {
  hard: boolean;
  reason: SaExpireReason;
  /** snapshot of the SA at the moment of the event. */
  state: XfrmState;
}

export interface SadOptions {
  clock?: Clock;
  /** uniform random u32 source (ALLOCSPI); defaults to Math.random. */
  randomU32?: () => number;
  /** larval SA lifetime (sysctl xfrm_acq_expires), seconds. */
  acqExpires?: number;
  /** first value of the global acquire sequence counter (never 0). */
  acqSeqStart?: number;
}

/** (daddr, spi, proto, family) [+ saddr for protocols without SPI]. */
export interface SaId {
  daddr: Address;
  spi: number;
  proto: number;
  family: number;
  /** XFRMA_SRCADDR; required for protocols other than ESP/AH/COMP. */
  saddr?: Address;
}

export interface SadInsertResult {
  entry: SadEntry;
  /** larval SA that the new one replaced (deleted without notification). */
  replaced?: XfrmState;
}

/** Template/flow for output SA resolution (`xfrm_state_find`). */
export interface OutputQuery {
  /** encapsulation family (template family). */
  family: number;
  daddr: Address;
  saddr: Address;
  reqid: number;
  mode: number;
  proto: number;
  /** template SPI, 0 = any. */
  spi?: number;
  /** policy mark value & mask. */
  mark?: number;
  ifId?: number;
  /** the packet's flow; when given, SA selectors must match it. */
  flow?: Flow;
}

export interface OutputResult {
  sa?: SadEntry;
  /** a larval SA for this template exists (ACQUIRE in progress). */
  acquireInProgress: boolean;
  /** an expired/error SA matched: `ESRCH`. */
  error?: 'ESRCH';
}

export interface AllocSpiRequest {
  info: XfrmUsersaInfo;
  min: number;
  max: number;
  mark?: XfrmMark;
  ifId?: number;
  /** XFRMA_SA_DIR to store on success. */
  dir?: number;
}

export interface SadInfo {
  /** SAs including larval ones. */
  count: number;
  /** kernel hash size (`sadhcnt`): 8, doubling as the table fills. */
  hashSize: number;
  hashMax: number;
}

export function isSpiProto(proto: number): boolean {
  return proto === IPPROTO.ESP || proto === IPPROTO.AH || proto === IPPROTO.COMP;
}

/** `xfrm_id_proto_match(proto, userproto)`. */
export function protoMatches(proto: number, userproto: number): boolean {
  return userproto === 0 || proto === userproto || (userproto === 255 && isSpiProto(proto));
}

function cloneState(s: XfrmState): XfrmState {
  return structuredClone(s);
}

function checkFamily(family: unknown): number {
  if (family !== AF_INET && family !== AF_INET6) throw new XfrmError('EINVAL', 'Invalid address family');
  return family;
}

function markOf(m: XfrmMark | undefined): { v: number; m: number } {
  if (m === undefined) return { v: 0, m: 0 };
  const v = checkUint(m.v, 32, 'mark value');
  const mm = checkUint(m.m, 32, 'mark mask');
  return { v, m: mm };
}

export class Sad {
  private readonly clock: Clock;
  private readonly randomU32: () => number;
  private readonly acqExpires: number;
  private acqSeq: number;
  private serial = 0;
  /** by-SPI hash for the datapath (`spi-table.ts`). */
  private readonly bySpi = new SpiTable<SadEntry>(insertOrdered);
  /** (proto·2^32 + spi) → number of hashed SAs using it (ALLOCSPI uniqueness). */
  private readonly spiUse = new Map<number, number>();
  private readonly byAddr = new Map<string, SadEntry[]>();
  private readonly byDst = new Map<string, SadEntry[]>();
  private readonly all = new Set<SadEntry>();
  private readonly larval = new Set<SadEntry>();
  private readonly timers = new TimerQueue<SadEntry>();
  private readonly listeners: ((ev: SaExpireEvent) => void)[] = [];
  private kernelHashSize = 8;

  constructor(opts: SadOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.randomU32 = opts.randomU32 ?? (() => Math.floor(Math.random() * 0x1_0000_0000));
    this.acqExpires = opts.acqExpires ?? XFRM_ACQ_EXPIRES;
    this.acqSeq = (opts.acqSeqStart ?? 1) >>> 0 || 1;
  }

  /** Number of SAs (larval included). */
  get size(): number {
    return this.all.size;
  }

  /** Registers an EXPIRE listener (soft/hard lifetime events, larval timeouts, user EXPIRE). */
  onExpire(listener: (ev: SaExpireEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** SADINFO. */
  info(): SadInfo {
    return { count: this.all.size, hashSize: this.kernelHashSize, hashMax: XFRM_STATE_HASHMAX };
  }

  /** All SAs, newest first (dump order). */
  entries(): SadEntry[] {
    return [...this.all].reverse();
  }

  private nowSec(): bigint {
    return BigInt(Math.floor(this.clock.now()));
  }

  // ---------------------------------------------------------------- construction

  private makeEntry(state: XfrmState, kmState: SaKmState): SadEntry {
    const info = state.info;
    const family = checkFamily(info.family);
    const proto = checkUint(info.id.proto, 8, 'proto');
    const spi = checkUint(info.id.spi, 32, 'spi');
    const d: Words4 = addressWords(info.id.daddr);
    const s: Words4 = addressWords(info.saddr);
    const v4 = family === AF_INET;
    const mk = markOf(state.mark);
    const reqid = checkUint(info.reqid, 32, 'reqid');
    const mode = checkUint(info.mode, 8, 'mode');
    const ifId = checkUint(state.ifId ?? 0, 32, 'if_id');
    const selFamily = info.sel.family;
    const sel = compileSelector(info.sel, selFamily === AF_UNSPEC ? family : selFamily);
    const dk = wordsKey(v4 ? [d[0], 0, 0, 0] : d);
    const sk = wordsKey(v4 ? [s[0], 0, 0, 0] : s);
    return {
      state,
      kmState,
      dying: false,
      serial: ++this.serial,
      family,
      proto,
      spi,
      d0: d[0],
      d1: v4 ? 0 : d[1],
      d2: v4 ? 0 : d[2],
      d3: v4 ? 0 : d[3],
      s0: s[0],
      s1: v4 ? 0 : s[1],
      s2: v4 ? 0 : s[2],
      s3: v4 ? 0 : s[3],
      // xfrm_mark_get() copies the attribute as is (it only returns v & m): an SA whose v has bits
      // outside m is stored that way and can never match a lookup (observed on 6.18)
      markV: mk.v | 0,
      markM: mk.m | 0,
      reqid,
      mode,
      ifId,
      packetOffload: state.offload !== undefined && (state.offload.flags & XFRM_OFFLOAD_FLAG.PACKET) !== 0,
      sel,
      selFamily,
      inSpiHash: false,
      dstKey: `${family}|${reqid}|${dk}`,
      addrKey: `${family}|${proto}|${dk}|${sk}`,
      timerGen: 0,
    };
  }

  /** Normalises a user state the way `xfrm_state_construct` stores it. */
  private normalise(input: XfrmState): XfrmState {
    if (
      input === null ||
      typeof input !== 'object' ||
      input.info === null ||
      typeof input.info !== 'object'
    ) {
      throw new XfrmError('EINVAL', 'state must be an object with info');
    }
    let s: XfrmState;
    try {
      s = cloneState(input);
    } catch {
      throw new XfrmError('EINVAL', 'state is not cloneable');
    }
    const info = s.info;
    checkFamily(info.family);
    if (info.sel.family === AF_UNSPEC && (info.flags & XFRM_STATE_FLAG.AF_UNSPEC) === 0) {
      info.sel = { ...info.sel, family: info.family };
    }
    if (s.mark !== undefined) {
      const mk = markOf(s.mark);
      s.mark = { v: mk.v >>> 0, m: mk.m };
    }
    // legacy replay: window capped to 32 when stored (xfrm-uapi.md §5.2)
    if (s.replayEsn === undefined && info.replayWindow > 32) info.replayWindow = 32;
    info.curlft = { bytes: 0n, packets: 0n, addTime: this.nowSec(), useTime: 0n };
    info.stats = { replayWindow: 0, replay: 0, integrityFailed: 0 };
    return s;
  }

  // ---------------------------------------------------------------- table maintenance

  private insert(e: SadEntry): void {
    this.all.add(e);
    if (e.kmState === 'acquire') this.larval.add(e);
    pushOrdered(this.byDst, e.dstKey, e);
    pushOrdered(this.byAddr, e.addrKey, e);
    if (e.spi !== 0 && isSpiProto(e.proto)) this.insertSpi(e);
    if (this.all.size > this.kernelHashSize - 1 && this.kernelHashSize < XFRM_STATE_HASHMAX)
      this.kernelHashSize *= 2;
    this.armTimer(e, Math.floor(this.clock.now()));
  }

  private insertSpi(e: SadEntry): void {
    this.bySpi.add(e);
    e.inSpiHash = true;
    const k = e.proto * 0x1_0000_0000 + e.spi;
    this.spiUse.set(k, (this.spiUse.get(k) ?? 0) + 1);
  }

  private removeSpi(e: SadEntry): void {
    if (!this.bySpi.remove(e)) return;
    e.inSpiHash = false;
    const k = e.proto * 0x1_0000_0000 + e.spi;
    const n = (this.spiUse.get(k) ?? 1) - 1;
    if (n <= 0) this.spiUse.delete(k);
    else this.spiUse.set(k, n);
  }

  private unlink(e: SadEntry): void {
    if (!this.all.delete(e)) return;
    this.larval.delete(e);
    removeFrom(this.byDst, e.dstKey, e);
    removeFrom(this.byAddr, e.addrKey, e);
    if (e.inSpiHash) this.removeSpi(e);
    this.timers.cancel(e);
    e.kmState = 'dead';
  }

  private emit(e: SadEntry, hard: boolean, reason: SaExpireReason): void {
    const ev: SaExpireEvent = { hard, reason, state: cloneState(e.state) };
    for (const l of [...this.listeners]) l(ev);
  }

  private armTimer(e: SadEntry, now: number): void {
    const lft = e.state.info.lft;
    if (!hasTimeLimits(lft)) {
      this.timers.cancel(e);
      return;
    }
    const v = evaluateSaTimer(lft, e.state.info.curlft, BigInt(now), e.dying);
    // a verdict due now is handled by the next tick()
    const at = v.hard || v.soft ? now : now + v.next;
    this.timers.arm(e, at);
  }

  // ---------------------------------------------------------------- lookups

  /**
   * Datapath lookup by (daddr words, spi, proto, family) with the skb mark: no allocation.
   * `d1..d3` are ignored for IPv4. Returns the first match in kernel bucket order.
   */
  lookupSpi(
    family: number,
    d0: number,
    d1: number,
    d2: number,
    d3: number,
    spi: number,
    proto: number,
    mark: number,
  ): SadEntry | undefined {
    return this.bySpi.lookup(family, d0, d1, d2, d3, spi, proto, mark);
  }

  /** Convenience form of `lookupSpi` (`mark` is the lookup mark, e.g. `req.v & req.m`). */
  lookup(daddr: Address, spi: number, proto: number, family: number, mark = 0): SadEntry | undefined {
    checkFamily(family);
    const d = addressWords(daddr);
    return this.lookupSpi(family, d[0], d[1], d[2], d[3], checkUint(spi, 32, 'spi'), proto, mark | 0);
  }

  /** `__xfrm_state_lookup_byaddr`: (daddr, saddr, proto, family, mark). */
  lookupByAddr(
    daddr: Address,
    saddr: Address,
    proto: number,
    family: number,
    mark = 0,
  ): SadEntry | undefined {
    checkFamily(family);
    const d = addressWords(daddr);
    const s = addressWords(saddr);
    const v4 = family === AF_INET;
    const key = `${family}|${proto}|${wordsKey(v4 ? [d[0], 0, 0, 0] : d)}|${wordsKey(v4 ? [s[0], 0, 0, 0] : s)}`;
    const list = this.byAddr.get(key);
    if (list === undefined) return undefined;
    const m = mark | 0;
    for (const e of list) if ((m & e.markM) === e.markV) return e;
    return undefined;
  }

  /** `xfrm_user_state_lookup`: the GET/DEL rule (mark = req.v & req.m; saddr needed for non-SPI protos). */
  find(id: SaId, mark?: XfrmMark): SadEntry | undefined {
    if (id === null || typeof id !== 'object') throw new XfrmError('EINVAL', 'SA id must be an object');
    const mk = markOf(mark);
    const lookupMark = (mk.v & mk.m) | 0;
    const proto = checkUint(id.proto, 8, 'proto');
    if (isSpiProto(proto)) return this.lookup(id.daddr, id.spi, proto, id.family, lookupMark);
    if (id.saddr === undefined) throw new XfrmError('EINVAL');
    return this.lookupByAddr(id.daddr, id.saddr, proto, id.family, lookupMark);
  }

  /** GETSA: the SA or `ESRCH`. */
  get(id: SaId, mark?: XfrmMark): SadEntry {
    const e = this.find(id, mark);
    if (e === undefined) throw new XfrmError('ESRCH');
    return e;
  }

  /** The SA that collides with `e` for NEWSA/UPDSA (`__xfrm_state_locate`). */
  private locate(e: SadEntry): SadEntry | undefined {
    // the lookup key is v & m (xfrm_state_add), compared against the stored (unmasked) values
    if (isSpiProto(e.proto))
      return this.lookupSpi(e.family, e.d0, e.d1, e.d2, e.d3, e.spi, e.proto, e.markV & e.markM);
    const list = this.byAddr.get(e.addrKey);
    if (list === undefined) return undefined;
    for (const x of list) if ((e.markV & e.markM & x.markM) === x.markV) return x;
    return undefined;
  }

  private findAcqBySeq(seq: number, mark: number): SadEntry | undefined {
    for (const x of this.larval) {
      if (x.state.info.seq === seq && (mark & x.markM) === x.markV && x.kmState === 'acquire') return x;
    }
    return undefined;
  }

  /** `__find_acq_core` without creation. */
  private findAcqCore(
    family: number,
    mode: number,
    reqid: number,
    ifId: number,
    proto: number,
    d: Words4,
    s: Words4,
    mark: number,
  ): SadEntry | undefined {
    const v4 = family === AF_INET;
    const list = this.byDst.get(`${family}|${reqid}|${wordsKey(v4 ? [d[0], 0, 0, 0] : d)}`);
    if (list === undefined) return undefined;
    for (const x of list) {
      if (
        x.mode === mode &&
        x.kmState === 'acquire' &&
        x.spi === 0 &&
        x.proto === proto &&
        x.ifId === ifId &&
        (mark & x.markM) === x.markV &&
        x.s0 === s[0] &&
        (v4 || (x.s1 === s[1] && x.s2 === s[2] && x.s3 === s[3]))
      )
        return x;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- NEWSA / UPDSA / DELSA

  /** NEWSA (`xfrm_state_add`). Throws `EEXIST` if an SA with the same key exists (any state). */
  add(input: XfrmState): SadInsertResult {
    const s = this.normalise(input);
    const e = this.makeEntry(s, 'valid');
    if (this.locate(e) !== undefined) {
      this.serial--;
      throw new XfrmError('EEXIST');
    }
    let x1: SadEntry | undefined;
    if (isSpiProto(e.proto)) {
      const seq = s.info.seq >>> 0;
      if (seq !== 0) {
        x1 = this.findAcqBySeq(seq, e.markV & e.markM);
        if (x1 !== undefined && (x1.proto !== e.proto || !sameDaddr(x1, e))) x1 = undefined;
      }
      if (x1 === undefined) {
        x1 = this.findAcqCore(
          e.family,
          e.mode,
          e.reqid,
          e.ifId,
          e.proto,
          [e.d0, e.d1, e.d2, e.d3],
          [e.s0, e.s1, e.s2, e.s3],
          e.markV & e.markM,
        );
      }
    }
    this.insert(e);
    if (x1 !== undefined) {
      this.unlink(x1);
      return { entry: e, replaced: x1.state };
    }
    return { entry: e };
  }

  /**
   * UPDSA (`xfrm_state_update`): `ESRCH` if no SA has the key or the direction differs; a larval SA
   * is replaced by the new one; otherwise only encap (same type), coaddr, selector (non-SPI protos),
   * lifetimes, set-mark and if_id (when non-zero) are copied into the existing SA.
   */
  update(input: XfrmState): SadInsertResult {
    const s = this.normalise(input);
    const e = this.makeEntry(s, 'valid');
    this.serial--;
    const x1 = this.locate(e);
    if (x1 === undefined) throw new XfrmError('ESRCH');
    const newDir = s.dir ?? 0;
    const oldDir = x1.state.dir ?? 0;
    if (x1.kmState === 'acquire') {
      if (newDir !== 0 && oldDir !== newDir) throw new XfrmError('ESRCH');
      const fresh = this.makeEntry(s, 'valid');
      this.insert(fresh);
      this.unlink(x1);
      return { entry: fresh, replaced: x1.state };
    }
    if (oldDir !== newDir) throw new XfrmError('ESRCH');
    if (x1.kmState !== 'valid') throw new XfrmError('EINVAL');
    const old = x1.state;
    if (s.encap !== undefined && old.encap !== undefined && s.encap.encapType === old.encap.encapType) {
      old.encap = { ...s.encap };
    } else if (s.encap !== undefined || old.encap !== undefined) {
      throw new XfrmError('EINVAL');
    }
    if (s.coaddr !== undefined && old.coaddr !== undefined) old.coaddr = s.coaddr;
    if (!isSpiProto(x1.proto)) {
      old.info.sel = { ...s.info.sel };
      x1.sel = compileSelector(
        old.info.sel,
        old.info.sel.family === AF_UNSPEC ? x1.family : old.info.sel.family,
      );
      x1.selFamily = old.info.sel.family;
    }
    old.info.lft = { ...s.info.lft };
    x1.dying = false;
    const now = Math.floor(this.clock.now());
    // the kernel restarts the timer in 1 s
    this.timers.arm(x1, hasTimeLimits(old.info.lft) ? now + 1 : Number.POSITIVE_INFINITY);
    if (old.info.curlft.useTime !== 0n) this.checkExpire(x1);
    if ((s.setMark ?? 0) !== 0 || (s.setMarkMask ?? 0) !== 0) {
      old.setMark = s.setMark ?? 0;
      old.setMarkMask = s.setMarkMask ?? 0;
    }
    if ((s.ifId ?? 0) !== 0) {
      old.ifId = s.ifId;
      x1.ifId = s.ifId ?? 0;
    }
    return { entry: x1 };
  }

  /** DELSA: removes and returns the SA, `ESRCH` if absent. */
  delete(id: SaId, mark?: XfrmMark): XfrmState {
    const e = this.get(id, mark);
    this.unlink(e);
    return e.state;
  }

  /** Removes a specific entry (e.g. device down flush). Returns false if it was not in the table. */
  remove(e: SadEntry): boolean {
    if (!this.all.has(e)) return false;
    this.unlink(e);
    return true;
  }

  /** FLUSHSA: deletes SAs whose proto matches (0 = all, 255 = ESP/AH/COMP). Returns how many. */
  flush(proto = 0): number {
    const p = checkUint(proto, 8, 'proto');
    let n = 0;
    for (const e of [...this.all]) {
      if (protoMatches(e.proto, p)) {
        this.unlink(e);
        n++;
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- ALLOCSPI / ACQUIRE

  private createLarval(
    family: number,
    mode: number,
    reqid: number,
    ifId: number,
    proto: number,
    daddr: Address,
    saddr: Address,
    mark: { v: number; m: number },
    sel?: XfrmSelector,
    acquireSeq = true,
  ): SadEntry {
    const bits = family === AF_INET ? 32 : 128;
    const state: XfrmState = {
      info: {
        sel: sel ?? {
          daddr,
          saddr,
          dport: 0,
          dportMask: 0,
          sport: 0,
          sportMask: 0,
          family: AF_UNSPEC,
          prefixlenD: bits,
          prefixlenS: bits,
          proto: 0,
          ifindex: 0,
          user: 0,
        },
        id: { daddr, spi: 0, proto },
        saddr,
        lft: { ...infiniteLifetime(), hardAddExpiresSeconds: BigInt(this.acqExpires) },
        curlft: { bytes: 0n, packets: 0n, addTime: this.nowSec(), useTime: 0n },
        stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
        // ALLOCSPI's larval SAs (__find_acq_core) have km.seq 0; only ACQUIRE assigns one
        seq: acquireSeq ? this.nextAcqSeq() : 0,
        reqid,
        family,
        mode,
        replayWindow: 0,
        flags: 0,
      },
    };
    if (mark.v !== 0 || mark.m !== 0) state.mark = { v: mark.v >>> 0, m: mark.m };
    if (ifId !== 0) state.ifId = ifId;
    const e = this.makeEntry(state, 'acquire');
    this.insert(e);
    return e;
  }

  private nextAcqSeq(): number {
    const v = this.acqSeq;
    this.acqSeq = (this.acqSeq + 1) >>> 0 || 1;
    return v;
  }

  /**
   * ALLOCSPI (`xfrm_alloc_userspi`): finds or creates the larval SA and gives it a random unused SPI
   * in [min, max] (unique per proto across the table). On `ENOENT` the larval SA stays.
   */
  allocSpi(req: AllocSpiRequest): SadEntry {
    if (req === null || typeof req !== 'object' || req.info === null || typeof req.info !== 'object') {
      throw new XfrmError('EINVAL', 'ALLOCSPI request must carry info');
    }
    const info = req.info;
    const proto = info.id?.proto;
    if (proto !== IPPROTO.AH && proto !== IPPROTO.ESP && proto !== IPPROTO.COMP) {
      throw new XfrmError('EINVAL', 'Invalid protocol, must be one of AH, ESP, IPCOMP');
    }
    const min = checkUint(req.min, 32, 'min');
    const max = checkUint(req.max, 32, 'max');
    if (proto === IPPROTO.COMP && max >= 0x10000)
      throw new XfrmError('EINVAL', 'IPCOMP SPI must be <= 65535');
    if (min > max) throw new XfrmError('EINVAL', 'Invalid SPI range: min > max');
    const family = checkFamily(info.family);
    const mk = markOf(req.mark);
    const mark = (mk.v & mk.m) | 0;
    const d = addressWords(info.id.daddr);
    const s = addressWords(info.saddr);
    const ifId = checkUint(req.ifId ?? 0, 32, 'if_id');
    const reqid = checkUint(info.reqid, 32, 'reqid');
    const mode = checkUint(info.mode, 8, 'mode');
    let x: SadEntry | undefined;
    const seq = checkUint(info.seq, 32, 'seq');
    if (seq !== 0) {
      x = this.findAcqBySeq(seq, mark);
      if (
        x !== undefined &&
        !(x.d0 === d[0] && (family === AF_INET || (x.d1 === d[1] && x.d2 === d[2] && x.d3 === d[3])))
      )
        x = undefined;
    }
    if (x === undefined) x = this.findAcqCore(family, mode, reqid, ifId, proto, d, s, mark);
    if (x === undefined)
      x = this.createLarval(
        family,
        mode,
        reqid,
        ifId,
        proto,
        info.id.daddr,
        info.saddr,
        mk,
        undefined,
        false,
      );
    if (x.kmState === 'dead') throw new XfrmError('ENOENT', 'Target ACQUIRE is in DEAD state');
    if (x.spi !== 0) return x;
    // u32 arithmetic like the kernel: the full range 0..0xffffffff wraps to 0 tries
    const range = (max - min + 1) >>> 0;
    let chosen = -1;
    for (let i = 0; i < range; i++) {
      const spi = min === max ? min : min + ((this.randomU32() >>> 0) % range);
      if (spi === 0) continue;
      if (!this.spiInUse(spi, proto)) {
        chosen = spi;
        break;
      }
    }
    if (chosen < 0) throw new XfrmError('ENOENT', 'No SPI available in the requested range');
    x.spi = chosen;
    x.state.info.id = { ...x.state.info.id, spi: chosen };
    if (req.dir !== undefined && req.dir !== 0) x.state.dir = req.dir;
    this.insertSpi(x);
    return x;
  }

  /** True if any SA of `proto` (any daddr, any family) uses `spi` (`xfrm_state_lookup_spi_proto`). */
  spiInUse(spi: number, proto: number): boolean {
    return this.spiUse.has(proto * 0x1_0000_0000 + spi);
  }

  /**
   * Creates the larval SA that an outbound packet without SA triggers (the SA half of ACQUIRE):
   * selector = the flow as host addresses, lifetime hard_add = acq_expires, a fresh acquire seq.
   */
  acquire(q: OutputQuery): SadEntry {
    const family = checkFamily(q.family);
    const mk = { v: (q.mark ?? 0) >>> 0, m: (q.mark ?? 0) === 0 ? 0 : 0xffffffff };
    let sel: XfrmSelector | undefined;
    if (q.flow !== undefined) {
      const f = q.flow;
      const bits = f.family === AF_INET ? 32 : 128;
      sel = {
        daddr: f.daddr,
        saddr: f.saddr,
        dport: f.dport ?? 0,
        dportMask: f.dport ? 0xffff : 0,
        sport: f.sport ?? 0,
        sportMask: f.sport ? 0xffff : 0,
        family: f.family,
        prefixlenD: bits,
        prefixlenS: bits,
        proto: f.proto ?? 0,
        ifindex: f.ifindex ?? 0,
        user: 0,
      };
    }
    return this.createLarval(
      family,
      checkUint(q.mode, 8, 'mode'),
      checkUint(q.reqid, 32, 'reqid'),
      checkUint(q.ifId ?? 0, 32, 'if_id'),
      checkUint(q.proto, 8, 'proto'),
      q.daddr,
      q.saddr,
      mk,
      sel,
    );
  }

  /**
   * Output SA resolution for one template (`xfrm_state_find` + `xfrm_state_look_at`): VALID SAs
   * matching (family, reqid, mark, if_id, !WILDRECV, daddr, saddr-or-wildcard, mode, proto, spi) whose
   * selector matches the flow; preference: not dying, then most recently added.
   */
  findOutput(q: OutputQuery): OutputResult {
    const family = checkFamily(q.family);
    const d = addressWords(q.daddr);
    const s = addressWords(q.saddr);
    const v4 = family === AF_INET;
    const reqid = checkUint(q.reqid, 32, 'reqid');
    const list = this.byDst.get(`${family}|${reqid}|${wordsKey(v4 ? [d[0], 0, 0, 0] : d)}`);
    const result: OutputResult = { acquireInProgress: false };
    if (list === undefined) return result;
    const mark = (q.mark ?? 0) | 0;
    const ifId = q.ifId ?? 0;
    const tmplSpi = q.spi ?? 0;
    const flow: CompiledFlow | undefined = q.flow === undefined ? undefined : compileFlow(q.flow);
    const sZero = s[0] === 0 && (v4 || (s[1] === 0 && s[2] === 0 && s[3] === 0));
    let best: SadEntry | undefined;
    for (const x of list) {
      const xsZero = x.s0 === 0 && (v4 || (x.s1 === 0 && x.s2 === 0 && x.s3 === 0));
      const saddrOk =
        sZero || xsZero || (x.s0 === s[0] && (v4 || (x.s1 === s[1] && x.s2 === s[2] && x.s3 === s[3])));
      if (
        !saddrOk ||
        (mark & x.markM) !== x.markV ||
        x.ifId !== ifId ||
        (x.state.info.flags & XFRM_STATE_FLAG.WILDRECV) !== 0 ||
        x.mode !== q.mode ||
        x.proto !== q.proto ||
        (tmplSpi !== 0 && x.spi !== tmplSpi)
      )
        continue;
      const selOk = flow === undefined || saSelectorMatches(x.selFamily, x.sel, flow);
      if (x.kmState === 'valid') {
        if (!selOk) continue;
        if (
          best === undefined ||
          (best.dying && !x.dying) ||
          (best.dying === x.dying && best.state.info.curlft.addTime < x.state.info.curlft.addTime)
        )
          best = x;
      } else if (x.kmState === 'acquire') {
        result.acquireInProgress = true;
      } else if (x.kmState === 'expired' && selOk) {
        result.error = 'ESRCH';
      }
    }
    if (best !== undefined) {
      result.sa = best;
      delete result.error;
    }
    return result;
  }

  // ---------------------------------------------------------------- lifetimes and statistics

  /** `xfrm_state_check_expire` without counting a packet. Returns false if the SA hard-expired. */
  private checkExpire(e: SadEntry): boolean {
    const cur = e.state.info.curlft;
    const v = checkVolume(e.state.info.lft, cur, e.dying);
    if (v === 'hard') {
      if (!e.dying) {
        // limits crossed in one step: report the soft limit once before the hard one
        const lft = e.state.info.lft;
        if (lft.softByteLimit <= cur.bytes || lft.softPacketLimit <= cur.packets) {
          e.dying = true;
          this.emit(e, false, 'bytes-or-packets');
        }
      }
      e.kmState = 'expired';
      this.unlink(e);
      this.emit(e, true, 'bytes-or-packets');
      return false;
    }
    if (v === 'soft') {
      e.dying = true;
      this.emit(e, false, 'bytes-or-packets');
    }
    return true;
  }

  /**
   * Counts `packets` packets of `bytes` total on a VALID SA (input or output path). The limits are
   * checked *before* counting, like the kernel: returns false (packet dropped, SA hard-expired and
   * deleted) when the counters already reached a hard limit.
   */
  account(e: SadEntry, bytes: number, packets = 1): boolean {
    if (e.kmState !== 'valid') return false;
    const cur = e.state.info.curlft;
    const now = Math.floor(this.clock.now());
    if (cur.useTime === 0n) {
      cur.useTime = BigInt(now);
      const lft = e.state.info.lft;
      if (lft.softUseExpiresSeconds !== 0n || lft.hardUseExpiresSeconds !== 0n) this.armTimer(e, now);
    }
    if (!this.checkExpire(e)) return false;
    cur.bytes += BigInt(bytes);
    cur.packets += BigInt(packets);
    e.state.lastused = BigInt(now);
    return true;
  }

  /** A replayed packet was dropped (`stats.replay++`). */
  recordReplay(e: SadEntry, n = 1): void {
    e.state.info.stats.replay = (e.state.info.stats.replay + n) >>> 0;
  }

  /** A packet outside the replay window was dropped (`stats.replay_window++`). */
  recordReplayWindow(e: SadEntry, n = 1): void {
    e.state.info.stats.replayWindow = (e.state.info.stats.replayWindow + n) >>> 0;
  }

  /** ICV check failed (`stats.integrity_failed++`). */
  recordIntegrityFailure(e: SadEntry, n = 1): void {
    e.state.info.stats.integrityFailed = (e.state.info.stats.integrityFailed + n) >>> 0;
  }

  /** Sets counters reported by an offloading device (NEWAE-style assignment, not addition). */
  setCounters(e: SadEntry, bytes: bigint, packets: bigint): boolean {
    e.state.info.curlft.bytes = bytes;
    e.state.info.curlft.packets = packets;
    return this.checkExpire(e);
  }

  /**
   * User EXPIRE message: `ENOENT` if missing, `EINVAL` "SA must be in VALID state" for larval SAs;
   * emits the EXPIRE event and, for hard, deletes the SA.
   */
  expire(id: SaId, hard: boolean, mark?: XfrmMark): void {
    const e = this.find(id, mark);
    if (e === undefined) throw new XfrmError('ENOENT');
    if (e.kmState !== 'valid') throw new XfrmError('EINVAL', 'SA must be in VALID state');
    if (hard) this.unlink(e);
    else e.dying = true;
    this.emit(e, hard, 'user');
  }

  /** Runs the due SA timers at the clock's current time. Returns the number of events emitted. */
  tick(): number {
    const nowN = Math.floor(this.clock.now());
    const due = this.timers.popDue(nowN);
    if (due.length === 0) return 0;
    const now = BigInt(nowN);
    let events = 0;
    for (const e of due) {
      if (!this.all.has(e)) continue;
      const info = e.state.info;
      const v = evaluateSaTimer(info.lft, info.curlft, now, e.dying);
      if (v.hard) {
        const larval = e.kmState === 'acquire';
        if (!larval && !e.dying && saSoftTimeReached(info.lft, info.curlft, now)) {
          e.dying = true;
          this.emit(e, false, 'time');
          events++;
        }
        if (larval && e.spi === 0) e.kmState = 'expired';
        this.unlink(e);
        this.emit(e, true, larval ? 'larval-timeout' : 'time');
        events++;
        continue;
      }
      if (v.soft) {
        e.dying = true;
        this.emit(e, false, 'time');
        events++;
      }
      this.timers.arm(e, nowN + (v.soft ? evaluateSaTimer(info.lft, info.curlft, now, true).next : v.next));
    }
    return events;
  }

  /** Earliest pending timer (seconds, Infinity if none). */
  nextTimer(): number {
    return this.timers.peek();
  }
}

function sameDaddr(a: SadEntry, b: SadEntry): boolean {
  return a.d0 === b.d0 && a.d1 === b.d1 && a.d2 === b.d2 && a.d3 === b.d3;
}

/** Kernel bucket order: packet-offloaded SAs first, then the rest newest first. */
function insertOrdered(list: SadEntry[], e: SadEntry): void {
  if (e.packetOffload) {
    list.unshift(e);
    return;
  }
  let i = 0;
  while (i < list.length && list[i]!.packetOffload) i++;
  list.splice(i, 0, e);
}

function pushOrdered(map: Map<string, SadEntry[]>, key: string, e: SadEntry): void {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  insertOrdered(list, e);
}

function removeFrom(map: Map<string, SadEntry[]>, key: string, e: SadEntry): void {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(e);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
