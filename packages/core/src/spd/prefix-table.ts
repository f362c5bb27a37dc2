/**
 * One tuple of the tuple-space search: an open-addressing hash table from a masked address prefix
 * of one length to a `head` (an int32 the caller defines; 0 means "no entry", so heads are never 0).
 *
 * Keys are one word (IPv4 prefixes, and the first word of IPv6 prefixes for the /32 cells) or four
 * words (IPv6 prefixes). Everything lives in one Int32Array of slots — `[k0, head]` or
 * `[k0, k1, k2, k3, head, -, -, -]` — so a probe reads one slot and allocates nothing. Linear
 * probing at load ≤ 1/2 with backward-shift deletion (no tombstones).
 *
 * A 256-bit presence filter on a byte of the key (`filterBit`) lets a lookup skip a table that holds
 * nothing near the address without hashing or probing: bits are set on insertion and recomputed
 * when the table is resized, so a stale bit only costs a probe.
 */
import { maskWord } from './address-words.ts';
import { backshiftDelete } from './open-addressing.ts';

/** The presence-filter bit of a (masked) key: a byte folded from its words. */
export function filterBit(a0: number, a1: number, a2: number, a3: number): number {
  const x = a0 ^ a1 ^ a2 ^ a3;
  return (x ^ (x >>> 8) ^ (x >>> 16) ^ (x >>> 24)) & 0xff;
}

/** Non-zero-agnostic 32-bit hash of one word. */
export function hashWord(a: number): number {
  let h = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** 32-bit hash of four words. */
export function hashWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x2545f491, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x27d4eb2d);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  return h ^ (h >>> 16);
}

const MIN_SLOTS = 8;

export class PrefixTable implements Tuple {
  /** prefix masks of the four words (signed int32). */
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  /** log2 of the words per slot: 1 (one-word keys) or 3 (four-word keys). */
  readonly shift: 1 | 3;
  /** offset of the head in a slot. */
  private readonly hOff: 1 | 4;
  slots: Int32Array;
  mask = MIN_SLOTS - 1;
  size = 0;
  /**
   * Lower bound of the ranks stored under this table (maintained by the owner; not raised on
   * removal): a lookup whose best match already ranks better skips the probe.
   */
  minRank = Number.POSITIVE_INFINITY;
  /** presence filter: bit `filterBit(key)` is set for every stored key. */
  readonly present = new Int32Array(8);

  /** `plen` bits of prefix; `wide` for four-word (IPv6) keys. */
  constructor(
    readonly plen: number,
    readonly wide: boolean,
  ) {
    this.m0 = maskWord(plen, 0);
    this.m1 = wide ? maskWord(plen, 1) : 0;
    this.m2 = wide ? maskWord(plen, 2) : 0;
    this.m3 = wide ? maskWord(plen, 3) : 0;
    this.shift = wide ? 3 : 1;
    this.hOff = wide ? 4 : 1;
    this.slots = new Int32Array(MIN_SLOTS << this.shift);
  }

  private home(a0: number, a1: number, a2: number, a3: number): number {
    return (this.wide ? hashWords(a0, a1, a2, a3) : hashWord(a0)) & this.mask;
  }

  /** Home slot of the key stored at word offset `o` of `sl`. */
  homeAt(sl: Int32Array, o: number): number {
    return (this.wide ? hashWords(sl[o]!, sl[o + 1]!, sl[o + 2]!, sl[o + 3]!) : hashWord(sl[o]!)) & this.mask;
  }

  /** False if no key with this filter bit is stored (the lookup can skip the table). */
  mayHold(bit: number): boolean {
    return ((this.present[bit >>> 5]! >>> (bit & 31)) & 1) !== 0;
  }

  /** Head stored for a one-word key (already masked), or 0. */
  get1(a0: number): number {
    const sl = this.slots;
    const mask = this.mask;
    let i = hashWord(a0) & mask;
    for (;;) {
      const o = i << 1;
      const head = sl[o + 1]!;
      if (head === 0 || sl[o] === a0) return head;
      i = (i + 1) & mask;
    }
  }

  /** Head stored for a four-word key (already masked), or 0. */
  get4(a0: number, a1: number, a2: number, a3: number): number {
    const sl = this.slots;
    const mask = this.mask;
    let i = hashWords(a0, a1, a2, a3) & mask;
    for (;;) {
      const o = i << 3;
      const head = sl[o + 4]!;
      if (head === 0 || (sl[o] === a0 && sl[o + 1] === a1 && sl[o + 2] === a2 && sl[o + 3] === a3)) {
        return head;
      }
      i = (i + 1) & mask;
    }
  }

  /** Head of a key (masked words; a one-word table reads only `a0`), or 0. */
  get(a0: number, a1: number, a2: number, a3: number): number {
    return this.wide ? this.get4(a0, a1, a2, a3) : this.get1(a0);
  }

  /** Slot of a key, or -1. */
  private find(a0: number, a1: number, a2: number, a3: number): number {
    const sl = this.slots;
    const sh = this.shift;
    let i = this.home(a0, a1, a2, a3);
    for (;;) {
      const o = i << sh;
      if (sl[o + this.hOff] === 0) return -1;
      if (sl[o] === a0 && (!this.wide || (sl[o + 1] === a1 && sl[o + 2] === a2 && sl[o + 3] === a3)))
        return i;
      i = (i + 1) & this.mask;
    }
  }

  /** Sets the head of a key: inserts the key if absent, removes it when `head` is 0. */
  set(a0: number, a1: number, a2: number, a3: number, head: number): void {
    const i = this.find(a0, a1, a2, a3);
    if (i >= 0) {
      if (head === 0) this.deleteSlot(i);
      else this.slots[(i << this.shift) + this.hOff] = head;
      return;
    }
    if (head === 0) return;
    if ((this.size + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    this.place(a0, a1, a2, a3, head);
    this.size++;
  }

  private place(a0: number, a1: number, a2: number, a3: number, head: number): void {
    const sl = this.slots;
    const sh = this.shift;
    let i = this.home(a0, a1, a2, a3);
    while (sl[(i << sh) + this.hOff] !== 0) i = (i + 1) & this.mask;
    const o = i << sh;
    sl[o] = a0;
    if (this.wide) {
      sl[o + 1] = a1;
      sl[o + 2] = a2;
      sl[o + 3] = a3;
    }
    sl[o + this.hOff] = head;
    const bit = filterBit(a0, a1, a2, a3);
    this.present[bit >>> 5]! |= 1 << (bit & 31);
  }

  private resize(nslots: number): void {
    const old = this.slots;
    const sh = this.shift;
    this.slots = new Int32Array(nslots << sh);
    this.mask = nslots - 1;
    this.present.fill(0);
    for (let o = 0; o < old.length; o += 1 << sh) {
      if (old[o + this.hOff] === 0) continue;
      let i = this.homeAt(old, o);
      while (this.slots[(i << sh) + this.hOff] !== 0) i = (i + 1) & this.mask;
      this.slots.set(old.subarray(o, o + (1 << sh)), i << sh);
      const bit = this.wide
        ? filterBit(old[o]!, old[o + 1]!, old[o + 2]!, old[o + 3]!)
        : filterBit(old[o]!, 0, 0, 0);
      this.present[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  /** Backward-shift deletion of slot `i`. */
  private deleteSlot(i: number): void {
    const mask = this.mask;
    backshiftDelete(this, this.slots, i, this.hOff);
    this.size--;
    if (this.size * 8 < mask + 1 && mask + 1 > MIN_SLOTS) this.resize((mask + 1) / 2);
  }

  /** Calls `fn` with every stored one-word key and its head (any order). */
  forEach(fn: (a0: number, head: number) => void): void {
    const sl = this.slots;
    for (let o = 0; o < sl.length; o += 1 << this.shift)
      if (sl[o + this.hOff] !== 0) fn(sl[o]!, sl[o + this.hOff]!);
  }

  /** Every stored head (any order). */
  storedHeads(): number[] {
    const out: number[] = [];
    const sl = this.slots;
    for (let o = this.hOff; o < sl.length; o += 1 << this.shift) if (sl[o] !== 0) out.push(sl[o]!);
    return out;
  }
}

/** What a tuple level needs of its tables. Keys are masked address words; one-word tables read only `a0`. */
export interface Tuple {
  readonly plen: number;
  size: number;
  minRank: number;
  get(a0: number, a1: number, a2: number, a3: number): number;
  set(a0: number, a1: number, a2: number, a3: number, head: number): void;
  storedHeads(): number[];
}

/** The tuples of one dimension (destination or source) by prefix length, the present ones in `tables`. */
export class PrefixLevel<T extends Tuple = PrefixTable> {
  readonly byLen: (T | undefined)[];
  /** present tables, longest prefix first. */
  tables: T[] = [];

  constructor(
    bits: number,
    private readonly make: (plen: number) => T,
  ) {
    this.byLen = new Array<T | undefined>(bits + 1).fill(undefined);
  }

  /** The table of `plen`, created if absent. */
  table(plen: number): T {
    let t = this.byLen[plen];
    if (t === undefined) {
      t = this.make(plen);
      this.byLen[plen] = t;
      this.tables = [...this.tables, t].sort((a, b) => b.plen - a.plen);
    }
    return t;
  }

  /** Drops a table once it holds nothing. */
  dropIfEmpty(t: T): void {
    if (t.size !== 0 || this.byLen[t.plen] !== t) return;
    this.byLen[t.plen] = undefined;
    this.tables = this.tables.filter((x) => x !== t);
  }
}

/**
 * A tuple for IPv4 prefixes of at most 16 bits, indexed directly: the entry of an address is its
 * top `plen` bits, i.e. its /16 cell number shifted right by 16 − plen. Same interface as
 * `PrefixTable` for maintenance; lookups read `heads[cell >>> shift]`.
 */
export class DirectTable implements Tuple {
  readonly heads: Int32Array;
  /** right shift from a /16 cell number to this table's entry. */
  readonly shift: number;
  size = 0;
  /** as `PrefixTable.minRank`. */
  minRank = Number.POSITIVE_INFINITY;

  constructor(readonly plen: number) {
    if (plen > 16) throw new RangeError('direct tables cover prefixes of at most 16 bits');
    this.heads = new Int32Array(1 << plen);
    this.shift = 16 - plen;
  }

  /** Head for a (masked) address word, or 0; a1..a3 are ignored. */
  get(a0: number, _a1?: number, _a2?: number, _a3?: number): number {
    return this.heads[(a0 >>> 16) >>> this.shift]!;
  }

  /** Sets the head for an address word (0 removes); a1..a3 are ignored. */
  set(a0: number, _a1: number, _a2: number, _a3: number, head: number): void {
    const i = (a0 >>> 16) >>> this.shift;
    const was = this.heads[i]!;
    this.heads[i] = head;
    this.size += (head !== 0 ? 1 : 0) - (was !== 0 ? 1 : 0);
  }

  /** Every stored head (any order). */
  storedHeads(): number[] {
    const out: number[] = [];
    for (const h of this.heads) if (h !== 0) out.push(h);
    return out;
  }
}
