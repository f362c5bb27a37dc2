/**
 * SimDevice: one mlx5 PCI physical function (ConnectX-6 Dx / ConnectX-7 / BlueField-2 / BlueField-3)
 * with its netdevs, eswitch (mode, inline, encap), devlink params, ports and port functions, info,
 * reload, IPsec hardware state and the interlocks between them (devlink-uapi.md §7,
 * mlx5-ipsec.md §9). The devlink family (../devlink) is the netlink front end; this module is the
 * driver behind it and answers with `SimError` (errno + extack) exactly where mlx5 does.
 *
 * Every state change that the kernel would announce on devlink's "config" group is emitted as a
 * `DeviceEvent` carrying a snapshot of the object (ports and params are filled at the moment of the
 * event, like `devlink_nl_port_fill` in the notifier).
 */
import {
  DEVLINK_ESWITCH_MODE,
  DEVLINK_PARAM_CMODE,
  DEVLINK_PORT_FLAVOUR,
  DEVLINK_PORT_FN_CAP,
  DEVLINK_PORT_TYPE,
  type DeviceProfile,
  type DeviceState,
  type DevlinkEswitch,
  type DevlinkHandle,
  type DevlinkInfo,
  deviceCaps,
} from '@xfrmkit/core';
import type {
  DevlinkDevice,
  DevlinkParamInfo,
  DevlinkPortInfo,
  DevlinkReloadActionStats,
} from '@xfrmkit/netlink';
import type { DevlinkDriver } from './driver.ts';
import { noFaults, type SimFaults, takeCounted } from './faults.ts';
import { macAdd, type SimHardware } from './hardware.ts';
import { IPSEC_HW_COUNTERS, IPSEC_SW_COUNTERS, type IpsecCounterName, IpsecHw } from './ipsec.ts';
import { mlx5Features, type NetdevTable, type SimNetdev } from './netdev.ts';
import { E, MLX5_PARAMS, type ParamEnv, ParamStore, type ParamValue, type SimError } from './params.ts';

export type { SimError } from './params.ts';

const MOD = 'mlx5_core: ';
const UPLINK_VPORT = 0xffff;

export type InstanceKind = 'pci' | 'aux';

/**
 * A registered devlink instance (PCI function, or the nested auxiliary eth instance; netdevsim's
 * one instance is of kind 'pci': the instance the driver's devlink ops belong to).
 */
export interface DevlinkInstance {
  handle: DevlinkHandle;
  kind: InstanceKind;
  device: DevlinkDriver;
  /** network namespace the instance lives in */
  netns: string;
}

export type DeviceEvent =
  | { kind: 'dev'; action: 'new' | 'del'; instance: DevlinkInstance }
  | { kind: 'port'; action: 'new' | 'del'; instance: DevlinkInstance; port: DevlinkPortInfo }
  | { kind: 'param'; action: 'new' | 'del'; instance: DevlinkInstance; param: DevlinkParamInfo }
  | { kind: 'rate'; action: 'new' | 'del'; instance: DevlinkInstance; rate: DevlinkRateInfo };

/** A devlink rate object (`devlink_nl_rate_fill`): a leaf of a port, or a named node. */
export interface DevlinkRateInfo {
  /** 0 leaf, 1 node */
  type: number;
  portIndex?: number;
  nodeName?: string;
  txShare: bigint;
  txMax: bigint;
  txPriority: number;
  txWeight: number;
  parent?: string;
}

/** Host function state behind a representor (what `devlink port function` shows and sets). */
export interface HostFunction {
  kind: 'hpf' | 'vf';
  /** VF number (vport − 1) */
  vf?: number;
  hwAddr: Uint8Array;
  roce: boolean;
  migratable: boolean;
  ipsecCrypto: boolean;
  ipsecPacket: boolean;
  /** vport enabled (the host enabled the function) */
  vportEnabled: boolean;
}

export interface SimPort {
  index: number;
  kind: 'uplink' | 'hpf' | 'vf';
  instance: InstanceKind;
  /** 0 = notset (registered, netdev not attached yet), 2 = eth */
  type: number;
  netdev?: SimNetdev;
  fn?: HostFunction;
}

/** Conditions the eswitch checks consult that have no other model (devlink-uapi.md §7.2 rows). */
export interface DeviceKnobs {
  /** #1 function not fully probed ("lightweight" SF/function) */
  lightweight: boolean;
  /** #2 false on a BlueField host PF: not the eswitch manager */
  eswitchManager: boolean;
  /** #4 multi-PF Socket Direct configured */
  socketDirect: boolean;
  /** #5 firmware reset in progress */
  fwResetInProgress: boolean;
  /** #7 an eswitch operation is in progress (`mlx5_esw_try_lock` → EBUSY) */
  eswitchBusy: boolean;
  /** #10 the uplink netdev was moved to another netns */
  netnsDiverged: boolean;
  /** #11 devlink traps in action `trap` */
  trapsActive: boolean;
  /** #14 vports disagree on min inline (warning on switchdev entry) */
  vportInlineMismatch: boolean;
  /** core: devlink rate nodes exist (ESWITCH_SET mode → EBUSY "Rate node(s) exists.") */
  rateNodes: number;
  /** reload: LAG active / multi-port slave / no fw_reset support */
  lagActive: boolean;
  mpSlave: boolean;
  fwResetSupported: boolean;
  /** route lookup result for an SA whose offload ifindex is not a netdev (classify's `routeFor`) */
  routeFor: 'this' | 'other' | 'none';
}

export interface SimDeviceOptions {
  hw: SimHardware;
  /** PF number (0-based): PCI function, port number, netdev suffix */
  pf: number;
  netdevs: NetdevTable;
  /** initial eswitch mode (default: the profile's) */
  eswitchMode?: 'legacy' | 'switchdev';
  /** BlueField-2 OFED: IPSEC_FULL_OFFLOAD="yes" in mlnx-bf.conf (boot: legacy → ipsec_mode full → switchdev) */
  ipsecFullOffload?: boolean;
  netns?: string;
}

export interface ReloadResult {
  /** DEVLINK_RELOAD_ACTION bits performed */
  performed: number;
  warning?: string;
}

export class SimDevice implements DevlinkDriver {
  readonly hw: SimHardware;
  readonly profile: DeviceProfile;
  readonly pf: number;
  /** "0000:03:00.0" */
  readonly pciAddr: string;
  readonly vhcaId: number;
  readonly pci: DevlinkInstance;
  readonly aux?: DevlinkInstance;
  readonly params: ParamStore;
  readonly ipsec = new IpsecHw();
  readonly faults: SimFaults = noFaults();
  readonly knobs: DeviceKnobs = {
    lightweight: false,
    eswitchManager: true,
    socketDirect: false,
    fwResetInProgress: false,
    eswitchBusy: false,
    netnsDiverged: false,
    trapsActive: false,
    vportInlineMismatch: false,
    rateNodes: 0,
    lagActive: false,
    mpSlave: false,
    fwResetSupported: true,
    routeFor: 'none',
  };
  /** eswitch: mode 0 legacy / 1 switchdev / 2 switchdev_inactive, inline, encap */
  readonly eswitch: Required<DevlinkEswitch>;
  /** OFED-era compat `ipsec_mode` (BlueField-2) */
  ipsecMode: 'none' | 'full';
  /** TC flower rules per netdev ifindex */
  readonly tcFlows = new Map<number, number>();
  reloadFailed = false;
  /** local reload stats: `${action}:${limit}` → count */
  readonly reloadStats = new Map<string, number>();
  readonly remoteReloadStats = new Map<string, number>();
  firmware: { running: string; stored: string };
  readonly hostFunctions: HostFunction[] = [];
  /** driver messages that go to the kernel log instead of an extack (OFED-era refusals) */
  readonly dmesg: string[] = [];
  private readonly netdevs: NetdevTable;
  private ports: SimPort[] = [];
  private uplinkDev!: SimNetdev;
  private readonly listeners = new Set<(e: DeviceEvent) => void>();

  constructor(opts: SimDeviceOptions) {
    const { hw, pf } = opts;
    this.hw = hw;
    this.profile = hw.profile;
    this.pf = pf;
    this.netdevs = opts.netdevs;
    this.pciAddr = `${hw.pciSlot}.${pf}`;
    this.vhcaId = hw.vhcaIdBase + pf;
    const netns = opts.netns ?? 'default';
    this.pci = { handle: { bus: 'pci', dev: this.pciAddr }, kind: 'pci', device: this, netns };
    if (hw.kernel.uplinkOnAux)
      this.aux = {
        handle: { bus: 'auxiliary', dev: `mlx5_core.eth.${pf}` },
        kind: 'aux',
        device: this,
        netns,
      };
    this.params = new ParamStore(MLX5_PARAMS, hw);
    // encap default `basic`: FDB supports reformat + decap on every modelled device
    this.eswitch = { mode: DEVLINK_ESWITCH_MODE.LEGACY, inlineMode: 0, encapMode: 1 };
    this.ipsecMode = 'none';
    this.firmware = { running: hw.fwVersion, stored: hw.fwVersion };
    if (hw.ecpf) this.hostFunctions.push(this.newHostFunction('hpf', undefined));
    for (let vf = 0; vf < hw.vfsPerPf; vf++) this.hostFunctions.push(this.newHostFunction('vf', vf));
    this.probe();
    // boot-time userspace: BlueField images switch to switchdev (BF-2 BSP sets ipsec_mode first)
    if (hw.profile.era === 'ofed-5.x' && opts.ipsecFullOffload) this.ipsecMode = 'full';
    const mode = opts.eswitchMode ?? hw.profile.defaultEswitchMode;
    if (mode === 'switchdev') {
      this.eswitch.mode = DEVLINK_ESWITCH_MODE.SWITCHDEV;
      this.createReps();
    }
  }

  private newHostFunction(kind: 'hpf' | 'vf', vf: number | undefined): HostFunction {
    const f: HostFunction = {
      kind,
      hwAddr: kind === 'hpf' ? macAdd(this.hw.macBase, 0x10 + this.pf) : new Uint8Array(6),
      roce: this.profile.hw.roce,
      migratable: false,
      ipsecCrypto: false,
      ipsecPacket: false,
      vportEnabled: true,
    };
    if (vf !== undefined) f.vf = vf;
    return f;
  }

  // ---- instances, events ------------------------------------------------------------------------

  /** devlink instances in allocation order: the PCI instance, then its nested aux instance */
  instances(): DevlinkInstance[] {
    return this.aux ? [this.pci, this.aux] : [this.pci];
  }

  onEvent(cb: (e: DeviceEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private emit(e: DeviceEvent): void {
    for (const l of this.listeners) l(e);
  }

  private emitPort(action: 'new' | 'del', p: SimPort): void {
    this.emit({ kind: 'port', action, instance: this.instanceOf(p), port: this.portInfo(p) });
  }

  private instanceOf(p: SimPort): DevlinkInstance {
    return p.instance === 'aux' && this.aux ? this.aux : this.pci;
  }

  // ---- netdevs and ports --------------------------------------------------------------------------

  private uplinkName(): string {
    return this.hw.ecpf ? `p${this.pf}` : `${this.hw.hostIfPrefix}${this.pf}np${this.pf}`;
  }

  private repName(f: HostFunction): string {
    const base = this.hw.ecpf ? '' : `${this.hw.hostIfPrefix}${this.pf}n`;
    return f.kind === 'hpf' ? `${base}pf${this.pf}hpf` : `${base}pf${this.pf}vf${f.vf}`;
  }

  /** the PF netdev (uplink representor in switchdev) */
  get uplink(): SimNetdev {
    return this.uplinkDev;
  }

  /** whether the driver built an IPsec context for the uplink (`mlx5_ipsec_device_caps() != 0`) */
  ipsecCaps(): number {
    return deviceCaps(this.profile, this.deviceStateBase());
  }

  private probe(): void {
    const switchdev = this.eswitch.mode !== DEVLINK_ESWITCH_MODE.LEGACY;
    const uplinkPort: SimPort = {
      index: (this.vhcaId << 16) | UPLINK_VPORT,
      kind: 'uplink',
      instance: this.aux ? 'aux' : 'pci',
      type: DEVLINK_PORT_TYPE.NOTSET,
    };
    this.addPort(uplinkPort);
    this.uplinkDev = this.attachNetdev(uplinkPort, {
      name: this.uplinkName(),
      kind: 'uplink',
      mtu: 1500,
      mac: macAdd(this.hw.macBase, this.pf),
      features: mlx5Features('uplink', {
        switchdev,
        ipsec: this.profile.hw.crypto || this.profile.hw.fullOffload,
      }),
      fixed: new Set(),
      pci: this.pciAddr,
    });
  }

  private createReps(): void {
    for (const f of this.hostFunctions) {
      const vport = f.kind === 'hpf' ? 0 : f.vf! + 1;
      const p: SimPort = {
        index: (this.vhcaId << 16) | vport,
        kind: f.kind,
        instance: 'pci',
        type: DEVLINK_PORT_TYPE.NOTSET,
        fn: f,
      };
      this.addPort(p);
      this.attachNetdev(p, {
        name: this.repName(f),
        kind: f.kind === 'hpf' ? 'pf-rep' : 'vf-rep',
        mtu: 1500,
        mac: macAdd(this.hw.macBase, 0x20 + (this.pf << 7) + vport),
        features: mlx5Features(f.kind === 'hpf' ? 'pf-rep' : 'vf-rep', { switchdev: true, ipsec: false }),
        fixed: new Set(['hw-tc-offload']),
        pci: this.pciAddr,
      });
    }
    this.uplinkDev.features['hw-tc-offload'] = true;
  }

  private destroyReps(): void {
    for (const p of this.ports.filter((x) => x.kind !== 'uplink')) this.destroyPort(p);
    this.uplinkDev.features['hw-tc-offload'] = false;
  }

  /** `devl_port_register`: the port exists (type notset, no netdev), PORT_NEW */
  private addPort(p: SimPort): void {
    this.ports.push(p);
    this.emitPort('new', p);
  }

  /**
   * register_netdev of the port's netdev and the port type eth with it, with the PORT_NEW
   * notifications of the modelled kernel (`SimKernelFeatures.portNetdevEvents`).
   */
  private attachNetdev(p: SimPort, spec: Parameters<NetdevTable['add']>[0]): SimNetdev {
    const notifier = this.hw.kernel.portNetdevEvents;
    if (notifier) {
      // NETDEV_POST_INIT: type eth, the netdev not registered yet
      p.type = DEVLINK_PORT_TYPE.ETH;
      this.emitPort('new', p);
    }
    const nd = this.netdevs.add(spec);
    p.netdev = nd;
    // NETDEV_REGISTER (notifier) / devlink_port_type_eth_set after register_netdev (before 6.2)
    p.type = DEVLINK_PORT_TYPE.ETH;
    this.emitPort('new', p);
    return nd;
  }

  /** unregister_netdev of the port's netdev, then `devl_port_unregister`: PORT_NEW(s), PORT_DEL */
  private destroyPort(p: SimPort): void {
    const nd = p.netdev;
    if (nd) {
      delete p.netdev;
      // NETDEV_UNREGISTER (before RTM_DELLINK): type stays eth, without the netdev
      if (this.hw.kernel.portNetdevEvents) this.emitPort('new', p);
      this.tcFlows.delete(nd.ifindex);
      this.netdevs.remove(nd.ifindex);
      // NETDEV_PRE_UNINIT (notifier) / devlink_port_type_clear (before 6.2)
      p.type = DEVLINK_PORT_TYPE.NOTSET;
      this.emitPort('new', p);
    }
    this.ports = this.ports.filter((x) => x !== p);
    this.emitPort('del', p);
  }

  /** ports of an instance in port-index order */
  portsOf(kind: InstanceKind): SimPort[] {
    return this.ports.filter((p) => p.instance === kind).sort((a, b) => a.index - b.index);
  }

  port(kind: InstanceKind, index: number): SimPort | undefined {
    return this.ports.find((p) => p.instance === kind && p.index === index);
  }

  /** every netdev of this function (uplink first, then representors) */
  netdevList(): SimNetdev[] {
    const out = [this.uplinkDev];
    for (const p of this.ports) if (p.kind !== 'uplink' && p.netdev) out.push(p.netdev);
    return out;
  }

  /** `devlink_nl_port_fill` content as a domain object (caps only where a getter answers) */
  portInfo(p: SimPort): DevlinkPortInfo {
    const inst = this.instanceOf(p);
    const info: DevlinkPortInfo = { handle: { ...inst.handle }, index: p.index, type: p.type };
    if (p.type === DEVLINK_PORT_TYPE.ETH && p.netdev) {
      info.netdevIfindex = p.netdev.ifindex;
      info.netdevName = p.netdev.name;
    }
    info.splittable = 0;
    const external = this.hw.ecpf ? 1 : 0;
    const controller = this.hw.ecpf ? 1 : 0;
    if (p.kind === 'uplink') {
      info.flavour = DEVLINK_PORT_FLAVOUR.PHYSICAL;
      info.number = this.pf;
      // OFED layout (uplink on the PCI instance) has hw_addr get for the uplink; upstream's uplink
      // port on the aux instance has no port function ops
      if (p.instance === 'pci') info.function = { hwAddr: macAdd(this.hw.macBase, this.pf) };
      return info;
    }
    const f = p.fn!;
    info.flavour = f.kind === 'hpf' ? DEVLINK_PORT_FLAVOUR.PCI_PF : DEVLINK_PORT_FLAVOUR.PCI_VF;
    info.controllerNumber = controller;
    info.pfNumber = this.pf;
    if (f.kind === 'vf') info.vfNumber = f.vf!;
    info.external = external;
    const caps = this.capsGet(p);
    info.function = { hwAddr: f.hwAddr.slice() };
    if (caps.selector !== 0) info.function.caps = caps;
    return info;
  }

  /** cap getters: roce for PF/VF reps; migratable/ipsec only for VF reps with the vport enabled */
  capsGet(p: SimPort): { value: number; selector: number } {
    const f = p.fn;
    if (!f) return { value: 0, selector: 0 };
    let value = 0;
    let selector = DEVLINK_PORT_FN_CAP.ROCE;
    if (f.roce) value |= DEVLINK_PORT_FN_CAP.ROCE;
    if (f.kind === 'vf' && f.vportEnabled) {
      selector |=
        DEVLINK_PORT_FN_CAP.MIGRATABLE | DEVLINK_PORT_FN_CAP.IPSEC_CRYPTO | DEVLINK_PORT_FN_CAP.IPSEC_PACKET;
      if (f.migratable) value |= DEVLINK_PORT_FN_CAP.MIGRATABLE;
      if (f.ipsecCrypto) value |= DEVLINK_PORT_FN_CAP.IPSEC_CRYPTO;
      if (f.ipsecPacket) value |= DEVLINK_PORT_FN_CAP.IPSEC_PACKET;
    }
    return { value, selector };
  }

  /** which port function ops the driver registered for a port (core checks "Port doesn't support …") */
  portFnOps(p: SimPort): {
    hwAddrSet: boolean;
    stateSet: boolean;
    roce: boolean;
    migratable: boolean;
    ipsec: boolean;
    maxIoEqs: boolean;
  } {
    const rep = p.kind === 'hpf' || p.kind === 'vf';
    return { hwAddrSet: rep, stateSet: false, roce: rep, migratable: rep, ipsec: rep, maxIoEqs: false };
  }

  /** `mlx5_devlink_port_fn_hw_addr_set` */
  setHwAddr(p: SimPort, mac: Uint8Array): SimError | undefined {
    if (!p.fn) return { errno: E.EOPNOTSUPP };
    p.fn.hwAddr = mac.slice();
    return undefined;
  }

  /** `mlx5_devlink_port_fn_{roce,migratable,ipsec_crypto,ipsec_packet}_set` */
  setCap(p: SimPort, cap: number, enable: boolean): SimError | undefined {
    const f = p.fn;
    if (!f) return { errno: E.EOPNOTSUPP };
    if (this.eswitch.mode === DEVLINK_ESWITCH_MODE.LEGACY || !this.knobs.eswitchManager)
      return { errno: E.EOPNOTSUPP };
    if (cap === DEVLINK_PORT_FN_CAP.ROCE) {
      f.roce = enable;
      return undefined;
    }
    if (cap === DEVLINK_PORT_FN_CAP.MIGRATABLE) {
      f.migratable = enable;
      return undefined;
    }
    const crypto = cap === DEVLINK_PORT_FN_CAP.IPSEC_CRYPTO;
    const hwOk = crypto ? this.profile.hw.crypto : this.profile.hw.fullOffload;
    if (!hwOk)
      return {
        errno: E.EOPNOTSUPP,
        msg:
          MOD + (crypto ? "Device doesn't support IPsec crypto" : "Device doesn't support IPsec packet mode"),
      };
    if (!f.vportEnabled) return { errno: E.EOPNOTSUPP, msg: `${MOD}Eswitch vport is disabled` };
    const cur = crypto ? f.ipsecCrypto : f.ipsecPacket;
    if (cur === enable) return undefined;
    if (enable && this.enabledIpsecVfCount() === 0 && this.ipsec.numIpsecOffloads > 0)
      return { errno: E.EBUSY };
    if (crypto) f.ipsecCrypto = enable;
    else f.ipsecPacket = enable;
    return undefined;
  }

  /** `esw->enabled_ipsec_vf_count` */
  enabledIpsecVfCount(): number {
    return this.hostFunctions.filter((f) => f.kind === 'vf' && (f.ipsecCrypto || f.ipsecPacket)).length;
  }

  /** announces a changed port (PORT_SET success) */
  portChanged(p: SimPort): void {
    this.emitPort('new', p);
  }

  // ---- eswitch ------------------------------------------------------------------------------------

  /** `mlx5_devlink_eswitch_get`: the getters fail on a function that is not the eswitch manager */
  eswitchGet(): SimError | Required<DevlinkEswitch> {
    if (!this.knobs.eswitchManager) return { errno: E.EOPNOTSUPP };
    return { ...this.eswitch };
  }

  private get offloadsEnabled(): boolean {
    return this.eswitch.mode !== DEVLINK_ESWITCH_MODE.LEGACY;
  }

  private fdbFlows(): number {
    if (!this.offloadsEnabled) return 0;
    let n = 0;
    for (const c of this.tcFlows.values()) n += c;
    return n;
  }

  /** `mlx5_devlink_eswitch_mode_set`, checks in the order of devlink-uapi.md §7.2 */
  eswitchModeSet(mode: number): SimError | { warning?: string } {
    const k = this.knobs;
    if (k.lightweight) return { errno: E.EOPNOTSUPP, msg: `${MOD}Function doesn't fully probe.` };
    if (!k.eswitchManager) return { errno: E.EOPNOTSUPP };
    const maxMode = this.hw.kernel.switchdevInactive ? 2 : 1;
    if (mode < 0 || mode > maxMode) return { errno: E.EINVAL };
    const toOffloads = mode !== DEVLINK_ESWITCH_MODE.LEGACY;
    if (toOffloads && k.socketDirect)
      return {
        errno: E.EPERM,
        msg: `${MOD}Can't change E-Switch mode to switchdev when multi-PF netdev (Socket Direct) is configured.`,
      };
    if (this.hw.kernel.fwResetCheck && k.fwResetInProgress)
      return { errno: E.EBUSY, msg: `${MOD}Can't change eswitch mode during firmware reset` };
    const cur = this.eswitch.mode;
    if (cur !== DEVLINK_ESWITCH_MODE.LEGACY && toOffloads && cur !== mode) {
      // switchdev <-> switchdev_inactive: FDB switched between drop and active, no lock, no checks
      this.eswitch.mode = mode;
      return {};
    }
    if (k.eswitchBusy || this.fdbFlows() > 0)
      return { errno: E.EBUSY, msg: `${MOD}Can't change mode, E-Switch is busy` };
    if (mode === cur) return {};
    if (this.ipsec.numBlockMode > 0)
      return {
        errno: E.EOPNOTSUPP,
        msg: `${MOD}Can't change eswitch mode when IPsec SA and/or policies are configured`,
      };
    if (toOffloads && k.netnsDiverged)
      return {
        errno: E.EINVAL,
        msg: `${MOD}Can't change E-Switch mode to switchdev when netdev net namespace has diverged from the devlink's.`,
      };
    if (toOffloads && k.trapsActive)
      return { errno: E.EOPNOTSUPP, msg: `${MOD}Can't change mode while devlink traps are active` };
    const injected = takeCounted(this.faults.modeChange);
    if (injected !== undefined)
      return {
        errno: injected,
        msg: MOD + (toOffloads ? 'Failed setting eswitch to offloads' : 'Failed setting eswitch to legacy'),
      };
    this.eswitch.mode = mode;
    if (toOffloads) {
      this.createReps();
      if (k.vportInlineMismatch && this.eswitch.inlineMode === 0)
        return { warning: `${MOD}Inline mode is different between vports` };
    } else {
      this.destroyReps();
    }
    return {};
  }

  /** `mlx5_devlink_eswitch_inline_mode_set`: wqe_inline_mode NOT_REQUIRED (CX5+ and BlueField) */
  eswitchInlineSet(mode: number): SimError | undefined {
    if (!this.knobs.eswitchManager) return { errno: E.EOPNOTSUPP };
    if (mode === 0) return undefined;
    return { errno: E.EOPNOTSUPP, msg: `${MOD}Inline mode can't be set` };
  }

  /** `mlx5_devlink_eswitch_encap_mode_set` (mlx5-ipsec.md §9.3) */
  eswitchEncapSet(encap: number): SimError | undefined {
    if (!this.knobs.eswitchManager) return { errno: E.EOPNOTSUPP };
    if (encap > 1) return { errno: E.EOPNOTSUPP };
    if (!this.offloadsEnabled) {
      this.eswitch.encapMode = encap;
      return undefined;
    }
    if (this.eswitch.encapMode === encap) return undefined;
    if (this.fdbFlows() > 0)
      return { errno: E.EOPNOTSUPP, msg: `${MOD}Can't set encapsulation when flows are configured` };
    if (this.ipsec.numBlockEncap > 0)
      return {
        errno: E.EOPNOTSUPP,
        msg: `${MOD}Can't set encapsulation when IPsec SA and/or policies are configured`,
      };
    const injected = takeCounted(this.faults.encapChange);
    if (injected !== undefined) return { errno: injected, msg: `${MOD}Failed re-creating fast FDB table` };
    this.eswitch.encapMode = encap;
    return undefined;
  }

  // ---- OFED compat sysfs (BlueField-2) ------------------------------------------------------------

  /** `/sys/class/net/<uplink>/compat/devlink/ipsec_mode` write (devlink-uapi.md §7.6) */
  setIpsecMode(v: string): SimError | undefined {
    if (this.profile.era !== 'ofed-5.x')
      return { errno: E.EOPNOTSUPP, msg: 'ipsec_mode is an MLNX_OFED compat attribute' };
    if (v !== 'none' && v !== 'full')
      return { errno: E.EINVAL, msg: `devlink op ipsec_mode doesn't support ${v} argument` };
    if (this.knobs.eswitchBusy) return { errno: E.EBUSY, msg: "Can't set ipsec mode, E-Switch is busy" };
    if (!this.profile.hw.fullOffload) return { errno: E.EOPNOTSUPP };
    if (v === this.ipsecMode) return undefined;
    if (this.offloadsEnabled)
      return { errno: E.EOPNOTSUPP, msg: "Can't change IPsec mode while in switchdev mode" };
    this.ipsecMode = v;
    return undefined;
  }

  /** compat sysfs read: mode, inline, encap, steering_mode, ipsec_mode (value + "\n") */
  compatRead(file: string): string {
    const modes = ['legacy', 'switchdev', 'switchdev_inactive'];
    switch (file) {
      case 'mode':
        return `${modes[this.eswitch.mode]}\n`;
      case 'inline':
        return `${['none', 'link', 'network', 'transport'][this.eswitch.inlineMode]}\n`;
      case 'encap':
        return `${this.eswitch.encapMode ? 'basic' : 'none'}\n`;
      case 'steering_mode':
        return `${String(this.params.current('flow_steering_mode'))}\n`;
      case 'ipsec_mode':
        return `${this.ipsecMode}\n`;
      default:
        throw Object.assign(new Error(`no compat attribute ${file}`), { errno: E.ENOENT });
    }
  }

  // ---- params -------------------------------------------------------------------------------------

  paramEnv(): ParamEnv {
    // a BlueField ECPF has no SR-IOV VFs of its own (the VFs belong to the host PF)
    return {
      hw: this.hw,
      offloadsEnabled: this.offloadsEnabled,
      sriovEnabled: !this.hw.ecpf && this.hw.vfsPerPf > 0,
    };
  }

  /** `devlink_nl_param_fill` content; undefined when no cmode has a value (skipped in dumps) */
  paramInfo(name: string): DevlinkParamInfo | undefined {
    const d = this.params.def(name);
    if (!d) return undefined;
    const values = d.cmodes.map((cmode) => {
      const v: DevlinkParamInfo['values'][number] = {
        cmode,
        data: this.params.shown(name, cmode) as ParamValue,
      };
      if (cmode === DEVLINK_PARAM_CMODE.DRIVERINIT && this.hw.kernel.paramDefaults) {
        const def = this.params.defaultOf(name);
        if (def !== undefined) v.default = def;
      }
      return v;
    });
    return { handle: { ...this.pci.handle }, name: d.name, generic: d.generic, type: d.type, values };
  }

  /** stores a validated value and announces it (PARAM_NEW) */
  paramStore(name: string, cmode: number, v: ParamValue): void {
    this.params.set(name, cmode, v);
    this.emit({ kind: 'param', action: 'new', instance: this.pci, param: this.paramInfo(name)! });
  }

  // ---- info, dev, reload --------------------------------------------------------------------------

  /** reload actions driver_reinit and fw_activate; limit no_reset */
  readonly reloadActions = (1 << 1) | (1 << 2);
  readonly reloadLimits = 1 << 1;

  info(): DevlinkInfo {
    return {
      handle: { ...this.pci.handle },
      fixed: [{ name: 'fw.psid', value: this.hw.psid }],
      running: [
        { name: 'fw.version', value: this.firmware.running },
        { name: 'fw', value: this.firmware.running },
      ],
      stored: [
        { name: 'fw.version', value: this.firmware.stored },
        { name: 'fw', value: this.firmware.stored },
      ],
      driverName: 'mlx5_core',
    };
  }

  /** DEVLINK_CMD_NEW content of an instance */
  devInfo(inst: DevlinkInstance): DevlinkDevice {
    const stats = (m: Map<string, number>, all: boolean): DevlinkReloadActionStats[] =>
      all || inst.kind === 'pci'
        ? [
            { action: 1, entries: [{ limit: 0, value: m.get('1:0') ?? 0 }] },
            {
              action: 2,
              entries: [
                { limit: 0, value: m.get('2:0') ?? 0 },
                { limit: 1, value: m.get('2:1') ?? 0 },
              ],
            },
          ]
        : [];
    return {
      handle: { ...inst.handle },
      reloadFailed: inst.kind === 'pci' ? this.reloadFailed : false,
      reloadStats: stats(this.reloadStats, false),
      remoteReloadStats: stats(this.remoteReloadStats, true),
      nested: inst.kind === 'pci' && this.aux ? [{ ...this.aux.handle }] : [],
    };
  }

  /** `devlink dev reload` after the core's argument checks: mlx5 reload_down / reload_up */
  reload(action: number, limit: number): SimError | ReloadResult {
    const k = this.knobs;
    if (k.lightweight && action !== 1) return { errno: E.EOPNOTSUPP };
    if (k.lagActive) return { errno: E.EOPNOTSUPP, msg: `${MOD}reload is unsupported in Lag mode` };
    if (k.mpSlave) return { errno: E.EOPNOTSUPP, msg: `${MOD}reload is unsupported for multi port slave` };
    if (this.ipsec.numBlockMode > 0)
      return { errno: E.EOPNOTSUPP, msg: `${MOD}reload is unsupported if IPSec rules are configured` };
    if (action === 2 && !k.fwResetSupported)
      return { errno: E.EOPNOTSUPP, msg: `${MOD}FW activate is unsupported for this function` };
    const warning =
      !this.hw.ecpf && this.hw.vfsPerPf > 0 ? `${MOD}reload while VFs are present is unfavorable` : undefined;
    let performed: number;
    if (action === 2 && limit === 1) {
      // live patch: no driver reload
      this.firmware.running = this.firmware.stored;
      performed = 1 << 2;
    } else {
      if (action === 2) this.firmware.running = this.firmware.stored;
      this.reinit();
      performed = action === 2 ? (1 << 1) | (1 << 2) : 1 << 1;
    }
    for (const a of [1, 2]) {
      if (performed & (1 << a)) {
        const key = `${a}:${limit}`;
        this.reloadStats.set(key, (this.reloadStats.get(key) ?? 0) + 1);
      }
    }
    this.emit({ kind: 'dev', action: 'new', instance: this.pci });
    const r: ReloadResult = { performed };
    if (warning) r.warning = warning;
    return r;
  }

  /** driver re-init: every port and netdev goes away and comes back (new ifindexes), driverinit params apply */
  private reinit(): void {
    const switchdev = this.offloadsEnabled;
    for (const p of [...this.ports].reverse()) this.destroyPort(p);
    this.tcFlows.clear();
    this.params.applyPending();
    this.probe();
    if (switchdev) this.createReps();
  }

  /** stage a new firmware image (becomes running on `reload action fw_activate`) */
  stageFirmware(version: string): void {
    this.firmware.stored = version;
  }

  // ---- TC ----------------------------------------------------------------------------------------

  /**
   * Adds an offloaded TC flower rule on one of this function's netdevs. Rules on the PF/uplink
   * netdev are refused with EBUSY while IPsec objects hold `num_block_tc`; in switchdev every rule is
   * an FDB rule holding the eswitch (`user_count`).
   */
  tcFlowAdd(ifindex: number): SimError | undefined {
    const nd = this.netdevList().find((d) => d.ifindex === ifindex);
    if (!nd) return { errno: E.ENODEV };
    if (!nd.features['hw-tc-offload']) return { errno: E.EOPNOTSUPP };
    if (nd === this.uplinkDev && this.ipsec.numBlockTc > 0) return { errno: E.EBUSY };
    this.tcFlows.set(ifindex, (this.tcFlows.get(ifindex) ?? 0) + 1);
    return undefined;
  }

  tcFlowDel(ifindex: number): SimError | undefined {
    const n = this.tcFlows.get(ifindex) ?? 0;
    if (n === 0) return { errno: E.ENOENT };
    if (n === 1) this.tcFlows.delete(ifindex);
    else this.tcFlows.set(ifindex, n - 1);
    return undefined;
  }

  // ---- IPsec --------------------------------------------------------------------------------------

  private deviceStateBase(): DeviceState {
    const steering = this.params.current(
      'flow_steering_mode',
      DEVLINK_PARAM_CMODE.RUNTIME,
    ) as DeviceState['steeringMode'];
    const st: DeviceState = {
      ifindex: this.uplinkDev?.ifindex ?? 0,
      routeFor: this.knobs.routeFor,
      eswitchMode: this.offloadsEnabled ? 'switchdev' : 'legacy',
      encapMode: this.eswitch.encapMode ? 'basic' : 'none',
      steeringMode: steering,
      function: 'pf',
      enabledIpsecVfCount: this.enabledIpsecVfCount(),
      eswitchBusy: this.knobs.eswitchBusy,
      tcFdbFlows: this.fdbFlows(),
      tcNicFlows: this.uplinkDev ? (this.tcFlows.get(this.uplinkDev.ifindex) ?? 0) : 0,
      espHwOffloadFeature: this.uplinkDev?.features['esp-hw-offload'] ?? false,
      counts: this.ipsec.counts,
    };
    if (this.profile.era === 'ofed-5.x') st.ipsecMode = this.ipsecMode;
    return st;
  }

  /** the DeviceState `classify()` decides on; `others` = every other ifindex of the machine */
  deviceState(others: readonly number[]): DeviceState {
    return { ...this.deviceStateBase(), otherIfindexes: others };
  }

  /** the profile with fault-injected capacity (table sizes) applied */
  effectiveProfile(): DeviceProfile {
    const { maxIpsecObjects: _objects, ...l } = this.faults.limits;
    if (Object.keys(l).length === 0) return this.profile;
    return { ...this.profile, limits: { ...this.profile.limits, ...l } };
  }

  /** ethtool -S of a netdev of this function: the ipsec_hw/ipsec_sw groups exist on the uplink only */
  ethtoolStats(ifindex: number = this.uplinkDev.ifindex): Record<string, bigint> {
    if (ifindex !== this.uplinkDev.ifindex || this.ipsecCaps() === 0) return {};
    const out: Record<string, bigint> = {};
    for (const n of IPSEC_HW_COUNTERS) out[n] = this.ipsec.counters.get(n) ?? 0n;
    for (const n of IPSEC_SW_COUNTERS) out[n] = this.ipsec.counters.get(n) ?? 0n;
    return out;
  }

  /** adds to an ethtool IPsec counter (datapath models; tests) */
  countIpsec(name: IpsecCounterName, delta: number | bigint = 1): void {
    this.ipsec.count(name, delta);
  }
}

export const ESWITCH_MODE_NAMES = ['legacy', 'switchdev', 'switchdev_inactive'] as const;
