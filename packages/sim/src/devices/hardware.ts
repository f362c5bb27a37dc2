/**
 * Simulated hardware and kernel, as data: per profile the PCI layout, firmware identity, the values
 * the mlx5 driver derives from device caps (param defaults, steering modes), and which devlink core
 * generation answers (features that changed between kernels, devlink-uapi.md §3–§7).
 *
 * The IPsec capabilities and table limits are not repeated here: they come from @xfrmkit/core's
 * offload profiles (`PROFILES`), the single source the offload decision uses.
 * Values marked "assumed" are plausible parameters, not published facts.
 */
import { type DeviceProfile, getProfile, type ProfileId } from '@xfrmkit/core';

/** What differs between devlink core / mlx5 generations (devlink-uapi.md §3.2, §5, §7). */
export interface SimKernelFeatures {
  /** informational: the kernel generation this feature set stands for */
  release: string;
  /** PARAM_VALUE_DEFAULT for driverinit params (≥ 6.19) */
  paramDefaults: boolean;
  /** eswitch mode 2 `switchdev_inactive` (≥ 6.19): ESWITCH_SET policy max 2 instead of 1 */
  switchdevInactive: boolean;
  /** reply cmd of a PORT_GET dump: 7 with "devlink: fix port dump cmd type" (6.8), 3 before */
  portDumpCmd: 3 | 7;
  /** upstream ≥ 6.7: uplink port on the nested `auxiliary/mlx5_core.eth.N` instance */
  uplinkOnAux: boolean;
  /** DEVLINK_CMD_NOTIFY_FILTER_SET exists (≥ 6.8) */
  notifyFilter: boolean;
  /** flow_steering_mode validation: `upstream` = any change refused in switchdev (Aug 2025, checked
   * first), `legacy` = only smfs refused in switchdev (OFED / ≤ 6.16) */
  fsModeCheck: 'upstream' | 'legacy';
  /** the "firmware reset in progress" eswitch check exists (upstream 2024–25, not OFED 24.07) */
  fwResetCheck: boolean;
  /**
   * RELOAD_LIMITS policy mask: DEVLINK_RELOAD_LIMITS_VALID_MASK 0b11 before devlink's generated
   * policies (6.7); `NLA_POLICY_BITFIELD32(6)` since (netlink_gen.c), which refuses the selector
   * 0b11 iproute2 sends with "Attribute failed policy validation" (seen on the oracle's 6.12)
   */
  reloadLimitsMask: number;
  /**
   * devlink tracks the port's netdev through netdev notifiers (≥ 6.2, "net: devlink: track netdev
   * with devlink_port assigned"): attaching a netdev sends PORT_NEW twice (NETDEV_POST_INIT: type
   * eth without netdev; NETDEV_REGISTER: with it), detaching twice (NETDEV_UNREGISTER: eth without
   * netdev; NETDEV_PRE_UNINIT: notset). Before, the driver's `devlink_port_type_eth_set` after
   * register_netdev and `devlink_port_type_clear` before unregister_netdev send one each.
   */
  portNetdevEvents: boolean;
}

export const KERNELS = {
  /** BlueField OS + DOCA/OFED driver on a 6.x kernel: uplink on the PCI instance (no nested aux
   * devlink), 6.8+ core (port dump cmd 7, notify filter), no param defaults — the model of the
   * capture responder (packages/netlink/test/fixtures/capture/devlink-responder.mjs). */
  'bf-doca': {
    release: '6.8-doca',
    paramDefaults: false,
    switchdevInactive: false,
    portDumpCmd: 7,
    uplinkOnAux: false,
    notifyFilter: true,
    fsModeCheck: 'upstream',
    fwResetCheck: true,
    reloadLimitsMask: 6,
    portNetdevEvents: true,
  },
  /** BlueField-2 BSP: Canonical 5.15 + MLNX_OFED 5.x */
  'ofed-5.15': {
    release: '5.15-ofed',
    paramDefaults: false,
    switchdevInactive: false,
    portDumpCmd: 3,
    uplinkOnAux: false,
    notifyFilter: false,
    fsModeCheck: 'legacy',
    fwResetCheck: false,
    reloadLimitsMask: 0b11,
    portNetdevEvents: false,
  },
  /** a 6.12 LTS upstream kernel (ConnectX hosts) */
  'upstream-6.12': {
    release: '6.12',
    paramDefaults: false,
    switchdevInactive: false,
    portDumpCmd: 7,
    uplinkOnAux: true,
    notifyFilter: true,
    fsModeCheck: 'legacy',
    fwResetCheck: true,
    reloadLimitsMask: 6,
    portNetdevEvents: true,
  },
  /** 6.19+/7.x upstream */
  'upstream-7.0': {
    release: '7.0',
    paramDefaults: true,
    switchdevInactive: true,
    portDumpCmd: 7,
    uplinkOnAux: true,
    notifyFilter: true,
    fsModeCheck: 'upstream',
    fwResetCheck: true,
    reloadLimitsMask: 6,
    portNetdevEvents: true,
  },
} as const satisfies Record<string, SimKernelFeatures>;

export type KernelId = keyof typeof KERNELS;

/** Hardware identity and driver-derived defaults of one NIC model. */
export interface SimHardware {
  profile: DeviceProfile;
  /** PCI domain:bus:device of function 0, e.g. "0000:03:00" */
  pciSlot: string;
  /** PCI physical functions (= ports = devlink instances) */
  functions: number;
  /** BlueField ARM side: the eswitch manager is the ECPF; host PF representor `pfNhpf`, external
   * controller 1; ConnectX: the PF manages its own eswitch, controller 0, no PF representor */
  ecpf: boolean;
  /** host VFs per PF (each gets a representor in switchdev) */
  vfsPerPf: number;
  /** vhca_id of function 0 (port index = vhca_id << 16 | vport); function N gets base + N */
  vhcaIdBase: number;
  fwVersion: string;
  /** fw.psid (board id) — assumed values except BlueField-3 (fact sheet §6.3) */
  psid: string;
  /** first MAC of the board; uplink N = base + N, host PF N = base + 0x10 + N */
  macBase: readonly number[];
  /** netdev name prefix for non-BlueField uplinks (systemd predictable names) */
  hostIfPrefix: string;
  /** `hairpin_num_queues` default = max(link speed, 50G) / 50G */
  linkSpeedGbps: number;
  /** flow steering modes the device supports (smfs = SW steering, hmfs = HW steering, CX7+) */
  steeringModes: readonly ('dmfs' | 'smfs' | 'hmfs')[];
  /** `hairpin_queue_size` upper bound (assumed 2^15) */
  maxHairpinQueueSize: number;
  kernel: SimKernelFeatures;
}

export type SimProfileId = ProfileId;

const HW: Record<ProfileId, Omit<SimHardware, 'profile' | 'kernel'> & { kernel: KernelId }> = {
  bf3: {
    pciSlot: '0000:03:00',
    functions: 2,
    ecpf: true,
    vfsPerPf: 2,
    vhcaIdBase: 0,
    fwVersion: '32.41.1000',
    psid: 'MT_0000000884',
    macBase: [0xb8, 0x3f, 0xd2, 0xaa, 0x03, 0x00],
    hostIfPrefix: 'p',
    linkSpeedGbps: 400,
    steeringModes: ['dmfs', 'smfs', 'hmfs'],
    maxHairpinQueueSize: 32768,
    kernel: 'bf-doca',
  },
  bf2: {
    pciSlot: '0000:03:00',
    functions: 2,
    ecpf: true,
    vfsPerPf: 2,
    vhcaIdBase: 0,
    fwVersion: '24.35.2000',
    psid: 'MT_0000000375', // assumed
    macBase: [0x0c, 0x42, 0xa1, 0x5b, 0x22, 0x00],
    hostIfPrefix: 'p',
    linkSpeedGbps: 100,
    steeringModes: ['dmfs', 'smfs'],
    maxHairpinQueueSize: 32768,
    kernel: 'ofed-5.15',
  },
  cx7: {
    pciSlot: '0000:08:00',
    functions: 2,
    ecpf: false,
    vfsPerPf: 2,
    vhcaIdBase: 0,
    fwVersion: '28.41.1000',
    psid: 'MT_0000000838', // assumed
    macBase: [0xa0, 0x88, 0xc2, 0x10, 0x20, 0x00],
    hostIfPrefix: 'ens1f',
    linkSpeedGbps: 200,
    steeringModes: ['dmfs', 'smfs', 'hmfs'],
    maxHairpinQueueSize: 32768,
    kernel: 'upstream-6.12',
  },
  cx6dx: {
    pciSlot: '0000:06:00',
    functions: 2,
    ecpf: false,
    vfsPerPf: 2,
    vhcaIdBase: 0,
    fwVersion: '22.41.1000',
    psid: 'MT_0000000359', // assumed
    macBase: [0x04, 0x3f, 0x72, 0xc0, 0x10, 0x00],
    hostIfPrefix: 'ens1f',
    linkSpeedGbps: 100,
    steeringModes: ['dmfs', 'smfs'],
    maxHairpinQueueSize: 32768,
    kernel: 'upstream-6.12',
  },
};

export interface SimHardwareOverrides {
  functions?: number;
  vfsPerPf?: number;
  vhcaIdBase?: number;
  pciSlot?: string;
  kernel?: KernelId | Partial<SimKernelFeatures>;
}

export function simHardware(id: ProfileId, over: SimHardwareOverrides = {}): SimHardware {
  const base = HW[id];
  if (!base) throw new RangeError(`unknown simulator profile "${id}" (known: ${Object.keys(HW).join(', ')})`);
  const profile = getProfile(id);
  let kernel: SimKernelFeatures = { ...KERNELS[base.kernel] };
  if (typeof over.kernel === 'string') {
    const k = (KERNELS as Record<string, SimKernelFeatures>)[over.kernel];
    if (!k)
      throw new RangeError(`unknown kernel "${over.kernel}" (known: ${Object.keys(KERNELS).join(', ')})`);
    kernel = { ...k };
  } else if (over.kernel) {
    kernel = { ...kernel, ...over.kernel };
  }
  const functions = over.functions ?? base.functions;
  const vfsPerPf = over.vfsPerPf ?? base.vfsPerPf;
  if (!Number.isInteger(functions) || functions < 1 || functions > 8)
    throw new RangeError('functions must be 1..8');
  if (!Number.isInteger(vfsPerPf) || vfsPerPf < 0 || vfsPerPf > 127)
    throw new RangeError('vfsPerPf must be 0..127');
  return {
    ...base,
    profile,
    functions,
    vfsPerPf,
    vhcaIdBase: over.vhcaIdBase ?? base.vhcaIdBase,
    pciSlot: over.pciSlot ?? base.pciSlot,
    kernel,
  };
}

export function macAdd(base: readonly number[], n: number): Uint8Array {
  const out = Uint8Array.from(base);
  let carry = n;
  for (let i = 5; i >= 0 && carry; i--) {
    const v = out[i]! + carry;
    out[i] = v & 0xff;
    carry = v >> 8;
  }
  return out;
}

export function formatMac(m: Uint8Array): string {
  return [...m].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
