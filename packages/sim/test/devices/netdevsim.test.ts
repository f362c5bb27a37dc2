/**
 * The netdevsim profile of the simulator (createNetdevsimMachine), through the real clients: the
 * rules the oracle suite compares with a real 6.12 kernel (packages/oracle/test/netdevsim.*), here
 * without a VM: devlink instance and ports, VFs and eswitch modes, params and reload, crypto offload
 * and netdevsim's refusals, its 33-entry SA table and the debugfs text.
 */
import type { XfrmState } from '@xfrmkit/core';
import { DevlinkClient, NetlinkError, XfrmClient } from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { createNetdevsimMachine } from '../../src/create.ts';
import { NSIM_IPSEC_MAX_SA_COUNT, nsimIpsecDebugfs } from '../../src/devices/netdevsim.ts';
import { NETLINK_GENERIC, NETLINK_XFRM } from '../../src/machine.ts';
import { InProcTransport } from '../../src/transport/inproc.ts';
import { usersaInfo } from '../../src/xfrm/usersa.ts';

const NSIM = { bus: 'netdevsim', dev: 'netdevsim1' };

async function setup() {
  const host = createNetdevsimMachine();
  const dl = await DevlinkClient.open(new InProcTransport(host.machine, NETLINK_GENERIC));
  const xfrm = XfrmClient.over(new InProcTransport(host.machine, NETLINK_XFRM));
  return { host, dl, xfrm };
}

function sa(
  spi: number,
  ifindex: number,
  o: { flags?: number; icv?: number; keyBits?: number; esn?: boolean } = {},
): XfrmState {
  const keyBits = o.keyBits ?? 160;
  return {
    info: usersaInfo({
      daddr: '192.0.2.2',
      saddr: '192.0.2.1',
      spi,
      replayWindow: o.esn ? 0 : 32,
      flags: o.esn ? 128 : 0,
    }),
    aead: {
      name: 'rfc4106(gcm(aes))',
      keyLen: keyBits,
      key: Uint8Array.from({ length: keyBits / 8 }, (_, i) => i + 1),
      icvLen: o.icv ?? 128,
    },
    ...(o.esn
      ? {
          replayEsn: {
            bmpLen: 4,
            oseq: 0,
            seq: 0,
            oseqHi: 0,
            seqHi: 0,
            replayWindow: 128,
            bmp: [0, 0, 0, 0],
          },
        }
      : {}),
    offload: { ifindex, flags: o.flags ?? 0 },
  };
}

async function refusal(p: Promise<unknown>): Promise<{ errno: number; msg?: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NetlinkError) return { errno: e.errno, ...(e.extack?.msg ? { msg: e.extack.msg } : {}) };
    throw e;
  }
  throw new Error('not refused');
}

describe('netdevsim profile', () => {
  test('devlink: instance, port 0 with eth0, legacy eswitch without inline/encap, info, params', async () => {
    const { host, dl } = await setup();
    expect((await dl.devList()).map((d) => d.handle)).toEqual([NSIM]);
    const [port] = await dl.portList();
    expect(port).toMatchObject({
      index: 0,
      flavour: 0,
      number: 1,
      netdevName: 'eth0',
      netdevIfindex: host.ifindex('eth0'),
    });
    expect(await dl.eswitchGet(NSIM)).toEqual({ mode: 0 });
    expect((await refusal(dl.eswitchSet(NSIM, { inlineMode: 1 }))).errno).toBe(95);
    const info = await dl.info(NSIM);
    expect(info).toMatchObject({
      driverName: 'netdevsim',
      running: [{ name: 'fw.mgmt', value: '10.20.30' }],
    });
    expect((await dl.paramList(NSIM)).map((p) => [p.name, p.values[0]?.data])).toEqual([
      ['max_macs', 32],
      ['test1', true],
    ]);
  });

  test('VFs: ports 128+ with netdevs in switchdev only; counts change 0 ↔ N; 0 VFs means legacy again', async () => {
    const { host, dl } = await setup();
    const dev = host.devices[0]!;
    expect(dev.setNumVfs(2)).toBeUndefined();
    expect((await dl.portList()).length).toBe(1);
    expect(dev.setNumVfs(3)?.errno).toBe(16);
    expect(dev.setNumVfs(0)).toBeUndefined();
    expect(dev.setNumVfs(5)?.errno).toBe(12);
    expect(dev.setNumVfs(2)).toBeUndefined();
    await dl.eswitchSet(NSIM, { mode: 1 });
    const ports = await dl.portList();
    expect(ports.map((p) => [p.index, p.flavour, p.vfNumber, p.netdevName])).toEqual([
      [0, 0, undefined, 'eth0'],
      [128, 4, 0, 'eth1'],
      [129, 4, 1, 'eth2'],
    ]);
    expect(dev.setNumVfs(0)).toBeUndefined();
    expect(await dl.eswitchGet(NSIM)).toEqual({ mode: 0 });
    expect((await dl.portList()).length).toBe(1);
  });

  test('crypto offload on eth0 and netdevsim’s refusals; none on a VF netdev', async () => {
    const { host, dl, xfrm } = await setup();
    const eth0 = host.ifindex('eth0');
    await xfrm.addState(sa(0x100, eth0));
    await xfrm.addState(sa(0x101, eth0, { flags: 2 }));
    await xfrm.addState(sa(0x102, eth0, { keyBits: 288 }));
    expect((await xfrm.listStates()).map((s) => s.offload)).toEqual([
      { ifindex: eth0, flags: 0 },
      { ifindex: eth0, flags: 2 },
      { ifindex: eth0, flags: 0 },
    ]);
    expect(await refusal(xfrm.addState(sa(0x103, eth0, { icv: 96 })))).toEqual({
      errno: 22,
      msg: 'netdevsim: Failed to get key data for SA table',
    });
    expect(await refusal(xfrm.addState(sa(0x104, eth0, { flags: 4 })))).toEqual({
      errno: 22,
      msg: 'netdevsim: Unsupported ipsec offload type',
    });
    expect(await refusal(xfrm.addState(sa(0x105, eth0, { esn: true })))).toEqual({
      errno: 22,
      msg: "Device doesn't support offload with ESN",
    });
    host.devices[0]!.setNumVfs(1);
    await dl.eswitchSet(NSIM, { mode: 1 });
    await xfrm.addState(sa(0x106, host.ifindex('eth1')));
    expect(
      (await xfrm.getState({ daddr: '192.0.2.2', spi: 0x106, proto: 50, family: 2 })).offload,
    ).toBeUndefined();
    const text = nsimIpsecDebugfs(host.devices[0]!.portIpsec(0)!);
    expect(text.split('\n').slice(0, 4)).toEqual([
      'SA count=3 tx=0',
      'sa[0] tx ipaddr=192.0.2.2',
      'sa[0]    spi=0x00000100 proto=0x32 salt=0x14131211 crypt=1',
      'sa[0]    key=0x04030201 08070605 0c0b0a09 100f0e0d',
    ]);
    expect(text).toContain('sa[1] rx ipaddr=192.0.2.2');
  });

  test(`the SA table holds ${NSIM_IPSEC_MAX_SA_COUNT} SAs; a freed slot is reused`, async () => {
    const { host, xfrm } = await setup();
    const eth0 = host.ifindex('eth0');
    for (let i = 0; i < NSIM_IPSEC_MAX_SA_COUNT; i++) await xfrm.addState(sa(0x1000 + i, eth0));
    expect(await refusal(xfrm.addState(sa(0x2000, eth0)))).toEqual({
      errno: 28,
      msg: 'netdevsim: No space for SA in Rx table!',
    });
    await xfrm.deleteState({ daddr: '192.0.2.2', spi: 0x1005, proto: 50, family: 2 });
    await xfrm.addState(sa(0x2000, eth0));
    expect(host.devices[0]!.portIpsec(0)![5]?.spi).toBe(0x2000);
  });

  test('reload: new eth0 (new ifindex), SAs offloaded to the old one gone, driverinit params applied', async () => {
    const { host, dl, xfrm } = await setup();
    const before = host.ifindex('eth0');
    await xfrm.addState(sa(0x100, before));
    await dl.paramSet(NSIM, 'max_macs', 16, 1);
    expect(await refusal(dl.reload(NSIM, 2))).toEqual({
      errno: 95,
      msg: 'Requested reload action is not supported by the driver',
    });
    await dl.reload(NSIM);
    expect(host.ifindex('eth0')).not.toBe(before);
    expect(await xfrm.listStates()).toEqual([]);
    expect(host.devices[0]!.params.current('max_macs', 1)).toBe(16);
    expect((await dl.devGet(NSIM)).reloadStats?.[0]).toEqual({
      action: 1,
      entries: [{ limit: 0, value: 1 }],
    });
  });
});
