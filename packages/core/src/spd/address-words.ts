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

/**
 * Dotted-quad IPv4 text to a word, with exactly the rules of the full parser (1–3 digits per octet,
 * ≤ 255, four octets); undefined for anything else, which the full parser then handles.
 */
function quickIPv4(text: string): number | undefined {
  let word = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else if (c === 46 && digits > 0 && dots < 3) {
      word = (word << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (word << 8) | octet;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * IPv6 text made of hex groups (1–4 digits) with at most one `::` and no embedded IPv4, to words;
 * undefined for anything else (including every invalid text), which the full parser then handles.
 */
function quickIPv6(text: string): Words4 | undefined {
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  let n = 0;
  /** index in `g` where `::` stood, -1 = none. */
  let gap = -1;
  let i = 0;
  const len = text.length;
  if (len >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (i === len) return [0, 0, 0, 0];
  }
  for (;;) {
    // one group
    let v = 0;
    let digits = 0;
    while (i < len) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      v = (v << 4) | d;
      if (++digits > 4) return undefined;
      i++;
    }
    if (digits === 0 || n === 8) return undefined;
    g[n++] = v;
    if (i === len) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < len && text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = n;
      i++;
      if (i === len) break;
    } else if (i === len) return undefined;
  }
  if (gap < 0) {
    if (n !== 8) return undefined;
  } else {
    if (n > 7) return undefined;
    const move = n - gap;
    for (let k = 1; k <= move; k++) {
      g[8 - k] = g[n - k]!;
      g[n - k] = 0;
    }
    for (let k = gap; k < 8 - move; k++) g[k] = 0;
  }
  return [(g[0]! << 16) | g[1]!, (g[2]! << 16) | g[3]!, (g[4]! << 16) | g[5]!, (g[6]! << 16) | g[7]!];
}

/** Parses `addr` to 4 signed int32 words; throws XfrmError EINVAL on bad text. */
export function addressWords(addr: Address): Words4 {
  if (typeof addr === 'string') {
    if (addr.includes(':')) {
      const w = quickIPv6(addr);
      if (w !== undefined) return w;
    } else {
      const w = quickIPv4(addr);
      if (w !== undefined) return [w, 0, 0, 0];
    }
  }
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
