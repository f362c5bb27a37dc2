/**
 * devlink domain types (`include/uapi/linux/devlink.h`): devices, ports, eswitch, params, info.
 */

export const DEVLINK_ESWITCH_MODE = { LEGACY: 0, SWITCHDEV: 1, SWITCHDEV_INACTIVE: 2 } as const;
export const DEVLINK_ESWITCH_INLINE_MODE = { NONE: 0, LINK: 1, NETWORK: 2, TRANSPORT: 3 } as const;
export const DEVLINK_ESWITCH_ENCAP_MODE = { NONE: 0, BASIC: 1 } as const;
export const DEVLINK_PORT_TYPE = { NOTSET: 0, AUTO: 1, ETH: 2, IB: 3 } as const;
export const DEVLINK_PORT_FLAVOUR = {
  PHYSICAL: 0,
  CPU: 1,
  DSA: 2,
  PCI_PF: 3,
  PCI_VF: 4,
  VIRTUAL: 5,
  UNUSED: 6,
  PCI_SF: 7,
} as const;
export const DEVLINK_PARAM_CMODE = { RUNTIME: 0, DRIVERINIT: 1, PERMANENT: 2 } as const;
/** DEVLINK_VAR_ATTR_TYPE_* (= NLA_* numbers). */
export const DEVLINK_PARAM_TYPE = {
  U8: 1,
  U16: 2,
  U32: 3,
  U64: 4,
  STRING: 5,
  BOOL: 6,
  NUL_STRING: 10,
  BINARY: 11,
} as const;
export const DEVLINK_PORT_FN_CAP = {
  ROCE: 0x1,
  MIGRATABLE: 0x2,
  IPSEC_CRYPTO: 0x4,
  IPSEC_PACKET: 0x8,
} as const;

/** A devlink handle: `pci/0000:03:00.0`. */
export interface DevlinkHandle {
  bus: string;
  dev: string;
}

export function formatDevlinkHandle(h: DevlinkHandle): string {
  return `${h.bus}/${h.dev}`;
}

export function parseDevlinkHandle(text: string): DevlinkHandle {
  const slash = text.indexOf('/');
  if (slash <= 0 || slash === text.length - 1) {
    throw new TypeError(`devlink handle must be BUS/DEV (e.g. pci/0000:03:00.0), got "${text}"`);
  }
  return { bus: text.slice(0, slash), dev: text.slice(slash + 1) };
}

export interface DevlinkEswitch {
  mode?: number;
  inlineMode?: number;
  encapMode?: number;
}

/** A bitfield32 attribute value: `{value, selector}`. */
export interface Bitfield32 {
  value: number;
  selector: number;
}

export interface DevlinkPortFunction {
  hwAddr?: Uint8Array;
  state?: number;
  opstate?: number;
  caps?: Bitfield32;
  maxIoEqs?: number;
}

export interface DevlinkPort {
  handle: DevlinkHandle;
  index: number;
  type?: number;
  desiredType?: number;
  netdevIfindex?: number;
  netdevName?: string;
  flavour?: number;
  number?: number;
  splittable?: number;
  pfNumber?: number;
  vfNumber?: number;
  sfNumber?: number;
  controllerNumber?: number;
  external?: number;
  function?: DevlinkPortFunction;
}

export type DevlinkParamData = number | bigint | string | boolean | Uint8Array;

export interface DevlinkParamValue {
  cmode: number;
  data: DevlinkParamData;
}

export interface DevlinkParam {
  handle: DevlinkHandle;
  name: string;
  generic: boolean;
  type: number;
  values: DevlinkParamValue[];
}

export interface DevlinkInfoVersion {
  name: string;
  value: string;
}

export interface DevlinkInfo {
  handle: DevlinkHandle;
  driverName?: string;
  serialNumber?: string;
  boardSerialNumber?: string;
  fixed: DevlinkInfoVersion[];
  running: DevlinkInfoVersion[];
  stored: DevlinkInfoVersion[];
}
