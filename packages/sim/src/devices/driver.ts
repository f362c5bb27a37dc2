/**
 * What the devlink core of the simulator (../devlink/family.ts) asks of a device driver: the
 * `devlink_ops` a driver registers, as the core sees them. Two drivers implement it: the mlx5 model
 * (SimDevice, ./device.ts) and netdevsim (NsimDevice, ./netdevsim.ts). An optional method is an op
 * the driver does not register (the core answers EOPNOTSUPP, or leaves the attribute out).
 */
import type { DevlinkEswitch, DevlinkInfo } from '@xfrmkit/core';
import type { Attr, DevlinkDevice, DevlinkParamInfo, DevlinkPortInfo } from '@xfrmkit/netlink';
import type { DeviceEvent, DevlinkInstance, InstanceKind, ReloadResult, SimPort } from './device.ts';
import type { SimFaults } from './faults.ts';
import type { ParamEnv, ParamStore, ParamValue, SimError } from './params.ts';

/** Port function ops a driver registered for a port (the core checks "Port doesn't support …"). */
export interface PortFnOps {
  hwAddrSet: boolean;
  stateSet: boolean;
  roce: boolean;
  migratable: boolean;
  ipsec: boolean;
  maxIoEqs: boolean;
}

export interface DevlinkDriver {
  /** registered devlink instances in allocation order; kind 'pci' is the one with the driver's ops */
  instances(): DevlinkInstance[];
  onEvent(cb: (e: DeviceEvent) => void): () => void;
  readonly faults: SimFaults;
  /** devlink rate nodes that exist (ESWITCH_SET mode → EBUSY "Rate node(s) exists.") */
  readonly knobs: { rateNodes: number };

  /** DEVLINK_CMD_NEW content of an instance */
  devInfo(inst: DevlinkInstance): DevlinkDevice;

  portsOf(kind: InstanceKind): SimPort[];
  port(kind: InstanceKind, index: number): SimPort | undefined;
  portInfo(p: SimPort): DevlinkPortInfo;
  portFnOps(p: SimPort): PortFnOps;
  setHwAddr(p: SimPort, mac: Uint8Array): SimError | undefined;
  setCap(p: SimPort, cap: number, enable: boolean): SimError | undefined;
  portChanged(p: SimPort): void;

  /** the eswitch getters the driver registered (an absent field: no getter) */
  eswitchGet(): SimError | DevlinkEswitch;
  eswitchModeSet(mode: number): SimError | { warning?: string };
  eswitchInlineSet?(mode: number): SimError | undefined;
  eswitchEncapSet?(encap: number): SimError | undefined;

  readonly params: ParamStore<unknown>;
  paramInfo(name: string): DevlinkParamInfo | undefined;
  paramEnv(): ParamEnv<unknown>;
  paramStore(name: string, cmode: number, v: ParamValue): void;

  info(): DevlinkInfo;
  /** INFO_GET attributes when the driver puts versions in its own order (default: infoAttrs(info())) */
  infoAttrs?(): Attr[];

  /** `devlink_ops.reload_actions` / `reload_limits` bit masks */
  readonly reloadActions: number;
  readonly reloadLimits: number;
  reload(action: number, limit: number): SimError | ReloadResult;
}
