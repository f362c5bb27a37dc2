/**
 * Policy records in chain order, in typed arenas: the data a lookup reads.
 *
 * A *list* is a block of consecutive fixed-size records sorted in chain order — class (packet
 * offload first), then priority, then age — so that a lookup scans a list front to back and stops at
 * the first record that matches the flow (the best of its list) or that cannot beat the best match
 * found so far. The last record of a list carries a LAST flag, so a scan reads nothing but records.
 *
 * A record is split by how often a lookup needs it:
 * - the *hot* part, in `rec` — 8 int32 words (32 bytes, two per cache line) for IPv4, 16 for IPv6:
 *   order key, policy id, the selector's masked destination and source words with their prefix
 *   lengths, proto and destination port — what tells the policies of a list apart;
 * - the *cold* part, in `cold` (8 words per record) — source port, ifindex, mark, if_id, read only for
 *   a record flagged COLD, i.e. whose policy constrains one of them (most do not); and the list's
 *   length and capacity, kept at its first record for maintenance.
 *
 * A list is named by its *head*: first record + 1 (so 0 can mean "no list"); the answer of a lookup
 * is the policy id of the matching record (the index maps it to the entry). Blocks are powers of
 * two, reallocated on growth and shrinkage; freed blocks are kept on intrusive free lists by size.
 */
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
  /** the policy's id in the index that holds it (set by the index). */
  indexId: number;
}

/** The selector fields a record holds (a `CompiledSelector`: signed words, values pre-masked). */
export interface SelectorFields {
  readonly dm0: number;
  readonly dm1: number;
  readonly dm2: number;
  readonly dm3: number;
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
}

export const TWO32 = 0x1_0000_0000;

// hot record words
const R_PRIO = 0;
/** class (bit 0) | serial high bits << 1 | LAST (bit 31) on the last record of a list. */
const R_ORD = 1;
const R_SLO = 2;
const R_ID = 3;
/** prefixlen_d | prefixlen_s << 8 | proto << 16 | PROTO (proto ≠ 0) | COLD. */
const R_SEL = 4;
/** dport | mask << 16. */
const R_DPORTS = 5;
/** masked destination and source words: IPv4 6, 7; IPv6 6..9, 10..13. */
const R_DV = 6;
const R_SV4 = 7;
const R_SV6 = 10;

const LAST = 1 << 31;
const SEL_PROTO = 1 << 24;
const SEL_COLD = 1 << 25;

// cold record words
/** sport | mask << 16. */
const C_SPORTS = 0;
const C_IFINDEX = 1;
const C_MARKV = 2;
const C_MARKM = 3;
const C_IFID = 4;
/** first record of a list only: length | log2(capacity) << 26. */
const C_META = 5;
const COLD_SHIFT = 3;

const LEN_MASK = (1 << 26) - 1;
const CAP_SHIFT = 26;

/** Mask of word `w` of a prefix of `plen` bits, at `plen * 4 + w`. */
const MASKS = new Int32Array(129 * 4);
for (let plen = 0; plen <= 128; plen++) {
  for (let w = 0; w < 4; w++) {
    const bits = Math.min(32, Math.max(0, plen - 32 * w));
    MASKS[plen * 4 + w] = bits === 0 ? 0 : -1 << (32 - bits);
  }
}

/** The best match of a lookup in progress, shared by the record lists a lookup scans. */
export class BestMatch {
  /** policy id, -1 = none yet. */
  id = -1;
  rank = Number.POSITIVE_INFINITY;
  serial = 0;

  reset(): void {
    this.id = -1;
    this.rank = Number.POSITIVE_INFINITY;
    this.serial = 0;
  }
}

export class RecordLists {
  /** hot record words. */
  rec: Int32Array;
  /** cold record words, 8 per record. */
  cold: Int32Array;
  /** log2 of the hot words per record: 3 (IPv4) or 4 (IPv6). */
  readonly shift: 3 | 4;
  /** records handed out so far (the arena's high-water mark). */
  private top = 0;
  /** first free block per log2 capacity, -1 = none; a free block's first word links the next. */
  private readonly free = new Int32Array(32).fill(-1);
  // the list the last `open` worked on: new head, length and log2 capacity
  private placedHead = 0;
  private openN = 0;
  private openLog2 = 0;

  /** `best` is where `scan` records the best match so far. */
  constructor(
    readonly v6: boolean,
    readonly best: BestMatch,
  ) {
    this.shift = v6 ? 4 : 3;
    this.rec = new Int32Array(16 << this.shift);
    this.cold = new Int32Array(16 << COLD_SHIFT);
  }

  // -------------------------------------------------------------- blocks

  private alloc(log2: number): number {
    const f = this.free[log2]!;
    if (f >= 0) {
      this.free[log2] = this.rec[f << this.shift]!;
      return f;
    }
    const at = this.top;
    this.top += 1 << log2;
    if (this.top << this.shift > this.rec.length) {
      let records = this.rec.length >> this.shift;
      while (records < this.top) records *= 2;
      const rec = new Int32Array(records << this.shift);
      rec.set(this.rec);
      this.rec = rec;
      const cold = new Int32Array(records << COLD_SHIFT);
      cold.set(this.cold);
      this.cold = cold;
    }
    return at;
  }

  private release(block: number, log2: number): void {
    this.rec[block << this.shift] = this.free[log2]!;
    this.free[log2] = block;
  }

  private meta(block: number): number {
    return this.cold[(block << COLD_SHIFT) + C_META]!;
  }

  private setMeta(block: number, n: number, log2: number): void {
    this.cold[(block << COLD_SHIFT) + C_META] = n | (log2 << CAP_SHIFT);
  }

  /** Sets or clears the LAST flag of record `i`. */
  private markLast(i: number, last: boolean): void {
    const o = (i << this.shift) + R_ORD;
    this.rec[o] = last ? this.rec[o]! | LAST : this.rec[o]! & ~LAST;
  }

  /** Copies records [from, from + n) to `to` (hot and cold words). */
  private copy(to: number, from: number, n: number): void {
    const sh = this.shift;
    this.rec.copyWithin(to << sh, from << sh, (from + n) << sh);
    this.cold.copyWithin(to << COLD_SHIFT, from << COLD_SHIFT, (from + n) << COLD_SHIFT);
  }

  /** Frees a list's block. */
  drop(head: number): void {
    if (head <= 0) return;
    const b = head - 1;
    this.release(b, this.meta(b) >>> CAP_SHIFT);
  }

  // -------------------------------------------------------------- lists

  /** Number of policies in a list (0 for head 0). */
  length(head: number): number {
    return head <= 0 ? 0 : this.meta(head - 1) & LEN_MASK;
  }

  /** Record number of the `j`-th record of list `head`. */
  at(head: number, j: number): number {
    return head - 1 + j;
  }

  /** Policy id of record `i`. */
  idAt(i: number): number {
    return this.rec[(i << this.shift) + R_ID]!;
  }

  /** True if record `i` precedes (rank, serial) in chain order. */
  private recordBefore(i: number, rank: number, serial: number): boolean {
    const r = this.rec;
    const o = i << this.shift;
    const ord = r[o + R_ORD]!;
    const rr = (ord & 1) * TWO32 + (r[o + R_PRIO]! >>> 0);
    if (rr !== rank) return rr < rank;
    return ((ord & ~LAST) >>> 1) * TWO32 + (r[o + R_SLO]! >>> 0) < serial;
  }

  /** Position in list `block` (length n) of the first record not before (rank, serial). */
  private position(block: number, n: number, rank: number, serial: number): number {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.recordBefore(block + mid, rank, serial)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Opens a record at the place of (rank, serial) in list `head` (0 = a new list), moving the list
   * to a larger block when full. Returns the open record's number (the caller fills it, then calls
   * `closed`); the list's new head is left in `placedHead`.
   */
  private open(head: number, rank: number, serial: number): number {
    let n = 0;
    let log2 = 0;
    let block: number;
    if (head <= 0) {
      block = this.alloc(0);
    } else {
      block = head - 1;
      const meta = this.meta(block);
      n = meta & LEN_MASK;
      log2 = meta >>> CAP_SHIFT;
      if (n === 1 << log2) {
        // full: move to a block twice the size
        const grown = this.alloc(log2 + 1);
        this.copy(grown, block, n);
        this.release(block, log2);
        block = grown;
        log2++;
      }
    }
    const at = this.position(block, n, rank, serial);
    if (at < n) this.copy(block + at + 1, block + at, n - at);
    this.placedHead = block + 1;
    this.openN = n + 1;
    this.openLog2 = log2;
    return block + at;
  }

  /** Finishes an `open`ed record `i`: list meta and LAST flags. */
  private closed(i: number): void {
    const block = this.placedHead - 1;
    const n = this.openN;
    this.setMeta(block, n, this.openLog2);
    this.markLast(i, false);
    if (n >= 2) this.markLast(block + n - 2, false);
    this.markLast(block + n - 1, true);
  }

  /** Inserts policy `e` with selector `c` into the list `head` (0 = a new list); returns the new head. */
  insert(head: number, e: IndexedPolicy, c: SelectorFields): number {
    const i = this.open(head, e.rank, e.serial);
    this.write(i, e, c);
    this.closed(i);
    return this.placedHead;
  }

  /** Inserts a copy of record `from` (of another list) into list `head`; returns the new head. */
  insertCopy(head: number, from: number): number {
    const o = from << this.shift;
    const ord = this.rec[o + R_ORD]!;
    const rank = (ord & 1) * TWO32 + (this.rec[o + R_PRIO]! >>> 0);
    const serial = ((ord & ~LAST) >>> 1) * TWO32 + (this.rec[o + R_SLO]! >>> 0);
    const i = this.open(head, rank, serial);
    this.copy(i, from, 1);
    this.closed(i);
    return this.placedHead;
  }

  /** Record number of policy `e` in list `head`, or -1. */
  find(head: number, e: IndexedPolicy): number {
    if (head <= 0) return -1;
    const block = head - 1;
    const n = this.meta(block) & LEN_MASK;
    const at = this.position(block, n, e.rank, e.serial);
    if (at >= n || this.idAt(block + at) !== e.indexId) return -1;
    return block + at;
  }

  /** Removes policy `e` from the list `head`; returns the new head (0 once empty), or -1 if absent. */
  remove(head: number, e: IndexedPolicy): number {
    const found = this.find(head, e);
    if (found < 0) return -1;
    let block = head - 1;
    const meta = this.meta(block);
    const n = meta & LEN_MASK;
    let log2 = meta >>> CAP_SHIFT;
    if (n === 1) {
      this.release(block, log2);
      return 0;
    }
    const at = found - block;
    this.copy(found, found + 1, n - 1 - at);
    if (log2 > 0 && (n - 1) * 4 <= 1 << log2) {
      // a quarter full: move to a block half the size
      const shrunk = this.alloc(log2 - 1);
      this.copy(shrunk, block, n - 1);
      this.release(block, log2);
      block = shrunk;
      log2--;
    }
    this.setMeta(block, n - 1, log2);
    this.markLast(block + n - 2, true);
    return block + 1;
  }

  /** Writes the hot and cold words of record `i` for policy `e` with selector `c`. */
  private write(i: number, e: IndexedPolicy, c: SelectorFields): void {
    const r = this.rec;
    const o = i << this.shift;
    const hi = Math.floor(e.rank / TWO32);
    const cold =
      c.sportMask !== 0 || c.ifindex !== 0 || e.markM !== 0 || e.markV !== 0 || e.ifId !== 0 ? SEL_COLD : 0;
    r[o + R_PRIO] = e.rank - hi * TWO32;
    r[o + R_ORD] = hi | (Math.floor(e.serial / TWO32) << 1);
    r[o + R_SLO] = e.serial % TWO32;
    r[o + R_ID] = e.indexId;
    r[o + R_SEL] =
      c.prefixlenD | (c.prefixlenS << 8) | (c.proto << 16) | (c.proto !== 0 ? SEL_PROTO : 0) | cold;
    r[o + R_DPORTS] = c.dport | (c.dportMask << 16);
    r[o + R_DV] = c.dv0;
    if (this.v6) {
      r[o + R_DV + 1] = c.dv1;
      r[o + R_DV + 2] = c.dv2;
      r[o + R_DV + 3] = c.dv3;
      r[o + R_SV6] = c.sv0;
      r[o + R_SV6 + 1] = c.sv1;
      r[o + R_SV6 + 2] = c.sv2;
      r[o + R_SV6 + 3] = c.sv3;
    } else {
      r[o + R_SV4] = c.sv0;
    }
    const k = this.cold;
    const q = i << COLD_SHIFT;
    k[q + C_SPORTS] = c.sport | (c.sportMask << 16);
    k[q + C_IFINDEX] = c.ifindex;
    k[q + C_MARKV] = e.markV;
    k[q + C_MARKM] = e.markM;
    k[q + C_IFID] = e.ifId;
  }

  // -------------------------------------------------------------- lookup

  /** Rank of a list's first policy (a lower bound of the list), +∞ for head 0. */
  firstRank(head: number): number {
    if (head <= 0) return Number.POSITIVE_INFINITY;
    const o = (head - 1) << this.shift;
    return (this.rec[o + R_ORD]! & 1) * TWO32 + (this.rec[o + R_PRIO]! >>> 0);
  }

  /**
   * Scans list `head` in chain order for the first policy that matches the flow (`xfrm_policy_match`
   * without the family, which the index implies) and records it as the best match if it precedes
   * the best so far. Stops at the first record that cannot beat the best.
   */
  scan(head: number, f: CompiledFlow): void {
    const r = this.rec;
    const sh = this.shift;
    const v6 = this.v6;
    const best = this.best;
    let o = (head - 1) << sh;
    for (; ; o += 1 << sh) {
      const ord = r[o + R_ORD]!;
      const rank = (ord & 1) * TWO32 + (r[o + R_PRIO]! >>> 0);
      if (rank >= best.rank) {
        if (rank > best.rank || ((ord & ~LAST) >>> 1) * TWO32 + (r[o + R_SLO]! >>> 0) > best.serial) return;
      }
      // addresses first (what tells the policies of one list apart), then the rest at once
      const sel = r[o + R_SEL]!;
      const pd = (sel & 0xff) << 2;
      const ps = ((sel >>> 8) & 0xff) << 2;
      let miss: number;
      if (v6) {
        miss =
          ((f.d0 & MASKS[pd]!) ^ r[o + R_DV]!) |
          ((f.d1 & MASKS[pd + 1]!) ^ r[o + R_DV + 1]!) |
          ((f.d2 & MASKS[pd + 2]!) ^ r[o + R_DV + 2]!) |
          ((f.d3 & MASKS[pd + 3]!) ^ r[o + R_DV + 3]!) |
          ((f.s0 & MASKS[ps]!) ^ r[o + R_SV6]!) |
          ((f.s1 & MASKS[ps + 1]!) ^ r[o + R_SV6 + 1]!) |
          ((f.s2 & MASKS[ps + 2]!) ^ r[o + R_SV6 + 2]!) |
          ((f.s3 & MASKS[ps + 3]!) ^ r[o + R_SV6 + 3]!);
      } else {
        miss = ((f.d0 & MASKS[pd]!) ^ r[o + R_DV]!) | ((f.s0 & MASKS[ps]!) ^ r[o + R_SV4]!);
      }
      if (miss === 0) {
        const dports = r[o + R_DPORTS]!;
        miss =
          ((f.dport ^ dports) & (dports >>> 16)) | ((f.proto ^ (sel >>> 16)) & ((sel << 7) >> 31) & 0xff);
        if ((sel & SEL_COLD) === 0) {
          // no source port, ifindex, mark or if_id in the selector: only an if_id 0 flow matches
          miss |= f.ifId;
        } else if (miss === 0) {
          const k = this.cold;
          const q = (o >> sh) << COLD_SHIFT;
          const sports = k[q + C_SPORTS]!;
          const ifindex = k[q + C_IFINDEX]!;
          miss =
            ((f.sport ^ sports) & (sports >>> 16)) |
            ((f.mark & k[q + C_MARKM]!) ^ k[q + C_MARKV]!) |
            (k[q + C_IFID]! ^ (f.ifId | 0)) |
            (ifindex !== 0 ? ifindex ^ f.ifindex : 0);
        }
        if (miss === 0) {
          best.id = r[o + R_ID]!;
          best.rank = rank;
          best.serial = ((ord & ~LAST) >>> 1) * TWO32 + (r[o + R_SLO]! >>> 0);
          return;
        }
      }
      if (ord < 0) return;
    }
  }
}
