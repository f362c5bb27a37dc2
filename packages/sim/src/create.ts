/**
 * createSimMachine: a simulated host with one mlx5 NIC (all its PCI functions), the NETLINK_GENERIC
 * handler (nlctrl + devlink) and the NETLINK_XFRM handler (ESP built, CONFIG_XFRM_OFFLOAD) whose
 * offload hook is the NIC's xfrmdev_ops.
 *
 *   const sim = createSimMachine('bf3');
 *   const dl = await DevlinkClient.open(new InProcTransport(sim.machine, NETLINK_GENERIC));
 *   sim.ifindex('p0'); sim.devices[0].ethtoolStats();
 */
import type { ProfileId } from '@xfrmkit/core';
import { SimDevice } from './devices/device.ts';
import { KERNELS, type KernelId, type SimKernelFeatures, simHardware } from './devices/hardware.ts';
import type { SimNetdev } from './devices/netdev.ts';
import { NetdevTable } from './devices/netdev.ts';
import { NsimDevice, NsimOffloadHook } from './devices/netdevsim.ts';
import { Mlx5OffloadHook } from './devices/offload.ts';
import { DevlinkFamily, type DevlinkFamilyOptions } from './devlink/family.ts';
import { GenlController } from './genl/controller.ts';
import { NETLINK_GENERIC, SimMachine, type SimMachineOptions } from './machine.ts';
import { XfrmHandler, type XfrmHandlerOptions } from './xfrm/handler.ts';

export interface CreateSimMachineOptions extends SimMachineOptions {
  /** PCI functions / ports (default: the profile's, 2) */
  functions?: number;
  /** host VFs per PF with representors in switchdev (default 2) */
  vfsPerPf?: number;
  /** initial eswitch mode (default: BlueField switchdev, ConnectX legacy) */
  eswitchMode?: 'legacy' | 'switchdev';
  /** BlueField-2: IPSEC_FULL_OFFLOAD="yes" in /etc/mellanox/mlnx-bf.conf */
  ipsecFullOffload?: boolean;
  /** devlink core / driver generation (see devices/hardware.ts KERNELS) */
  kernel?: KernelId | Partial<SimKernelFeatures>;
  /** pin the devlink family id / config group id (reproducing captures) */
  devlink?: DevlinkFamilyOptions;
  /** options of the XFRM handler (esp is always true; offload is the NIC's hook) */
  xfrm?: Omit<XfrmHandlerOptions, 'esp' | 'offload'>;
}

export interface SimHost {
  machine: SimMachine;
  profile: ProfileId;
  /** one per PCI physical function, in function order */
  devices: SimDevice[];
  netdevs: NetdevTable;
  genl: GenlController;
  devlink: DevlinkFamily;
  xfrm: XfrmHandler;
  offload: Mlx5OffloadHook;
  /** ifindex of a netdev by name; throws when there is none */
  ifindex(name: string): number;
  netdev(name: string): SimNetdev | undefined;
  /** the device a netdev belongs to */
  deviceOf(name: string): SimDevice | undefined;
}

export function createSimMachine(profile: ProfileId = 'bf3', opts: CreateSimMachineOptions = {}): SimHost {
  const machineOpts: SimMachineOptions = {};
  if (opts.clock) machineOpts.clock = opts.clock;
  machineOpts.name = opts.name ?? profile;
  const machine = new SimMachine(machineOpts);
  const hwOver: Parameters<typeof simHardware>[1] = {};
  if (opts.functions !== undefined) hwOver.functions = opts.functions;
  if (opts.vfsPerPf !== undefined) hwOver.vfsPerPf = opts.vfsPerPf;
  if (opts.kernel !== undefined) hwOver.kernel = opts.kernel;
  const hw = simHardware(profile, hwOver);
  const netdevs = new NetdevTable();
  const devices: SimDevice[] = [];
  // uplinks first (the PF netdevs probe before userspace switches the eswitches to switchdev)
  for (let pf = 0; pf < hw.functions; pf++) {
    const d: ConstructorParameters<typeof SimDevice>[0] = { hw, pf, netdevs, eswitchMode: 'legacy' };
    if (opts.ipsecFullOffload !== undefined) d.ipsecFullOffload = opts.ipsecFullOffload;
    devices.push(new SimDevice(d));
  }
  const mode = opts.eswitchMode ?? hw.profile.defaultEswitchMode;
  if (mode === 'switchdev') {
    for (const d of devices) {
      const r = d.eswitchModeSet(1);
      if ('errno' in r) throw new Error(`boot: switchdev on ${d.pciAddr} failed (errno ${r.errno})`);
    }
  }
  const genl = new GenlController();
  const devlink = new DevlinkFamily(machine, genl, devices, hw.kernel, opts.devlink);
  machine.setHandler(NETLINK_GENERIC, genl);
  const offload = new Mlx5OffloadHook(devices, netdevs);
  const xfrm = XfrmHandler.attach(machine, { ...opts.xfrm, esp: true, offload });
  return {
    machine,
    profile,
    devices,
    netdevs,
    genl,
    devlink,
    xfrm,
    offload,
    ifindex(name) {
      const nd = netdevs.byName(name);
      if (!nd)
        throw new RangeError(
          `no netdev ${name} (have: ${netdevs
            .list()
            .map((d) => d.name)
            .join(', ')})`,
        );
      return nd.ifindex;
    },
    netdev: (name) => netdevs.byName(name),
    deviceOf(name) {
      const nd = netdevs.byName(name);
      return nd ? devices.find((d) => d.netdevList().includes(nd)) : undefined;
    },
  };
}

export interface CreateNetdevsimMachineOptions extends SimMachineOptions {
  /** netdevsim devices (`echo "ID PORTS" > /sys/bus/netdevsim/new_device`), default [{ id: 1, ports: 1 }] */
  devices?: Array<{ id: number; ports?: number }>;
  /** devlink core generation (default upstream-6.12, the oracle's Debian kernel) */
  kernel?: KernelId | Partial<SimKernelFeatures>;
  /** pin the devlink family id / config group id */
  devlink?: DevlinkFamilyOptions;
  /** options of the XFRM handler (esp is always true; offload is netdevsim's hook) */
  xfrm?: Omit<XfrmHandlerOptions, 'esp' | 'offload'>;
}

export interface NetdevsimHost {
  machine: SimMachine;
  devices: NsimDevice[];
  netdevs: NetdevTable;
  genl: GenlController;
  devlink: DevlinkFamily;
  xfrm: XfrmHandler;
  offload: NsimOffloadHook;
  ifindex(name: string): number;
}

/**
 * createNetdevsimMachine: a simulated host with netdevsim devices instead of an mlx5 NIC (the
 * profile the real-kernel oracle compares with; devices/netdevsim.ts has its rules), nlctrl +
 * devlink on NETLINK_GENERIC and XFRM with ESP whose offload hook is netdevsim's. A netdev that goes
 * away takes the SAs offloaded to it along (`xfrm_dev_unregister` → `xfrm_dev_state_flush`: deleted
 * without a notification).
 */
export function createNetdevsimMachine(opts: CreateNetdevsimMachineOptions = {}): NetdevsimHost {
  const machineOpts: SimMachineOptions = { name: opts.name ?? 'netdevsim' };
  if (opts.clock) machineOpts.clock = opts.clock;
  const machine = new SimMachine(machineOpts);
  const netdevs = new NetdevTable();
  let xfrm: XfrmHandler | undefined;
  const onNetdevGone = (nd: SimNetdev) => {
    if (!xfrm) return;
    const sad = xfrm.netns('default').sad;
    for (const e of sad.entries()) if (e.state.offload?.ifindex === nd.ifindex) sad.remove(e);
  };
  const devices = (opts.devices ?? [{ id: 1, ports: 1 }]).map(
    (d) => new NsimDevice({ id: d.id, ports: d.ports ?? 1, netdevs, onNetdevGone }),
  );
  let kernel: SimKernelFeatures = { ...KERNELS['upstream-6.12'] };
  if (typeof opts.kernel === 'string') kernel = { ...KERNELS[opts.kernel] };
  else if (opts.kernel) kernel = { ...kernel, ...opts.kernel };
  const genl = new GenlController();
  const devlink = new DevlinkFamily(machine, genl, devices, kernel, opts.devlink);
  machine.setHandler(NETLINK_GENERIC, genl);
  const offload = new NsimOffloadHook(devices);
  xfrm = XfrmHandler.attach(machine, { ...opts.xfrm, esp: true, offload });
  return {
    machine,
    devices,
    netdevs,
    genl,
    devlink,
    xfrm,
    offload,
    ifindex(name) {
      const nd = netdevs.byName(name);
      if (!nd) throw new RangeError(`no netdev ${name}`);
      return nd.ifindex;
    },
  };
}
