/**
 * Printing checked against the real binaries: iproute2 6.15 (the capture cache) and 6.1 (/usr/sbin/ip)
 * run `ip [-s] xfrm state|policy list` and `ip xfrm monitor` against a responder (libnlsim.so preload
 * + SimServer) that answers with SAs and policies this kernel cannot hold (AEAD/ESN/offload/encap…).
 * Our printer gets the same messages; the texts must be identical. Skipped, with the reason, when the
 * preload shim or a binary is missing.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  userTmpl,
  type XfrmSelector,
  type XfrmUserpolicyInfo,
  type XfrmUsersaInfo,
  type XfrmUserTmpl,
} from '@xfrmkit/core';
import {
  type AttrInput,
  decodeDatagram,
  encodeXfrm,
  NLM_F,
  XFRM_MSG,
  type XfrmMessage,
} from '@xfrmkit/netlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// relative: @xfrmkit/sim is not (yet) a dependency of @xfrmkit/cli
import { SimMachine, SimServer } from '../../sim/src/index.ts';
import {
  printMonitorMessage,
  printPolicy,
  printState,
  type XfrmPrintOptions,
} from '../src/iproute2/print-xfrm.ts';

const REPO = join(import.meta.dirname, '../../..');
const SHIM = join(REPO, 'packages/sim/preload/build/libnlsim.so');
const CACHE = process.env.XFRMKIT_CACHE ?? join(process.env.XDG_CACHE_HOME ?? '/var/cache', 'xfrmkit');
const IP615 = join(CACHE, 'iproute2-6.15/root/bin/ip');
const IP615_LIB = join(CACHE, 'iproute2-6.15/root/usr/lib/x86_64-linux-gnu');
const IP61 = '/usr/sbin/ip';

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!existsSync(SHIM)) return `no ${SHIM} (run packages/sim/preload/build.sh)`;
  if (!existsSync(IP615))
    return `no iproute2 6.15 at ${IP615} (see packages/netlink/test/fixtures/capture/lib.sh)`;
  if (!existsSync(IP61)) return 'no /usr/sbin/ip (Debian iproute2 6.1)';
  return undefined;
}
const SKIP = skipReason();

// ---------------------------------------------------------------- message builders

const sel = (o: Partial<XfrmSelector> = {}): XfrmSelector => ({
  daddr: '0.0.0.0',
  saddr: '0.0.0.0',
  dport: 0,
  dportMask: 0,
  sport: 0,
  sportMask: 0,
  family: 0,
  prefixlenD: 0,
  prefixlenS: 0,
  proto: 0,
  ifindex: 0,
  user: 0,
  ...o,
});
const INF = 0xffff_ffff_ffff_ffffn;
const lft = () => ({
  softByteLimit: INF,
  hardByteLimit: INF,
  softPacketLimit: 1000n,
  hardPacketLimit: INF,
  softAddExpiresSeconds: 3000n,
  hardAddExpiresSeconds: 3600n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
});
// add/use times 0 print "-" (a real time would print in the local zone of each process)
const cur = () => ({ bytes: 123456n, packets: 789n, addTime: 0n, useTime: 0n });

function sa(o: Partial<XfrmUsersaInfo>): XfrmUsersaInfo {
  return {
    sel: sel(),
    id: { daddr: '192.168.1.65', spi: 0x1234, proto: 50 },
    saddr: '192.168.1.64',
    lft: lft(),
    curlft: cur(),
    stats: { replayWindow: 3, replay: 2, integrityFailed: 1 },
    seq: 17,
    reqid: 0x4834535d,
    family: 2,
    mode: 0,
    replayWindow: 0,
    flags: 0,
    ...o,
  };
}

function pol(o: Partial<XfrmUserpolicyInfo>): XfrmUserpolicyInfo {
  return {
    sel: sel(),
    lft: lft(),
    curlft: cur(),
    priority: 0,
    index: 8,
    dir: 1,
    action: 0,
    flags: 0,
    share: 0,
    ...o,
  };
}

const KEY = Uint8Array.from(Buffer.from('c57f6f084ebf8c6a71dd9a053c2e03b94c658a9b', 'hex'));
const tmpl = (o: Partial<XfrmUserTmpl> = {}) =>
  userTmpl({
    id: { daddr: '10.0.0.2', spi: 0, proto: 50 },
    family: 2,
    saddr: '10.0.0.1',
    reqid: 7,
    mode: 1,
    ...o,
  });

interface Entry {
  type: number;
  body: unknown;
  attrs: AttrInput[];
}

const STATES: Entry[] = [
  {
    // packet offload out, ESN, mark/output-mark/if_id, SA dir, extra flags, port selector
    type: XFRM_MSG.NEWSA,
    body: sa({
      flags: 0x80 | 0x20,
      reqid: 1,
      mode: 1,
      sel: sel({
        family: 2,
        saddr: '172.16.1.0',
        daddr: '172.16.2.0',
        prefixlenS: 24,
        prefixlenD: 24,
        proto: 6,
        dport: 443,
        dportMask: 0xffff,
      }),
    }),
    attrs: [
      { name: 'SA_EXTRA_FLAGS', value: 3 },
      { name: 'ALG_AEAD', value: { name: 'rfc4106(gcm(aes))', keyLen: 160, icvLen: 128, key: KEY } },
      { name: 'MARK', value: { v: 0x10, m: 0xff } },
      { name: 'SET_MARK', value: 0x6 },
      { name: 'SET_MARK_MASK', value: 0xab },
      {
        name: 'REPLAY_ESN_VAL',
        value: {
          bmpLen: 9,
          oseq: 5,
          seq: 3,
          oseqHi: 1,
          seqHi: 2,
          replayWindow: 288,
          bmp: [1, 2, 3, 4, 5, 6, 7, 8, 9],
        },
      },
      { name: 'OFFLOAD_DEV', value: { ifindex: 1, flags: 4 } },
      { name: 'IF_ID', value: 7 },
      { name: 'SA_DIR', value: 2 },
    ],
  },
  {
    // cbc + hmac, NAT-T, legacy replay, crypto offload in, coa, lastused 0, tfcpad, v6
    type: XFRM_MSG.NEWSA,
    body: sa({
      family: 10,
      saddr: '2001:db8::64',
      id: { daddr: '2001:db8::65', spi: 0xc0ffee, proto: 50 },
      replayWindow: 32,
      flags: 1 | 4,
      sel: sel({
        family: 10,
        saddr: '2001:db8::',
        daddr: '2001:db8:1::',
        prefixlenS: 64,
        prefixlenD: 48,
        proto: 58,
        sport: 128,
        sportMask: 0xffff,
      }),
    }),
    attrs: [
      {
        name: 'ALG_AUTH_TRUNC',
        value: { name: 'hmac(sha256)', keyLen: 256, truncLen: 128, key: new Uint8Array(32).fill(0xa5) },
      },
      { name: 'ALG_CRYPT', value: { name: 'cbc(aes)', keyLen: 128, key: new Uint8Array(16).fill(0x3c) } },
      { name: 'ENCAP', value: { encapType: 2, encapSport: 4500, encapDport: 4501, encapOa: '::' } },
      { name: 'COADDR', value: '2001:db8::99' },
      { name: 'REPLAY_VAL', value: { oseq: 10, seq: 0x2a, bitmap: 0x7f } },
      { name: 'OFFLOAD_DEV', value: { ifindex: 1, flags: 2 } },
      { name: 'SET_MARK', value: 0x99 },
      { name: 'TFCPAD', value: 1200 },
      { name: 'SA_DIR', value: 1 },
    ],
  },
  {
    // ESP with plain auth and comp-only IPcomp state, GRE selector, mark 0
    type: XFRM_MSG.NEWSA,
    body: sa({
      id: { daddr: '10.1.1.2', spi: 0, proto: 108 },
      saddr: '10.1.1.1',
      mode: 4,
      sel: sel({
        family: 2,
        saddr: '10.1.1.1',
        daddr: '10.1.1.2',
        prefixlenS: 32,
        prefixlenD: 32,
        proto: 47,
        sport: 1,
        dport: 2,
        sportMask: 0xffff,
        dportMask: 0xffff,
        ifindex: 1,
      }),
    }),
    attrs: [
      { name: 'ALG_COMP', value: { name: 'deflate', keyLen: 0, key: new Uint8Array(0) } },
      { name: 'MARK', value: { v: 0, m: 0xffffffff } },
    ],
  },
  {
    type: XFRM_MSG.NEWSA,
    body: sa({
      id: { daddr: '10.9.9.9', spi: 0xdeadbeef, proto: 51 },
      saddr: '10.9.9.8',
      flags: 0x200 & 0xff,
    }),
    attrs: [
      { name: 'ALG_AUTH', value: { name: 'hmac(sha1)', keyLen: 160, key: new Uint8Array(20).fill(1) } },
      { name: 'REPLAY_VAL', value: { oseq: 0, seq: 0, bitmap: 0 } },
      { name: 'OFFLOAD_DEV', value: { ifindex: 1, flags: 6 } },
    ],
  },
];

const POLICIES: Entry[] = [
  {
    type: XFRM_MSG.NEWPOLICY,
    body: pol({
      sel: sel({
        family: 2,
        saddr: '10.0.1.0',
        daddr: '10.0.2.0',
        prefixlenS: 24,
        prefixlenD: 24,
        proto: 17,
        sport: 53,
        sportMask: 0xffff,
        ifindex: 1,
      }),
      priority: 100,
      index: 0x101,
      flags: 3,
      share: 2,
    }),
    attrs: [
      {
        name: 'TMPL',
        value: [
          tmpl({ optional: 1 }),
          tmpl({
            reqid: 9,
            mode: 0,
            share: 1,
            ealgos: 0x10,
            id: { daddr: '10.0.0.3', spi: 0x55, proto: 51 },
          }),
        ],
      },
      { name: 'POLICY_TYPE', value: { type: 1, reserved1: 0, reserved2: 0 } },
      { name: 'MARK', value: { v: 0, m: 0xff } },
      { name: 'IF_ID', value: 0x20 },
      { name: 'OFFLOAD_DEV', value: { ifindex: 1, flags: 4 } },
    ],
  },
  {
    type: XFRM_MSG.NEWPOLICY,
    body: pol({
      sel: sel({
        family: 10,
        saddr: '2001:db8::',
        daddr: '::',
        prefixlenS: 32,
        proto: 58,
        sport: 135,
        sportMask: 0xffff,
        dport: 0,
        dportMask: 0xffff,
      }),
      dir: 2,
      action: 1,
    }),
    attrs: [{ name: 'POLICY_TYPE', value: { type: 0, reserved1: 0, reserved2: 0 } }],
  },
  {
    type: XFRM_MSG.NEWPOLICY,
    body: pol({
      sel: sel({ family: 2, saddr: '10.5.0.0', daddr: '10.6.0.0', prefixlenS: 16, prefixlenD: 16 }),
      dir: 0,
      priority: 7,
    }),
    attrs: [
      {
        name: 'TMPL',
        value: [
          tmpl({
            family: 10,
            saddr: '2001:db8::1',
            id: { daddr: '2001:db8::2', spi: 0, proto: 50 },
            optional: 2,
          }),
        ],
      },
      {
        name: 'SEC_CTX',
        value: {
          len: 8 + 14,
          exttype: 8,
          ctxAlg: 1,
          ctxDoi: 1,
          ctxLen: 14,
          ctx: Uint8Array.from(Buffer.from('system_u:obj\0\0')),
        },
      },
    ],
  },
];

function encode(e: Entry, type = e.type): Uint8Array {
  return encodeXfrm({ type, flags: 0, seq: 0, pid: 0, body: e.body, attrs: e.attrs });
}

function decodeOne(bytes: Uint8Array): XfrmMessage {
  const [m] = decodeDatagram(bytes, 'xfrm');
  if (m?.kind !== 'xfrm') throw new Error('not an XFRM message');
  return m.xfrm;
}

// ---------------------------------------------------------------- the responder

let machine: SimMachine;
let server: SimServer;
let dir: string;
let socketPath: string;

function runIp(bin: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: SHIM, NLSIM_SOCKET: socketPath, TZ: 'UTC' };
  if (bin === IP615) env.LD_LIBRARY_PATH = IP615_LIB;
  return new Promise((resolve) => {
    execFile(bin, args, { env, timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

const opts = (persona: '6.1' | '6.15', stats: number): XfrmPrintOptions => ({
  persona,
  stats,
  ifname: (i) => (i === 1 ? 'lo' : undefined),
});

describe.skipIf(SKIP !== undefined)(
  `ip xfrm printing equals the real ip binaries${SKIP ? ` (skipped: ${SKIP})` : ''}`,
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'xk-oracle-'));
      socketPath = join(dir, 'sim.sock');
      machine = new SimMachine();
      machine.setHandler(6, {
        handle(req) {
          if (req.header.type === XFRM_MSG.GETSA && req.header.flags & NLM_F.DUMP) {
            return { kind: 'dump', messages: STATES.map((e) => encode(e)), doneSeparate: true };
          }
          if (req.header.type === XFRM_MSG.GETPOLICY && req.header.flags & NLM_F.DUMP) {
            return { kind: 'dump', messages: POLICIES.map((e) => encode(e)), doneSeparate: true };
          }
          return { kind: 'error', errno: 95 };
        },
      });
      server = new SimServer(machine, { socketPath });
      await server.listen();
    });
    afterAll(async () => {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const [bin, persona] of [
      [IP615, '6.15'],
      [IP61, '6.1'],
    ] as const) {
      for (const stats of [0, 1, 2]) {
        const flags: string[] = Array(stats).fill('-s');
        it(`${persona}: ip ${flags.join(' ')} xfrm state list`, async () => {
          const real = await runIp(bin, [...flags, 'xfrm', 'state', 'list']);
          expect(real.stderr).toBe('');
          const ours = STATES.map((e) => printState(decodeOne(encode(e)), opts(persona, stats))).join('');
          expect(ours).toBe(real.stdout);
        });
        it(`${persona}: ip ${flags.join(' ')} xfrm policy list`, async () => {
          const real = await runIp(bin, [...flags, 'xfrm', 'policy', 'list']);
          expect(real.stderr).toBe('');
          const ours = POLICIES.map((e) => printPolicy(decodeOne(encode(e)), opts(persona, stats))).join('');
          expect(ours).toBe(real.stdout);
        });
      }
      it(`${persona}: ip xfrm state list nokeys`, async () => {
        if (persona === '6.1') return; // 6.1 has no nokeys
        const real = await runIp(bin, ['xfrm', 'state', 'list', 'nokeys']);
        const ours = STATES.map((e) =>
          printState(decodeOne(encode(e)), { ...opts(persona, 0), nokeys: true }),
        ).join('');
        expect(ours).toBe(real.stdout);
      });

      it(`${persona}: ip xfrm monitor prints notifications with their prefixes`, async () => {
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          LD_PRELOAD: SHIM,
          NLSIM_SOCKET: socketPath,
          TZ: 'UTC',
        };
        if (bin === IP615) env.LD_LIBRARY_PATH = IP615_LIB;
        const child = spawn(bin, ['xfrm', 'monitor'], { env });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        const joined = () => [...machine.sockets(6, 'default')].some((s) => s.groups.size > 0);
        for (let i = 0; i < 200 && !joined(); i++) await new Promise((r) => setTimeout(r, 10));
        expect(joined()).toBe(true);
        const note: Uint8Array[] = [
          encode(STATES[0]!, XFRM_MSG.NEWSA),
          encode(STATES[1]!, XFRM_MSG.UPDSA),
          encodeXfrm({
            type: XFRM_MSG.DELSA,
            flags: 0,
            seq: 0,
            pid: 0,
            body: { daddr: '10.9.9.9', spi: 0xdeadbeef, family: 2, proto: 51 },
            attrs: [{ name: 'SA', value: STATES[3]!.body }, ...STATES[3]!.attrs],
          }),
          encodeXfrm({
            type: XFRM_MSG.EXPIRE,
            flags: 0,
            seq: 0,
            pid: 0,
            body: { state: STATES[2]!.body, hard: 1 },
            attrs: STATES[2]!.attrs,
          }),
          encode(POLICIES[0]!, XFRM_MSG.NEWPOLICY),
          encode(POLICIES[1]!, XFRM_MSG.UPDPOLICY),
          encodeXfrm({
            type: XFRM_MSG.DELPOLICY,
            flags: 0,
            seq: 0,
            pid: 0,
            body: { sel: (POLICIES[2]!.body as XfrmUserpolicyInfo).sel, index: 0, dir: 0 },
            attrs: [{ name: 'POLICY', value: POLICIES[2]!.body }, ...POLICIES[2]!.attrs],
          }),
          encodeXfrm({
            type: XFRM_MSG.POLEXPIRE,
            flags: 0,
            seq: 0,
            pid: 0,
            body: { pol: POLICIES[1]!.body, hard: 0 },
            attrs: POLICIES[1]!.attrs,
          }),
          // the kernel pads xfrm_usersa_flush to 4 bytes (a 20-byte message)
          Uint8Array.from(Buffer.from('140000001c0000000000000000000000ff000000', 'hex')),
          encodeXfrm({
            type: XFRM_MSG.FLUSHPOLICY,
            flags: 0,
            seq: 0,
            pid: 0,
            body: undefined,
            attrs: [{ name: 'POLICY_TYPE', value: { type: 1, reserved1: 0, reserved2: 0 } }],
          }),
          // xfrm_userpolicy_default padded to 4 bytes, as the kernel sends it (in block, fwd accept, out 0)
          Uint8Array.from(Buffer.from('1400000028000000000000000000000001020000', 'hex')),
        ];
        const groupOf = (t: number) =>
          [XFRM_MSG.NEWSA, XFRM_MSG.UPDSA, XFRM_MSG.DELSA, XFRM_MSG.FLUSHSA].includes(t as never)
            ? 3
            : t === XFRM_MSG.EXPIRE || t === XFRM_MSG.POLEXPIRE
              ? 2
              : 4;
        for (const n of note) {
          const t = n[4]! | (n[5]! << 8);
          machine.notify(6, 'default', groupOf(t), n);
        }
        const expected = note.map((n) => printMonitorMessage(decodeOne(n), opts(persona, 0))).join('');
        for (let i = 0; i < 300 && stdout.length < expected.length; i++)
          await new Promise((r) => setTimeout(r, 10));
        child.kill('SIGTERM');
        expect(stdout).toBe(expected);
      });
    }
  },
);
