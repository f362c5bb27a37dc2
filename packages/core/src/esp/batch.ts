/**
 * A batch of packets in one buffer: packet i is `buf[offsets[i], +lengths[i])` with room for
 * `capacities[i]` bytes. Encap/decap read one batch and fill another (or the same one, in place)
 * without allocating per packet; per-packet results go to `status` (0 ok, negative: an ESP error code,
 * see `espStatusCode`), and for decap to `nextHeader`, `seqLo`/`seqHi`.
 */
export class PacketBatch {
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly capacities: Uint32Array;
  readonly status: Int32Array;
  readonly nextHeader: Uint8Array;
  readonly seqLo: Uint32Array;
  readonly seqHi: Uint32Array;
  /** Number of packets in use (≤ size). */
  count = 0;
  /** Maximum number of packets. */
  readonly size: number;

  constructor(size: number, buf: Uint8Array, offsets?: Uint32Array, capacities?: Uint32Array) {
    if (!Number.isInteger(size) || size < 0)
      throw new RangeError(`batch size must be a non-negative integer, got ${size}`);
    this.size = size;
    this.buf = buf;
    this.offsets = offsets ?? new Uint32Array(size);
    this.capacities = capacities ?? new Uint32Array(size);
    if (this.offsets.length < size || this.capacities.length < size) {
      throw new RangeError('offsets/capacities must have at least `size` entries');
    }
    for (let i = 0; i < size; i++) {
      if (this.offsets[i]! + this.capacities[i]! > buf.length) {
        throw new RangeError(
          `slot ${i} (${this.offsets[i]}+${this.capacities[i]}) exceeds the ${buf.length}-byte buffer`,
        );
      }
    }
    this.lengths = new Uint32Array(size);
    this.status = new Int32Array(size);
    this.nextHeader = new Uint8Array(size);
    this.seqLo = new Uint32Array(size);
    this.seqHi = new Uint32Array(size);
  }

  /** `size` equal slots of `slotSize` bytes in a fresh buffer. */
  static withSlots(size: number, slotSize: number): PacketBatch {
    const offsets = new Uint32Array(size);
    const caps = new Uint32Array(size).fill(slotSize);
    for (let i = 0; i < size; i++) offsets[i] = i * slotSize;
    return new PacketBatch(size, new Uint8Array(size * slotSize), offsets, caps);
  }

  /** Copies `data` into slot i and sets its length (convenience; not for hot loops). */
  set(i: number, data: Uint8Array): void {
    if (i < 0 || i >= this.size) throw new RangeError(`slot ${i} out of range 0..${this.size - 1}`);
    if (data.length > this.capacities[i]!) {
      throw new RangeError(
        `packet of ${data.length} bytes does not fit slot ${i} (${this.capacities[i]} bytes)`,
      );
    }
    this.buf.set(data, this.offsets[i]!);
    this.lengths[i] = data.length;
    if (i >= this.count) this.count = i + 1;
  }

  /** A view of packet i (allocates a view; convenience). */
  packet(i: number): Uint8Array {
    return this.buf.subarray(this.offsets[i]!, this.offsets[i]! + this.lengths[i]!);
  }
}
