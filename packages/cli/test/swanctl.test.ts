import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.ts';
import { formatPlan, parseEspProposal, parseTs, planSwanctl } from '../src/swanctl/plan.ts';
import { parseSettings, parseSettingsFile, SettingsError } from '../src/swanctl/settings.ts';

const seed = (child: string) => `# BFL, the seed's swanctl.conf
connections {
   bfl-bfr {
      local_addrs  = 192.168.1.64
      remote_addrs = 192.168.1.65   # the other BlueField
      local {
         auth = psk
         id = host1
      }
      remote {
         auth = psk
         id = host2
      }
      children {
         bfl-bfr {
            local_ts = 192.168.1.64/32[udp/4789]
            remote_ts = 192.168.1.65/32[udp/4789]
            esp_proposals = aes128gcm128-x25519-esn
            mode = transport
${child}
         }
      }
      version = 2
   }
}
secrets {
   ike-host1-host2 {
      id-host1 = host1
      id-host2 = host2
      secret = "ipsec # not a comment"
   }
}
`;
const plan = (child: string, profile = 'bf3') => planSwanctl(parseSettings(seed(child)), { profile });

describe('strongSwan settings syntax', () => {
  it('sections, values, comments, quoted strings', () => {
    const r = parseSettings(seed('hw_offload = packet'));
    const c = r.sections.get('connections')!.sections.get('bfl-bfr')!;
    expect(c.settings.get('remote_addrs')).toBe('192.168.1.65');
    expect(c.sections.get('children')!.sections.get('bfl-bfr')!.settings.get('local_ts')).toBe(
      '192.168.1.64/32[udp/4789]',
    );
    expect(r.sections.get('secrets')!.sections.get('ike-host1-host2')!.settings.get('secret')).toBe(
      'ipsec # not a comment',
    );
  });
  it('includes (globs, relative), section references, errors with line numbers', () => {
    const d = mkdtempSync(join(tmpdir(), 'xk-swc-'));
    mkdirSync(join(d, 'conf.d'));
    writeFileSync(join(d, 'conf.d', 'a.conf'), 'x = 1\n');
    writeFileSync(join(d, 'conf.d', 'b.conf'), 'y = 2\n');
    writeFileSync(
      join(d, 'main.conf'),
      'tmpl { mode = transport\n}\nsec : tmpl {\n  include conf.d/*.conf\n}\n',
    );
    const r = parseSettingsFile(join(d, 'main.conf'));
    const s = r.sections.get('sec')!;
    expect([s.settings.get('x'), s.settings.get('y'), s.settings.get('mode')]).toEqual([
      '1',
      '2',
      'transport',
    ]);
    expect(() => parseSettings('a {\n b = 1\n')).toThrow(SettingsError);
    writeFileSync(join(d, 'loop.conf'), 'include loop.conf\n');
    expect(() => parseSettingsFile(join(d, 'loop.conf'))).toThrow(/nested too deep/);
    expect(() => parseSettings('a {\n b c\n}')).toThrow(/:2:/);
  });
});

describe('ESP proposals and traffic selectors', () => {
  it('aes128gcm128-x25519-esn: rfc4106 160-bit key, 128-bit ICV, ESN; DH only for PFS', () => {
    expect(parseEspProposal('aes128gcm128-x25519-esn')).toMatchObject({
      aead: { name: 'rfc4106(gcm(aes))', keyBits: 160, icvBits: 128 },
      esn: true,
      dh: 'x25519',
    });
    expect(parseEspProposal('aes256-sha256-noesn')).toMatchObject({
      crypt: { keyBits: 256 },
      auth: { truncBits: 128 },
      esn: false,
    });
    expect(() => parseEspProposal('aes128')).toThrow(/integrity/);
  });
  it('[udp/4789] and dynamic', () => {
    expect(parseTs('192.168.1.64/32[udp/4789]', '1.1.1.1')).toMatchObject({
      prefix: 32,
      proto: 17,
      port: 4789,
    });
    expect(parseTs('dynamic', '10.0.0.1')).toMatchObject({ addr: '10.0.0.1', prefix: 32, proto: 0 });
  });
});

describe('swanctl plan', () => {
  it('hw_offload = packet on bf3: SAs and in/out policies packet-offloaded, no FWD in transport mode', () => {
    const p = plan('hw_offload = packet\nrekey_packets = 1000000');
    const c = p.children[0]!;
    expect(c.sas.map((s) => [s.dir, s.ladder.sa])).toEqual([
      ['out', 'packet'],
      ['in', 'packet'],
    ]);
    expect(c.policies.map((x) => [x.dir, x.outcome])).toEqual([
      ['out', 'packet'],
      ['in', 'packet'],
    ]);
    const out = c.sas[0]!.state;
    expect([out.info.saddr, out.info.id.daddr]).toEqual(['192.168.1.64', '192.168.1.65']);
    expect(out.info.lft.softPacketLimit).toBe(1000000n);
    expect(out.info.lft.softAddExpiresSeconds).toBe(0n); // rekey_time (default 1h) ignored
    expect(c.sas[0]!.ladder.lifetimes).toMatchObject({ used: ['rekey_packets'], ignored: ['rekey_time'] });
    expect(c.policies[0]!.policy.info.sel).toMatchObject({ proto: 17, sport: 4789, dport: 4789 });
    const text = formatPlan(p);
    expect(text).toContain(
      'policy out src 192.168.1.64/32 dst 192.168.1.65/32 proto udp sport 4789 dport 4789',
    );
    expect(text).toContain('outcome: SAs out packet, in packet; policies out packet, in packet');
  });
  it('rekey_bytes with packet offload fails the CHILD_SA', () => {
    const c = plan('hw_offload = packet\nrekey_bytes = 500M').children[0]!;
    expect(c.sas[0]!.ladder.sa).toBe('failed');
    expect(c.sas[0]!.ladder.lifetimes.failed).toContain('rekey_bytes');
    expect(formatPlan(plan('hw_offload = packet\nrekey_bytes = 500M'))).toContain(
      'CHILD_SA installation fails',
    );
  });
  it('yes = crypto (time lifetimes kept), no = software, auto = packet on bf3', () => {
    const y = plan('hw_offload = yes\nrekey_time = 30m').children[0]!;
    expect(y.sas[0]!.ladder.sa).toBe('crypto');
    expect(y.sas[0]!.state.info.lft.softAddExpiresSeconds).toBe(1800n);
    expect(y.policies.every((x) => x.outcome === 'software')).toBe(true);
    expect(plan('hw_offload = no').children[0]!.sas[0]!.ladder.sa).toBe('software');
    expect(plan('hw_offload = auto').children[0]!.sas[0]!.ladder.sa).toBe('packet');
  });
  it('tunnel mode adds a FWD policy that is never offloaded', () => {
    const c = plan('hw_offload = packet').children[0]!;
    expect(c.policies.some((x) => x.dir === 'fwd')).toBe(false);
    const t = planSwanctl(
      parseSettings(seed('hw_offload = packet').replace('mode = transport', 'mode = tunnel')),
    ).children[0]!;
    expect(t.policies.find((x) => x.dir === 'fwd')?.outcome).toBe('software');
  });
  it('the CLI prints the plan and exits 3 when a CHILD_SA would fail', async () => {
    const d = mkdtempSync(join(tmpdir(), 'xk-swc-'));
    writeFileSync(join(d, 'ok.conf'), seed('hw_offload = packet'));
    writeFileSync(join(d, 'bad.conf'), seed('hw_offload = packet\nrekey_bytes = 1G'));
    const w = process.stdout.write.bind(process.stdout);
    let out = '';
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof process.stdout.write;
    try {
      expect(await main(['swanctl', 'plan', join(d, 'ok.conf')])).toBe(0);
      expect(await main(['swanctl', 'plan', join(d, 'bad.conf'), '--profile', 'bf3'])).toBe(3);
    } finally {
      process.stdout.write = w;
    }
    expect(out).toContain(
      'bfl-bfr.bfl-bfr: 192.168.1.64 <-> 192.168.1.65, mode transport, hw_offload = packet',
    );
    expect(out).toContain('secret ike-host1-host2 (ike) ids host1, host2');
    expect(out).not.toContain('ipsec # not a comment');
  });
});
