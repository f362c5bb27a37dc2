import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ESP_PARAMS,
  ESP_PARAMS_LEN,
  ESP_STATE,
  ESP_STATE_LEN,
  native,
  nativeLoadError,
} from '../src/index.ts';

describe('native addon loader', () => {
  it('either loads or says why', () => {
    if (native) expect(nativeLoadError).toBeNull();
    else expect(nativeLoadError).toMatch(/\S/);
  });
});

describe.skipIf(!native)('socket and namespace helpers', () => {
  const api = native!;
  const c = api.constants;

  it('sets and reads int socket options', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fd).toBeGreaterThan(2);
    api.setsockoptInt(fd, c.SOL_SOCKET, c.SO_RCVBUF, 65536);
    expect(api.getsockoptInt(fd, c.SOL_SOCKET, c.SO_RCVBUF)).toBe(131072); // Linux doubles it
    expect(api.getsockoptInt(fd, c.SOL_SOCKET, c.SO_PROTOCOL)).toBe(17);
    // not a netlink socket
    expect(api.netlinkSocketFd(0x7ffffff0)).toBe(-1);
    sock.close();
  });

  it('reports errno names as error codes', () => {
    expect(() => api.setsockoptInt(-1, c.SOL_SOCKET, c.SO_RCVBUF, 1)).toThrow(
      expect.objectContaining({ code: 'EBADF', errno: -9, syscall: 'setsockopt' }),
    );
    expect(() => api.getsockoptInt(0x7fff, c.SOL_SOCKET, c.SO_RCVBUF)).toThrow(
      expect.objectContaining({ code: 'EBADF' }),
    );
    expect(() => api.openNetnsFd('xfrmkit-no-such-namespace')).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
    expect(() => api.openNetnsFd('../etc')).toThrow(RangeError);
    expect(() => api.setns(-1, c.CLONE_NEWNET)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => api.setsockoptInt(1.5, 1, 1, 1)).toThrow(RangeError);
  });

  it('opens the current network namespace and can re-enter it (or says EPERM)', () => {
    const fd = api.currentNetnsFd();
    expect(fd).toBeGreaterThanOrEqual(0);
    try {
      api.setns(fd, c.CLONE_NEWNET);
    } catch (e) {
      expect((e as { code: string }).code).toBe('EPERM');
    }
    api.closeFd(fd);
    expect(() => api.closeFd(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  const canNetns = (() => {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
      return process.getuid?.() === 0;
    } catch {
      return false;
    }
  })();

  it.skipIf(!canNetns)('enters a named network namespace and switches back', () => {
    const name = `xfrmkit-test-${process.pid}`;
    execFileSync('ip', ['netns', 'add', name]);
    try {
      const home = api.currentNetnsFd();
      const ns = api.openNetnsFd(name);
      const before = readlinkSync('/proc/thread-self/ns/net');
      api.setns(ns, c.CLONE_NEWNET);
      const inside = readlinkSync('/proc/thread-self/ns/net');
      api.setns(home, c.CLONE_NEWNET);
      expect(inside).not.toBe(before);
      expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
      api.closeFd(ns);
      api.closeFd(home);
    } finally {
      execFileSync('ip', ['netns', 'del', name]);
    }
  });

  it('rejects wrong argument types instead of crashing', () => {
    const ctx = api.gcmCreate(new Uint8Array(16), new Uint8Array(4), true);
    expect(() => api.gcmCreate(new Uint8Array(24), new Uint8Array(4), true)).toThrow(/16 or 32 bytes/);
    expect(() =>
      api.gcmSeal(
        ctx,
        'x' as unknown as Uint8Array,
        0,
        0,
        new Uint8Array(16),
        0,
        0,
        new Uint8Array(8),
        0,
        new Uint8Array(0),
        0,
        0,
        16,
      ),
    ).toThrow(TypeError);
    expect(() =>
      api.gcmSealBatch(ctx, new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), new Uint32Array(8), 2),
    ).toThrow(RangeError);
    expect(() =>
      api.gcmOpen(
        {} as never,
        new Uint8Array(1),
        0,
        0,
        new Uint8Array(1),
        0,
        new Uint8Array(8),
        0,
        new Uint8Array(0),
        0,
        0,
        16,
      ),
    ).toThrow(TypeError);
    api.gcmFree(ctx);
    expect(() =>
      api.gcmSealBatch(ctx, new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), new Uint32Array(8), 0),
    ).toThrow(/freed/);
  });

  it('checks the whole-batch ESP arguments and never reads outside the buffers', () => {
    const seal = api.gcmCreate(new Uint8Array(16), new Uint8Array(4), true);
    const open = api.gcmCreate(new Uint8Array(16), new Uint8Array(4), false);
    const params = new Uint8Array(ESP_PARAMS_LEN);
    params[ESP_PARAMS.ICV_LEN] = 16;
    params[ESP_PARAMS.WINDOW + 3] = 32;
    const state = new Uint32Array(ESP_STATE_LEN);
    const n = 2;
    const buf = new Uint8Array(64);
    const u32 = () => new Uint32Array(n);
    const offs = new Uint32Array([0, 60]);
    const lens = new Uint32Array([1000, 1000]); // longer than the buffer: clamped, never read past it
    const caps = new Uint32Array([64, 1000]);
    const status = new Int32Array(n);
    const enc = (ctx = seal, p = params, count = n) =>
      api.espEncapBatch(
        ctx,
        p,
        state,
        buf,
        buf,
        offs,
        lens,
        caps,
        offs,
        caps,
        status,
        u32(),
        u32(),
        u32(),
        count,
        true,
      );
    buf.set([0x45, 0, 0, 40]); // claims 40 bytes: fits the 64-byte slot, not with ESP around it
    expect(enc()).toBe(0);
    expect(Array.from(status)).toEqual([-14, -2]); // BUFFER_TOO_SMALL; 4 zero bytes left: MALFORMED
    expect(state[ESP_STATE.OSEQ]).toBe(0);
    expect(() => enc(open)).toThrow(TypeError);
    expect(() => enc(seal, new Uint8Array(8))).toThrow(RangeError);
    expect(() => enc(seal, params, 3)).toThrow(RangeError);
    const bad = params.slice();
    bad[ESP_PARAMS.ICV_LEN] = 10;
    expect(() => enc(seal, bad)).toThrow(RangeError);
    const dec = (bmp: Uint32Array, ctx = open) =>
      api.espDecapBatch(
        ctx,
        params,
        state,
        bmp,
        buf,
        buf,
        offs,
        lens,
        offs,
        caps,
        status,
        u32(),
        new Uint8Array(n),
        u32(),
        u32(),
        n,
        false,
      );
    expect(() => dec(new Uint32Array(0))).toThrow(RangeError);
    expect(dec(new Uint32Array(1))).toBe(0);
    expect(Array.from(status)).toEqual([-4, -2]); // NOT_ESP, MALFORMED
    expect(() => dec(new Uint32Array(1), seal)).toThrow(TypeError);
    api.gcmFree(seal);
    api.gcmFree(open);
  });
});
