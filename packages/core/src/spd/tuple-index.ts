/**
 * Policy lookup index of one (type, dir, family) chain: tuple-space search over prefix lengths.
 *
 * Level 1 groups policies by destination prefix length; each group is an open-addressing hash table
 * keyed by the masked destination (all four words, zero beyond the prefix) whose bins hold the
 * policies of one destination prefix. A small bin is a list sorted in chain order (class, priority,
 * age); a bin with more than `SPLIT_AT` policies is split the same way by source prefix length
 * (level 2), whose bins are sorted lists.
 *
 * A lookup masks the flow's destination once per present destination prefix length, probes that
 * table (one compact Int32Array read when the prefix is absent), and in a hit bin scans the sorted
 * list only while an entry could still beat the best match so far. Each table keeps a lower bound of
 * the ranks it holds, so tables that cannot beat the current winner are skipped without a probe.
 * The cost depends on the number of distinct prefix lengths, not on the number of policies.
 *
 * Hashes are kept in an Int32Array (0 = empty slot) next to the bin array, so probing a prefix that
 * holds no policy reads four bytes; deletions use backward-shift so there are no tombstones.
 */
import { maskWord } from './address-words.ts';
import { type CompiledFlow, selectorMatchesFlow } from './selector.ts';

/** What the index needs to know about a policy (a subset of `SpdEntry`). */
export interface IndexedPolicy {
  readonly rank: number;
  readonly serial: number;
  readonly markV: number;
  readonly markM: number;
  readonly ifId: number;
  readonly sel: {
    readonly dv0: number;
    readonly dv1: number;
    readonly dv2: number;
    readonly dv3: number;
    readonly sv0: number;
    readonly sv1: number;
    readonly sv2: number;
    readonly sv3: number;
    readonly prefixlenD: number;
    readonly prefixlenS: number;
  } & Parameters<typeof selectorMatchesFlow>[0];
}

/** Policies per destination bin before it is split by source prefix; merged back at half. */
export const SPLIT_AT = 8;

/** True if `a` precedes `b` in chain order. */
export function rankBefore(a: IndexedPolicy, b: IndexedPolicy): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.serial < b.serial);
}

/** Inserts `e` into a list sorted in chain order (after equals: `e` is the newest). */
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

/** Policies sharing one masked prefix (destination at level 1, source at level 2). */
export class Bin<T extends IndexedPolicy> {
  /** sorted in chain order; empty while `sub` is set. */
  list: T[] = [];
  /** level-2 tables by source prefix length once the bin is split. */
  sub: Level<T> | undefined = undefined;
  count = 0;
  constructor(
    readonly hash: number,
    readonly k0: number,
    readonly k1: number,
    readonly k2: number,
    readonly k3: number,
  ) {}
}

/** Open-addressing table of bins for one prefix length. */
export class BinTable<T extends IndexedPolicy> {
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  hashes = new Int32Array(8);
  bins: (Bin<T> | undefined)[] = new Array<Bin<T> | undefined>(8).fill(undefined);
  mask = 7;
  size = 0;
  /** lower bound of the ranks stored (not raised on removal: only used to skip the table). */
  minRank = Number.POSITIVE_INFINITY;

  constructor(readonly plen: number) {
    this.m0 = maskWord(plen, 0);
    this.m1 = maskWord(plen, 1);
    this.m2 = maskWord(plen, 2);
    this.m3 = maskWord(plen, 3);
  }

  /** The bin of a masked key with hash `h`. */
  get(h: number, a0: number, a1: number, a2: number, a3: number): Bin<T> | undefined {
    const hs = this.hashes;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const x = hs[i]!;
      if (x === 0) return undefined;
      if (x === h) {
        const b = this.bins[i]!;
        if (b.k0 === a0 && b.k1 === a1 && b.k2 === a2 && b.k3 === a3) return b;
      }
      i = (i + 1) & mask;
    }
  }

  getOrCreate(a0: number, a1: number, a2: number, a3: number): Bin<T> {
    const h = hashWords(a0, a1, a2, a3);
    const found = this.get(h, a0, a1, a2, a3);
    if (found !== undefined) return found;
    if ((this.size + 1) * 2 > this.hashes.length) this.resize(this.hashes.length * 2);
    const b = new Bin<T>(h, a0, a1, a2, a3);
    this.place(b);
    this.size++;
    return b;
  }

  private place(b: Bin<T>): void {
    const hs = this.hashes;
    let i = b.hash & this.mask;
    while (hs[i] !== 0) i = (i + 1) & this.mask;
    hs[i] = b.hash;
    this.bins[i] = b;
  }

  private resize(cap: number): void {
    const old = this.bins;
    this.hashes = new Int32Array(cap);
    this.bins = new Array<Bin<T> | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    for (const b of old) if (b !== undefined) this.place(b);
  }

  /** Removes a bin (backward-shift deletion). */
  delete(b: Bin<T>): void {
    const hs = this.hashes;
    const bins = this.bins;
    const mask = this.mask;
    let i = b.hash & mask;
    while (bins[i] !== b) {
      if (hs[i] === 0) return;
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const h = hs[j]!;
      if (h === 0) break;
      const home = h & mask;
      // move j back to i unless its home lies cyclically in (i, j]
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        hs[i] = h;
        bins[i] = bins[j];
        i = j;
      }
    }
    hs[i] = 0;
    bins[i] = undefined;
    this.size--;
    if (this.size * 8 < hs.length && hs.length > 8) this.resize(hs.length / 2);
  }

  *values(): Generator<Bin<T>> {
    for (const b of this.bins) if (b !== undefined) yield b;
  }
}

/** Tables by prefix length, the present ones in `tables` (longest prefix first). */
export class Level<T extends IndexedPolicy> {
  readonly byLen: (BinTable<T> | undefined)[];
  tables: BinTable<T>[] = [];

  constructor(bits: number) {
    this.byLen = new Array<BinTable<T> | undefined>(bits + 1).fill(undefined);
  }

  table(plen: number): BinTable<T> {
    let t = this.byLen[plen];
    if (t === undefined) {
      t = new BinTable<T>(plen);
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

/** Does `e` match the flow (the flow family is the index family)? */
function matches(e: IndexedPolicy, f: CompiledFlow): boolean {
  return e.ifId === f.ifId && (f.mark & e.markM) === e.markV && selectorMatchesFlow(e.sel, f);
}

/** Best of `best` and the first matching entry of a sorted list that beats it. */
function scan<T extends IndexedPolicy>(list: T[], f: CompiledFlow, best: T | undefined): T | undefined {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (best !== undefined && !rankBefore(e, best)) return best;
    if (matches(e, f)) return e;
  }
  return best;
}

export class TupleIndex<T extends IndexedPolicy> {
  readonly dst: Level<T>;
  count = 0;

  constructor(readonly bits: 32 | 128) {
    this.dst = new Level<T>(bits);
  }

  add(e: T): void {
    const c = e.sel;
    const t = this.dst.table(c.prefixlenD);
    const b = t.getOrCreate(c.dv0, c.dv1, c.dv2, c.dv3);
    if (e.rank < t.minRank) t.minRank = e.rank;
    b.count++;
    this.count++;
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
    }
  }

  private addSrc(sub: Level<T>, e: T): void {
    const c = e.sel;
    const t = sub.table(c.prefixlenS);
    if (e.rank < t.minRank) t.minRank = e.rank;
    insertSorted(t.getOrCreate(c.sv0, c.sv1, c.sv2, c.sv3).list, e);
  }

  /** Removes `e`; false if it was not indexed. */
  remove(e: T): boolean {
    const c = e.sel;
    const t = this.dst.byLen[c.prefixlenD];
    if (t === undefined) return false;
    const b = t.get(hashWords(c.dv0, c.dv1, c.dv2, c.dv3), c.dv0, c.dv1, c.dv2, c.dv3);
    if (b === undefined) return false;
    if (b.sub === undefined) {
      if (!removeFromList(b.list, e)) return false;
    } else {
      const sub = b.sub;
      const st = sub.byLen[c.prefixlenS];
      if (st === undefined) return false;
      const sb = st.get(hashWords(c.sv0, c.sv1, c.sv2, c.sv3), c.sv0, c.sv1, c.sv2, c.sv3);
      if (sb === undefined || !removeFromList(sb.list, e)) return false;
      if (sb.list.length === 0) {
        st.delete(sb);
        sub.dropIfEmpty(st);
      }
      if (b.count - 1 <= SPLIT_AT / 2) {
        const all: T[] = [];
        for (const x of sub.tables) for (const y of x.values()) for (const z of y.list) insertSorted(all, z);
        b.list = all;
        b.sub = undefined;
      }
    }
    b.count--;
    this.count--;
    if (b.count === 0) {
      t.delete(b);
      this.dst.dropIfEmpty(t);
    }
    return true;
  }

  /** Best policy of this chain for the flow, or undefined. No allocation. */
  lookup(f: CompiledFlow): T | undefined {
    let best: T | undefined;
    let bestRank = Number.POSITIVE_INFINITY;
    const tables = this.dst.tables;
    const d0 = f.d0;
    const d1 = f.d1;
    const d2 = f.d2;
    const d3 = f.d3;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.minRank > bestRank) continue;
      const a0 = d0 & t.m0;
      const a1 = d1 & t.m1;
      const a2 = d2 & t.m2;
      const a3 = d3 & t.m3;
      const b = t.get(hashWords(a0, a1, a2, a3), a0, a1, a2, a3);
      if (b === undefined) continue;
      const before = best;
      best = b.sub === undefined ? scan(b.list, f, best) : this.lookupSrc(b.sub, f, best, bestRank);
      if (best !== before) bestRank = best!.rank;
    }
    return best;
  }

  private lookupSrc(sub: Level<T>, f: CompiledFlow, best: T | undefined, bestRank: number): T | undefined {
    const tables = sub.tables;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.minRank > bestRank) continue;
      const a0 = f.s0 & t.m0;
      const a1 = f.s1 & t.m1;
      const a2 = f.s2 & t.m2;
      const a3 = f.s3 & t.m3;
      const b = t.get(hashWords(a0, a1, a2, a3), a0, a1, a2, a3);
      if (b === undefined) continue;
      const before = best;
      best = scan(b.list, f, best);
      if (best !== before) bestRank = best!.rank;
    }
    return best;
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
