import { describe, expect, it } from 'vitest';
import {
  espSaLines,
  hostFrame,
  ipXfrmLines,
  LINKTYPE_ETHERNET,
  PcapWriter,
  parseEspSaLine,
  readPcap,
  seedConfig,
} from '../../src/index.ts';
import { espOpen, seeded } from './support.ts';

describe('topology, seed and pcap', () => {
  it('the wire pcap re-reads and its ESP opens with the esp_sa keys', async () => {
    const b = await seeded();
    const pcap = new PcapWriter({ linktype: LINKTYPE_ETHERNET, nanos: true });
    b.topo.wire.taps.push((f, ns) =>
      pcap.add({ timeNs: 1_700_000_000_000_000_000n + BigInt(Math.round(ns)), data: f }),
    );
    for (let i = 0; i < 20; i++)
      b.topo.send(
        i % 2 ? 'right' : 'left',
        hostFrame(i % 2 ? b.topo.hostR : b.topo.hostL, i % 2 ? b.topo.hostL : b.topo.hostR, 64 + i * 50, i),
      );
    const file = readPcap(pcap.bytes());
    expect(file.linktype).toBe(1);
    expect(file.records).toHaveLength(20);
    const keys = espSaLines(b.cfg).map(parseEspSaLine);
    for (const r of file.records) {
      const ip = r.data.subarray(14);
      const spi = new DataView(ip.buffer, ip.byteOffset).getUint32(20);
      const k = keys.find((x) => x.spi === spi)!;
      const plain = espOpen(k.keyMat, ip);
      expect(plain[plain.length - 1]).toBe(17); // next header UDP (VXLAN)
    }
    expect(file.records[1]!.timeNs).toBeGreaterThan(file.records[0]!.timeNs);
    b.topo.dispose();
  });

  it('ip xfrm lines mirror the seed (4 lines, offload packet, dport 4789, keys)', () => {
    const cfg = seedConfig();
    const l = ipXfrmLines(cfg, 'left');
    expect(l).toHaveLength(4);
    for (const line of l) expect(line.join(' ')).toMatch(/offload packet dev p0/);
    expect(l[0]!.join(' ')).toContain(`spi 0x${cfg.lr.spi.toString(16).padStart(8, '0')}`);
    expect(l[0]!.join(' ')).toContain(Buffer.from(cfg.lr.keyMat).toString('hex'));
    expect(l[2]!.join(' ')).toMatch(/proto udp dport 4789 dir out/);
    expect(ipXfrmLines(cfg, 'right')[1]!.join(' ')).toContain(
      `spi 0x${cfg.lr.spi.toString(16).padStart(8, '0')}`,
    );
  });

  it('readPcap rejects a truncated file', () => {
    const w = new PcapWriter();
    w.add({ timeNs: 0n, data: new Uint8Array(60) });
    expect(() => readPcap(w.bytes().subarray(0, 50))).toThrow(/truncated|past the end/);
  });
});
