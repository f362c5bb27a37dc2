/**
 * A batch of Ethernet frames as struct-of-arrays descriptors (what a NIC ring holds): entry i is
 * `bufs[i][off[i], off[i] + len[i])`. Entries usually live in the batch's own slot memory (slot i =
 * `slots[i * slotSize, (i + 1) * slotSize)`, frame placed `headroom` bytes in, so headers can be
 * inserted in front and trailers appended in place); an entry may also point at any other buffer.
 *
 * The memory is reused from batch to batch: a frame of a batch is valid until the batch is filled
 * again.
 */
export class FrameBatch {
  count = 0;
  readonly bufs: Uint8Array[] = [];
  off: Uint32Array;
  len: Uint32Array;
  slots: Uint8Array;
  slotSize: number;
  capacity: number;

  constructor(
    capacity = 64,
    slotSize = 2048,
    /** bytes before the frame in its slot; the default 66 puts IPv4 headers on 4-byte boundaries */
    readonly headroom = 66,
  ) {
    this.capacity = capacity;
    this.slotSize = slotSize;
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.slots = new Uint8Array(capacity * slotSize);
  }

  /**
   * Makes room for `n` entries whose frames are up to `maxFrame` bytes (plus `headroom` in front and
   * 128 bytes of tailroom). Growing reallocates: earlier frames are lost. Empties the batch.
   */
  reserve(n: number, maxFrame: number): void {
    const need = Math.ceil((this.headroom + maxFrame + 128) / 64) * 64;
    if (n > this.capacity || need > this.slotSize) {
      this.capacity = Math.max(n, this.capacity);
      this.slotSize = Math.max(need, this.slotSize);
      this.off = new Uint32Array(this.capacity);
      this.len = new Uint32Array(this.capacity);
      this.slots = new Uint8Array(this.capacity * this.slotSize);
    }
    this.count = 0;
    this.bufs.length = 0;
  }

  /** Offset of entry i's frame when it sits in its own slot. */
  slotOffset(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** Empties the batch (keeps the memory). */
  clear(): void {
    this.count = 0;
    this.bufs.length = 0;
  }

  /** Appends an entry pointing at `buf[off, off + len)` (grows the descriptors); returns its index. */
  push(buf: Uint8Array, off: number, len: number): number {
    const i = this.count++;
    if (i >= this.off.length) {
      const c = Math.max(64, this.off.length * 2);
      const o = new Uint32Array(c);
      o.set(this.off);
      const l = new Uint32Array(c);
      l.set(this.len);
      this.off = o;
      this.len = l;
    }
    this.bufs[i] = buf;
    this.off[i] = off;
    this.len[i] = len;
    return i;
  }

  /** Appends an entry in its own slot (contents to be written by the caller); returns its index. */
  pushSlot(len: number): number {
    const i = this.count;
    if (i >= this.capacity) throw new RangeError(`frame batch holds ${this.capacity} slots`);
    return this.push(this.slots, this.slotOffset(i), len);
  }

  /** Whether entry i lies in its own slot with `front` bytes free before it and `back` after it. */
  roomAround(i: number, front: number, back: number): boolean {
    if (this.bufs[i] !== this.slots) return false;
    const start = i * this.slotSize;
    const o = this.off[i]!;
    return o - front >= start && o + this.len[i]! + back <= start + this.slotSize;
  }

  /** A view of entry i (allocates the view). */
  view(i: number): Uint8Array {
    const o = this.off[i]!;
    return this.bufs[i]!.subarray(o, o + this.len[i]!);
  }
}

const views16 = new WeakMap<Uint8Array, Uint16Array>();
const views32 = new WeakMap<Uint8Array, Uint32Array>();

/** A Uint16Array over the same bytes (undefined when `b` does not start on a 2-byte boundary). */
export function u16View(b: Uint8Array): Uint16Array | undefined {
  if ((b.byteOffset & 1) !== 0) return undefined;
  let v = views16.get(b);
  if (v === undefined) {
    v = new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
    views16.set(b, v);
  }
  return v;
}

/** A Uint32Array over the same bytes (undefined when `b` does not start on a 4-byte boundary). */
export function u32View(b: Uint8Array): Uint32Array | undefined {
  if ((b.byteOffset & 3) !== 0) return undefined;
  let v = views32.get(b);
  if (v === undefined) {
    v = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
    views32.set(b, v);
  }
  return v;
}

/**
 * Copies `n` bytes `src[so, so + n)` → `dst[d, d + n)` (may be the same buffer: any overlap), by
 * 16-bit words when `h16`/`d16` are the views of src/dst and both offsets and `n` are even.
 */
export function copyBytes(
  dst: Uint8Array,
  d: number,
  src: Uint8Array,
  so: number,
  n: number,
  d16?: Uint16Array,
  s16?: Uint16Array,
): void {
  if (d16 !== undefined && s16 !== undefined && ((d | so | n) & 1) === 0) {
    const a = d >>> 1;
    const b = so >>> 1;
    const m = n >>> 1;
    if (a <= b || src !== dst) for (let i = 0; i < m; i++) d16[a + i] = s16[b + i]!;
    else for (let i = m - 1; i >= 0; i--) d16[a + i] = s16[b + i]!;
    return;
  }
  if (d <= so || src !== dst) for (let i = 0; i < n; i++) dst[d + i] = src[so + i]!;
  else for (let i = n - 1; i >= 0; i--) dst[d + i] = src[so + i]!;
}
