/** Small IPv4/IPv6 header helpers for the ESP datapath (no allocation). */

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_IPIP = 4;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

export const IPV4_HDR_LEN = 20;
export const IPV6_HDR_LEN = 40;

export function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Internet checksum of b[o, o+len) (len even), with the result not yet complemented folded in. */
export function ipv4HeaderChecksum(b: Uint8Array, o: number, hdrLen: number): number {
  let sum = 0;
  for (let i = 0; i < hdrLen; i += 2) {
    if (i === 10) continue; // the checksum field itself
    sum += (b[o + i]! << 8) | b[o + i + 1]!;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Recomputes and stores the IPv4 header checksum. */
export function fixIpv4Checksum(b: Uint8Array, o: number): void {
  const hl = (b[o]! & 0x0f) * 4;
  wr16(b, o + 10, ipv4HeaderChecksum(b, o, hl));
}

export function isIpv6ExtBeforeEsp(nh: number): boolean {
  return (
    nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_FRAGMENT || nh === IPPROTO_DSTOPTS
  );
}

/** Where the last IPv6 walk stopped: offset (from the packet start) of the byte naming the next header. */
export const ipv6Walk = { nhPos: 0 };

/**
 * Walks IPv6 extension headers (hop-by-hop, routing, fragment, destination options) starting after the
 * fixed header at b[o]. Returns the offset (from o) of the first other header, or -1 if an extension
 * header runs past `pktLen`. `ipv6Walk.nhPos` is set to the offset of the next-header byte that names it.
 */
export function walkIpv6Ext(b: Uint8Array, o: number, pktLen: number): number {
  let nhPos = 6;
  let cur = IPV6_HDR_LEN;
  let nh = b[o + 6]!;
  while (isIpv6ExtBeforeEsp(nh)) {
    if (cur + 8 > pktLen) return -1;
    const len = nh === IPPROTO_FRAGMENT ? 8 : (b[o + cur + 1]! + 1) * 8;
    if (cur + len > pktLen) return -1;
    nhPos = cur;
    nh = b[o + cur]!;
    cur += len;
  }
  ipv6Walk.nhPos = nhPos;
  return cur;
}

/** DS field (TOS / traffic class) of an IPv4 or IPv6 header at b[o]. */
export function dsField(b: Uint8Array, o: number): number {
  return b[o]! >> 4 === 4 ? b[o + 1]! : ((b[o]! & 0x0f) << 4) | (b[o + 1]! >> 4);
}

/** Sets the DS field of an IPv4 (checksum fixed) or IPv6 header. */
export function setDsField(b: Uint8Array, o: number, ds: number): void {
  if (b[o]! >> 4 === 4) {
    b[o + 1] = ds;
    fixIpv4Checksum(b, o);
  } else {
    b[o] = 0x60 | (ds >> 4);
    b[o + 1] = ((ds & 0x0f) << 4) | (b[o + 1]! & 0x0f);
  }
}
