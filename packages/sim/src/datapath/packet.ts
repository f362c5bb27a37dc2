/**
 * Real packet bytes for the simulated datapath: Ethernet II, IPv4 (with header checksum and
 * fragmentation), a minimal IPv6 header, UDP and VXLAN (RFC 7348, UDP 4789), and a parser that
 * extracts what the steering tables match on (addresses, protocol, ports, ESP SPI, fragment bits).
 */

export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_UDP = 17;
export const IPPROTO_TCP = 6;
export const IPPROTO_ESP = 50;
export const VXLAN_PORT = 4789;
/** outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8: what VXLAN adds to the inner frame's L3 size */
export const VXLAN_OVERHEAD = 50;
const IPV4_HLEN = 20;
const IPV6_HLEN = 40;
const UDP_HLEN = 8;
const VXLAN_HLEN = 8;

const SLAB_BYTES = 1 << 19;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/**
 * A zeroed `Uint8Array` of `n` bytes for a packet, carved from a shared slab (bump allocation, never
 * reused: the bytes stay the caller's for as long as it holds the array). Creating a view is much
 * cheaper than giving every frame its own ArrayBuffer (an off-heap backing store per frame dominated
 * the per-packet cost of the simulator). The array's `buffer` is the slab: use `byteOffset`.
 */
export function packetBytes(n: number): Uint8Array {
  if (n > SLAB_BYTES >>> 3) return new Uint8Array(n);
  if (slabUsed + n > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = new Uint8Array(slab, slabUsed, n);
  slabUsed += (n + 7) & ~7;
  return b;
}

export function macBytes(mac: string | Uint8Array): Uint8Array {
  if (mac instanceof Uint8Array) return mac;
  const parts = mac.split(':');
  if (parts.length !== 6) throw new RangeError(`bad MAC address "${mac}"`);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

export function macText(b: Uint8Array): string {
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function ipv4Bytes(a: string): Uint8Array {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new RangeError(`bad IPv4 address "${a}"`);
  return Uint8Array.from(p);
}

export function ipv4Text(b: Uint8Array, o = 0): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function ipv6Text(b: Uint8Array, o: number): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[o + i]! << 8) | b[o + i + 1]!).toString(16));
  // compress the longest run of zero words ("::")
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return w.join(':');
  return `${w.slice(0, best).join(':')}::${w.slice(best + bestLen).join(':')}`;
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** RFC 1071 checksum over b[o, o+len). */
export function inetChecksum(b: Uint8Array, o: number, len: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[o + i]! << 8) | b[o + i + 1]!;
  if (len & 1) sum += b[o + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ethFrame(
  dst: Uint8Array,
  src: Uint8Array,
  ethertype: number,
  payload: Uint8Array,
): Uint8Array {
  const f = packetBytes(ETH_HLEN + payload.length);
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  wr16(f, 12, ethertype);
  f.set(payload, ETH_HLEN);
  return f;
}

export interface Ipv4Fields {
  src: string;
  dst: string;
  proto: number;
  ttl?: number;
  id?: number;
  /** don't-fragment bit (default true: Linux sets DF on PMTU-discovering sockets and OVS tunnels) */
  df?: boolean;
  tos?: number;
}

export function ipv4Packet(h: Ipv4Fields, payload: Uint8Array): Uint8Array {
  const p = packetBytes(IPV4_HLEN + payload.length);
  p[0] = 0x45;
  p[1] = h.tos ?? 0;
  wr16(p, 2, p.length);
  wr16(p, 4, h.id ?? 0);
  wr16(p, 6, (h.df ?? true) ? 0x4000 : 0);
  p[8] = h.ttl ?? 64;
  p[9] = h.proto;
  p.set(ipv4Bytes(h.src), 12);
  p.set(ipv4Bytes(h.dst), 16);
  wr16(p, 10, inetChecksum(p, 0, IPV4_HLEN));
  p.set(payload, IPV4_HLEN);
  return p;
}

/** UDP datagram; checksum 0 (IPv4 VXLAN sends zero UDP checksums by default, RFC 7348 §5). */
export function udpDatagram(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const u = packetBytes(UDP_HLEN + payload.length);
  wr16(u, 0, sport);
  wr16(u, 2, dport);
  wr16(u, 4, u.length);
  u.set(payload, UDP_HLEN);
  return u;
}

/** VXLAN header (flags I, 24-bit VNI) followed by the inner Ethernet frame. */
export function vxlanPayload(vni: number, inner: Uint8Array): Uint8Array {
  const v = packetBytes(VXLAN_HLEN + inner.length);
  v[0] = 0x08;
  v[4] = (vni >>> 16) & 0xff;
  v[5] = (vni >>> 8) & 0xff;
  v[6] = vni & 0xff;
  v.set(inner, VXLAN_HLEN);
  return v;
}

/** Local port range the kernel folds a UDP tunnel's source port into (`ip_local_port_range`). */
export const VXLAN_SPORT_MIN = 32768;
export const VXLAN_SPORT_MAX = 60999;

/** One step of the word hash (Murmur3's block mix). */
function mixWord(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Murmur3's finaliser: every input bit reaches every output bit. */
function finishHash(h: number, words: number): number {
  h ^= words * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const FLOW_SEED = 0x5eed_f107 | 0;
const be32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** L4 protocols whose first 4 bytes are source and destination port (the flow dissector's list). */
const hasPorts = (proto: number): boolean => proto === 6 || proto === 17 || proto === 132 || proto === 136;

/**
 * Flow hash of an Ethernet frame, as `skb_get_hash` sees the flow: the addresses, the L4 protocol
 * and — in an unfragmented TCP/UDP/SCTP/UDP-Lite datagram — the ports, ordered so that both
 * directions of a flow hash alike (`__flow_hash_consistentify`); one 802.1Q tag is skipped. IPv6
 * with a flow label hashes the label instead of the ports (the dissector stops at a label); without
 * one, hop-by-hop/routing/destination-options headers are walked to the ports. 0 when the frame carries no IPv4/IPv6
 * flow (non-IP, truncated). The kernel keys its hash with a random per-boot secret; this one has a
 * fixed seed, so the values differ from a real host's while every packet of a flow gets the same one.
 */
export function frameFlowHash(f: Uint8Array): number {
  let l3 = ETH_HLEN;
  if (f.length < l3) return 0;
  let type = (f[12]! << 8) | f[13]!;
  if (type === 0x8100 || type === 0x88a8) {
    if (f.length < l3 + 4) return 0;
    type = (f[16]! << 8) | f[17]!;
    l3 += 4;
  }
  if (type === ETH_P_IP) {
    if (f.length < l3 + IPV4_HLEN || f[l3]! >> 4 !== 4) return 0;
    const ihl = (f[l3]! & 0x0f) * 4;
    if (ihl < IPV4_HLEN) return 0;
    const proto = f[l3 + 9]!;
    const frag = ((f[l3 + 6]! << 8) | f[l3 + 7]!) & 0x3fff;
    const l4 = l3 + ihl;
    const ports = frag === 0 && hasPorts(proto) && f.length >= l4 + 4 ? be32(f, l4) : 0;
    return flowHash4(be32(f, l3 + 12), be32(f, l3 + 16), ports, proto);
  }
  if (type !== ETH_P_IPV6 || f.length < l3 + IPV6_HLEN || f[l3]! >> 4 !== 6) return 0;
  let proto = f[l3 + 6]!;
  // a flow label stands for the ports: the dissector stops there (FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL)
  const label = ((f[l3 + 1]! & 0x0f) << 16) | (f[l3 + 2]! << 8) | f[l3 + 3]!;
  let sport = 0;
  let dport = 0;
  if (label === 0) {
    let o = l3 + IPV6_HLEN;
    // hop-by-hop, routing, destination options: (next header, length in 8-byte units − 1)
    while ((proto === 0 || proto === 43 || proto === 60) && f.length >= o + 8) {
      const next = f[o]!;
      o += (f[o + 1]! + 1) * 8;
      proto = next;
    }
    if (hasPorts(proto) && f.length >= o + 4) {
      sport = (f[o]! << 8) | f[o + 1]!;
      dport = (f[o + 2]! << 8) | f[o + 3]!;
    }
  }
  let sOff = l3 + 8;
  let dOff = l3 + 24;
  // the smaller address (then the smaller port) first, whichever way the packet goes
  let cmp = 0;
  for (let k = 0; k < 16 && cmp === 0; k += 4) cmp = be32(f, dOff + k) - be32(f, sOff + k);
  if (cmp < 0 || (cmp === 0 && dport < sport)) {
    [sOff, dOff, sport, dport] = [dOff, sOff, dport, sport];
  }
  let h = FLOW_SEED;
  for (let k = 0; k < 16; k += 4) {
    h = mixWord(h, be32(f, sOff + k));
    h = mixWord(h, be32(f, dOff + k));
  }
  h = mixWord(h, label !== 0 ? label : (sport << 16) | dport);
  h = mixWord(h, proto);
  return nonZero(finishHash(h, 10));
}

/** The IPv4 flow hash: addresses (unsigned words), ports (source << 16 | destination), protocol. */
function flowHash4(src: number, dst: number, ports: number, proto: number): number {
  // the smaller address (then the smaller port) first, whichever way the packet goes
  if (dst < src || (dst === src && (ports & 0xffff) < ports >>> 16)) {
    const t = src;
    src = dst;
    dst = t;
    ports = ((ports << 16) | (ports >>> 16)) >>> 0;
  }
  let h = mixWord(FLOW_SEED, src);
  h = mixWord(h, dst);
  h = mixWord(h, ports);
  h = mixWord(h, proto);
  return nonZero(finishHash(h, 4));
}

/** 0 means "no flow hash" (the kernel's convention too). */
const nonZero = (h: number): number => (h === 0 ? 1 : h);

/** Hash of a frame's MAC addresses and EtherType (the kernel's fallback when there is no flow). */
function macHash(f: Uint8Array): number {
  let h = FLOW_SEED;
  const n = Math.min(f.length, 14);
  let w = 0;
  let words = 0;
  for (let i = 0; i < n; i++) {
    w = (w << 8) | f[i]!;
    if ((i & 3) === 3 || i === n - 1) {
      h = mixWord(h, w);
      w = 0;
      words++;
    }
  }
  return finishHash(h, words);
}

/**
 * VXLAN UDP source port of an inner frame, as the kernel's `udp_flow_src_port` picks it: the
 * frame's flow hash (`frameFlowHash`; without one, a hash of the MAC addresses and EtherType),
 * `hash ^= hash << 16`, folded into [32768, 60999) as `((hash × (max − min)) >> 32) + min` — so every
 * packet of an inner flow leaves with the same port, and different flows spread over the underlay.
 */
export function vxlanSourcePort(inner: Uint8Array): number {
  let h = frameFlowHash(inner);
  if (h === 0) h = macHash(inner);
  h = (h ^ (h << 16)) >>> 0;
  return Math.floor((h * (VXLAN_SPORT_MAX - VXLAN_SPORT_MIN)) / 0x1_0000_0000) + VXLAN_SPORT_MIN;
}

export interface ParsedFrame {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  ethertype: number;
  /** 4, 6 or 0 (not IP) */
  ipVersion: 0 | 4 | 6;
  /** AF_INET 2 / AF_INET6 10 / 0 */
  family: number;
  src: string;
  dst: string;
  /** L3 offset in the frame and L3 total length */
  l3Off: number;
  l3Len: number;
  proto: number;
  /** a fragment (any: MF set or offset ≠ 0) */
  fragment: boolean;
  df: boolean;
  sport: number;
  dport: number;
  /** ESP SPI when proto 50 and not a fragment */
  spi?: number;
  /** ESP sequence number (low 32 bits) */
  seq?: number;
}

/** Parses an Ethernet frame; undefined when it is too short to be one. */
export function parseFrame(f: Uint8Array): ParsedFrame | undefined {
  if (f.length < ETH_HLEN) return undefined;
  const ethertype = rd16(f, 12);
  const base: ParsedFrame = {
    dstMac: f.subarray(0, 6),
    srcMac: f.subarray(6, 12),
    ethertype,
    ipVersion: 0,
    family: 0,
    src: '',
    dst: '',
    l3Off: ETH_HLEN,
    l3Len: f.length - ETH_HLEN,
    proto: 0,
    fragment: false,
    df: false,
    sport: 0,
    dport: 0,
  };
  const o = ETH_HLEN;
  let l4 = -1;
  if (ethertype === ETH_P_IP && f.length >= o + IPV4_HLEN && f[o]! >> 4 === 4) {
    const ihl = (f[o]! & 0x0f) * 4;
    const frag = rd16(f, o + 6);
    base.ipVersion = 4;
    base.family = 2;
    base.l3Len = rd16(f, o + 2);
    base.proto = f[o + 9]!;
    base.src = ipv4Text(f, o + 12);
    base.dst = ipv4Text(f, o + 16);
    base.df = (frag & 0x4000) !== 0;
    base.fragment = (frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0;
    l4 = (frag & 0x1fff) === 0 ? o + ihl : -1;
  } else if (ethertype === ETH_P_IPV6 && f.length >= o + IPV6_HLEN && f[o]! >> 4 === 6) {
    base.ipVersion = 6;
    base.family = 10;
    base.l3Len = IPV6_HLEN + rd16(f, o + 4);
    base.proto = f[o + 6]!;
    base.src = ipv6Text(f, o + 8);
    base.dst = ipv6Text(f, o + 24);
    base.fragment = base.proto === 44;
    l4 = base.fragment ? -1 : o + IPV6_HLEN;
  } else {
    return base;
  }
  if (l4 >= 0) {
    if ((base.proto === IPPROTO_UDP || base.proto === IPPROTO_TCP) && f.length >= l4 + 4) {
      base.sport = rd16(f, l4);
      base.dport = rd16(f, l4 + 2);
    } else if (base.proto === IPPROTO_ESP && f.length >= l4 + 8) {
      base.spi = rd32(f, l4);
      base.seq = rd32(f, l4 + 4);
    }
  }
  return base;
}

/** The L3 packet (IP datagram) inside an Ethernet frame. */
export function l3Of(f: Uint8Array, p: ParsedFrame): Uint8Array {
  return f.subarray(p.l3Off, Math.min(f.length, p.l3Off + p.l3Len));
}

/**
 * IPv4 fragmentation (RFC 791): fragments of at most `mtu` bytes with offsets in 8-byte units,
 * headers copied (no options), MF on all but the last. Returns the IP datagrams.
 */
export function fragmentIpv4(ip: Uint8Array, mtu: number): Uint8Array[] {
  const ihl = (ip[0]! & 0x0f) * 4;
  const total = rd16(ip, 2);
  const data = ip.subarray(ihl, total);
  const chunk = Math.floor((mtu - ihl) / 8) * 8;
  if (chunk <= 0) throw new RangeError(`MTU ${mtu} too small to fragment`);
  const baseOff = rd16(ip, 6) & 0x1fff;
  const baseMf = (rd16(ip, 6) & 0x2000) !== 0;
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += chunk) {
    const part = data.subarray(off, Math.min(data.length, off + chunk));
    const last = off + part.length >= data.length;
    const f = packetBytes(ihl + part.length);
    f.set(ip.subarray(0, ihl), 0);
    wr16(f, 2, f.length);
    wr16(f, 6, ((last ? (baseMf ? 0x2000 : 0) : 0x2000) | (baseOff + off / 8)) & 0x3fff);
    wr16(f, 10, 0);
    wr16(f, 10, inetChecksum(f, 0, ihl));
    f.set(part, ihl);
    out.push(f);
  }
  return out;
}

/** Removes the VXLAN encapsulation of a UDP/4789 frame: the inner Ethernet frame and the VNI. */
export function vxlanDecap(f: Uint8Array, p: ParsedFrame): { inner: Uint8Array; vni: number } | undefined {
  if (p.proto !== IPPROTO_UDP || p.dport !== VXLAN_PORT || p.fragment) return undefined;
  const ihl = p.ipVersion === 4 ? (f[p.l3Off]! & 0x0f) * 4 : IPV6_HLEN;
  const v = p.l3Off + ihl + UDP_HLEN;
  if (f.length < v + VXLAN_HLEN + ETH_HLEN || (f[v]! & 0x08) === 0) return undefined;
  const vni = (f[v + 4]! << 16) | (f[v + 5]! << 8) | f[v + 6]!;
  return { inner: f.subarray(v + VXLAN_HLEN, p.l3Off + p.l3Len), vni };
}
