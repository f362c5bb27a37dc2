/** `xfrmkit demo` with small numbers: sections, counters vs packets sent, pcap decrypts with the printed keys. */

import { createDecipheriv } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEspSaLine, parseFrame, readPcap } from '@xfrmkit/sim';
import { describe, expect, it } from 'vitest';
import { parseDemoArgs, runDemo } from '../src/commands/demo.ts';

async function demo(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runDemo(parseDemoArgs(argv), {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
  });
  return { code, out, err };
}

function counter(out: string, dpu: string, name: string): number {
  const block = out.split(`${dpu}: ethtool -S p0`)[1]!.split('\n');
  const line = block.find((l) => l.trim().startsWith(`${name}:`));
  return line ? Number(line.split(':')[1]) : 0;
}

describe('xfrmkit demo', () => {
  it('runs, prints every section, counters match the packets, the pcap decrypts with esp_sa', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xfrmkit-demo-'));
    const pcapPath = join(dir, 'wire.pcap');
    const n = 37;
    const { code, out } = await demo(['--packets', String(n), '--size', 'imix', '--pcap', pcapPath]);
    expect(code).toBe(0);
    for (const s of [
      '== configuration',
      'ip xfrm state add',
      'devlink dev eswitch set',
      '== BFL# ip -s xfrm state',
      '== counters',
      '== per-stage cycles',
      '== modeled throughput',
      '== Wireshark esp_sa',
      '== pcap',
    ])
      expect(out).toContain(s);
    expect(out).toContain(`BFL→BFR: sent ${n}, delivered ${n}, payload mismatches 0`);
    for (const d of ['BFL', 'BFR']) {
      expect(counter(out, d, 'ipsec_tx_pkts')).toBe(n);
      expect(counter(out, d, 'ipsec_rx_pkts')).toBe(n);
      expect(counter(out, d, 'tx_packets_phy')).toBe(n);
    }
    expect(out).toMatch(/crypto offload parameters: dev p0 dir out mode packet/);
    expect(out).toMatch(new RegExp(`\\d+\\(bytes\\), ${n}\\(packets\\)`));
    const keys = out
      .split('\n')
      .filter((l) => l.startsWith('"IPv4"'))
      .map(parseEspSaLine);
    expect(keys).toHaveLength(2);
    const pcap = readPcap(readFileSync(pcapPath));
    expect(pcap.records).toHaveLength(2 * n);
    for (const r of pcap.records) {
      const p = parseFrame(r.data)!;
      expect(p.proto).toBe(50);
      const k = keys.find((x) => x.spi === p.spi && x.src === p.src && x.dst === p.dst)!;
      const ip = r.data.subarray(14);
      const key = k.keyMat.subarray(0, 16);
      const d = createDecipheriv(
        'aes-128-gcm',
        key,
        Buffer.concat([k.keyMat.subarray(16), ip.subarray(28, 36)]),
        { authTagLength: 16 },
      );
      d.setAAD(ip.subarray(20, 28));
      d.setAuthTag(ip.subarray(ip.length - 16));
      const plain = Buffer.concat([d.update(ip.subarray(36, ip.length - 16)), d.final()]);
      expect(plain[plain.length - 1]).toBe(17);
      expect(plain.readUInt16BE(2)).toBe(4789); // UDP dport of the VXLAN packet inside
    }
  });

  it('--modeled-crypto says so', async () => {
    const { code, out } = await demo(['--packets', '5', '--size', '256', '--modeled-crypto']);
    expect(code).toBe(0);
    expect(out).toMatch(/MODELED CRYPTO/);
  });

  it('rejects bad arguments', () => {
    expect(() => parseDemoArgs(['--size', '12'])).toThrow(/--size/);
    expect(() => parseDemoArgs(['--bogus'])).toThrow(/unknown argument/);
  });
});
