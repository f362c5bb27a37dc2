/**
 * Simulated netdev names under the shim with the real iproute2 6.15 `ip` (the first version line
 * with `offload packet`): RTM_GETLINK for `p0` answered by the simulator through the hybrid
 * NETLINK_ROUTE socket, if_nametoindex() interposed; and a simulator that survives bad clients.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FRAME, FrameReader } from '@xfrmkit/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shimPath } from '../src/sim/serve.ts';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const CACHE = process.env.XFRMKIT_CACHE ?? join(process.env.XDG_CACHE_HOME ?? '/var/cache', 'xfrmkit');
const IP615 = join(CACHE, 'iproute2-6.15/root/bin/ip');
const libdir = (() => {
  try {
    return execFileSync('sh', ['-c', `echo ${join(CACHE, 'iproute2-6.15/root/usr/lib')}/*-linux-gnu`], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return '';
  }
})();
const hostHasP0 = spawnSync('ip', ['link', 'show', 'p0'], { stdio: 'ignore' }).status === 0;
const skip = !existsSync(shimPath())
  ? 'libnlsim.so not built'
  : !existsSync(IP615)
    ? `iproute2 6.15 not unpacked at ${IP615} (packages/netlink/test/fixtures/capture/lib.sh ensure_iproute2_615)`
    : hostHasP0
      ? 'this host has a real p0'
      : undefined;

const SA =
  'xfrm state add src 192.168.1.64 dst 192.168.1.65 proto esp spi 0x4834535d reqid 0x4834535d mode transport aead rfc4106(gcm(aes)) 0xc57f6f084ebf8c6a71dd9a053c2e03b94c658a9bf00dd25780e73948931d10d08058a27c 128 sel src 192.168.1.64 dst 192.168.1.65 offload packet dev p0 dir out'.split(
    ' ',
  );

let server: ChildProcess;
let sock: string;
const startServer = async () => {
  sock = join(mkdtempSync(join(tmpdir(), 'xk-dev-')), 'sim.sock');
  server = spawn(BIN, ['sim', 'serve', '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(sock)).toBe(true);
};
const ip = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(BIN, ['sim', 'exec', '--socket', sock, '--', IP615, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LD_LIBRARY_PATH: libdir, ...env },
  });

describe.skipIf(skip !== undefined)(
  `simulated device names with iproute2 6.15${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    beforeAll(startServer);
    afterAll(() => server?.kill('SIGTERM'));

    it('without the name redirect, p0 (simulator only) is unknown to the real ip', () => {
      const r = ip([...SA.map((w) => w.replace('0x4834535d', '0x1111')), 'dir', 'out'].slice(0, SA.length), {
        NLSIM_ROUTE: '0',
        NLSIM_ETHTOOL: '0',
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('"p0" is wrong');
    });

    it('ip xfrm state add … offload packet dev p0 dir out succeeds and the listing names p0', () => {
      const add = ip(SA);
      expect(add.status, add.stderr).toBe(0);
      const list = ip(['xfrm', 'state', 'list']);
      expect(list.status, list.stderr).toBe(0);
      expect(list.stdout).toContain('crypto offload parameters: dev p0 dir out mode packet');
      // the index the simulator stored is its own p0, printed back through RTM_GETLINK by index
      const plain = ip(['xfrm', 'state', 'list'], { NLSIM_ROUTE: '0' });
      expect(plain.stdout).not.toContain('dev p0 dir out');
    });

    it('if_nametoindex alone (hybrid route off) also resolves p0', () => {
      const add = ip(
        SA.map((w) => (w === '0x4834535d' ? '0x4834535e' : w)),
        { NLSIM_ROUTE: '0' },
      );
      expect(add.status, add.stderr).toBe(0);
    });

    it('names and indexes the simulator does not have still come from the kernel', () => {
      const r = ip(['link', 'show', 'lo']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^1: lo: /);
      const bad = ip(['xfrm', 'state', 'add', ...SA.slice(3).map((w) => (w === 'p0' ? 'nosuchdev0' : w))]);
      expect(bad.status).not.toBe(0);
    });
  },
);

// ---- bad clients ---------------------------------------------------------------------------------------

function open(path: string): Promise<Socket> {
  return new Promise((res, rej) => {
    const c = connect(path);
    c.once('connect', () => res(c));
    c.once('error', rej);
  });
}

function hello(c: Socket, protocol: number): Promise<number> {
  const reader = new FrameReader();
  return new Promise((res, rej) => {
    const onData = (b: Buffer) => {
      const ack = reader.push(b).find((f) => f.kind === FRAME.HELLO_ACK);
      if (!ack) return;
      c.off('data', onData);
      const p = Buffer.from(ack.payload);
      if (p.readInt32LE(0) !== 0) rej(new Error(`HELLO refused ${p.readInt32LE(0)}`));
      else res(p.readUInt32LE(4));
    };
    c.on('data', onData);
    const h = Buffer.alloc(12);
    h.writeUInt32LE(protocol, 0);
    h.writeUInt32LE(3, 8);
    c.write(encodeFrame({ kind: FRAME.HELLO, group: 0, portid: 0, payload: h }));
  });
}

function nlmsg(type: number, flags: number, seq: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

const closed = (c: Socket) => new Promise<void>((r) => (c.destroyed ? r() : c.once('close', () => r())));

describe.skipIf(!existsSync(shimPath()))('xfrmkit sim serve survives bad clients', () => {
  beforeAll(startServer);
  afterAll(() => server?.kill('SIGTERM'));
  const xfrmkitIp = (args: string[]) => spawnSync(BIN, ['ip', '--sim', sock, ...args], { encoding: 'utf8' });

  it('garbage framing: that client alone is dropped', async () => {
    const g = await open(sock);
    const bad = Buffer.alloc(32, 0xff); // frame length 0xffffffff
    g.write(bad);
    await closed(g);
    const early = await open(sock);
    early.write(encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: nlmsg(0x13, 1, 1) })); // DATA before HELLO
    await closed(early);
    expect(
      xfrmkitIp(['xfrm', 'policy', 'add', 'src', '10.9.0.1', 'dst', '10.9.0.2', 'dir', 'out']).status,
    ).toBe(0);
  });

  it('a malformed netlink message gets the kernel answer (or none) and the socket stays usable', async () => {
    const c = await open(sock);
    const port = await hello(c, 6);
    const reader = new FrameReader();
    const got: Buffer[] = [];
    c.on('data', (b) => {
      for (const f of reader.push(b)) got.push(Buffer.from(f.payload));
    });
    // nlmsg_len past the end: the kernel drops the datagram silently
    const trunc = nlmsg(0x15, 0x305, 7);
    trunc.writeUInt32LE(4000, 0);
    c.write(encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: trunc }));
    // an unknown XFRM type with NLM_F_ACK: an error answer (the kernel: EINVAL for types it lacks)
    c.write(encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: nlmsg(0x7f, 0x5, 8) }));
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got.length).toBe(1);
    const e = got[0]!;
    expect(e.readUInt16LE(4)).toBe(2); // NLMSG_ERROR
    expect(e.readUInt32LE(8)).toBe(8); // seq of the second request
    expect(e.readUInt32LE(12)).toBe(port);
    expect(e.readInt32LE(16)).toBeLessThan(0);
    c.destroy();
  });

  it('closing mid-dump and flooding without reading leave the others served', async () => {
    const batch = Array.from(
      { length: 300 },
      (_, i) => `xfrm policy add src 10.8.${i >> 8}.${i & 255} dst 10.7.0.1 dir in`,
    ).join('\n');
    const add = spawnSync(BIN, ['sim', 'exec', '--socket', sock, '--', 'ip', '-batch', '-'], {
      input: batch,
      encoding: 'utf8',
    });
    expect(add.status, add.stderr).toBe(0);
    const d = await open(sock);
    await hello(d, 6);
    d.write(encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: nlmsg(0x15, 0x301, 1) })); // GETPOLICY dump
    d.destroy();
    // a flooder: 50k dump requests, never reads an answer
    const f = await open(sock);
    await hello(f, 6);
    f.pause();
    const dump = encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: nlmsg(0x15, 0x301, 2) });
    for (let i = 0; i < 50_000; i++) f.write(dump);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const list = xfrmkitIp(['xfrm', 'policy', 'list']);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout.match(/^src 10\.8\./gm)?.length).toBe(300);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // the real ip through the shim too
    const viaShim = spawnSync(BIN, ['sim', 'exec', '--socket', sock, '--', 'ip', 'xfrm', 'policy', 'count'], {
      encoding: 'utf8',
    });
    expect(viaShim.status, viaShim.stderr).toBe(0);
    f.destroy();
    // and the server process is alive
    expect(server.exitCode).toBeNull();
  }, 60_000);
});
