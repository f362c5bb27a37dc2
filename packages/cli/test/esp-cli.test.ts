/** `xfrmkit esp encrypt|decrypt` through the real binary: JSON in, JSON out, round trip, typed errors. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const KEY = 'c57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d0';

function ipv4Udp(payload: string): string {
  const body = Buffer.from(
    `04d2162e${(8 + payload.length / 2).toString(16).padStart(4, '0')}0000${payload}`,
    'hex',
  );
  const h = Buffer.from('450000000001000040110000c0a80140c0a80141', 'hex');
  h.writeUInt16BE(20 + body.length, 2);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  h.writeUInt16BE(~sum & 0xffff, 10);
  return Buffer.concat([h, body]).toString('hex');
}

describe('xfrmkit esp', () => {
  it('encrypt then decrypt returns the plaintext (transport + tunnel, ESN across 2^32)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xk-esp-'));
    const vectors = [
      {
        id: 'a',
        mode: 'transport',
        ip_version: 4,
        spi: '0x4834535d',
        esn: true,
        seq: '4294967301',
        key_hex: KEY,
        salt_hex: '8058a27c',
        icv_len: 16,
        plaintext_hex: ipv4Udp('deadbeef'),
      },
      {
        id: 'b',
        mode: 'tunnel',
        ip_version: 4,
        tunnel_src: '10.0.0.1',
        tunnel_dst: '10.0.0.2',
        spi: 4660,
        esn: false,
        seq: '7',
        key_hex: KEY.slice(0, 32),
        salt_hex: '01020304',
        icv_len: 8,
        iv_hex: '0001020304050607',
        plaintext_hex: ipv4Udp('00112233445566'),
      },
    ];
    writeFileSync(join(dir, 'v.json'), JSON.stringify(vectors));
    execFileSync(BIN, ['esp', 'encrypt', '--in', join(dir, 'v.json'), '--out', join(dir, 'p.json')]);
    const packets = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
    expect(packets).toHaveLength(2);
    for (const p of packets) {
      expect(p.esp_packet_hex).toMatch(/^45/);
      expect(Buffer.from(p.esp_packet_hex, 'hex')[9]).toBe(50); // IP proto ESP
    }
    // the caller's IV appears right after SPI+seq in the tunnel packet
    expect(packets[1].esp_packet_hex.slice(56, 72)).toBe('0001020304050607');
    const out = JSON.parse(
      execFileSync(BIN, ['esp', 'decrypt', '--in', join(dir, 'p.json'), '--out', '-'], { encoding: 'utf8' }),
    );
    expect(out.map((r: { accepted: boolean }) => r.accepted)).toEqual([true, true]);
    expect(out[0].plaintext_hex).toBe(vectors[0]!.plaintext_hex);
    expect(out[1].plaintext_hex).toBe(vectors[1]!.plaintext_hex);
    expect(out[0].seq).toBe('4294967301');
  });

  it('a tampered packet is rejected, a bad key is a typed error without key bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xk-esp-'));
    const v = {
      id: 'x',
      mode: 'transport',
      ip_version: 4,
      spi: 1,
      esn: false,
      seq: '1',
      key_hex: KEY.slice(0, 32),
      salt_hex: '01020304',
      icv_len: 16,
      plaintext_hex: ipv4Udp('aa'),
    };
    writeFileSync(join(dir, 'v.json'), JSON.stringify([v, { ...v, id: 'k', key_hex: 'abcdef' }]));
    const enc = JSON.parse(
      execFileSync(BIN, ['esp', 'encrypt', '--in', join(dir, 'v.json'), '--out', '-'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
    expect(enc[1].error).toMatch(/^BAD_KEY/);
    expect(enc[1].error).not.toContain('abcdef');
    const pkt = Buffer.from(enc[0].esp_packet_hex, 'hex');
    pkt[pkt.length - 1]! ^= 1;
    writeFileSync(join(dir, 'p.json'), JSON.stringify([{ ...enc[0], esp_packet_hex: pkt.toString('hex') }]));
    const dec = JSON.parse(
      execFileSync(BIN, ['esp', 'decrypt', '--in', join(dir, 'p.json'), '--out', '-'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
    expect(dec[0].accepted).toBe(false);
    expect(dec[0].error).toMatch(/ICV/);
  });

  it('bad command lines exit 2 with usage', () => {
    let code = 0;
    try {
      execFileSync(BIN, ['esp', 'sign'], { stdio: 'ignore' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
