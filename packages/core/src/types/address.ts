/**
 * Address text <-> the 16-byte `xfrm_address_t`. IPv4 occupies bytes 0..3 and the rest is zero.
 */
import { type Address, AF_INET, AF_INET6 } from './xfrm.ts';

export class AddressError extends TypeError {
  override readonly name = 'AddressError';
}

/** Writes `addr` into `out[offset..offset+16)` (zero-filled). Throws AddressError on bad text. */
export function writeAddress(addr: Address, out: Uint8Array, offset: number): void {
  out.fill(0, offset, offset + 16);
  if (addr.includes(':')) {
    parseIPv6Into(addr, out, offset);
  } else {
    parseIPv4Into(addr, out, offset);
  }
}

export function addressBytes(addr: Address): Uint8Array {
  const b = new Uint8Array(16);
  writeAddress(addr, b, 0);
  return b;
}

/** Family implied by the text form. */
export function addressFamily(addr: Address): number {
  return addr.includes(':') ? AF_INET6 : AF_INET;
}

function parseIPv4Into(text: string, out: Uint8Array, offset: number): void {
  let octet = 0;
  let digits = 0;
  let idx = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) throw new AddressError(`invalid IPv4 address "${text}"`);
    } else if (c === 46 && digits > 0 && idx < 4) {
      out[offset + idx++] = octet;
      octet = 0;
      digits = 0;
    } else throw new AddressError(`invalid IPv4 address "${text}"`);
  }
  if (idx !== 4) throw new AddressError(`invalid IPv4 address "${text}"`);
}

function parseIPv6Into(text: string, out: Uint8Array, offset: number): void {
  let s = text;
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    const v4 = new Uint8Array(4);
    parseIPv4Into(s.slice(lastColon + 1), v4, 0);
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    s = `${s.slice(0, lastColon + 1)}0`;
    if (s.endsWith('::0')) s = s.slice(0, -1);
    else s = s.slice(0, -2);
  }
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) throw new AddressError(`invalid IPv6 address "${text}"`);
  const parseGroups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new AddressError(`invalid IPv6 address "${text}"`);
      return Number.parseInt(g, 16);
    });
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl));
    const rest = parseGroups(s.slice(dbl + 2)).concat(tail);
    const zeros = 8 - head.length - rest.length;
    if (zeros < 1) throw new AddressError(`invalid IPv6 address "${text}"`);
    groups = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  } else {
    groups = parseGroups(s).concat(tail);
  }
  if (groups.length !== 8) throw new AddressError(`invalid IPv6 address "${text}"`);
  for (let i = 0; i < 8; i++) {
    out[offset + 2 * i] = groups[i]! >> 8;
    out[offset + 2 * i + 1] = groups[i]! & 0xff;
  }
}

export function formatIPv4(b: Uint8Array, offset: number): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

export function formatIPv6(b: Uint8Array, offset: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[offset + 2 * i]! << 8) | b[offset + 2 * i + 1]!);
  // longest run of >= 2 zero groups, first one on ties (RFC 5952)
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (x: number) => x.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  const head = g.slice(0, bestStart).map(hex).join(':');
  const tail = g
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${head}::${tail}`;
}

/**
 * Reads a 16-byte address. `family` is the hint from the surrounding struct: AF_INET6 prints IPv6;
 * otherwise an address whose bytes 4..15 are zero prints as IPv4. Any other content prints as IPv6 so
 * that text -> bytes stays lossless.
 */
export function readAddress(b: Uint8Array, offset: number, family: number): Address {
  if (family !== AF_INET6) {
    let tailZero = true;
    for (let i = 4; i < 16; i++) {
      if (b[offset + i] !== 0) {
        tailZero = false;
        break;
      }
    }
    if (tailZero) return formatIPv4(b, offset);
  }
  const v6 = formatIPv6(b, offset);
  // an IPv6 address that would read back as IPv4 text must keep a colon
  return v6;
}
