/**
 * Policy lookup index of one (type, dir, family) chain: tuple-space search over prefix lengths, with
 * the hot data in flat typed arrays.
 *
 * Level 1 groups policies by destination prefix length; each group is an open-addressing hash table
 * keyed by the masked destination (four words, zero beyond the prefix) whose bins hold the policies
 * of one destination prefix, linked in chain order (class, priority, age). A bin with more than
 * `SPLIT_AT` policies is split the same way by source prefix length (level 2).
 *
 * Memory layout (what a lookup touches):
 * - per table, `hashes` (Int32Array, 0 = empty): probing a prefix that holds no policy reads one
 *   4-byte word; `slots` (Int32Array, 8 words per slot: k0..k3, head policy id + 1, split flag) is read
 *   only on a hash match;
 * - per policy, a 32-word record in `rec` with everything the match needs: next id in the bin,
 *   rank (class, priority), age, mark, if_id, ports, proto, ifindex and the source mask/value (IPv4
 *   needs only the first 16 words, one cache line). The destination needs no check: the bin key is it.
 *
 * A lookup masks the flow's destination once per present destination prefix length, probes that
 * table, and in a hit bin walks the linked records only while one could still beat the best match so
 * far. Each table keeps a lower bound of the ranks it holds, so tables that cannot beat the current
 * winner are skipped without a probe. The cost depends on the number of distinct prefix lengths, not
 * on the number of policies; JS objects are reached only for the answer and for split bins.
 *
 * Maintenance keeps plain JS objects (`Bin` with a sorted list) as the source of truth and rewrites
 * a bin's links after each change; deletions use backward-shift, so there are no tombstones.
 */
import { maskWord } from './address-words.ts';
import type { CompiledFlow } from './selector.ts';

/** What the index needs to know about a policy (a subset of `SpdEntry`). */
export interface IndexedPolicy {
  /** class·2^32 + priority (class 0 = packet offload, first). */
  readonly rank: number;
  /** age: smaller = older. */
  readonly serial: number;
  /** signed 32-bit, v already `&= m`. */
  readonly markV: number;
  readonly markM: number;
  readonly ifId: number;
  readonly sel: {
    readonly dv0: number;
    readonly dv1: number;
    readonly dv2: number;
    readonly dv3: number;
    readonly sm0: number;
    readonly sm1: number;
    readonly sm2: number;
    readonly sm3: number;
    readonly sv0: number;
    readonly sv1: number;
    readonly sv2: number;
    readonly sv3: number;
    readonly prefixlenD: number;
    readonly prefixlenS: number;
    readonly dport: number;
    readonly dportMask: number;
    readonly sport: number;
    readonly sportMask: number;
    readonly proto: number;
    readonly ifindex: number;
  };
}

/** Policies per destination bin before it is split by source prefix; merged back at half. */
export const SPLIT_AT = 8;
/** IPv4 chain size from which the per-/16 prefix-length filter is kept. */
export const FILTER_FROM = 256;

const TWO32 = 0x1_0000_0000;

// policy record layout (int32 words): 16 words (one cache line) for IPv4, 32 for IPv6. A bin's
// records are contiguous (a block) in chain order; R_LEN counts the records left in the block.
const R_ID = 0;
const R_LEN = 1;
/** class (bit 0) | serial high bits << 1. */
const R_CLS_SHI = 2;
const R_PRIO = 3;
const R_SLO = 4;
const R_MARKV = 5;
const R_MARKM = 6;
const R_IFID = 7;
const R_DPORT = 8;
const R_DPORTM = 9;
const R_SPORT = 10;
const R_SPORTM = 11;
const R_PROTO = 12;
const R_IFINDEX = 13;
const R_SM0 = 14;
const R_SV0 = 15;
const R_SM1 = 16;
const R_SV1 = 17;
const R_SM2 = 18;
const R_SV2 = 19;
const R_SM3 = 20;
const R_SV3 = 21;

// table slots: IPv4 [k0, head, prio, class], IPv6 [k0, k1, k2, k3, head, prio, class, 0]; head = record
// block + 1 of the bin's policies, SPLIT for a split bin, PENDING while a bin is being filled, 0 = empty
// slot; (class, prio) is the rank of the bin's first policy, so a bin that cannot win is not read
const SPLIT = -1;
const PENDING = -2;
/** True if `a` precedes `b` in chain order. */
export function rankBefore(a: IndexedPolicy, b: IndexedPolicy): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.serial < b.serial);
}

/** Inserts `e` into a list sorted in chain order. */
export function insertSorted<T extends IndexedPolicy>(list: T[], e: T): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rankBefore(list[mid]!, e)) lo = mid + 1;
    else hi = mid;
  }
  if (lo === list.length) list.push(e);
  else list.splice(lo, 0, e);
}

function removeFromList<T>(list: T[], e: T): boolean {
  const i = list.indexOf(e);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/** Non-zero 32-bit hash of four words. */
export function hashWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x2545f491, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x27d4eb2d);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  h ^= h >>> 16;
  return h === 0 ? 1 : h;
}

/** Non-zero-agnostic 32-bit hash of one word (IPv4 keys). */
export function hashWord(a: number): number {
  let h = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Policies sharing one masked prefix (destination at level 1, source at level 2). */
export class Bin<T extends IndexedPolicy> {
  /** sorted in chain order; empty while `sub` is set. */
  list: T[] = [];
  /** level-2 tables by source prefix length once the bin is split. */
  sub: Level<T> | undefined = undefined;
  count = 0;
  /** current slot in its table. */
  slot = -1;
  /** first record of the bin's block, -1 = none; capacity in records (a power of two). */
  block = -1;
  cap = 0;
  constructor(
    readonly k0: number,
    readonly k1: number,
    readonly k2: number,
    readonly k3: number,
  ) {}
}

/** Open-addressing table of bins for one prefix length (linear probing, load ≤ 1/2). */
export class BinTable<T extends IndexedPolicy> {
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  /** log2 of the words per slot: 2 (IPv4: k0, head, prio, class) or 3 (k0..k3, head, prio, class, 0). */
  readonly shift: number;
  /** offset of `head` in a slot; prio and class follow it. */
  readonly hOff: number;
  slots: Int32Array;
  bins: (Bin<T> | undefined)[] = new Array<Bin<T> | undefined>(8).fill(undefined);
  mask = 7;
  size = 0;
  /** lower bound of the ranks stored (not raised on removal: only used to skip the table). */
  minRank = Number.POSITIVE_INFINITY;

  constructor(
    readonly plen: number,
    readonly v4: boolean,
  ) {
    this.m0 = maskWord(plen, 0);
    this.m1 = v4 ? 0 : maskWord(plen, 1);
    this.m2 = v4 ? 0 : maskWord(plen, 2);
    this.m3 = v4 ? 0 : maskWord(plen, 3);
    this.shift = 3;
    this.hOff = v4 ? 1 : 4;
    this.slots = new Int32Array(8 << this.shift);
  }

  private home(a0: number, a1: number, a2: number, a3: number): number {
    return (this.v4 ? hashWord(a0) : hashWords(a0, a1, a2, a3)) & this.mask;
  }

  /** Slot of an IPv4 key, or -1. */
  find4(a0: number): number {
    const sl = this.slots;
    const mask = this.mask;
    let i = hashWord(a0) & mask;
    for (;;) {
      const o = i << 3;
      if (sl[o + 1] === 0) return -1;
      if (sl[o] === a0) return i;
      i = (i + 1) & mask;
    }
  }

  /** Slot of an IPv6 key, or -1. */
  find6(a0: number, a1: number, a2: number, a3: number): number {
    const sl = this.slots;
    const mask = this.mask;
    let i = hashWords(a0, a1, a2, a3) & mask;
    for (;;) {
      const o = i << 3;
      if (sl[o + 4] === 0) return -1;
      if (sl[o] === a0 && sl[o + 1] === a1 && sl[o + 2] === a2 && sl[o + 3] === a3) return i;
      i = (i + 1) & mask;
    }
  }

  get(a0: number, a1: number, a2: number, a3: number): Bin<T> | undefined {
    const i = this.v4 ? this.find4(a0) : this.find6(a0, a1, a2, a3);
    return i < 0 ? undefined : this.bins[i];
  }

  /** The bin of a key; a new bin has head PENDING until `setHead`. */
  getOrCreate(a0: number, a1: number, a2: number, a3: number): Bin<T> {
    const found = this.get(a0, a1, a2, a3);
    if (found !== undefined) return found;
    if ((this.size + 1) * 2 > this.bins.length) this.resize(this.bins.length * 2);
    const b = new Bin<T>(a0, a1, a2, a3);
    const sl = this.slots;
    let i = this.home(a0, a1, a2, a3);
    while (sl[(i << this.shift) + this.hOff] !== 0) i = (i + 1) & this.mask;
    const o = i << this.shift;
    sl[o] = a0;
    if (!this.v4) {
      sl[o + 1] = a1;
      sl[o + 2] = a2;
      sl[o + 3] = a3;
    }
    sl[o + this.hOff] = PENDING;
    this.bins[i] = b;
    b.slot = i;
    this.size++;
    return b;
  }

  /** Head of slot `i`: record block + 1, SPLIT, or 0 (empty). */
  headOf(i: number): number {
    return this.slots[(i << this.shift) + this.hOff]!;
  }

  /**
   * Points a bin at its block (head = block + 1, or SPLIT) whose first policy is `first` with policy
   * id `id`. IPv4 slots also carry an inline copy of a lone policy's match fields when the rest of
   * its selector is trivial (no source port, ifindex, mark or if_id), so that it is decided without
   * reading the block.
   */
  setHead(b: Bin<T>, head: number, first: T | undefined, id: number, count: number): void {
    const o = (b.slot << this.shift) + this.hOff;
    const sl = this.slots;
    if (head === SPLIT || first === undefined) {
      sl.fill(0, o + 1, (b.slot + 1) << this.shift);
      sl[o] = head;
      return;
    }
    const rank = first.rank;
    const hi = Math.floor(rank / TWO32);
    const c = first.sel;
    const inline =
      this.v4 && count === 1 && c.sportMask === 0 && c.ifindex === 0 && first.markM === 0 && first.ifId === 0;
    sl[o] = head;
    sl[o + 1] = rank - hi * TWO32;
    sl[o + 2] = hi | (inline ? 2 | (c.proto << 2) : 0);
    if (this.v4) {
      sl[o + 3] = inline ? c.sm0 : 0;
      sl[o + 4] = inline ? c.sv0 : 0;
      sl[o + 5] = inline ? (c.dport & c.dportMask) | (c.dportMask << 16) : 0;
      sl[o + 6] = inline ? id : 0;
    }
  }

  private resize(cap: number): void {
    const oldBins = this.bins;
    const old = this.slots;
    const sh = this.shift;
    this.slots = new Int32Array(cap << sh);
    this.bins = new Array<Bin<T> | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    for (let j = 0; j < oldBins.length; j++) {
      const b = oldBins[j];
      if (b === undefined) continue;
      let i = this.home(b.k0, b.k1, b.k2, b.k3);
      while (this.slots[(i << sh) + this.hOff] !== 0) i = (i + 1) & this.mask;
      this.slots.set(old.subarray(j << sh, (j + 1) << sh), i << sh);
      this.bins[i] = b;
      b.slot = i;
    }
  }

  /** Removes a bin (backward-shift deletion). */
  delete(b: Bin<T>): void {
    const bins = this.bins;
    const mask = this.mask;
    const sh = this.shift;
    let i = b.slot;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const x = bins[j];
      if (x === undefined) break;
      const home = this.home(x.k0, x.k1, x.k2, x.k3);
      // move j back to i unless its home lies cyclically in (i, j]
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        this.slots.copyWithin(i << sh, j << sh, (j + 1) << sh);
        bins[i] = x;
        x.slot = i;
        i = j;
      }
    }
    this.slots.fill(0, i << sh, (i + 1) << sh);
    bins[i] = undefined;
    b.slot = -1;
    this.size--;
    if (this.size * 8 < bins.length && bins.length > 8) this.resize(bins.length / 2);
  }

  *values(): Generator<Bin<T>> {
    for (const b of this.bins) if (b !== undefined) yield b;
  }
}

/** Tables by prefix length, the present ones in `tables` (longest prefix first). */
export class Level<T extends IndexedPolicy> {
  readonly byLen: (BinTable<T> | undefined)[];
  tables: BinTable<T>[] = [];

  constructor(readonly bits: number) {
    this.byLen = new Array<BinTable<T> | undefined>(bits + 1).fill(undefined);
  }

  table(plen: number): BinTable<T> {
    let t = this.byLen[plen];
    if (t === undefined) {
      t = new BinTable<T>(plen, this.bits === 32);
      this.byLen[plen] = t;
      this.tables.push(t);
      this.tables.sort((a, b) => b.plen - a.plen);
    }
    return t;
  }

  dropIfEmpty(t: BinTable<T>): void {
    if (t.size !== 0) return;
    this.byLen[t.plen] = undefined;
    this.tables = this.tables.filter((x) => x !== t);
  }
}

export class TupleIndex<T extends IndexedPolicy> {
  readonly dst: Level<T>;
  count = 0;
  /** log2 of the words per policy record: 4 (IPv4) or 5. */
  private readonly recShift: number;
  /** record blocks of the bins (arena); `recTop` records in use or freed. */
  private rec: Int32Array;
  private recTop = 0;
  /** freed blocks by log2 capacity. */
  private readonly freeBlocks: number[][] = [];
  /** policy ids: the answer of a lookup is `objs[id]`. */
  private objs: (T | undefined)[] = new Array<T | undefined>(16).fill(undefined);
  private readonly ids = new Map<T, number>();
  private freeIds: number[] = [];
  private nextId = 0;
  // best match so far during a lookup (id -1 = none)
  private bId = -1;
  private bRank = Number.POSITIVE_INFINITY;
  /** serial of the best; -1 = not read yet (the best was decided from an inline slot at `bHead`). */
  private bSerial = 0;
  private bHead = 0;
  /** bins hit by the probes of one lookup: head and rank of the first policy. */
  private readonly hitHead = new Int32Array(130);
  private readonly hitRank = new Float64Array(130);
  /**
   * IPv4 only, once the chain has FILTER_FROM policies: per /16 block of the destination, a bit per
   * destination prefix length 16..32 that has a bin inside the block, so that a lookup probes only
   * those tables (plus the shorter prefixes). `blockBins` counts the bins per (block, length).
   */
  private filter: Int32Array | undefined = undefined;
  private readonly blockBins = new Map<number, number>();

  constructor(readonly bits: 32 | 128) {
    this.dst = new Level<T>(bits);
    this.recShift = bits === 32 ? 4 : 5;
    this.rec = new Int32Array(16 << this.recShift);
  }

  // -------------------------------------------------------------- ids and record blocks

  private allocId(e: T): void {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.nextId++;
      if (id >= this.objs.length) {
        const objs = new Array<T | undefined>(this.objs.length * 2).fill(undefined);
        for (let i = 0; i < id; i++) objs[i] = this.objs[i];
        this.objs = objs;
      }
    }
    this.objs[id] = e;
    this.ids.set(e, id);
  }

  private releaseId(e: T): void {
    const id = this.ids.get(e)!;
    this.ids.delete(e);
    this.objs[id] = undefined;
    this.freeIds.push(id);
  }

  private allocBlock(log2: number): number {
    const fl = this.freeBlocks[log2];
    if (fl !== undefined && fl.length > 0) return fl.pop()!;
    const at = this.recTop;
    this.recTop += 1 << log2;
    if (this.recTop << this.recShift > this.rec.length) {
      let size = this.rec.length * 2;
      while (this.recTop << this.recShift > size) size *= 2;
      const rec = new Int32Array(size);
      rec.set(this.rec);
      this.rec = rec;
    }
    return at;
  }

  private freeBlock(b: Bin<T>): void {
    if (b.block < 0) return;
    const log2 = 31 - Math.clz32(b.cap);
    let fl = this.freeBlocks[log2];
    if (fl === undefined) {
      fl = [];
      this.freeBlocks[log2] = fl;
    }
    fl.push(b.block);
    b.block = -1;
    b.cap = 0;
  }

  /** Writes a bin's sorted list into its block (reallocated to fit) and points its slot at it. */
  private writeBin(t: BinTable<T>, b: Bin<T>, list: readonly T[]): void {
    const len = list.length;
    if (len > b.cap || (len * 4 <= b.cap && b.cap > 1)) {
      this.freeBlock(b);
      const log2 = len <= 1 ? 0 : 32 - Math.clz32(len - 1);
      b.block = this.allocBlock(log2);
      b.cap = 1 << log2;
    }
    const r = this.rec;
    const shift = this.recShift;
    for (let j = 0; j < len; j++) {
      const e = list[j]!;
      const c = e.sel;
      const o = (b.block + j) << shift;
      const hi = Math.floor(e.rank / TWO32);
      r[o + R_ID] = this.ids.get(e)!;
      r[o + R_LEN] = len - j;
      r[o + R_CLS_SHI] = hi | (Math.floor(e.serial / TWO32) << 1);
      r[o + R_PRIO] = e.rank - hi * TWO32;
      r[o + R_SLO] = e.serial % TWO32;
      r[o + R_MARKV] = e.markV;
      r[o + R_MARKM] = e.markM;
      r[o + R_IFID] = e.ifId;
      r[o + R_DPORT] = c.dport;
      r[o + R_DPORTM] = c.dportMask;
      r[o + R_SPORT] = c.sport;
      r[o + R_SPORTM] = c.sportMask;
      r[o + R_PROTO] = c.proto;
      r[o + R_IFINDEX] = c.ifindex;
      r[o + R_SM0] = c.sm0;
      r[o + R_SV0] = c.sv0;
      if (shift === 5) {
        r[o + R_SM1] = c.sm1;
        r[o + R_SV1] = c.sv1;
        r[o + R_SM2] = c.sm2;
        r[o + R_SV2] = c.sv2;
        r[o + R_SM3] = c.sm3;
        r[o + R_SV3] = c.sv3;
      }
    }
    t.setHead(b, b.block + 1, list[0], this.ids.get(list[0]!)!, len);
  }

  // -------------------------------------------------------------- maintenance

  /** Counts a destination bin in the /16 filter (`d` = +1 created, -1 deleted). */
  private countBin(plen: number, k0: number, d: number): void {
    if (this.filter === undefined || plen < 16) return;
    const block = k0 >>> 16;
    const key = block * 32 + (plen - 16);
    const n = (this.blockBins.get(key) ?? 0) + d;
    if (n === 0) {
      this.blockBins.delete(key);
      this.filter[block]! &= ~(1 << (plen - 16));
    } else {
      this.blockBins.set(key, n);
      this.filter[block]! |= 1 << (plen - 16);
    }
  }

  add(e: T): void {
    this.allocId(e);
    const c = e.sel;
    const t = this.dst.table(c.prefixlenD);
    const b = t.getOrCreate(c.dv0, c.dv1, c.dv2, c.dv3);
    if (e.rank < t.minRank) t.minRank = e.rank;
    if (b.count === 0) this.countBin(t.plen, b.k0, 1);
    b.count++;
    this.count++;
    if (this.bits === 32 && this.filter === undefined && this.count >= FILTER_FROM) {
      this.filter = new Int32Array(65536);
      for (const x of this.dst.tables) for (const y of x.values()) this.countBin(x.plen, y.k0, 1);
    }
    if (b.sub !== undefined) {
      this.addSrc(b.sub, e);
      return;
    }
    insertSorted(b.list, e);
    if (b.list.length > SPLIT_AT) {
      const sub = new Level<T>(this.bits);
      for (const x of b.list) this.addSrc(sub, x);
      b.sub = sub;
      b.list = [];
      this.freeBlock(b);
      t.setHead(b, SPLIT, undefined, 0, 0);
    } else {
      this.writeBin(t, b, b.list);
    }
  }

  private addSrc(sub: Level<T>, e: T): void {
    const c = e.sel;
    const t = sub.table(c.prefixlenS);
    if (e.rank < t.minRank) t.minRank = e.rank;
    const sb = t.getOrCreate(c.sv0, c.sv1, c.sv2, c.sv3);
    insertSorted(sb.list, e);
    this.writeBin(t, sb, sb.list);
  }

  /** Removes `e`; false if it was not indexed. */
  remove(e: T): boolean {
    if (!this.ids.has(e)) return false;
    const c = e.sel;
    const t = this.dst.byLen[c.prefixlenD];
    const b = t?.get(c.dv0, c.dv1, c.dv2, c.dv3);
    if (t === undefined || b === undefined) return false;
    if (b.sub === undefined) {
      if (!removeFromList(b.list, e)) return false;
    } else {
      const sub = b.sub;
      const st = sub.byLen[c.prefixlenS];
      const sb = st?.get(c.sv0, c.sv1, c.sv2, c.sv3);
      if (st === undefined || sb === undefined || !removeFromList(sb.list, e)) return false;
      if (sb.list.length === 0) {
        this.freeBlock(sb);
        st.delete(sb);
        sub.dropIfEmpty(st);
      } else {
        this.writeBin(st, sb, sb.list);
      }
      if (b.count - 1 <= SPLIT_AT / 2) {
        const all: T[] = [];
        for (const x of sub.tables)
          for (const y of x.values()) {
            for (const z of y.list) insertSorted(all, z);
            this.freeBlock(y);
          }
        b.list = all;
        b.sub = undefined;
      }
    }
    b.count--;
    this.count--;
    this.releaseId(e);
    if (b.count === 0) {
      this.countBin(t.plen, b.k0, -1);
      this.freeBlock(b);
      t.delete(b);
      this.dst.dropIfEmpty(t);
    } else if (b.sub === undefined) {
      this.writeBin(t, b, b.list);
    }
    return true;
  }

  // -------------------------------------------------------------- lookup

  /**
   * Scans a bin's block (head = block + 1) in chain order and records the first policy that matches
   * and beats the best so far. Addresses: the destination is the bin's key; the source is checked here.
   */
  private bestSerial(): number {
    if (this.bSerial < 0) {
      const o = (this.bHead - 1) << this.recShift;
      this.bSerial = (this.rec[o + R_CLS_SHI]! >>> 1) * TWO32 + (this.rec[o + R_SLO]! >>> 0);
    }
    return this.bSerial;
  }

  private scan(head: number, f: CompiledFlow): void {
    const r = this.rec;
    const shift = this.recShift;
    let o = (head - 1) << shift;
    const len = r[o + R_LEN]!;
    for (let k = 0; k < len; k++, o += 1 << shift) {
      const cs = r[o + R_CLS_SHI]!;
      const rank = (cs & 1) * TWO32 + (r[o + R_PRIO]! >>> 0);
      if (rank > this.bRank) return;
      if (rank === this.bRank && (cs >>> 1) * TWO32 + (r[o + R_SLO]! >>> 0) > this.bestSerial()) return;
      if (
        (f.s0 & r[o + R_SM0]!) === r[o + R_SV0] &&
        ((f.dport ^ r[o + R_DPORT]!) & r[o + R_DPORTM]!) === 0 &&
        ((f.sport ^ r[o + R_SPORT]!) & r[o + R_SPORTM]!) === 0 &&
        (r[o + R_PROTO] === 0 || r[o + R_PROTO] === f.proto) &&
        (r[o + R_IFINDEX] === 0 || r[o + R_IFINDEX] === f.ifindex) &&
        (f.mark & r[o + R_MARKM]!) === r[o + R_MARKV] &&
        r[o + R_IFID] === (f.ifId | 0) &&
        (shift === 4 ||
          ((f.s1 & r[o + R_SM1]!) === r[o + R_SV1] &&
            (f.s2 & r[o + R_SM2]!) === r[o + R_SV2] &&
            (f.s3 & r[o + R_SM3]!) === r[o + R_SV3]))
      ) {
        this.bId = r[o + R_ID]!;
        this.bRank = rank;
        this.bSerial = (cs >>> 1) * TWO32 + (r[o + R_SLO]! >>> 0);
        return;
      }
    }
  }

  /**
   * Best policy of this chain for the flow, or undefined. No allocation. Probes every present
   * destination prefix length first (independent reads), then scans the hit bins in order of their
   * first policy's rank until none can beat the best match.
   */
  lookup(f: CompiledFlow): T | undefined {
    this.bId = -1;
    this.bRank = Number.POSITIVE_INFINITY;
    this.bSerial = 0;
    const tables = this.dst.tables;
    const hitHead = this.hitHead;
    const hitRank = this.hitRank;
    let n = 0;
    const d0 = f.d0;
    if (this.bits === 32) {
      const fm = this.filter;
      const lens = fm === undefined ? -1 : fm[d0 >>> 16]!;
      for (let i = 0; i < tables.length; i++) {
        const t = tables[i]!;
        if (t.plen >= 16 && ((lens >>> (t.plen - 16)) & 1) === 0) continue;
        const s = t.find4(d0 & t.m0);
        if (s < 0) continue;
        const sl = t.slots;
        const o = (s << 3) + 1;
        const head = sl[o]!;
        if (head > 0) {
          const w = sl[o + 2]!;
          const rank = (w & 1) * TWO32 + (sl[o + 1]! >>> 0);
          if ((w & 2) !== 0) {
            // lone policy decided from the slot: source, destination port, proto, if_id 0
            if (rank > this.bRank) continue;
            const ports = sl[o + 5]!;
            const proto = w >>> 2;
            if (
              (f.s0 & sl[o + 3]!) !== sl[o + 4] ||
              (f.dport & (ports >>> 16)) !== (ports & 0xffff) ||
              (proto !== 0 && proto !== f.proto) ||
              f.ifId !== 0
            )
              continue;
            if (rank < this.bRank) {
              this.bId = sl[o + 6]!;
              this.bRank = rank;
              this.bSerial = -1;
              this.bHead = head;
              continue;
            }
          }
          hitHead[n] = head;
          hitRank[n++] = rank;
        } else if (t.minRank <= this.bRank) {
          this.lookupSrc(t.bins[s]!.sub!, f);
        }
      }
    } else {
      const d1 = f.d1;
      const d2 = f.d2;
      const d3 = f.d3;
      for (let i = 0; i < tables.length; i++) {
        const t = tables[i]!;
        const s = t.find6(d0 & t.m0, d1 & t.m1, d2 & t.m2, d3 & t.m3);
        if (s < 0) continue;
        const sl = t.slots;
        const o = (s << 3) + 4;
        const head = sl[o]!;
        if (head > 0) {
          hitHead[n] = head;
          hitRank[n++] = (sl[o + 2]! & 1) * TWO32 + (sl[o + 1]! >>> 0);
        } else if (t.minRank <= this.bRank) {
          this.lookupSrc(t.bins[s]!.sub!, f);
        }
      }
    }
    while (n > 0) {
      let m = 0;
      for (let k = 1; k < n; k++) if (hitRank[k]! < hitRank[m]!) m = k;
      if (hitRank[m]! > this.bRank) break;
      this.scan(hitHead[m]!, f);
      n--;
      hitHead[m] = hitHead[n]!;
      hitRank[m] = hitRank[n]!;
    }
    return this.bId < 0 ? undefined : this.objs[this.bId];
  }

  private lookupSrc(sub: Level<T>, f: CompiledFlow): void {
    const tables = sub.tables;
    const v4 = this.bits === 32;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.minRank > this.bRank) continue;
      const s = v4 ? t.find4(f.s0 & t.m0) : t.find6(f.s0 & t.m0, f.s1 & t.m1, f.s2 & t.m2, f.s3 & t.m3);
      if (s < 0) continue;
      const o = (s << t.shift) + t.hOff;
      if ((t.slots[o + 2]! & 1) * TWO32 + (t.slots[o + 1]! >>> 0) <= this.bRank) this.scan(t.slots[o]!, f);
    }
  }

  /** Every indexed policy (any order). */
  *entries(): Generator<T> {
    for (const t of this.dst.tables)
      for (const b of t.values()) {
        if (b.sub === undefined) yield* b.list;
        else for (const st of b.sub.tables) for (const sb of st.values()) yield* sb.list;
      }
  }
}
