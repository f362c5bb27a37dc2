/**
 * Receive-side scaling for ESP: mlx5's TTC ESP traffic types hash on source address, destination
 * address and SPI (`MLX5_HASH_IP_IPSEC_SPI`) with the Toeplitz function; the hash indexes an
 * indirection table that spreads entries round-robin over the channels (mlx5e default layout).
 */

/** The Toeplitz key mlx5e uses by default is random per boot; this is the well-known Microsoft key. */
export const DEFAULT_RSS_KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca,
  0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b,
  0xbe, 0xac, 0x01, 0xfa,
]);

/** Toeplitz hash of `input` (≤ key length − 4 bytes). */
export function toeplitz(input: Uint8Array, key: Uint8Array = DEFAULT_RSS_KEY): number {
  let result = 0;
  // 32-bit window over the key, shifted one bit per input bit
  let window = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  let next = 4;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    const kb = key[next++] ?? 0;
    for (let bit = 7; bit >= 0; bit--) {
      if ((b >> bit) & 1) result = (result ^ window) >>> 0;
      window = ((window << 1) | ((kb >> bit) & 1)) >>> 0;
    }
  }
  return result >>> 0;
}

export class EspRss {
  readonly table: Uint16Array;
  private readonly input = new Uint8Array(12);
  private memoSrc = 0;
  private memoDst = 0;
  private memoSpi = -1;
  private memoIndex = 0;

  constructor(
    readonly queues: number,
    entries = 128,
    readonly key: Uint8Array = DEFAULT_RSS_KEY,
  ) {
    if (!Number.isInteger(queues) || queues < 1) throw new RangeError(`RSS needs ≥ 1 queue, got ${queues}`);
    this.table = new Uint16Array(entries);
    for (let i = 0; i < entries; i++) this.table[i] = i % queues;
  }

  /** Queue of an ESP packet: Toeplitz(src ‖ dst ‖ SPI) → indirection table. */
  queue(src: Uint8Array, dst: Uint8Array, spi: number): number {
    const input = new Uint8Array(src.length + dst.length + 4);
    input.set(src, 0);
    input.set(dst, src.length);
    const o = src.length + dst.length;
    input[o] = spi >>> 24;
    input[o + 1] = (spi >>> 16) & 0xff;
    input[o + 2] = (spi >>> 8) & 0xff;
    input[o + 3] = spi & 0xff;
    const h = toeplitz(input, this.key);
    return this.table[h % this.table.length]!;
  }

  /**
   * `queue` for IPv4 addresses given as 32-bit words (network order), without allocating; the table
   * index of the last (src, dst, SPI) is remembered (a flow's packets come in runs). Same result as `queue`.
   */
  queueV4(src: number, dst: number, spi: number): number {
    if (src === this.memoSrc && dst === this.memoDst && spi === this.memoSpi)
      return this.table[this.memoIndex]!;
    const b = this.input;
    for (let i = 0; i < 4; i++) {
      const sh = 24 - 8 * i;
      b[i] = src >>> sh;
      b[4 + i] = dst >>> sh;
      b[8 + i] = spi >>> sh;
    }
    const index = toeplitz(b, this.key) % this.table.length;
    this.memoSrc = src;
    this.memoDst = dst;
    this.memoSpi = spi;
    this.memoIndex = index;
    return this.table[index]!;
  }
}
