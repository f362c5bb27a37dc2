/**
 * Every check of `devlink dev eswitch set` (devlink-uapi.md §5.2, §7.2, §7.3; mlx5-ipsec.md §9.2,
 * §9.3) in table form, through the real DevlinkClient over InProcTransport: each row prepares the
 * simulated device, sends the request and asserts errno + extack (or success and the new state).
 */
import { DEVLINK_CMD, NetlinkError } from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { createSimMachine, type SimHost } from '../../src/create.ts';
import {
  clients,
  cryptoState,
  EBUSY,
  EINVAL,
  EOPNOTSUPP,
  EPERM,
  ERANGE,
  PCI0,
  refusal,
  seedObjects,
} from '../devices/support.ts';

const M = 'mlx5_core: ';

interface Row {
  name: string;
  profile?: 'bf3' | 'bf2' | 'cx7' | 'cx6dx';
  start?: 'legacy' | 'switchdev';
  kernel?: 'upstream-7.0';
  prepare?(sim: SimHost, c: Awaited<ReturnType<typeof clients>>): Promise<void> | void;
  set: { mode?: number; inlineMode?: number; encapMode?: number };
  errno?: number;
  msg?: string;
  warning?: string;
  after?: { mode?: number; encapMode?: number };
}

const addSeedSa = async (sim: SimHost, c: Awaited<ReturnType<typeof clients>>) => {
  await c.xfrm.addState(seedObjects(sim.ifindex('p0')).states[0]!);
};

const ROWS: Row[] = [
  {
    name: '#1 lightweight function',
    prepare: (s) => {
      s.devices[0]!.knobs.lightweight = true;
    },
    set: { mode: 0 },
    errno: EOPNOTSUPP,
    msg: `${M}Function doesn't fully probe.`,
  },
  {
    name: '#2 not the eswitch manager (BlueField host PF)',
    prepare: (s) => {
      s.devices[0]!.knobs.eswitchManager = false;
    },
    set: { mode: 0 },
    errno: EOPNOTSUPP,
  },
  { name: 'policy: mode 2 on a ≤ 6.18 core', set: { mode: 2 }, errno: ERANGE, msg: 'integer out of range' },
  { name: 'policy: inline 4', set: { inlineMode: 4 }, errno: ERANGE, msg: 'integer out of range' },
  { name: 'policy: encap 2', set: { encapMode: 2 }, errno: ERANGE, msg: 'integer out of range' },
  {
    name: '#4 Socket Direct',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.knobs.socketDirect = true;
    },
    set: { mode: 1 },
    errno: EPERM,
    msg: `${M}Can't change E-Switch mode to switchdev when multi-PF netdev (Socket Direct) is configured.`,
  },
  {
    name: '#5 firmware reset in progress',
    prepare: (s) => {
      s.devices[0]!.knobs.fwResetInProgress = true;
    },
    set: { mode: 0 },
    errno: EBUSY,
    msg: `${M}Can't change eswitch mode during firmware reset`,
  },
  {
    name: '#6 switchdev → switchdev_inactive toggle (6.19+) even with IPsec',
    kernel: 'upstream-7.0',
    prepare: addSeedSa,
    set: { mode: 2 },
    after: { mode: 2 },
  },
  {
    name: '#7 eswitch busy (operation in progress)',
    prepare: (s) => {
      s.devices[0]!.knobs.eswitchBusy = true;
    },
    set: { mode: 0 },
    errno: EBUSY,
    msg: `${M}Can't change mode, E-Switch is busy`,
  },
  {
    name: '#7 TC FDB flows hold the eswitch',
    prepare: (s) => void s.devices[0]!.tcFlowAdd(s.ifindex('pf0vf0')),
    set: { mode: 0 },
    errno: EBUSY,
    msg: `${M}Can't change mode, E-Switch is busy`,
  },
  {
    name: '#8 same mode is a no-op, even with IPsec',
    prepare: addSeedSa,
    set: { mode: 1 },
    after: { mode: 1 },
  },
  {
    name: '#9 IPsec SA blocks the mode change',
    prepare: addSeedSa,
    set: { mode: 0 },
    errno: EOPNOTSUPP,
    msg: `${M}Can't change eswitch mode when IPsec SA and/or policies are configured`,
  },
  {
    name: '#9 IPsec policy alone blocks it too',
    prepare: async (s, c) => void (await c.xfrm.addPolicy(seedObjects(s.ifindex('p0')).policies[0]!)),
    set: { mode: 0 },
    errno: EOPNOTSUPP,
    msg: `${M}Can't change eswitch mode when IPsec SA and/or policies are configured`,
  },
  {
    name: '#10 uplink netns diverged',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.knobs.netnsDiverged = true;
    },
    set: { mode: 1 },
    errno: EINVAL,
    msg: `${M}Can't change E-Switch mode to switchdev when netdev net namespace has diverged from the devlink's.`,
  },
  {
    name: '#11 devlink traps active',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.knobs.trapsActive = true;
    },
    set: { mode: 1 },
    errno: EOPNOTSUPP,
    msg: `${M}Can't change mode while devlink traps are active`,
  },
  {
    name: '#12 offloads start fails in firmware',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.faults.modeChange = { errno: 12, remaining: 1 };
    },
    set: { mode: 1 },
    errno: 12,
    msg: `${M}Failed setting eswitch to offloads`,
  },
  {
    name: '#13 back to legacy fails',
    prepare: (s) => {
      s.devices[0]!.faults.modeChange = { errno: 5, remaining: 1 };
    },
    set: { mode: 0 },
    errno: 5,
    msg: `${M}Failed setting eswitch to legacy`,
  },
  {
    name: '#14 vport inline mismatch: warning only',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.knobs.vportInlineMismatch = true;
    },
    set: { mode: 1 },
    warning: `${M}Inline mode is different between vports`,
    after: { mode: 1 },
  },
  {
    name: 'core: rate nodes exist (checked even for the same mode)',
    prepare: (s) => {
      s.devices[0]!.knobs.rateNodes = 1;
    },
    set: { mode: 1 },
    errno: EBUSY,
    msg: 'Rate node(s) exists.',
  },
  { name: 'legacy → switchdev succeeds', start: 'legacy', set: { mode: 1 }, after: { mode: 1 } },
  { name: 'switchdev → legacy succeeds without IPsec', set: { mode: 0 }, after: { mode: 0 } },
  { name: 'inline none accepted (nothing stored)', set: { inlineMode: 0 } },
  {
    name: 'inline link refused on CX5+/BlueField',
    set: { inlineMode: 1 },
    errno: EOPNOTSUPP,
    msg: `${M}Inline mode can't be set`,
  },
  {
    name: 'inline transport refused on ConnectX-7 too',
    profile: 'cx7',
    set: { inlineMode: 3 },
    errno: EOPNOTSUPP,
    msg: `${M}Inline mode can't be set`,
  },
  {
    name: 'encap in legacy: stored even with IPsec',
    start: 'legacy',
    prepare: async (s, c) => void (await c.xfrm.addState(cryptoState('out', s.ifindex('p0')))),
    set: { encapMode: 0 },
    after: { encapMode: 0 },
  },
  { name: 'encap in switchdev: unchanged value is a no-op', set: { encapMode: 1 }, after: { encapMode: 1 } },
  {
    name: 'encap in switchdev with FDB flows',
    prepare: (s) => void s.devices[0]!.tcFlowAdd(s.ifindex('pf0vf1')),
    set: { encapMode: 0 },
    errno: EOPNOTSUPP,
    msg: `${M}Can't set encapsulation when flows are configured`,
  },
  {
    name: 'encap in switchdev with IPsec tables that took tunnel reformat',
    prepare: async (s, c) => {
      s.devices[0]!.eswitchEncapSet(0);
      await c.xfrm.addState(cryptoState('out', s.ifindex('p0')));
    },
    set: { encapMode: 1 },
    errno: EOPNOTSUPP,
    msg: `${M}Can't set encapsulation when IPsec SA and/or policies are configured`,
  },
  {
    name: 'encap in switchdev: packet (FDB) tables hold no tunnel reformat',
    prepare: addSeedSa,
    set: { encapMode: 0 },
    after: { encapMode: 0 },
  },
  {
    name: 'encap: FDB re-creation fails',
    prepare: (s) => {
      s.devices[0]!.faults.encapChange = { errno: 12, remaining: 1 };
    },
    set: { encapMode: 0 },
    errno: 12,
    msg: `${M}Failed re-creating fast FDB table`,
  },
  {
    name: 'mode then encap: mode applied although encap fails',
    start: 'legacy',
    prepare: (s) => {
      s.devices[0]!.faults.encapChange = { errno: 12, remaining: 1 };
    },
    set: { mode: 1, encapMode: 0 },
    errno: 12,
    msg: `${M}Failed re-creating fast FDB table`,
    after: { mode: 1, encapMode: 1 },
  },
];

describe('devlink dev eswitch set: every check, in order', () => {
  for (const row of ROWS) {
    test(row.name, async () => {
      const opts: Parameters<typeof createSimMachine>[1] = { eswitchMode: row.start ?? 'switchdev' };
      if (row.kernel) opts.kernel = row.kernel;
      const sim = createSimMachine(row.profile ?? 'bf3', opts);
      const c = await clients(sim);
      const h = row.profile === 'cx7' ? { bus: 'pci', dev: sim.devices[0]!.pciAddr } : PCI0;
      try {
        await row.prepare?.(sim, c);
        if (row.errno !== undefined) {
          const r = await refusal(c.dl.eswitchSet(h, row.set));
          expect(r.errno).toBe(row.errno);
          expect(r.msg).toBe(row.msg);
        } else {
          const r = await c.dl.eswitchSet(h, row.set);
          expect(r.warning).toBe(row.warning);
        }
        if (row.after) {
          const e = await c.dl.eswitchGet(h);
          if (row.after.mode !== undefined) expect(e.mode).toBe(row.after.mode);
          if (row.after.encapMode !== undefined) expect(e.encapMode).toBe(row.after.encapMode);
        }
      } finally {
        c.close();
      }
    });
  }

  test('ESWITCH_GET needs CAP_NET_ADMIN; GET does not', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    sim.genl.setCapNetAdmin(c.dl.channel.transport.portid, false);
    expect((await refusal(c.dl.eswitchGet(PCI0))).errno).toBe(EPERM);
    expect((await c.dl.devGet(PCI0)).handle).toEqual(PCI0);
    c.close();
  });

  // kernels ≥ 6.2 (bf3: DOCA 6.8) track the port's netdev through netdev notifiers: PORT_NEW at
  // port registration, NETDEV_POST_INIT (eth, no netdev), NETDEV_REGISTER (with it); going away
  // NETDEV_UNREGISTER (eth, no netdev), NETDEV_PRE_UNINIT (notset), PORT_DEL. bf2's 5.15 kernel
  // sends one PORT_NEW from the driver's devlink_port_type_eth_set / _clear instead.
  const attach = (i: number, name: string, notifier: boolean) =>
    notifier
      ? [`new:${i}:0:-`, `new:${i}:2:-`, `new:${i}:2:${name}`]
      : [`new:${i}:0:-`, `new:${i}:2:${name}`];
  const detach = (i: number, notifier: boolean) =>
    notifier ? [`new:${i}:2:-`, `new:${i}:0:-`, `del:${i}:0:-`] : [`new:${i}:0:-`, `del:${i}:0:-`];

  test.each([
    ['bf3', true],
    ['bf2', false],
  ] as const)(
    '%s: reps appear on switchdev entry (PORT_NEW) and vanish on legacy (PORT_DEL)',
    async (profile, notifier) => {
      const sim = createSimMachine(profile, { eswitchMode: 'legacy', functions: 1 });
      const c = await clients(sim);
      const events: string[] = [];
      c.dl.subscribe((e) => {
        if (e.kind === 'port')
          events.push(`${e.action}:${e.port.index}:${e.port.type}:${e.port.netdevName ?? '-'}`);
      });
      await c.dl.eswitchSet(PCI0, { mode: 1 });
      expect((await c.dl.portList(PCI0)).map((p) => p.netdevName)).toEqual([
        'pf0hpf',
        'pf0vf0',
        'pf0vf1',
        'p0',
      ]);
      await c.dl.eswitchSet(PCI0, { mode: 0 });
      await new Promise((r) => setTimeout(r, 0));
      expect(events).toEqual([
        ...attach(0, 'pf0hpf', notifier),
        ...attach(1, 'pf0vf0', notifier),
        ...attach(2, 'pf0vf1', notifier),
        ...detach(0, notifier),
        ...detach(1, notifier),
        ...detach(2, notifier),
      ]);
      expect((await c.dl.portList(PCI0)).map((p) => p.netdevName)).toEqual(['p0']);
      expect(sim.netdev('pf0vf0')).toBeUndefined();
      c.close();
    },
  );

  test('an unknown devlink command of the op table is refused, not faked', async () => {
    const sim = createSimMachine('bf3');
    const c = await clients(sim);
    const e = await refusal(
      c.dl.channel.request({
        msg: {
          kind: 'genl',
          header: { len: 0, type: c.dl.familyId, flags: 5, seq: 0, pid: 0 },
          genl: {
            type: c.dl.familyId,
            flags: 5,
            seq: 0,
            pid: 0,
            cmd: DEVLINK_CMD.SB_GET,
            version: 1,
            reserved: 0,
            attrs: [],
          },
          family: 'devlink',
        },
        what: 'SB_GET',
      }),
    );
    expect(e.errno).toBe(EOPNOTSUPP);
    expect(NetlinkError).toBeDefined();
    c.close();
  });
});
