/**
 * VXLAN source port (`udp_flow_src_port` over the inner frame's flow hash): one port per inner flow
 * whatever the packet's other bytes, the same both ways, inside the kernel's local port range, spread
 * over flows; fragments and non-IP frames hash without ports; truncated frames never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ETH_P_IP,
  ETH_P_IPV6,
  ethFrame,
  frameFlowHash,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Packet,
  udpDatagram,
  VXLAN_SPORT_MAX,
  VXLAN_SPORT_MIN,
  vxlanSourcePort,
} from '../../src/index.ts';

const MAC_A = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = Uint8Array.from([0x02, 0, 0, 0, 0, 0x0b]);

interface Flow4 {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const flow4 = fc.record({
  src: v4,
  dst: v4,
  sport: fc.nat(0xffff),
  dport: fc.nat(0xffff),
  proto: fc.constantFrom(IPPROTO_UDP, IPPROTO_TCP),
});
/** the bytes of a packet that are not its flow */
const extras = fc.record({ id: fc.nat(0xffff), ttl: fc.integer({ min: 1, max: 255 }), len: fc.nat(200) });

function frame4(f: Flow4, x: { id: number; ttl: number; len: number }, fragOff = 0): Uint8Array {
  const payload = new Uint8Array(x.len).map((_, i) => (i * 31 + x.id) & 0xff);
  const l4 = udpDatagram(f.sport, f.dport, payload); // TCP and UDP both start with the two ports
  const ip = ipv4Packet({ src: f.src, dst: f.dst, proto: f.proto, id: x.id, ttl: x.ttl }, l4);
  if (fragOff) {
    ip[6] = (ip[6]! & 0xe0) | (fragOff >> 8);
    ip[7] = fragOff & 0xff;
  }
  return ethFrame(MAC_B, MAC_A, ETH_P_IP, ip);
}

/** IPv6 (flow label `label`) + a hop-by-hop header (8 bytes) in front of the L4 header when `hbh`. */
function frame6(
  src: number[],
  dst: number[],
  sport: number,
  dport: number,
  hbh: boolean,
  label = 0,
): Uint8Array {
  const l4 = udpDatagram(sport, dport, new Uint8Array(16));
  const ext = hbh ? 8 : 0;
  const ip = new Uint8Array(40 + ext + l4.length);
  ip[0] = 0x60;
  ip[1] = (label >> 16) & 0x0f;
  ip[2] = (label >> 8) & 0xff;
  ip[3] = label & 0xff;
  ip[4] = (ext + l4.length) >> 8;
  ip[5] = (ext + l4.length) & 0xff;
  ip[6] = hbh ? 0 : IPPROTO_UDP;
  ip[7] = 64;
  ip.set(src, 8);
  ip.set(dst, 24);
  if (hbh) ip[40] = IPPROTO_UDP; // next header; length 0 = 8 bytes
  ip.set(l4, 40 + ext);
  return ethFrame(MAC_B, MAC_A, ETH_P_IPV6, ip);
}

const reverse = (f: Flow4): Flow4 => ({
  src: f.dst,
  dst: f.src,
  sport: f.dport,
  dport: f.sport,
  proto: f.proto,
});

describe('vxlanSourcePort', () => {
  it('gives every packet of an inner flow the same port, whatever its id, TTL, length and payload', () => {
    fc.assert(
      fc.property(flow4, extras, extras, (f, a, b) => {
        expect(vxlanSourcePort(frame4(f, a))).toBe(vxlanSourcePort(frame4(f, b)));
      }),
    );
  });

  it('gives both directions of a flow the same port (__flow_hash_consistentify)', () => {
    fc.assert(
      fc.property(flow4, extras, (f, x) => {
        expect(frameFlowHash(frame4(reverse(f), x))).toBe(frameFlowHash(frame4(f, x)));
      }),
    );
    const src = Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i));
    const dst = Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : 0x80 + i));
    expect(frameFlowHash(frame6(dst, src, 443, 50000, false))).toBe(
      frameFlowHash(frame6(src, dst, 50000, 443, false)),
    );
  });

  it('stays inside [32768, 60999), the local port range, for any frame bytes', () => {
    expect([VXLAN_SPORT_MIN, VXLAN_SPORT_MAX]).toEqual([32768, 60999]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const p = vxlanSourcePort(bytes);
        expect(Number.isInteger(p) && p >= VXLAN_SPORT_MIN && p < VXLAN_SPORT_MAX).toBe(true);
      }),
    );
  });

  it('spreads different flows over the range', () => {
    const ports = new Set<number>();
    for (let i = 0; i < 1000; i++)
      ports.add(
        vxlanSourcePort(
          frame4(
            { src: '10.0.0.1', dst: '10.0.0.2', sport: 1024 + i, dport: 5001, proto: IPPROTO_UDP },
            { id: 0, ttl: 64, len: 10 },
          ),
        ),
      );
    // 1000 balls in 28231 bins: about 18 collisions expected; a weak hash collapses far more
    expect(ports.size).toBeGreaterThan(950);
    const lo = [...ports].filter((p) => p < (VXLAN_SPORT_MIN + VXLAN_SPORT_MAX) / 2).length;
    expect(lo).toBeGreaterThan(400);
    expect(lo).toBeLessThan(600);
  });

  it('hashes ports in, except in fragments (no L4 header to trust), which all share the address hash', () => {
    const f: Flow4 = { src: '192.0.2.1', dst: '198.51.100.7', sport: 4000, dport: 53, proto: IPPROTO_UDP };
    const x = { id: 9, ttl: 64, len: 40 };
    const other = frame4({ ...f, sport: 4001 }, x);
    expect(frameFlowHash(other)).not.toBe(frameFlowHash(frame4(f, x)));
    // a later fragment: offset 185 (1480 bytes); its first bytes are payload, not ports
    expect(frameFlowHash(frame4(f, x, 185))).toBe(
      frameFlowHash(frame4({ ...f, sport: 1, dport: 2 }, x, 185)),
    );
    expect(frameFlowHash(frame4(f, x, 185))).not.toBe(frameFlowHash(frame4(f, x)));
  });

  it('walks IPv6 extension headers to the ports', () => {
    const src = Array.from({ length: 16 }, (_, i) => i);
    const dst = Array.from({ length: 16 }, (_, i) => 0xf0 - i);
    expect(frameFlowHash(frame6(src, dst, 1000, 2000, true))).toBe(
      frameFlowHash(frame6(src, dst, 1000, 2000, false)),
    );
    expect(frameFlowHash(frame6(src, dst, 1000, 2000, true))).not.toBe(
      frameFlowHash(frame6(src, dst, 1000, 2001, true)),
    );
  });

  it('hashes an IPv6 flow label instead of the ports (the dissector stops at the label)', () => {
    const src = Array.from({ length: 16 }, (_, i) => i);
    const dst = Array.from({ length: 16 }, (_, i) => 0xf0 - i);
    const labelled = (sport: number, label: number) =>
      frameFlowHash(frame6(src, dst, sport, 53, false, label));
    expect(labelled(1000, 0x12345)).toBe(labelled(2000, 0x12345));
    expect(labelled(1000, 0x12345)).not.toBe(labelled(1000, 0x12346));
    expect(labelled(1000, 0x12345)).not.toBe(labelled(1000, 0));
    expect(labelled(1000, 0)).not.toBe(labelled(2000, 0));
  });

  it('falls back to the MAC addresses for frames without an IP flow (ARP, truncated IP)', () => {
    const arp = ethFrame(MAC_B, MAC_A, 0x0806, new Uint8Array(28));
    expect(frameFlowHash(arp)).toBe(0);
    const truncated = frame4(
      { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: IPPROTO_UDP },
      { id: 0, ttl: 64, len: 0 },
    ).subarray(0, 14 + 12);
    expect(frameFlowHash(truncated)).toBe(0);
    expect(vxlanSourcePort(arp)).toBe(vxlanSourcePort(ethFrame(MAC_B, MAC_A, 0x0806, new Uint8Array(60))));
    expect(vxlanSourcePort(arp)).not.toBe(
      vxlanSourcePort(ethFrame(MAC_A, MAC_B, 0x0806, new Uint8Array(28))),
    );
  });
});
