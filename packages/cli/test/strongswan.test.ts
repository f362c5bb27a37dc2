/**
 * Two real strongSwan charon daemons (Debian strongswan-charon 5.9.8), each in its own network
 * namespace joined by a veth pair (both ends named p0), each redirected by the LD_PRELOAD shim to
 * its own simulated BlueField-3 (`xfrmkit sim serve`). IKE runs over the real veth; the CHILD_SAs
 * and policies land in the simulators, found there with matching SPIs and keys.
 *
 * Needs root (netns), gcc-built libnlsim.so and: strongswan-charon strongswan-swanctl
 * libstrongswan-standard-plugins (openssl: x25519 + AES-GCM). Skipped otherwise, with the reason.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shimPath } from '../src/sim/serve.ts';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const CHARON = '/usr/lib/ipsec/charon';
const skipReason = (() => {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces';
  if (!existsSync(shimPath())) return 'libnlsim.so not built (needs gcc)';
  if (!existsSync(CHARON)) return 'strongswan-charon not installed';
  if (!existsSync('/usr/lib/ipsec/plugins/libstrongswan-openssl.so'))
    return 'libstrongswan-standard-plugins not installed';
  try {
    execFileSync('sh', ['-c', 'command -v swanctl'], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'swanctl or ip netns unavailable';
  }
  return undefined;
})();

const ADDR = { A: '192.168.1.64', B: '192.168.1.65' } as const;
type Side = keyof typeof ADDR;
const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function swanctlConf(side: Side, hw: string): string {
  const [l, r] = side === 'A' ? [ADDR.A, ADDR.B] : [ADDR.B, ADDR.A];
  return `# the seed's shape
connections {
  bfl-bfr {
    local_addrs = ${l}
    remote_addrs = ${r}
    proposals = aes128-sha256-x25519
    local {
      auth = psk
      id = ${l}
    }
    remote {
      auth = psk
      id = ${r}
    }
    children {
      bfl-bfr {
        local_ts = ${l}/32[udp/4789]
        remote_ts = ${r}/32[udp/4789]
        esp_proposals = aes128gcm128-x25519-esn
        mode = transport
        hw_offload = ${hw}
        rekey_packets = 1000000
      }
    }
  }
}
secrets {
  ike-bfl-bfr {
    id-bfl = ${ADDR.A}
    id-bfr = ${ADDR.B}
    secret = "xfrmkit-test-psk"
  }
}
`;
}

interface StateEntry {
  src: string;
  dst: string;
  spi: string;
  key: string;
  offload?: string;
}

function parseStates(text: string): StateEntry[] {
  const out: StateEntry[] = [];
  for (const block of text.split(/^(?=src )/m).filter((b) => b.trim())) {
    const head = /^src (\S+) dst (\S+)/.exec(block);
    const spi = /proto esp spi (0x[0-9a-f]+)/.exec(block);
    const key = /aead rfc4106\(gcm\(aes\)\) (0x[0-9a-f]+)/.exec(block);
    if (!head || !spi || !key) continue;
    const off = /crypto offload parameters: (.*)/.exec(block);
    out.push({
      src: head[1]!,
      dst: head[2]!,
      spi: spi[1]!,
      key: key[1]!,
      ...(off ? { offload: off[1]!.trim() } : {}),
    });
  }
  return out;
}

describe.skipIf(skipReason !== undefined)(
  `two charons over a veth, each on its own simulated BlueField-3${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'xk-swan-'));
    const tag = `xk${process.pid % 100000}`;
    const ns = { A: `${tag}a`, B: `${tag}b` };
    const procs: ChildProcess[] = [];

    const startSide = async (side: Side) => {
      const d = join(dir, side);
      mkdirSync(d, { recursive: true });
      const sim = spawn(BIN, ['sim', 'serve', '--socket', join(d, 'sim.sock')], { stdio: 'ignore' });
      procs.push(sim);
      for (let i = 0; i < 100 && !existsSync(join(d, 'sim.sock')); i++) await sleep(50);
      writeFileSync(
        join(d, 'strongswan.conf'),
        `charon {\n  load_modular = yes\n  install_routes = no\n  retransmit_tries = 3\n  filelog {\n    stderr {\n      default = 1\n      knl = 2\n    }\n  }\n  plugins {\n    include /etc/strongswan.d/charon/*.conf\n    vici {\n      socket = unix://${d}/charon.vici\n    }\n  }\n}\n`,
      );
      const logFd = openSync(join(d, 'charon.log'), 'w');
      // a private /run per daemon: charon's pid file is /run/charon.pid
      const charon = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns[side],
          'unshare',
          '-m',
          'sh',
          '-c',
          `mount -t tmpfs tmpfs /run && exec ${CHARON}`,
        ],
        {
          // a file, not a pipe: the test blocks in execFileSync while charon logs
          stdio: ['ignore', logFd, logFd],
          env: {
            ...process.env,
            STRONGSWAN_CONF: join(d, 'strongswan.conf'),
            LD_PRELOAD: shimPath(),
            NLSIM_SOCKET: join(d, 'sim.sock'),
          },
        },
      );
      const log = () => readFileSync(join(d, 'charon.log'), 'utf8');
      procs.push(charon);
      for (let i = 0; i < 100 && !existsSync(join(d, 'charon.vici')); i++) await sleep(100);
      expect(existsSync(join(d, 'charon.vici')), log()).toBe(true);
      return log;
    };
    const logs: Partial<Record<Side, () => string>> = {};
    const uri = (side: Side) => `unix://${join(dir, side, 'charon.vici')}`;
    const simSock = (side: Side) => join(dir, side, 'sim.sock');
    const load = (side: Side, hw: string) => {
      writeFileSync(join(dir, side, 'swanctl.conf'), swanctlConf(side, hw));
      return sh('swanctl', [
        '--load-all',
        '--clear',
        '--uri',
        uri(side),
        '--file',
        join(dir, side, 'swanctl.conf'),
      ]);
    };
    const states = (side: Side) => parseStates(sh(BIN, ['ip', '--sim', simSock(side), 'xfrm', 'state']));

    beforeAll(async () => {
      sh('ip', ['netns', 'add', ns.A]);
      sh('ip', ['netns', 'add', ns.B]);
      sh('ip', ['link', 'add', `${tag}x`, 'type', 'veth', 'peer', 'name', `${tag}y`]);
      sh('ip', ['link', 'set', `${tag}x`, 'netns', ns.A]);
      sh('ip', ['link', 'set', `${tag}y`, 'netns', ns.B]);
      for (const [side, ifn] of [
        ['A', `${tag}x`],
        ['B', `${tag}y`],
      ] as const) {
        sh('ip', ['-n', ns[side], 'link', 'set', ifn, 'name', 'p0']);
        sh('ip', ['-n', ns[side], 'addr', 'add', `${ADDR[side]}/24`, 'dev', 'p0']);
        sh('ip', ['-n', ns[side], 'link', 'set', 'lo', 'up']);
        sh('ip', ['-n', ns[side], 'link', 'set', 'p0', 'up']);
      }
      logs.A = await startSide('A');
      logs.B = await startSide('B');
    }, 60_000);

    afterAll(async () => {
      // charons first (their shutdown talks to their simulators), then the simulators
      const charons = procs.filter((p) => p.spawnfile === 'ip');
      for (const p of charons) p.kill('SIGTERM');
      for (let i = 0; i < 50 && charons.some((p) => p.exitCode === null && p.signalCode === null); i++)
        await sleep(100);
      for (const p of charons) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      for (const p of procs) if (!charons.includes(p)) p.kill('SIGTERM');
      for (const n of Object.values(ns)) {
        try {
          sh('ip', ['netns', 'del', n]);
        } catch {
          /* already gone */
        }
      }
    });

    for (const hw of ['yes', 'auto', 'no'] as const) {
      it(`hw_offload = ${hw}: CHILD_SA installed in both simulators with matching SPIs and keys`, () => {
        load('A', hw);
        load('B', hw);
        const before = { A: states('A').length, B: states('B').length };
        const init = sh('swanctl', [
          '--initiate',
          '--child',
          'bfl-bfr',
          '--timeout',
          '20',
          '--uri',
          uri('A'),
        ]);
        expect(init, `${logs.A!()}\n---\n${logs.B!()}`).toMatch(/CHILD_SA bfl-bfr\{\d+\} established/);
        const spis = /established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o/.exec(init);
        expect(spis).not.toBeNull();
        const [inA, outA] = [`0x${spis![1]}`, `0x${spis![2]}`];
        const a = states('A');
        const b = states('B');
        expect(a.length).toBe(before.A + 2);
        expect(b.length).toBe(before.B + 2);
        const aOut = a.find((s) => s.spi === outA)!;
        const aIn = a.find((s) => s.spi === inA)!;
        const bIn = b.find((s) => s.spi === outA)!;
        const bOut = b.find((s) => s.spi === inA)!;
        for (const s of [aOut, aIn, bIn, bOut]) expect(s).toBeDefined();
        expect([aOut.src, aOut.dst]).toEqual([ADDR.A, ADDR.B]);
        expect([bOut.src, bOut.dst]).toEqual([ADDR.B, ADDR.A]);
        expect(aOut.key).toBe(bIn.key);
        expect(aIn.key).toBe(bOut.key);
        expect(aOut.key).not.toBe(aIn.key);
        // 5.9.8 knows crypto offload only: yes/auto → crypto on the simulator's p0 (esp-hw-offload on)
        if (hw === 'no') expect(aOut.offload).toBeUndefined();
        else {
          expect(aOut.offload).toBe('dev p0 dir out mode crypto');
          expect(aIn.offload).toBe('dev p0 dir in mode crypto');
        }
        const pol = sh(BIN, ['ip', '--sim', simSock('A'), 'xfrm', 'policy']);
        expect(pol).toContain(`src ${ADDR.A}/32 dst ${ADDR.B}/32 proto udp sport 4789 dport 4789`);
        expect(pol).not.toContain('dir fwd'); // transport mode: no FWD policy
        // the kernel tables of the namespaces stay empty
        expect(sh('ip', ['-n', ns.A, 'xfrm', 'state'])).toBe('');
        sh('swanctl', ['--terminate', '--ike', 'bfl-bfr', '--timeout', '10', '--uri', uri('A')]);
      }, 60_000);
    }
  },
);
