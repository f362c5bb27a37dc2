/**
 * Addresses as four 32-bit words (network order, word 0 = first 4 bytes), the form the lookup
 * structures use so that the hot paths never parse text or allocate. Words are kept as *signed*
 * int32 values (`x | 0`) so V8 keeps them unboxed: compare words only with words.
 */

import { XfrmError } from '../sad/xfrm-error.ts';
import { AddressError, addressBytes } from '../types/address.ts';
import type { Address } from '../types/xfrm.ts';
import { AF_INET, AF_INET6 } from '../types/xfrm.ts';

export type Words4 = [number, number, number, number];

/** Parses `addr` to 4 signed int32 words; throws XfrmError EINVAL on bad text. */
export function addressWords(addr: Address): Words4 {
  let b: Uint8Array;
  try {
    b = addressBytes(addr);
  } catch (e) {
    if (e instanceof AddressError) throw new XfrmError('EINVAL', e.message);
    throw new XfrmError('EINVAL', `invalid address ${String(addr)}`);
  }
  const w = (i: number) => (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
  return [w(0), w(4), w(8), w(12)];
}

/** Mask word `i` (0..3) of a prefix of `plen` bits (signed int32). */
export function maskWord(plen: number, i: number): number {
  const bits = plen - 32 * i;
  if (bits >= 32) return -1;
  if (bits <= 0) return 0;
  return -1 << (32 - bits);
}

/** `addr` masked to `plen` bits. */
export function maskWords(w: Words4, plen: number): Words4 {
  return [
    w[0] & maskWord(plen, 0),
    w[1] & maskWord(plen, 1),
    w[2] & maskWord(plen, 2),
    w[3] & maskWord(plen, 3),
  ];
}

/** Full prefix length of a family (32 for IPv4, 128 otherwise). */
export function familyBits(family: number): number {
  return family === AF_INET ? 32 : 128;
}

export function isInetFamily(family: number): boolean {
  return family === AF_INET || family === AF_INET6;
}

export function wordsKey(w: Words4): string {
  return `${w[0]}.${w[1]}.${w[2]}.${w[3]}`;
}

export function wordsAreZero(w: Words4): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0;
}

/** Address equality as the kernel's `xfrm_addr_equal` (IPv4 compares only word 0). */
export function wordsEqual(a: Words4, b: Words4, family: number): boolean {
  if (family === AF_INET) return a[0] === b[0];
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}
