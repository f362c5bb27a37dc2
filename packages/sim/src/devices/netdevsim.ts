/**
 * netdevsim (drivers/net/netdevsim, Linux 6.12) as a simulated device: the profile the oracle's
 * real kernel is compared with, since Debian's kernels under qemu have no mlx5 but can have
 * netdevsim. Its rules, not mlx5's:
 *
 * - devlink instance `netdevsim/netdevsimN`; physical ports 0..n-1 (PORT_NUMBER index+1), netdevs
 *   named like the kernel names them without udev (`eth%d`, lowest free number);
 * - eswitch mode legacy/switchdev only (no inline/encap ops); switchdev with VFs (sysfs
 *   `sriov_numvfs`, at most 4) registers PCI_VF ports 128+i with netdevs and rate leaves; legacy, or
 *   0 VFs in switchdev, deletes them (newest first); VF counts change only 0 ↔ N (else EBUSY);
 * - params max_macs (generic u32, driverinit 32) and test1 (bool, driverinit true);
 * - info: fw.mgmt 10.20.30 stored then running, driver "netdevsim"; reload driver_reinit only, which
 *   drops the VFs (back to legacy) and re-creates the physical ports (new netdevs, new ifindexes);
 * - IPsec crypto offload only, on the physical ports' netdevs (`nsim_ipsec_add_sa`, ./netdevsim
 *   hook below): ESP or AH, no IPcomp, no packet offload, rfc4106(gcm(aes)) with a 128-bit ICV and a
 *   key of ≥ 128 bits (longer keys accepted: the first 16 bytes are the key, bytes 16..19 the
 *   salt), 33 SAs per port, no ESN (no xdo_dev_state_advance_esn).
 *
 * Notifications follow 6.12's devlink core: a port gets PORT_NEW at registration (type notset),
 * again when its netdev is initialised (type eth, no netdev yet) and when it is registered (with
 * ifindex and name); going away mirrors that, then PORT_DEL. Traps, regions, health reporters,
 * rate nodes and fib resources of netdevsim are not modelled (a reload re-registers traps in the
 * kernel: compare reloads without the "config" group).
 */

import {
  DEVLINK_PARAM_CMODE,
  DEVLINK_PARAM_TYPE,
  DEVLINK_PORT_FLAVOUR,
  DEVLINK_PORT_TYPE,
  type DevlinkEswitch,
  type DevlinkInfo,
  TYPE_NO_OFFLOAD,
  typeHasOffload,
  type XfrmState,
  type XfrmUserOffload,
} from '@xfrmkit/core';
import {
  type Attr,
  type DevlinkDevice,
  type DevlinkParamInfo,
  type DevlinkPortInfo,
  dlAttr,
  handleAttrs,
} from '@xfrmkit/netlink';
import type { XfrmOffloadHook, XfrmOffloadResult } from '../xfrm/offload.ts';
import type { DeviceEvent, DevlinkInstance, InstanceKind, ReloadResult, SimPort } from './device.ts';
import type { DevlinkDriver, PortFnOps } from './driver.ts';
import { noFaults, type SimFaults } from './faults.ts';
import { macAdd } from './hardware.ts';
import { baseFeatures, FEATURE_NAMES, type NetdevTable, type SimNetdev } from './netdev.ts';
import { stateKey } from './offload.ts';
import { E, type ParamDef, type ParamEnv, ParamStore, type ParamValue, type SimError } from './params.ts';

/** NSIM_IPSEC_MAX_SA_COUNT */
export const NSIM_IPSEC_MAX_SA_COUNT = 33;
/** NSIM_BUS_DEV_MAX_VFS */
export const NSIM_MAX_VFS = 4;
/** NSIM_DEV_VF_PORT_INDEX_BASE */
export const NSIM_VF_PORT_INDEX_BASE = 128;

const { DRIVERINIT } = DEVLINK_PARAM_CMODE;

export const NSIM_PARAMS: readonly ParamDef<unknown>[] = [
  { name: 'max_macs', generic: true, type: DEVLINK_PARAM_TYPE.U32, cmodes: [DRIVERINIT], init: () => 32 },
  { name: 'test1', generic: false, type: DEVLINK_PARAM_TYPE.BOOL, cmodes: [DRIVERINIT], init: () => true },
];

/** One entry of a port's IPsec SA table (`struct nsim_sa`, debugfs `ports/N/ipsec`). */
export interface NsimSa {
  rx: boolean;
  /** "192.0.2.1" / "2001:db8::1" (id.daddr) */
  ipaddr: string;
  spi: number;
  proto: number;
  /** the first 16 key bytes as 4 little-endian u32 words, and the salt (key bytes 16..19, or 0) */
  key: [number, number, number, number];
  salt: number;
  crypt: boolean;
  /** the XFRM state this entry offloads (its identity in the SAD) */
  owner: string;
}

interface NsimPort extends SimPort {
  /** the port's IPsec SA table (physical ports; VF netdevs have no xfrmdev_ops) */
  ipsec?: (NsimSa | undefined)[];
}

export interface NsimDeviceOptions {
  /** the N of netdevsimN (default 1) */
  id?: number;
  /** physical ports (default 1, as `echo "1 1" > new_device`) */
  ports?: number;
  netdevs: NetdevTable;
  netns?: string;
  /** a netdev of this device is unregistered (the XFRM layer drops SAs offloaded to it) */
  onNetdevGone?: (nd: SimNetdev) => void;
}

export class NsimDevice implements DevlinkDriver {
  readonly id: number;
  readonly pci: DevlinkInstance;
  readonly faults: SimFaults = noFaults();
  readonly knobs = { rateNodes: 0 };
  readonly params = new ParamStore<unknown>(NSIM_PARAMS, undefined);
  readonly reloadActions = 1 << 1;
  readonly reloadLimits = 0;
  /** `nsim_bus_dev->num_vfs` / `max_vfs` */
  numVfs = 0;
  maxVfs = NSIM_MAX_VFS;
  /** 0 legacy, 1 switchdev */
  eswitchMode = 0;
  reloadFailed = false;
  /** local reload stats: driver_reinit with limit unspecified */
  reloadCount = 0;
  private ports: NsimPort[] = [];
  private readonly portCount: number;
  private readonly netdevs: NetdevTable;
  private readonly listeners = new Set<(e: DeviceEvent) => void>();
  private readonly onNetdevGone: (nd: SimNetdev) => void;

  constructor(opts: NsimDeviceOptions) {
    this.id = opts.id ?? 1;
    this.portCount = opts.ports ?? 1;
    this.netdevs = opts.netdevs;
    this.onNetdevGone = opts.onNetdevGone ?? (() => {});
    this.pci = {
      handle: { bus: 'netdevsim', dev: `netdevsim${this.id}` },
      kind: 'pci',
      device: this,
      netns: opts.netns ?? 'default',
    };
    this.addPhysicalPorts();
  }

  instances(): DevlinkInstance[] {
    return [this.pci];
  }

  onEvent(cb: (e: DeviceEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private emit(e: DeviceEvent): void {
    for (const l of this.listeners) l(e);
  }

  // ---- ports and netdevs ----------------------------------------------------------------------------

  /** the lowest free `eth%d` (no udev renames them in the oracle's guest) */
  private netdevName(): string {
    for (let i = 0; ; i++) if (!this.netdevs.byName(`eth${i}`)) return `eth${i}`;
  }

  /** a port snapshot as `devlink_nl_port_fill` writes it; `withNetdev: false` = the netdev is not registered */
  private snapshot(p: NsimPort, type: number, withNetdev: boolean): DevlinkPortInfo {
    const info: DevlinkPortInfo = { handle: { ...this.pci.handle }, index: p.index, type };
    if (withNetdev && p.netdev) {
      info.netdevIfindex = p.netdev.ifindex;
      info.netdevName = p.netdev.name;
    }
    info.splittable = 0;
    if (p.kind === 'vf') {
      info.flavour = DEVLINK_PORT_FLAVOUR.PCI_VF;
      info.controllerNumber = 0;
      info.pfNumber = 0;
      info.vfNumber = p.index - NSIM_VF_PORT_INDEX_BASE;
      info.external = 0;
    } else {
      info.flavour = DEVLINK_PORT_FLAVOUR.PHYSICAL;
      info.number = p.index + 1;
    }
    return info;
  }

  private portEvent(action: 'new' | 'del', p: NsimPort, type: number, withNetdev: boolean): void {
    this.emit({ kind: 'port', action, instance: this.pci, port: this.snapshot(p, type, withNetdev) });
  }

  private rate(p: NsimPort): DeviceEvent & { kind: 'rate' } {
    const rate = { type: 0, portIndex: p.index, txShare: 0n, txMax: 0n, txPriority: 0, txWeight: 0 };
    return { kind: 'rate', action: 'new', instance: this.pci, rate };
  }

  /** `__nsim_dev_port_add`: devlink port, netdev (POST_INIT, REGISTER), VF rate leaf */
  private addPort(kind: 'uplink' | 'vf', index: number): void {
    const p: NsimPort = { index, kind, instance: 'pci', type: DEVLINK_PORT_TYPE.NOTSET };
    this.ports.push(p);
    this.portEvent('new', p, DEVLINK_PORT_TYPE.NOTSET, false);
    const ipsec = kind === 'uplink';
    p.type = DEVLINK_PORT_TYPE.ETH;
    this.portEvent('new', p, DEVLINK_PORT_TYPE.ETH, false);
    const features = baseFeatures(false);
    if (ipsec) {
      features['esp-hw-offload'] = true;
      features['esp-tx-csum-hw-offload'] = true;
      features['tx-esp-segmentation'] = true;
    }
    p.netdev = this.netdevs.add({
      name: this.netdevName(),
      kind: kind === 'uplink' ? 'uplink' : 'vf-rep',
      mtu: 1500,
      // netdevsim draws a random MAC (eth_hw_addr_random); a fixed one here
      mac: macAdd([0x02, 0x4e, 0x53, this.id & 0xff, 0, 0], index),
      features,
      fixed: new Set(FEATURE_NAMES),
      up: false,
    });
    if (ipsec) p.ipsec = [];
    this.portEvent('new', p, DEVLINK_PORT_TYPE.ETH, true);
    if (kind === 'vf') this.emit(this.rate(p));
  }

  /** `__nsim_dev_port_del`: rate leaf, netdev (UNREGISTER), devlink port */
  private delPort(p: NsimPort): void {
    if (p.kind === 'vf') this.emit({ ...this.rate(p), action: 'del' });
    this.portEvent('new', p, DEVLINK_PORT_TYPE.ETH, false);
    if (p.netdev) {
      const nd = p.netdev;
      this.netdevs.remove(nd.ifindex);
      delete p.netdev;
      delete p.ipsec;
      this.onNetdevGone(nd);
    }
    p.type = DEVLINK_PORT_TYPE.NOTSET;
    this.portEvent('new', p, DEVLINK_PORT_TYPE.NOTSET, false);
    this.ports = this.ports.filter((x) => x !== p);
    this.portEvent('del', p, DEVLINK_PORT_TYPE.NOTSET, false);
  }

  private addPhysicalPorts(): void {
    for (let i = 0; i < this.portCount; i++) this.addPort('uplink', i);
  }

  /** ports are kept newest first, like the driver's `port_list` (list_add) */
  private newestFirst(pred: (p: NsimPort) => boolean): NsimPort[] {
    return this.ports.filter(pred).reverse();
  }

  /** `nsim_esw_switchdev_enable` */
  private switchdevEnable(): void {
    for (let i = 0; i < this.numVfs; i++) this.addPort('vf', NSIM_VF_PORT_INDEX_BASE + i);
    this.eswitchMode = 1;
  }

  /** `nsim_esw_legacy_enable` */
  private legacyEnable(): void {
    for (const p of this.newestFirst((x) => x.kind === 'vf')) this.delPort(p);
    this.eswitchMode = 0;
  }

  portsOf(kind: InstanceKind): SimPort[] {
    return kind === 'pci' ? [...this.ports].sort((a, b) => a.index - b.index) : [];
  }

  port(kind: InstanceKind, index: number): SimPort | undefined {
    return kind === 'pci' ? this.ports.find((p) => p.index === index) : undefined;
  }

  portInfo(p: SimPort): DevlinkPortInfo {
    return this.snapshot(p, p.type, true);
  }

  /** netdevsim registers no port function ops */
  portFnOps(_p: SimPort): PortFnOps {
    return {
      hwAddrSet: false,
      stateSet: false,
      roce: false,
      migratable: false,
      ipsec: false,
      maxIoEqs: false,
    };
  }

  setHwAddr(): SimError | undefined {
    return { errno: E.EOPNOTSUPP };
  }

  setCap(): SimError | undefined {
    return { errno: E.EOPNOTSUPP };
  }

  portChanged(p: SimPort): void {
    this.portEvent('new', p, p.type, true);
  }

  /** every netdev of the device, port order */
  netdevList(): SimNetdev[] {
    return this.portsOf('pci').flatMap((p) => (p.netdev ? [p.netdev] : []));
  }

  // ---- sysfs --------------------------------------------------------------------------------------

  /** `echo N > /sys/bus/netdevsim/devices/netdevsimI/sriov_numvfs` (`nsim_drv_configure_vfs`) */
  setNumVfs(n: number): SimError | undefined {
    if (!Number.isInteger(n) || n < 0) return { errno: E.EINVAL };
    if (this.numVfs === n) return undefined;
    if (this.numVfs && n) return { errno: E.EBUSY };
    if (this.maxVfs < n) return { errno: ENOMEM };
    this.numVfs = n;
    if (this.eswitchMode === 1) {
      if (n) this.switchdevEnable();
      else this.legacyEnable();
    }
    return undefined;
  }

  // ---- eswitch ------------------------------------------------------------------------------------

  eswitchGet(): DevlinkEswitch {
    return { mode: this.eswitchMode };
  }

  /** `nsim_devlink_eswitch_mode_set` */
  eswitchModeSet(mode: number): SimError | { warning?: string } {
    if (mode === this.eswitchMode) return {};
    if (mode === 0) this.legacyEnable();
    else if (mode === 1) this.switchdevEnable();
    else return { errno: E.EINVAL };
    return {};
  }

  // ---- params -------------------------------------------------------------------------------------

  paramEnv(): ParamEnv<unknown> {
    return { hw: undefined, offloadsEnabled: this.eswitchMode !== 0, sriovEnabled: this.numVfs > 0 };
  }

  paramInfo(name: string): DevlinkParamInfo | undefined {
    const d = this.params.def(name);
    if (!d) return undefined;
    const values = d.cmodes.map((cmode) => ({ cmode, data: this.params.shown(name, cmode) as ParamValue }));
    return { handle: { ...this.pci.handle }, name: d.name, generic: d.generic, type: d.type, values };
  }

  paramStore(name: string, cmode: number, v: ParamValue): void {
    this.params.set(name, cmode, v);
    this.emit({ kind: 'param', action: 'new', instance: this.pci, param: this.paramInfo(name)! });
  }

  // ---- info, dev, reload --------------------------------------------------------------------------

  info(): DevlinkInfo {
    return {
      handle: { ...this.pci.handle },
      fixed: [],
      running: [{ name: 'fw.mgmt', value: '10.20.30' }],
      stored: [{ name: 'fw.mgmt', value: '10.20.30' }],
      driverName: 'netdevsim',
    };
  }

  /** `nsim_dev_info_get` puts the stored version first, then the running one; the core adds the driver */
  infoAttrs(): Attr[] {
    const ver = (name: string) =>
      dlAttr(name, [dlAttr('INFO_VERSION_NAME', 'fw.mgmt'), dlAttr('INFO_VERSION_VALUE', '10.20.30')]);
    return [
      ...handleAttrs(this.pci.handle),
      ver('INFO_VERSION_STORED'),
      ver('INFO_VERSION_RUNNING'),
      dlAttr('INFO_DRIVER_NAME', 'netdevsim'),
    ];
  }

  /** reload stats: local for driver_reinit only (its only action, no limits); remote for every action */
  devInfo(inst: DevlinkInstance): DevlinkDevice {
    return {
      handle: { ...inst.handle },
      reloadFailed: this.reloadFailed,
      reloadStats: [{ action: 1, entries: [{ limit: 0, value: this.reloadCount }] }],
      remoteReloadStats: [
        { action: 1, entries: [{ limit: 0, value: 0 }] },
        {
          action: 2,
          entries: [
            { limit: 0, value: 0 },
            { limit: 1, value: 0 },
          ],
        },
      ],
      nested: [],
    };
  }

  /** `nsim_dev_reload_down` + `devlink_params_driverinit_load_new` + `nsim_dev_reload_up` */
  reload(_action: number, _limit: number): SimError | ReloadResult {
    if (this.numVfs) {
      this.numVfs = 0;
      if (this.eswitchMode === 1) this.legacyEnable();
    }
    for (const p of this.newestFirst(() => true)) this.delPort(p);
    this.params.applyPending();
    this.addPhysicalPorts();
    this.reloadCount++;
    this.emit({ kind: 'dev', action: 'new', instance: this.pci });
    return { performed: 1 << 1 };
  }

  // ---- IPsec (xfrmdev_ops of the physical ports' netdevs) ------------------------------------------

  /** the port whose netdev has this ifindex */
  portOfNetdev(ifindex: number): NsimPort | undefined {
    return this.ports.find((p) => p.netdev?.ifindex === ifindex);
  }

  /** the SA table of physical port `index` (debugfs `ports/INDEX/ipsec`) */
  portIpsec(index: number): (NsimSa | undefined)[] | undefined {
    return this.ports.find((p) => p.index === index)?.ipsec;
  }

  /** the SA table of a port's netdev (debugfs `ports/N/ipsec`): undefined without xfrmdev_ops */
  ipsecTable(ifindex: number): (NsimSa | undefined)[] | undefined {
    return this.portOfNetdev(ifindex)?.ipsec;
  }
}

const ENOMEM = 12;
const MOD = 'netdevsim: ';

/**
 * xfrmdev_ops of netdevsim's physical ports, behind `xfrm_dev_state_add` in the order of the
 * kernels the simulator models (6.18; what the XFRM handler has not checked yet): a device that is
 * not known or has no xfrmdev_ops falls back to software (packet offload: EINVAL; the oracle's guest
 * has no route a lookup could find), ESN needs `xdo_dev_state_advance_esn` (netdevsim has none), the
 * type must have an offload (ESP: esp4/6_offload; AH and IPcomp have none), then
 * `nsim_ipsec_add_sa`. A driver refusal
 * keeps the driver's extack (the core's "Device failed to offload this state" is WEAK). There is no
 * policy offload (`xdo_dev_policy_add`).
 */
export class NsimOffloadHook implements XfrmOffloadHook {
  constructor(
    private readonly devices: readonly NsimDevice[],
    private readonly netns = 'default',
  ) {}

  private portOf(
    ifindex: number,
    netns: string,
  ): { dev: NsimDevice; table?: (NsimSa | undefined)[] } | undefined {
    if (netns !== this.netns) return undefined;
    for (const dev of this.devices) {
      if (dev.portOfNetdev(ifindex)) return { dev, table: dev.ipsecTable(ifindex) };
    }
    return undefined;
  }

  stateAdd(sa: XfrmState, offload: XfrmUserOffload, netns: string): XfrmOffloadResult {
    const packet = (offload.flags & 4) !== 0;
    const target = this.portOf(offload.ifindex, netns);
    if (!target?.table) return packet ? { ok: false, errno: E.EINVAL } : { ok: true, mode: 'none' };
    if (!packet && sa.info.flags & 128)
      return { ok: false, errno: E.EINVAL, extack: "Device doesn't support offload with ESN" };
    if (!typeHasOffload(sa)) return { ok: false, errno: E.EINVAL, extack: TYPE_NO_OFFLOAD };
    // nsim_ipsec_add_sa
    if (sa.comp) return { ok: false, errno: E.EINVAL, extack: `${MOD}Compression offload not supported` };
    if (packet) return { ok: false, errno: E.EINVAL, extack: `${MOD}Unsupported ipsec offload type` };
    const table = target.table;
    let idx = -1;
    if (nsimSaCount(table) < NSIM_IPSEC_MAX_SA_COUNT) {
      idx = 0;
      while (table[idx] !== undefined) idx++;
    }
    if (idx < 0) return { ok: false, errno: E.ENOSPC, extack: `${MOD}No space for SA in Rx table!` };
    const a = sa.aead;
    const keyFail = {
      ok: false as const,
      errno: E.EINVAL,
      extack: `${MOD}Failed to get key data for SA table`,
    };
    if (a?.icvLen !== 128 || a.name !== 'rfc4106(gcm(aes))' || a.keyLen < 128) return keyFail;
    const k = new DataView(a.key.buffer, a.key.byteOffset, a.key.byteLength);
    const word = (i: number) => (i * 4 + 4 <= a.key.length ? k.getUint32(i * 4, true) : 0);
    table[idx] = {
      rx: (offload.flags & 2) !== 0,
      ipaddr: sa.info.id.daddr,
      spi: sa.info.id.spi,
      proto: sa.info.id.proto,
      key: [word(0), word(1), word(2), word(3)],
      salt: a.keyLen > 128 ? word(4) : 0,
      crypt: true,
      owner: stateKey(sa),
    };
    return { ok: true, mode: 'crypto' };
  }

  policyAdd(): XfrmOffloadResult {
    return { ok: false, errno: E.EINVAL, extack: 'Policy offload is not supported' };
  }

  stateDel(sa: XfrmState, netns: string): void {
    if (!sa.offload) return;
    const table = this.portOf(sa.offload.ifindex, netns)?.table;
    if (!table) return;
    const key = stateKey(sa);
    const i = table.findIndex((e) => e?.owner === key);
    if (i >= 0) table[i] = undefined;
  }

  policyDel(): void {}
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/**
 * The text of debugfs `netdevsim/netdevsimN/ports/P/ipsec` (`nsim_dbg_netdev_ops_read`): the count,
 * then three lines per used slot. The `tx` counter counts transmitted packets (no datapath here: 0).
 */
export function nsimIpsecDebugfs(table: readonly (NsimSa | undefined)[]): string {
  let out = `SA count=${nsimSaCount(table)} tx=0\n`;
  for (const [i, sa] of table.entries()) {
    if (!sa) continue;
    out += `sa[${i}] ${sa.rx ? 'r' : 't'}x ipaddr=${sa.ipaddr}\n`;
    out += `sa[${i}]    spi=0x${hex8(sa.spi)} proto=0x${sa.proto.toString(16)} salt=0x${hex8(sa.salt)} crypt=${sa.crypt ? 1 : 0}\n`;
    out += `sa[${i}]    key=0x${sa.key.map(hex8).join(' ')}\n`;
  }
  return out;
}

/** One entry per used slot of a table, as debugfs lists them. */
export function nsimSaCount(table: readonly (NsimSa | undefined)[]): number {
  return table.filter((s) => s !== undefined).length;
}
