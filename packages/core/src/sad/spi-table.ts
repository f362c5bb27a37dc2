/**
 * The SAD's by-SPI hash (`xfrm_state_lookup`): (daddr, spi, proto) per family → the SAs with that
 * key in kernel bucket order, with the skb-mark rule `(mark & m) == v` applied at lookup.
 *
 * One open-addressing table per family, so that a slot holds only what that family's key needs and
 * the tables stay small enough to live in cache: IPv4 slots are 4 int32 words `[daddr, spi, tag, -]`
 * (16 bytes), IPv6 slots 8 words `[d0, d1, d2, d3, spi, tag, -, -]`. `tag` is proto | USED | FAST,
 * where FAST marks a key with exactly one SA whose mark is 0/0 — the common case, answered by
 * `first[slot]`, an array parallel to the slots (so its load does not wait for the slot's). Other
 * keys go through their ordered list `lists[slot]`. Linear probing at load ≤ 3/4, backward-shift
 * deletion.
 */
import { backshiftDelete } from '../spd/open-addressing.ts';
import { AF_INET, AF_INET6 } from '../types/xfrm.ts';

/** What the table needs of an SA. */
export interface SpiKeyed {
  readonly family: number;
  readonly proto: number;
  readonly spi: number;
  readonly d0: number;
  readonly d1: number;
  readonly d2: number;
  readonly d3: number;
  /** signed 32-bit mark value and mask as stored. */
  readonly markV: number;
  readonly markM: number;
}

const USED = 0x100;
const FAST = 0x200;
const MIN_SLOTS = 16;

function hash4(d0: number, spi: number, proto: number): number {
  let h = Math.imul(spi ^ proto, 0x9e3779b1) ^ d0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return h ^ (h >>> 13);
}

function hash6(d0: number, d1: number, d2: number, d3: number, spi: number, proto: number): number {
  let h = Math.imul(spi ^ proto, 0x9e3779b1) ^ d0;
  h = Math.imul(h ^ d1, 0x27d4eb2d) ^ d2;
  h = Math.imul(h ^ d3, 0x165667b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Open-addressing slots of one family: key words, then the tag; SAs in arrays parallel to the slots. */
class Slots<E> {
  data: Int32Array;
  /** first SA of each slot's key (the answer for a FAST key). */
  first: (E | undefined)[] = new Array<E | undefined>(MIN_SLOTS).fill(undefined);
  /** SAs of each slot's key in bucket order. */
  lists: (E[] | undefined)[] = new Array<E[] | undefined>(MIN_SLOTS).fill(undefined);
  mask = MIN_SLOTS - 1;
  size = 0;
  /** offset of the tag in a slot (the key words come before it). */
  readonly tagAt: number;

  constructor(
    readonly shift: 2 | 3,
    readonly v6: boolean,
  ) {
    this.data = new Int32Array(MIN_SLOTS << shift);
    this.tagAt = v6 ? 5 : 2;
  }

  homeAt(sl: Int32Array, o: number): number {
    const t = this.tagAt;
    return (
      (this.v6
        ? hash6(sl[o]!, sl[o + 1]!, sl[o + 2]!, sl[o + 3]!, sl[o + 4]!, sl[o + t]! & 0xff)
        : hash4(sl[o]!, sl[o + 1]!, sl[o + t]! & 0xff)) & this.mask
    );
  }

  /** Slot of a key, or -(free slot + 1). */
  find(d0: number, d1: number, d2: number, d3: number, spi: number, proto: number): number {
    const sl = this.data;
    const sh = this.shift;
    const t = this.tagAt;
    let i = (this.v6 ? hash6(d0, d1, d2, d3, spi, proto) : hash4(d0, spi, proto)) & this.mask;
    for (;;) {
      const o = i << sh;
      const tag = sl[o + t]!;
      if (tag === 0) return -(i + 1);
      if ((tag & 0xff) === proto && sl[o] === d0) {
        if (
          this.v6
            ? sl[o + 1] === d1 && sl[o + 2] === d2 && sl[o + 3] === d3 && sl[o + 4] === spi
            : sl[o + 1] === spi
        )
          return i;
      }
      i = (i + 1) & this.mask;
    }
  }

  write(i: number, e: SpiKeyed, tag: number): void {
    const o = i << this.shift;
    const sl = this.data;
    sl[o] = e.d0;
    if (this.v6) {
      sl[o + 1] = e.d1;
      sl[o + 2] = e.d2;
      sl[o + 3] = e.d3;
      sl[o + 4] = e.spi;
    } else {
      sl[o + 1] = e.spi;
    }
    sl[o + this.tagAt] = tag;
  }

  setTag(i: number, tag: number): void {
    this.data[(i << this.shift) + this.tagAt] = tag;
  }

  /** Grows when an insert would pass load 3/4, shrinks below 1/8. */
  resizeFor(n: number): void {
    let cap = this.mask + 1;
    if (n * 4 > cap * 3) while (n * 4 > cap * 3) cap *= 2;
    else if (n * 8 < cap && cap > MIN_SLOTS) while (n * 8 < cap && cap > MIN_SLOTS) cap /= 2;
    else return;
    const old = this.data;
    const oldFirst = this.first;
    const oldLists = this.lists;
    const sh = this.shift;
    this.data = new Int32Array(cap << sh);
    this.first = new Array<E | undefined>(cap).fill(undefined);
    this.lists = new Array<E[] | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    for (let j = 0; j < oldFirst.length; j++) {
      const o = j << sh;
      if (old[o + this.tagAt] === 0) continue;
      let i = this.homeAt(old, o);
      while (this.data[(i << sh) + this.tagAt] !== 0) i = (i + 1) & this.mask;
      this.data.set(old.subarray(o, o + (1 << sh)), i << sh);
      this.first[i] = oldFirst[j];
      this.lists[i] = oldLists[j];
    }
  }

  /** Backward-shift deletion of slot `i`. */
  delete(i: number): void {
    const last = backshiftDelete(this, this.data, i, this.tagAt, (to, from) => {
      this.first[to] = this.first[from];
      this.lists[to] = this.lists[from];
    });
    this.first[last] = undefined;
    this.lists[last] = undefined;
    this.size--;
    this.resizeFor(this.size);
  }
}

export class SpiTable<E extends SpiKeyed> {
  private readonly s4 = new Slots<E>(2, false);
  private readonly s6 = new Slots<E>(3, true);

  /** `order` inserts an SA into a key's list in kernel bucket order. */
  constructor(private readonly order: (list: E[], e: E) => void) {}

  private slotsOf(family: number): Slots<E> {
    return family === AF_INET ? this.s4 : this.s6;
  }

  private tagOf(list: readonly E[], proto: number): number {
    const e = list[0]!;
    return proto | USED | (list.length === 1 && e.markM === 0 && e.markV === 0 ? FAST : 0);
  }

  add(e: E): void {
    const s = this.slotsOf(e.family);
    const i = s.find(e.d0, e.d1, e.d2, e.d3, e.spi | 0, e.proto);
    if (i >= 0) {
      const list = s.lists[i]!;
      this.order(list, e);
      s.first[i] = list[0];
      s.setTag(i, this.tagOf(list, e.proto));
      return;
    }
    s.resizeFor(s.size + 1);
    s.size++;
    // the table may have been rebuilt: find the free slot again
    const slot = -s.find(e.d0, e.d1, e.d2, e.d3, e.spi | 0, e.proto) - 1;
    const list = [e];
    s.write(slot, e, this.tagOf(list, e.proto));
    s.lists[slot] = list;
    s.first[slot] = e;
  }

  /** Removes `e`; false if it was not in the table. */
  remove(e: E): boolean {
    const s = this.slotsOf(e.family);
    const i = s.find(e.d0, e.d1, e.d2, e.d3, e.spi | 0, e.proto);
    if (i < 0) return false;
    const list = s.lists[i]!;
    const at = list.indexOf(e);
    if (at < 0) return false;
    list.splice(at, 1);
    if (list.length > 0) {
      s.first[i] = list[0];
      s.setTag(i, this.tagOf(list, e.proto));
      return true;
    }
    s.delete(i);
    return true;
  }

  /**
   * First SA of (daddr words, spi, proto) in `family` whose mark matches (`(mark & m) == v`), or
   * undefined. `d1..d3` are ignored for IPv4; `spi` and `mark` are taken as 32-bit patterns.
   */
  lookup(
    family: number,
    d0: number,
    d1: number,
    d2: number,
    d3: number,
    spi: number,
    proto: number,
    mark: number,
  ): E | undefined {
    let sl: Int32Array;
    let i: number;
    if (family === AF_INET) {
      const s = this.s4;
      sl = s.data;
      const mask = s.mask;
      const a0 = d0 | 0;
      const sp = spi | 0;
      i = hash4(a0, sp, proto) & mask;
      for (;;) {
        const o = i << 2;
        const tag = sl[o + 2]!;
        if (tag === 0) return undefined;
        if (sl[o + 1] === sp && sl[o] === a0 && (tag & 0xff) === proto) {
          return (tag & FAST) !== 0 ? s.first[i] : matchMark(s.lists[i]!, mark);
        }
        i = (i + 1) & mask;
      }
    }
    if (family !== AF_INET6) return undefined;
    const s = this.s6;
    sl = s.data;
    const mask = s.mask;
    const a0 = d0 | 0;
    const a1 = d1 | 0;
    const a2 = d2 | 0;
    const a3 = d3 | 0;
    const sp = spi | 0;
    i = hash6(a0, a1, a2, a3, sp, proto) & mask;
    for (;;) {
      const o = i << 3;
      const tag = sl[o + 5]!;
      if (tag === 0) return undefined;
      if (
        sl[o + 4] === sp &&
        sl[o] === a0 &&
        sl[o + 1] === a1 &&
        sl[o + 2] === a2 &&
        sl[o + 3] === a3 &&
        (tag & 0xff) === proto
      ) {
        return (tag & FAST) !== 0 ? s.first[i] : matchMark(s.lists[i]!, mark);
      }
      i = (i + 1) & mask;
    }
  }
}

/** First SA of a key's list whose mark matches. */
function matchMark<E extends SpiKeyed>(list: readonly E[], mark: number): E | undefined {
  const m = mark | 0;
  for (let j = 0; j < list.length; j++) {
    const e = list[j]!;
    if ((m & e.markM) === e.markV) return e;
  }
  return undefined;
}
