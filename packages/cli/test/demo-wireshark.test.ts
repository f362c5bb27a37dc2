/**
 * The demo's pcap decrypts in Wireshark (tshark) with the `esp_sa` lines the demo prints: every ESP
 * packet shows its inner VXLAN frame. Skipped, with the reason, where tshark is not installed
 * (`.ci/run` installs it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const tshark = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!tshark)(`demo pcap in Wireshark${tshark ? '' : ' (skipped: tshark not installed)'}`, () => {
  it('tshark decrypts every ESP packet with the printed esp_sa lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xk-ws-'));
    const pcap = join(dir, 'demo.pcap');
    const out = execFileSync(BIN, ['demo', '--packets', '10', '--pcap', pcap], { encoding: 'utf8' });
    const sas = out.split('\n').filter((l) => l.startsWith('"IPv4"'));
    expect(sas).toHaveLength(2);
    // a private Wireshark profile directory holding only the ESP SA table
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'wireshark'), { recursive: true });
    writeFileSync(join(home, '.config', 'wireshark', 'esp_sa'), `${sas.join('\n')}\n`);
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
    const read = (args: string[]) =>
      execFileSync('tshark', ['-r', pcap, ...args], {
        encoding: 'utf8',
        env,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .trim()
        .split('\n')
        .filter(Boolean);
    const esp = read(['-Y', 'esp']);
    expect(esp.length).toBe(20);
    const inner = read(['-o', 'esp.enable_encryption_decode:TRUE', '-Y', 'vxlan && ip.src == 10.10.10.0/24']);
    expect(inner.length).toBe(esp.length);
    // without the keys nothing decrypts
    writeFileSync(join(home, '.config', 'wireshark', 'esp_sa'), '');
    expect(read(['-o', 'esp.enable_encryption_decode:TRUE', '-Y', 'vxlan'])).toHaveLength(0);
  });
});
