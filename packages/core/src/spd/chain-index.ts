/**
 * Lookup index of one policy chain (type, dir, family): which policy of the chain comes first in
 * chain order among those matching a flow. A lookup reads a fixed number of small structures and
 * scans short lists; its cost is bounded by the list lengths, not by the size of the chain.
 *
 * Policies are placed by destination prefix length, relative to the *cell* width (/16 for IPv4, /32
 * for IPv6):
 *
 * - **Cells** — a policy whose destination prefix is at least as long as a cell lies inside exactly
 *   one cell, and a cell holds those policies as one list in chain order (`record-lists.ts`). IPv4
 *   cells are a direct table indexed by the top 16 bits of the destination (a hash table on them
 *   while the chain has few cells); IPv6 cells a hash table on the first 32 bits. A lookup reads one cell and scans its list front to back, stopping at the
 *   first match or at the first policy that cannot beat the best match so far. Lists are short (a
 *   dozen policies per /16 at a million mixed policies).
 * - **Short prefixes** — a destination prefix shorter than a cell covers many cells, so it goes to a
 *   tuple-space search instead: one table per prefix length (`prefix-table.ts`) whose entries are the
 *   lists of one prefix each. For IPv4 these are direct tables indexed by the cell number shifted
 *   right (no hashing); for IPv6 hash tables on the first word. Distinct short prefixes are few in
 *   practice, so these tables — and their lists, kept in an arena of their own — stay in cache.
 * - **Split entries** — a cell whose list grows beyond `CELL_SPLIT` moves its policies to hash tables
 *   per exact destination prefix (the long tuples, probed only for that cell), and a tuple entry
 *   holding more than `SPLIT_AT` policies splits by source prefix length the same way (with presence
 *   filters, so that source tuples holding nothing near the flow's source cost no probe); both move
 *   back to one list at half the threshold. This bounds every scan in adversarial layouts while the
 *   common case stays a plain list: scanning a few dozen records in order is cheaper than probing
 *   several scattered tables.
 *
 * A lookup issues the load of its cell's list first, scans the short-prefix tuples meanwhile
 * (skipping a tuple whose best rank cannot beat the match so far), then the cell. The answer is
 * `objs[id]`. All lookup data is in typed arrays and a lookup allocates nothing. For maintenance the
 * index keeps each id's placement keys (prefix lengths, masked addresses) in a typed array too, so a
 * policy object carries nothing but its id; changes rewrite the affected list in place.
 */
import { DirectTable, filterBit, PrefixLevel, PrefixTable, type Tuple } from './prefix-table.ts';
import { BestMatch, type IndexedPolicy, RecordLists, type SelectorFields } from './record-lists.ts';
import type { CompiledFlow } from './selector.ts';

export type { IndexedPolicy, SelectorFields } from './record-lists.ts';

/** Policies in one cell's list before they move to the tuple tables; they move back at half. */
export const CELL_SPLIT = 64;
/** Policies in one tuple entry (one destination prefix) before it splits by source prefix; merged back at half. */
export const SPLIT_AT = 64;

/** Cell head of a split cell (its policies are in the long-prefix tuple tables). */
const SPLIT_CELL = -1;
/** IPv4 cells in a chain above which the cells move from a hash table to a direct table. */
export const DIRECT_CELLS_FROM = 1024;

/** Tuples by prefix length and the record arena their lists live in. */
class ListLevel<X extends Tuple = PrefixTable> extends PrefixLevel<X> {
  constructor(
    bits: number,
    make: (plen: number) => X,
    readonly lists: RecordLists,
  ) {
    super(bits, make);
  }
}

/** The source-prefix tables of one split tuple entry. */
class SourceLevel extends ListLevel {
  count = 0;
}

/** Thresholds of the index (defaults `CELL_SPLIT`, `SPLIT_AT`, `DIRECT_CELLS_FROM`; tests use small ones). */
export interface ChainIndexOptions {
  cellSplit?: number;
  splitAt?: number;
  directCellsFrom?: number;
}

export class ChainIndex<T extends IndexedPolicy> {
  count = 0;
  private readonly cellSplit: number;
  private readonly splitAt: number;
  private readonly directCellsFrom: number;
  /** best match of the lookup in progress. */
  private readonly best = new BestMatch();
  /** record arena of the cells and the long-prefix tuples (the short-prefix tuples have their own). */
  private readonly cellLists: RecordLists;
  private readonly v6: boolean;
  /** prefix length of a cell: 16 (IPv4) or 32 (IPv6). */
  readonly cellBits: number;
  /**
   * Cells by key (IPv4: top 16 bits of the destination, IPv6: first word) in a hash table; an IPv4
   * chain with more than `directCellsFrom` cells moves them to `cells4`, a direct table.
   */
  private cellTable = new PrefixTable(32, false);
  private cells4: Int32Array | undefined = undefined;
  /** member ids of each split cell, by cell key. */
  private readonly splitCells = new Map<number, Set<number>>();
  /** destination prefixes shorter than a cell: direct tables (IPv4) or hash tables on the first word. */
  private readonly short: ListLevel<DirectTable> | ListLevel;
  /** destination prefixes of split cells. */
  private readonly long: ListLevel;
  /** source levels of split tuple entries (entry head = -(index + 1)). */
  private readonly sources: (SourceLevel | undefined)[] = [];
  private readonly freeSources: number[] = [];
  /** policy by id: the answer of a lookup. */
  private readonly objs: (T | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /**
   * Where each id is placed, `keyWords` int32 per id: prefixlenD | prefixlenS << 8, the destination
   * words, the source words (one each for IPv4, four for IPv6), as masked in the selector.
   */
  private keys: Int32Array;
  private readonly keyWords: 3 | 9;

  constructor(
    readonly bits: 32 | 128,
    opts: ChainIndexOptions = {},
  ) {
    this.cellSplit = opts.cellSplit ?? CELL_SPLIT;
    this.splitAt = opts.splitAt ?? SPLIT_AT;
    this.directCellsFrom = opts.directCellsFrom ?? DIRECT_CELLS_FROM;
    const v6 = bits === 128;
    this.v6 = v6;
    this.cellBits = v6 ? 32 : 16;
    // short-prefix lists in an arena of their own: few, read by most lookups, they stay in cache
    const shortLists = new RecordLists(v6, this.best);
    this.short = v6
      ? new ListLevel(bits, (plen) => new PrefixTable(plen, false), shortLists)
      : new ListLevel(bits, (plen) => new DirectTable(plen), shortLists);
    this.cellLists = new RecordLists(v6, this.best);
    this.long = new ListLevel(bits, (plen) => new PrefixTable(plen, v6), this.cellLists);
    this.keyWords = v6 ? 9 : 3;
    this.keys = new Int32Array(16 * this.keyWords);
  }

  // -------------------------------------------------------------- ids and placement keys

  private allocId(e: T, c: SelectorFields): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.objs.length;
      this.objs.push(e);
    } else {
      this.objs[id] = e;
    }
    e.indexId = id;
    const kw = this.keyWords;
    if ((id + 1) * kw > this.keys.length) {
      const keys = new Int32Array(this.keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
    }
    const k = this.keys;
    const o = id * kw;
    k[o] = c.prefixlenD | (c.prefixlenS << 8);
    k[o + 1] = c.dv0;
    if (this.v6) {
      k[o + 2] = c.dv1;
      k[o + 3] = c.dv2;
      k[o + 4] = c.dv3;
      k[o + 5] = c.sv0;
      k[o + 6] = c.sv1;
      k[o + 7] = c.sv2;
      k[o + 8] = c.sv3;
    } else {
      k[o + 2] = c.sv0;
    }
    return id;
  }

  private releaseId(e: T): void {
    this.objs[e.indexId] = undefined;
    this.freeIds.push(e.indexId);
    e.indexId = -1;
  }

  /** True if `e` is in this index. */
  has(e: T): boolean {
    return e.indexId >= 0 && this.objs[e.indexId] === e;
  }

  private plenD(id: number): number {
    return this.keys[id * this.keyWords]! & 0xff;
  }

  private plenS(id: number): number {
    return this.keys[id * this.keyWords]! >>> 8;
  }

  /** Destination word `w` of an id's selector. */
  private dst(id: number, w: number): number {
    return this.v6 || w === 0 ? this.keys[id * this.keyWords + 1 + w]! : 0;
  }

  /** Source word `w` of an id's selector. */
  private src(id: number, w: number): number {
    return this.v6 ? this.keys[id * 9 + 5 + w]! : w === 0 ? this.keys[id * 3 + 2]! : 0;
  }

  /** Head of an id's destination entry in table `t`, or 0. */
  private dstHead(t: Tuple, id: number): number {
    return t.get(this.dst(id, 0), this.dst(id, 1), this.dst(id, 2), this.dst(id, 3));
  }

  private setDstHead(t: Tuple, id: number, head: number): void {
    t.set(this.dst(id, 0), this.dst(id, 1), this.dst(id, 2), this.dst(id, 3), head);
  }

  private srcHead(t: Tuple, id: number): number {
    return t.get(this.src(id, 0), this.src(id, 1), this.src(id, 2), this.src(id, 3));
  }

  private setSrcHead(t: Tuple, id: number, head: number): void {
    t.set(this.src(id, 0), this.src(id, 1), this.src(id, 2), this.src(id, 3), head);
  }

  /**
   * Places a policy into list `head` and returns the new head: a new record from the entry and
   * its selector, or a copy of record `from` when moving between lists.
   */
  private place(lists: RecordLists, head: number, e: T, c: SelectorFields | undefined, from: number): number {
    return c !== undefined ? lists.insert(head, e, c) : lists.insertCopy(head, from);
  }

  // -------------------------------------------------------------- cells

  private cellKey(id: number): number {
    return this.v6 ? this.dst(id, 0) : this.dst(id, 0) >>> 16;
  }

  private cellHead(key: number): number {
    return this.cells4 !== undefined ? this.cells4[key]! : this.cellTable.get1(key);
  }

  private setCellHead(key: number, head: number): void {
    if (this.cells4 !== undefined) {
      this.cells4[key] = head;
      return;
    }
    this.cellTable.set(key, 0, 0, 0, head);
    if (!this.v6 && this.cellTable.size > this.directCellsFrom) {
      // large IPv4 chain: a direct table (256 KiB) saves the hash probe of every lookup
      const cells = new Int32Array(1 << 16);
      this.cellTable.forEach((k, h) => {
        cells[k] = h;
      });
      this.cells4 = cells;
      this.cellTable = new PrefixTable(32, false);
    }
  }

  private addToCell(e: T, c: SelectorFields): void {
    const id = e.indexId;
    const key = this.cellKey(id);
    const head = this.cellHead(key);
    if (head === SPLIT_CELL) {
      this.splitCells.get(key)!.add(id);
      this.addToLevel(this.long, e, c, -1);
      return;
    }
    const nh = this.cellLists.insert(head, e, c);
    const n = this.cellLists.length(nh);
    if (n <= this.cellSplit) {
      this.setCellHead(key, nh);
      return;
    }
    // too many policies in one cell: move them to the tuple tables
    const members = new Set<number>();
    for (let j = 0; j < n; j++) {
      const from = this.cellLists.at(nh, j);
      const x = this.cellLists.idAt(from);
      members.add(x);
      this.addToLevel(this.long, this.objs[x]!, undefined, from);
    }
    this.cellLists.drop(nh);
    this.splitCells.set(key, members);
    this.setCellHead(key, SPLIT_CELL);
  }

  private removeFromCell(e: T): boolean {
    const id = e.indexId;
    const key = this.cellKey(id);
    const head = this.cellHead(key);
    if (head !== SPLIT_CELL) {
      const nh = this.cellLists.remove(head, e);
      if (nh < 0) return false;
      this.setCellHead(key, nh);
      return true;
    }
    const members = this.splitCells.get(key)!;
    if (!members.delete(id) || !this.removeFromLevel(this.long, e)) return false;
    if (members.size <= this.cellSplit / 2) {
      // back to one list
      let nh = 0;
      for (const x of members) nh = this.cellLists.insertCopy(nh, this.recordOf(this.long, x));
      for (const x of members) this.removeFromLevel(this.long, this.objs[x]!);
      this.splitCells.delete(key);
      this.setCellHead(key, nh);
    }
    return true;
  }

  // -------------------------------------------------------------- tuple tables

  /** Adds `e` (new: selector `c`; moved: record `from`) to its destination entry in `level`. */
  private addToLevel(level: ListLevel<Tuple>, e: T, c: SelectorFields | undefined, from: number): void {
    const id = e.indexId;
    const t = level.table(this.plenD(id));
    if (e.rank < t.minRank) t.minRank = e.rank;
    const head = this.dstHead(t, id);
    if (head < 0) {
      this.addToSource(this.sources[-head - 1]!, e, c, from);
      return;
    }
    let nh = this.place(level.lists, head, e, c, from);
    if (level.lists.length(nh) > this.splitAt) nh = this.splitBySource(level.lists, nh);
    this.setDstHead(t, id, nh);
  }

  /** Moves a list's policies into a new source level; returns the entry head that names it. */
  private splitBySource(lists: RecordLists, head: number): number {
    const v6 = this.v6;
    const src = new SourceLevel(this.bits, (plen) => new PrefixTable(plen, v6), lists);
    const i = this.freeSources.pop() ?? this.sources.length;
    this.sources[i] = src;
    const n = lists.length(head);
    for (let j = 0; j < n; j++) {
      const from = lists.at(head, j);
      this.addToSource(src, this.objs[lists.idAt(from)]!, undefined, from);
    }
    lists.drop(head);
    return -(i + 1);
  }

  private addToSource(src: SourceLevel, e: T, c: SelectorFields | undefined, from: number): void {
    const id = e.indexId;
    const t = src.table(this.plenS(id));
    if (e.rank < t.minRank) t.minRank = e.rank;
    this.setSrcHead(t, id, this.place(src.lists, this.srcHead(t, id), e, c, from));
    src.count++;
  }

  /** Record number of id `x` in `level` (which holds it). */
  private recordOf(level: ListLevel<Tuple>, x: number): number {
    let head = this.dstHead(level.byLen[this.plenD(x)]!, x);
    if (head < 0) head = this.srcHead(this.sources[-head - 1]!.byLen[this.plenS(x)]!, x);
    return level.lists.find(head, this.objs[x]!);
  }

  private removeFromLevel(level: ListLevel<Tuple>, e: T): boolean {
    const lists = level.lists;
    const id = e.indexId;
    const t = level.byLen[this.plenD(id)];
    if (t === undefined) return false;
    const head = this.dstHead(t, id);
    if (head > 0) {
      const nh = lists.remove(head, e);
      if (nh < 0) return false;
      this.setDstHead(t, id, nh);
      level.dropIfEmpty(t);
      return true;
    }
    if (head === 0) return false;
    const si = -head - 1;
    const src = this.sources[si]!;
    if (!this.removeFromSource(src, e)) return false;
    if (src.count <= this.splitAt / 2) {
      // back to one list
      let nh = 0;
      for (const st of src.tables) {
        for (const h of st.storedHeads()) {
          const n = lists.length(h);
          for (let j = 0; j < n; j++) nh = lists.insertCopy(nh, lists.at(h, j));
          lists.drop(h);
        }
      }
      this.sources[si] = undefined;
      this.freeSources.push(si);
      this.setDstHead(t, id, nh);
    }
    return true;
  }

  private removeFromSource(src: SourceLevel, e: T): boolean {
    const id = e.indexId;
    const t = src.byLen[this.plenS(id)];
    if (t === undefined) return false;
    const nh = src.lists.remove(this.srcHead(t, id), e);
    if (nh < 0) return false;
    this.setSrcHead(t, id, nh);
    src.dropIfEmpty(t);
    src.count--;
    return true;
  }

  // -------------------------------------------------------------- maintenance

  /** Adds policy `e` whose selector is `c` (compiled for this chain's family). */
  add(e: T, c: SelectorFields): void {
    this.allocId(e, c);
    this.count++;
    if (c.prefixlenD >= this.cellBits) this.addToCell(e, c);
    else this.addToLevel(this.short, e, c, -1);
  }

  /** Removes `e`; false if it was not indexed. */
  remove(e: T): boolean {
    if (!this.has(e)) return false;
    const ok =
      this.plenD(e.indexId) >= this.cellBits ? this.removeFromCell(e) : this.removeFromLevel(this.short, e);
    if (!ok) throw new Error('policy index out of sync');
    this.releaseId(e);
    this.count--;
    return true;
  }

  /** Every indexed policy (any order). */
  *entries(): Generator<T> {
    for (const e of this.objs) if (e !== undefined) yield e;
  }

  // -------------------------------------------------------------- lookup

  /** Best policy of this chain for the flow, or undefined. No allocation. */
  lookup(f: CompiledFlow): T | undefined {
    const best = this.best;
    best.reset();
    const cellLists = this.cellLists;
    // the cell's list is the likely miss to memory: its first rank is read before the short-prefix
    // tuples are scanned so that the load overlaps with that work, and it then tells whether the
    // cell can beat what the short prefixes found
    if (this.v6) {
      const ch = this.cellTable.get1(f.d0);
      const cellRank = ch > 0 ? cellLists.firstRank(ch) : 0;
      const short = this.short as ListLevel;
      const tables = short.tables;
      for (let i = 0; i < tables.length; i++) {
        const t = tables[i]!;
        if (t.minRank > best.rank) continue;
        const h = t.get1(f.d0 & t.m0);
        if (h > 0) short.lists.scan(h, f);
        else if (h < 0) this.scanSources(-h - 1, f);
      }
      if (ch > 0) {
        if (cellRank <= best.rank) cellLists.scan(ch, f);
      } else if (ch === SPLIT_CELL) this.probe6(this.long, f);
    } else {
      const c = f.d0 >>> 16;
      const cells = this.cells4;
      const ch = cells !== undefined ? cells[c]! : this.cellTable.get1(c);
      const cellRank = ch > 0 ? cellLists.firstRank(ch) : 0;
      const short = this.short as ListLevel<DirectTable>;
      const tables = short.tables;
      for (let i = 0; i < tables.length; i++) {
        const t = tables[i]!;
        if (t.minRank > best.rank) continue;
        const h = t.heads[c >>> t.shift]!;
        if (h > 0) short.lists.scan(h, f);
        else if (h < 0) this.scanSources(-h - 1, f);
      }
      if (ch > 0) {
        if (cellRank <= best.rank) cellLists.scan(ch, f);
      } else if (ch === SPLIT_CELL) this.probe4(this.long, f);
    }
    const id = best.id;
    return id < 0 ? undefined : this.objs[id];
  }

  /** Probes the IPv4 long-prefix tuples (a split cell) and scans the hit entries. */
  private probe4(level: ListLevel, f: CompiledFlow): void {
    const best = this.best;
    const tables = level.tables;
    const d0 = f.d0;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.minRank > best.rank) continue;
      const h = t.get1(d0 & t.m0);
      if (h > 0) level.lists.scan(h, f);
      else if (h < 0) this.scanSources(-h - 1, f);
    }
  }

  /** Probes the IPv6 long-prefix tuples (a split cell) and scans the hit entries. */
  private probe6(level: ListLevel, f: CompiledFlow): void {
    const best = this.best;
    const tables = level.tables;
    for (let i = 0; i < tables.length; i++) {
      const t = tables[i]!;
      if (t.minRank > best.rank) continue;
      const h = t.get4(f.d0 & t.m0, f.d1 & t.m1, f.d2 & t.m2, f.d3 & t.m3);
      if (h > 0) level.lists.scan(h, f);
      else if (h < 0) this.scanSources(-h - 1, f);
    }
  }

  /** Probes the source tables of a split entry (skipping those whose filter rules the source out). */
  private scanSources(i: number, f: CompiledFlow): void {
    const best = this.best;
    const src = this.sources[i]!;
    const tables = src.tables;
    for (let k = 0; k < tables.length; k++) {
      const t = tables[k]!;
      if (t.minRank > best.rank) continue;
      let h: number;
      if (this.v6) {
        const a0 = f.s0 & t.m0;
        const a1 = f.s1 & t.m1;
        const a2 = f.s2 & t.m2;
        const a3 = f.s3 & t.m3;
        if (!t.mayHold(filterBit(a0, a1, a2, a3))) continue;
        h = t.get4(a0, a1, a2, a3);
      } else {
        const a0 = f.s0 & t.m0;
        if (!t.mayHold(filterBit(a0, 0, 0, 0))) continue;
        h = t.get1(a0);
      }
      if (h > 0) src.lists.scan(h, f);
    }
  }
}
