/**
 * ethtool over the simulator's IOCTL frames: `xfrmkit ethtool -S` (UnixTransport side) and Debian's
 * ethtool(8) 6.1 under the LD_PRELOAD shim, against one in-process `sim serve` whose counters moved.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  createSimMachine,
  ETH_SS,
  ETHTOOL,
  ethtoolStats,
  FEATURE_NAMES,
  formatEthtoolStats,
  ioctlOverUnix,
  SIOCETHTOOL,
  SIOCGIFINDEX,
  SimServer,
} from '@xfrmkit/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shimPath } from '../src/sim/serve.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');
const haveEthtool = existsSync('/usr/sbin/ethtool') && existsSync(shimPath());

const host = createSimMachine('bf3');
const dev = host.deviceOf('p0')!;
dev.countIpsec('ipsec_rx_pkts', 1234);
dev.countIpsec('ipsec_tx_bytes', 987654321n);
let server: SimServer;
let sock: string;

beforeAll(async () => {
  sock = join(mkdtempSync(join(tmpdir(), 'xk-eth-')), 'sim.sock');
  server = new SimServer(host.machine, { socketPath: sock, host });
  await server.listen();
});
afterAll(() => server.close());

describe('ethtool over IOCTL frames', () => {
  it('xfrmkit ethtool -S p0 --sim prints the device counters in ethtool format', async () => {
    const { stdout } = await run(BIN, ['ethtool', '-S', 'p0', '--sim', sock]);
    const expected = Object.entries(dev.ethtoolStats());
    expect(expected.length).toBeGreaterThan(2);
    expect(stdout).toBe(formatEthtoolStats(expected));
    expect(stdout).toContain('     ipsec_rx_pkts: 1234\n');
    expect(stdout).toContain('     ipsec_tx_bytes: 987654321\n');
  });

  it('unknown device: ENODEV; a representor has no IPsec counters', async () => {
    const r = await run(BIN, ['ethtool', '-S', 'nosuch0', '--sim', sock]).catch((e) => e);
    expect(r.code).toBe(1);
    expect(await ethtoolStats(ioctlOverUnix(sock), 'pf0hpf')).toEqual([]);
  });

  it("esp-hw-offload as charon probes it: GSSET_INFO/GSTRINGS on lo, GFEATURES on the SA's device", async () => {
    const io = ioctlOverUnix(sock);
    const q = Buffer.alloc(16);
    q.writeUInt32LE(ETHTOOL.GSSET_INFO, 0);
    q.writeBigUInt64LE(1n << BigInt(ETH_SS.FEATURES), 8);
    const info = Buffer.from((await io(SIOCETHTOOL, 'lo', q)).data);
    const n = info.readUInt32LE(16);
    expect(n).toBe(FEATURE_NAMES.length);
    const gs = Buffer.alloc(12);
    gs.writeUInt32LE(ETHTOOL.GSTRINGS, 0);
    gs.writeUInt32LE(ETH_SS.FEATURES, 4); // len left 0, like charon
    const strings = Buffer.from((await io(SIOCETHTOOL, 'lo', gs)).data);
    const names = Array.from({ length: n }, (_, i) =>
      strings
        .subarray(12 + 32 * i, 44 + 32 * i)
        .toString('latin1')
        .replace(/\0.*$/s, ''),
    );
    const bit = names.indexOf('esp-hw-offload');
    expect(bit).toBeGreaterThanOrEqual(0);
    const active = async (ifname: string) => {
      const g = Buffer.alloc(8);
      g.writeUInt32LE(ETHTOOL.GFEATURES, 0);
      g.writeUInt32LE(Math.ceil(n / 32), 4);
      const out = Buffer.from((await io(SIOCETHTOOL, ifname, g)).data);
      return (out.readUInt32LE(8 + 16 * (bit >> 5) + 8) >>> (bit & 31)) & 1;
    };
    expect(await active('p0')).toBe(host.netdev('p0')!.features['esp-hw-offload'] ? 1 : 0);
    expect(await active('p0')).toBe(1);
    expect(await active('pf0hpf')).toBe(0);
    const idx = await io(SIOCGIFINDEX, 'p0', new Uint8Array(0));
    expect(Buffer.from(idx.data).readInt32LE(0)).toBe(host.ifindex('p0'));
  });
});

describe.skipIf(!haveEthtool)(
  `Debian ethtool(8) under the shim${haveEthtool ? '' : ' (skipped: apt-get install ethtool; libnlsim.so)'}`,
  () => {
    const env = { ...process.env, LD_PRELOAD: shimPath(), NLSIM_SOCKET: '' };
    it('ethtool -S p0 prints what xfrmkit ethtool -S prints', async () => {
      const e = { ...env, NLSIM_SOCKET: sock };
      const real = await run('ethtool', ['-S', 'p0'], { env: e });
      const ours = await run(BIN, ['ethtool', '-S', 'p0', '--sim', sock]);
      expect(real.stdout).toBe(ours.stdout);
      const drv = await run('ethtool', ['-i', 'p0'], { env: e });
      expect(drv.stdout).toContain('driver: mlx5_core');
      expect(drv.stdout).toContain(`bus-info: ${dev.pciAddr}`);
      expect(drv.stdout).toContain(`firmware-version: ${dev.firmware.running}`);
    });
    it('without the shim the host has no p0', async () => {
      const r = await run('ethtool', ['-S', 'p0']).catch((x) => x);
      expect(r.code).not.toBe(0);
    });
  },
);
