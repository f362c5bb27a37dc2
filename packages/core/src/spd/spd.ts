/**
 * Security Policy Database: the kernel's policy tables (`net/xfrm/xfrm_policy.c`) as a model.
 *
 * Semantics (xfrm-uapi.md §6, §7.4–7.6, §8.1/8.4, §11):
 * - chains per (type, dir); order: packet-offloaded policies first, then ascending priority, ties
 *   oldest first (an UPDPOLICY replacement counts as new but keeps the old index);
 * - identity = dir + type + if_id + exact sanitised mark + byte-identical selector + security context
 *   (not priority): NEWPOLICY → EEXIST, UPDPOLICY replaces;
 * - index generation `gen | dir`, gen += 8, 0 → 8, collisions skipped, a free user index is kept;
 * - lookup: SUB type first, then MAIN; default policy per direction when nothing matches.
 *
 * Lookup structure, per (type, dir, family): `chain-index.ts` — policies in chain-ordered lists of
 * typed records, by destination cell (/16 for IPv4, /32 for IPv6) for the prefixes at least that long,
 * and in a tuple-space search over the shorter prefixes; a lookup reads the short-prefix tables and
 * one cell, whatever the number of policies. Identity (EEXIST/replace) is a hash table on the
 * identity fields (`policy-identity.ts`).
 */

import type { Clock } from '../lifetime/clock.ts';
import { systemClock } from '../lifetime/clock.ts';
import { evaluatePolicyTimer, hasTimeLimits } from '../lifetime/lifetime.ts';
import { type Timed, TimerQueue } from '../lifetime/timer-queue.ts';
import { XfrmError } from '../sad/xfrm-error.ts';
import type { XfrmPolicy } from '../types/objects.ts';
import type { XfrmMark, XfrmSelector, XfrmUserSecCtx, XfrmuSpdinfo } from '../types/xfrm.ts';
import {
  AF_INET,
  AF_INET6,
  IPPROTO,
  XFRM_MODE,
  XFRM_OFFLOAD_FLAG,
  XFRM_POLICY_DIR,
  XFRM_POLICY_TYPE,
  XFRM_USERPOLICY,
} from '../types/xfrm.ts';
import { addressWords, type Words4 } from './address-words.ts';
import { ChainIndex, type ChainIndexOptions } from './chain-index.ts';
import { clonePlain } from './clone.ts';
import { type IdentityFields, IdentityTable, identityHash } from './policy-identity.ts';
import {
  type CompiledFlow,
  type CompiledSelector,
  checkUint,
  compileFlow,
  compileSelector,
  type Flow,
} from './selector.ts';

export { selectorKey } from './policy-identity.ts';

export const XFRM_MAX_DEPTH = 6;
export const XFRM_POLICY_HASHMAX = 1_048_576;

export type PolicyDirName = 'in' | 'out' | 'fwd';
export type DefaultAction = 'accept' | 'block';

/** One policy in the SPD. `policy` is the stored record; treat it as read-only outside the SPD. */
export interface SpdEntry extends Timed {
  readonly policy: XfrmPolicy;
  readonly dir: number;
  readonly type: number;
  readonly family: number;
  readonly index: number;
  readonly priority: number;
  /** insertion serial (age): smaller = older. */
  readonly serial: number;
  /** 0 for packet-offloaded policies (head of chain), 1 otherwise. */
  readonly cls: number;
  /** cls·2^32 + priority: the primary order key. */
  readonly rank: number;
  /** signed 32-bit views, v already `&= m`. */
  readonly markV: number;
  readonly markM: number;
  readonly ifId: number;
  /** hash of the identity fields (`policy-identity.ts`). */
  readonly identityHash: number;
  /** host/host selector (full-length prefixes on both sides). */
  readonly exact: boolean;
  /** id in the chain's lookup index (maintained by the index; -1 when not indexed). */
  indexId: number;
}

export interface SpdInsertResult {
  entry: SpdEntry;
  /** the policy an UPDPOLICY replaced. */
  replaced?: XfrmPolicy;
}

export interface PolicyExpireEvent {
  hard: boolean;
  dir: number;
  policy: XfrmPolicy;
}

export interface SpdLookupResult {
  /** the matching policy, if any. */
  policy?: SpdEntry;
  /** allow/block of the policy, or the direction's default when none matched. */
  action: 'allow' | 'block';
  /** true when the default policy decided. */
  usedDefault: boolean;
}

/** Identifies a policy for GET/DELETE (`xfrm_userpolicy_id` + attributes). */
export interface PolicyQuery {
  dir: number;
  /** non-zero: by index; 0: by selector. */
  index?: number;
  sel?: XfrmSelector;
  /** XFRMA_POLICY_TYPE type; default MAIN. */
  type?: number;
  ifId?: number;
  /** exact (v, m) as the request gives it (no MARK attribute = 0/0). */
  mark?: XfrmMark;
  secCtx?: XfrmUserSecCtx;
}

export interface SpdOptions {
  clock?: Clock;
  /** split thresholds of the lookup index (the defaults suit every size; tests use small ones). */
  index?: ChainIndexOptions;
}

export interface SpdInfo {
  info: XfrmuSpdinfo;
  /** index-hash mask (7 initially). */
  spdhcnt: number;
  spdhmcnt: number;
  ipv4Thresh: { lbits: number; rbits: number };
  ipv6Thresh: { lbits: number; rbits: number };
}

// ------------------------------------------------------------------ validation (§6.1)

const TEMPLATE_PROTOS = new Set<number>([
  IPPROTO.ESP,
  IPPROTO.AH,
  IPPROTO.COMP,
  IPPROTO.ROUTING,
  IPPROTO.DSTOPTS,
]);

function checkSecCtx(c: XfrmUserSecCtx | undefined): void {
  if (c === undefined) return;
  if (c.ctx === undefined || c.len !== 8 + c.ctxLen || c.ctx.length !== c.ctxLen) {
    throw new XfrmError('EINVAL', 'Invalid security context length');
  }
}

/**
 * NEWPOLICY/UPDPOLICY validation in kernel order (`verify_newpolicy_info`, `verify_policy_type`,
 * `validate_tmpl`). Mutates nothing; returns the template families after 0 → policy family.
 */
export function validatePolicy(p: XfrmPolicy): number[] {
  if (p === null || typeof p !== 'object' || p.info === null || typeof p.info !== 'object') {
    throw new XfrmError('EINVAL', 'policy must be an object with info');
  }
  const info = p.info;
  if (info.sel === null || typeof info.sel !== 'object')
    throw new XfrmError('EINVAL', 'policy selector missing');
  if (checkUint(info.share, 8, 'share') > 3) throw new XfrmError('EINVAL', 'Invalid policy share');
  if (checkUint(info.action, 8, 'action') > 1) throw new XfrmError('EINVAL', 'Invalid policy action');
  const fam = info.sel.family;
  const pd = checkUint(info.sel.prefixlenD, 8, 'prefixlen_d');
  const ps = checkUint(info.sel.prefixlenS, 8, 'prefixlen_s');
  if (fam === AF_INET) {
    if (pd > 32 || ps > 32)
      throw new XfrmError('EINVAL', 'Invalid prefix length in selector (must be <= 32 for IPv4)');
  } else if (fam === AF_INET6) {
    if (pd > 128 || ps > 128)
      throw new XfrmError('EINVAL', 'Invalid prefix length in selector (must be <= 128 for IPv6)');
  } else {
    throw new XfrmError('EINVAL', 'Invalid selector family');
  }
  const dir = checkUint(info.dir, 8, 'dir');
  if (dir > 2) throw new XfrmError('EINVAL', 'Invalid policy direction');
  const index = checkUint(info.index, 32, 'index');
  if (index !== 0 && (index & 7) !== dir)
    throw new XfrmError('EINVAL', "Policy index doesn't match direction");
  checkSecCtx(p.secCtx);
  const type = p.ptype ?? XFRM_POLICY_TYPE.MAIN;
  if (type !== XFRM_POLICY_TYPE.MAIN && type !== XFRM_POLICY_TYPE.SUB) {
    throw new XfrmError('EINVAL', 'Invalid policy type');
  }
  const tmpls = p.tmpls ?? [];
  if (!Array.isArray(tmpls)) throw new XfrmError('EINVAL', 'templates must be an array');
  if (tmpls.length > XFRM_MAX_DEPTH)
    throw new XfrmError('EINVAL', 'Template count must be <= XFRM_MAX_DEPTH (6)');
  const families: number[] = [];
  let prev = fam;
  for (const t of tmpls) {
    const tf = t.family === 0 ? fam : t.family;
    const mode = checkUint(t.mode, 8, 'template mode');
    if (mode === XFRM_MODE.TUNNEL || mode === XFRM_MODE.BEET || mode === XFRM_MODE.IPTFS) {
      if (t.optional && dir === XFRM_POLICY_DIR.OUT) {
        throw new XfrmError('EINVAL', 'Mode in optional template not allowed in outbound policy');
      }
    } else if (tf !== prev) {
      throw new XfrmError('EINVAL', "Mode in template doesn't support a family change");
    }
    if (mode >= 6) throw new XfrmError('EINVAL', 'Mode in template must be < XFRM_MODE_MAX (6)');
    prev = tf;
    if (tf !== AF_INET && tf !== AF_INET6) throw new XfrmError('EINVAL', 'Invalid family in template');
    if (!TEMPLATE_PROTOS.has(t.id?.proto)) throw new XfrmError('EINVAL', 'Invalid XFRM protocol in template');
    families.push(tf);
  }
  return families;
}

/** True if `a` precedes `b` in chain order. */
export function policyBefore(a: SpdEntry, b: SpdEntry): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.serial < b.serial);
}

// ------------------------------------------------------------------ per (type, dir, family) index

/** One chain's lookup index (see `chain-index.ts`). */
class PolicyIndex extends ChainIndex<SpdEntry> {
  constructor(
    readonly family: number,
    opts?: ChainIndexOptions,
  ) {
    super(family === AF_INET ? 32 : 128, opts);
  }
}

function entryIdentity(e: SpdEntry): IdentityFields {
  return {
    dir: e.dir,
    type: e.type,
    ifId: e.ifId,
    markV: e.markV,
    markM: e.markM,
    sel: e.policy.info.sel,
    secCtx: e.policy.secCtx,
  };
}

// ------------------------------------------------------------------ the SPD

function checkDir(dir: unknown): number {
  if (dir !== 0 && dir !== 1 && dir !== 2) throw new XfrmError('EINVAL', 'Invalid policy direction');
  return dir;
}

function checkType(type: unknown): number {
  const t = type ?? XFRM_POLICY_TYPE.MAIN;
  if (t !== XFRM_POLICY_TYPE.MAIN && t !== XFRM_POLICY_TYPE.SUB)
    throw new XfrmError('EINVAL', 'Invalid policy type');
  return t;
}

export class Spd {
  private readonly clock: Clock;
  private serial = 0;
  private idxGenerator = 0;
  private idxHmask = 7;
  private readonly byIndex = new Map<number, SpdEntry>();
  private readonly byIdentity = new IdentityTable<SpdEntry>(entryIdentity, (e) => e.identityHash);
  /** [type][dir][fam] with fam 0 = IPv4, 1 = IPv6. */
  private readonly indexes: PolicyIndex[][][];
  private readonly counts = [0, 0, 0];
  private readonly defaults: DefaultAction[] = ['accept', 'accept', 'accept'];
  private readonly timers = new TimerQueue<SpdEntry>();
  private readonly listeners: ((ev: PolicyExpireEvent) => void)[] = [];
  private ipv4Thresh = { lbits: 32, rbits: 32 };
  private ipv6Thresh = { lbits: 128, rbits: 128 };

  constructor(opts: SpdOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.indexes = [0, 1].map(() =>
      [0, 1, 2].map(() => [new PolicyIndex(AF_INET, opts.index), new PolicyIndex(AF_INET6, opts.index)]),
    );
  }

  get size(): number {
    return this.byIndex.size;
  }

  onExpire(listener: (ev: PolicyExpireEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Every policy, newest first (dump order). */
  entries(): SpdEntry[] {
    return [...this.byIndex.values()].sort((a, b) => b.serial - a.serial);
  }

  /** Policies of one chain (type, dir) in chain order. */
  chain(dir: number, type: number = XFRM_POLICY_TYPE.MAIN): SpdEntry[] {
    return [...this.byIndex.values()]
      .filter((e) => e.dir === dir && e.type === type)
      .sort((a, b) => (policyBefore(a, b) ? -1 : 1));
  }

  private genIndex(dir: number, index: number): number {
    for (;;) {
      let idx: number;
      if (index === 0) {
        idx = (this.idxGenerator | dir) >>> 0;
        this.idxGenerator = (this.idxGenerator + 8) >>> 0;
      } else {
        idx = index;
        index = 0;
      }
      if (idx === 0) idx = 8;
      if (!this.byIndex.has(idx)) return idx;
    }
  }

  private build(
    p: XfrmPolicy,
    families: number[],
    index: number,
    identityHash: number,
    d: Words4,
    s: Words4,
  ): [SpdEntry, CompiledSelector] {
    let policy: XfrmPolicy;
    try {
      policy = clonePlain(p);
    } catch {
      throw new XfrmError('EINVAL', 'policy is not cloneable');
    }
    const info = policy.info;
    const type = p.ptype ?? XFRM_POLICY_TYPE.MAIN;
    const mv = checkUint(policy.mark?.v ?? 0, 32, 'mark value');
    const mm = checkUint(policy.mark?.m ?? 0, 32, 'mark mask');
    if (policy.mark !== undefined) policy.mark = { v: (mv & mm) >>> 0, m: mm };
    const ifId = checkUint(policy.ifId ?? 0, 32, 'if_id');
    policy.tmpls = (policy.tmpls ?? []).map((t, i) => ({ ...t, family: families[i]! }));
    const sel = compileSelector(info.sel, info.sel.family, d, s);
    const bits = info.sel.family === AF_INET ? 32 : 128;
    info.index = index;
    info.share = 0;
    info.curlft = { bytes: 0n, packets: 0n, addTime: BigInt(Math.floor(this.clock.now())), useTime: 0n };
    const cls =
      policy.offload !== undefined && (policy.offload.flags & XFRM_OFFLOAD_FLAG.PACKET) !== 0 ? 0 : 1;
    const priority = checkUint(info.priority, 32, 'priority');
    const e: SpdEntry = {
      policy,
      dir: info.dir,
      type,
      family: info.sel.family,
      index,
      priority,
      serial: ++this.serial,
      cls,
      rank: cls * 0x1_0000_0000 + priority,
      markV: (mv & mm) | 0,
      markM: mm | 0,
      ifId,
      identityHash,
      exact: sel.prefixlenD === bits && sel.prefixlenS === bits,
      indexId: -1,
      timerGen: 0,
    };
    return [e, sel];
  }

  private indexFor(e: SpdEntry): PolicyIndex {
    return this.indexes[e.type]![e.dir]![e.family === AF_INET ? 0 : 1]!;
  }

  private link(e: SpdEntry, sel: CompiledSelector): void {
    this.byIndex.set(e.index, e);
    this.byIdentity.add(e);
    this.indexFor(e).add(e, sel);
    this.counts[e.dir]!++;
    if (this.byIndex.size > this.idxHmask && this.idxHmask + 1 < XFRM_POLICY_HASHMAX) {
      this.idxHmask = (this.idxHmask + 1) * 2 - 1;
    }
    this.armTimer(e);
  }

  private unlink(e: SpdEntry): void {
    if (this.byIndex.get(e.index) !== e) return;
    this.byIndex.delete(e.index);
    this.byIdentity.delete(e);
    this.indexFor(e).remove(e);
    this.counts[e.dir]!--;
    this.timers.cancel(e);
  }

  private insert(p: XfrmPolicy, excl: boolean): SpdInsertResult {
    const families = validatePolicy(p);
    const dir = p.info.dir;
    const type = p.ptype ?? XFRM_POLICY_TYPE.MAIN;
    const mv = checkUint(p.mark?.v ?? 0, 32, 'mark value');
    const mm = checkUint(p.mark?.m ?? 0, 32, 'mark mask');
    const ifId = checkUint(p.ifId ?? 0, 32, 'if_id');
    const d = addressWords(p.info.sel.daddr);
    const s = addressWords(p.info.sel.saddr);
    const x: IdentityFields = {
      dir,
      type,
      ifId,
      markV: mv & mm,
      markM: mm,
      sel: p.info.sel,
      secCtx: p.secCtx,
    };
    const h = identityHash(x, d, s);
    const old = this.byIdentity.find(h, x, d, s);
    if (old !== undefined && excl) throw new XfrmError('EEXIST');
    // build first so that bad input fails before the table changes
    const index = old !== undefined ? old.index : this.peekIndex(dir, p.info.index);
    const [e, sel] = this.build(p, families, index, h, d, s);
    if (old !== undefined) this.unlink(old);
    else this.commitIndex(dir, p.info.index, index);
    this.link(e, sel);
    return old !== undefined ? { entry: e, replaced: old.policy } : { entry: e };
  }

  /** The index `genIndex` would return, without advancing the generator. */
  private peekIndex(dir: number, index: number): number {
    const saved = this.idxGenerator;
    const idx = this.genIndex(dir, index);
    this.idxGenerator = saved;
    return idx;
  }

  private commitIndex(dir: number, index: number, expect: number): void {
    const idx = this.genIndex(dir, index);
    if (idx !== expect) throw new Error(`index generation diverged (${idx} != ${expect})`);
  }

  /** NEWPOLICY: `EEXIST` when an equal policy exists. */
  add(p: XfrmPolicy): SpdInsertResult {
    return this.insert(p, true);
  }

  /** UPDPOLICY: replaces an equal policy (keeping its index) or adds. */
  update(p: XfrmPolicy): SpdInsertResult {
    return this.insert(p, false);
  }

  /** GETPOLICY by index or selector; `ENOENT` if absent. */
  get(q: PolicyQuery): SpdEntry {
    const e = this.find(q);
    if (e === undefined) throw new XfrmError('ENOENT');
    return e;
  }

  /** DELPOLICY; returns the removed policy or throws `ENOENT`. */
  delete(q: PolicyQuery): XfrmPolicy {
    const e = this.get(q);
    this.unlink(e);
    return e.policy;
  }

  /** Removes a specific entry (device-down flush, expiry). */
  remove(e: SpdEntry): boolean {
    if (this.byIndex.get(e.index) !== e) return false;
    this.unlink(e);
    return true;
  }

  find(q: PolicyQuery): SpdEntry | undefined {
    if (q === null || typeof q !== 'object') throw new XfrmError('EINVAL', 'policy query must be an object');
    const type = checkType(q.type);
    const dir = checkDir(q.dir);
    const ifId = checkUint(q.ifId ?? 0, 32, 'if_id');
    const mv = checkUint(q.mark?.v ?? 0, 32, 'mark value');
    const mm = checkUint(q.mark?.m ?? 0, 32, 'mark mask');
    const index = checkUint(q.index ?? 0, 32, 'index');
    if (index !== 0) {
      if ((index & 7) !== dir) return undefined;
      const e = this.byIndex.get(index);
      if (e === undefined || e.type !== type || e.ifId !== ifId) return undefined;
      if (e.markV >>> 0 !== mv || e.markM >>> 0 !== mm) return undefined;
      return e;
    }
    checkSecCtx(q.secCtx);
    if (q.sel === undefined) throw new XfrmError('EINVAL', 'selector required when index is 0');
    // exact (v, m) as requested: a stored policy has v already masked, so an unmasked request never matches
    const x: IdentityFields = { dir, type, ifId, markV: mv, markM: mm, sel: q.sel, secCtx: q.secCtx };
    const d = addressWords(q.sel.daddr);
    const s = addressWords(q.sel.saddr);
    return this.byIdentity.find(identityHash(x, d, s), x, d, s);
  }

  /** FLUSHPOLICY of one type. Returns how many were deleted. */
  flush(type: number = XFRM_POLICY_TYPE.MAIN): number {
    const t = checkType(type);
    let n = 0;
    for (const e of [...this.byIndex.values()]) {
      if (e.type === t) {
        this.unlink(e);
        n++;
      }
    }
    return n;
  }

  // -------------------------------------------------------------- lookup

  /**
   * Hot path: best policy for a compiled flow in direction `dir` (SUB type first, then MAIN).
   * No allocation.
   */
  lookupCompiled(dir: number, f: CompiledFlow): SpdEntry | undefined {
    const fam = f.family === AF_INET ? 0 : 1;
    const sub = this.indexes[1]![dir]![fam]!;
    if (sub.count > 0) {
      const e = sub.lookup(f);
      if (e !== undefined) return e;
    }
    const main = this.indexes[0]![dir]![fam]!;
    return main.count > 0 ? main.lookup(f) : undefined;
  }

  /** Policy decision for a flow, with the direction's default when nothing matches. */
  lookup(dir: number, flow: Flow): SpdLookupResult {
    const d = checkDir(dir);
    const e = this.lookupCompiled(d, compileFlow(flow));
    if (e === undefined)
      return { action: this.defaults[d] === 'block' ? 'block' : 'allow', usedDefault: true };
    return { policy: e, action: e.policy.info.action === 1 ? 'block' : 'allow', usedDefault: false };
  }

  /** Records a use of the policy (`curlft.use_time`). */
  markUsed(e: SpdEntry): void {
    e.policy.info.curlft.useTime = BigInt(Math.floor(this.clock.now()));
    if (e.policy.info.lft.softUseExpiresSeconds !== 0n || e.policy.info.lft.hardUseExpiresSeconds !== 0n) {
      this.armTimer(e);
    }
  }

  // -------------------------------------------------------------- defaults, info

  /** SETDEFAULT: values 1 (BLOCK) / 2 (ACCEPT) are applied; anything else leaves that direction alone. */
  setDefault(d: { in: number; fwd: number; out: number }): void {
    const apply = (dir: number, v: number) => {
      if (v === XFRM_USERPOLICY.BLOCK) this.defaults[dir] = 'block';
      else if (v === XFRM_USERPOLICY.ACCEPT) this.defaults[dir] = 'accept';
    };
    apply(XFRM_POLICY_DIR.IN, d.in);
    apply(XFRM_POLICY_DIR.FWD, d.fwd);
    apply(XFRM_POLICY_DIR.OUT, d.out);
  }

  /** GETDEFAULT body. */
  getDefault(): { in: number; fwd: number; out: number } {
    const v = (a: DefaultAction) => (a === 'block' ? XFRM_USERPOLICY.BLOCK : XFRM_USERPOLICY.ACCEPT);
    return { in: v(this.defaults[0]!), fwd: v(this.defaults[2]!), out: v(this.defaults[1]!) };
  }

  /** NEWSPDINFO hash thresholds (affect only hash placement in the kernel; stored and reported). */
  setHashThresholds(family: number, lbits: number, rbits: number): void {
    if (family === AF_INET) {
      if (lbits > 32 || rbits > 32)
        throw new XfrmError('EINVAL', 'Invalid hash threshold (must be <= 32 for IPv4)');
      this.ipv4Thresh = { lbits, rbits };
    } else if (family === AF_INET6) {
      if (lbits > 128 || rbits > 128)
        throw new XfrmError('EINVAL', 'Invalid hash threshold (must be <= 128 for IPv6)');
      this.ipv6Thresh = { lbits, rbits };
    } else {
      throw new XfrmError('EINVAL', 'Invalid address family');
    }
  }

  /** GETSPDINFO. */
  info(): SpdInfo {
    return {
      info: {
        incnt: this.counts[0]!,
        outcnt: this.counts[1]!,
        fwdcnt: this.counts[2]!,
        inscnt: 0,
        outscnt: 0,
        fwdscnt: 0,
      },
      spdhcnt: this.idxHmask,
      spdhmcnt: XFRM_POLICY_HASHMAX,
      ipv4Thresh: { ...this.ipv4Thresh },
      ipv6Thresh: { ...this.ipv6Thresh },
    };
  }

  // -------------------------------------------------------------- lifetimes

  private armTimer(e: SpdEntry): void {
    const lft = e.policy.info.lft;
    if (!hasTimeLimits(lft)) return;
    const now = Math.floor(this.clock.now());
    const v = evaluatePolicyTimer(lft, e.policy.info.curlft, BigInt(now));
    this.timers.arm(e, v.hard || v.soft ? now : now + v.next);
  }

  /** Runs due policy timers: soft warnings (repeated every 30 s) and hard expiry (delete). */
  tick(): number {
    const nowN = Math.floor(this.clock.now());
    let events = 0;
    for (const e of this.timers.popDue(nowN)) {
      if (this.byIndex.get(e.index) !== e) continue;
      const v = evaluatePolicyTimer(e.policy.info.lft, e.policy.info.curlft, BigInt(nowN));
      if (v.hard) {
        this.unlink(e);
        this.emit(e, true);
        events++;
        continue;
      }
      if (v.soft) {
        this.emit(e, false);
        events++;
      }
      this.timers.arm(e, nowN + v.next);
    }
    return events;
  }

  /** Earliest pending policy timer (seconds, Infinity if none). */
  nextTimer(): number {
    return this.timers.peek();
  }

  /** User POLEXPIRE: emits the event; hard deletes. `ENOENT` if absent. */
  expire(q: PolicyQuery, hard: boolean): void {
    const e = this.find(q);
    if (e === undefined) throw new XfrmError('ENOENT');
    if (hard) this.unlink(e);
    this.emit(e, hard);
  }

  private emit(e: SpdEntry, hard: boolean): void {
    const ev: PolicyExpireEvent = { hard, dir: e.dir, policy: clonePlain(e.policy) };
    for (const l of [...this.listeners]) l(ev);
  }
}

/** Policy direction name ↔ number. */
export function policyDirName(dir: number): PolicyDirName {
  return dir === 0 ? 'in' : dir === 1 ? 'out' : 'fwd';
}
