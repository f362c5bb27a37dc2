/**
 * devlink attribute lists ⇄ the domain types of @xfrmkit/core (DevlinkHandle, DevlinkPort,
 * DevlinkEswitch, DevlinkParam, DevlinkInfo, DevlinkPortFunction), with the few extra fields the
 * kernel reports that core does not model (nested instances, reload stats, param defaults…).
 *
 * Decoders read attributes by name (the last of duplicates wins, as in the kernel); builders produce
 * attribute lists in the kernel's reply order (devlink-uapi.md §5) so a simulator can answer with them.
 */
import type {
  Bitfield32,
  DevlinkEswitch,
  DevlinkHandle,
  DevlinkInfo,
  DevlinkInfoVersion,
  DevlinkParam,
  DevlinkParamData,
  DevlinkParamValue,
  DevlinkPort,
  DevlinkPortFunction,
} from '@xfrmkit/core';
import { type Attr, getAttr, getAttrs } from '../schema/attrs.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { DEVLINK_PORT_FN_ATTR } from './constants.ts';
import { DEVLINK_VAR_ATTR_TYPE, devlinkAttrs } from './tables.ts';

/** An attribute of the devlink space by name (type number looked up in the table). */
export function dlAttr(name: string, value: unknown, flagBits?: number): Attr {
  const spec = devlinkAttrs.byName.get(name);
  if (!spec) throw new NetlinkEncodeError(`no devlink attribute ${name}`);
  const a: Attr = { type: spec.type, name, value };
  if (flagBits !== undefined) a.flagBits = flagBits;
  return a;
}

function fnAttr(name: keyof typeof DEVLINK_PORT_FN_ATTR, value: unknown): Attr {
  return { type: DEVLINK_PORT_FN_ATTR[name], name, value };
}

// ---- handles ------------------------------------------------------------------------------------

/** A devlink instance as a nested handle (NESTED_DEVLINK, port-function DEVLINK). */
export interface DevlinkNestedHandle extends DevlinkHandle {
  /** DEVLINK_ATTR_NETNS_ID when the instance lives in another network namespace */
  netnsId?: number;
  /** DEVLINK_ATTR_INDEX (7.1+) */
  index?: number | bigint;
}

export function handleOf(attrs: readonly Attr[], what = 'devlink message'): DevlinkHandle {
  const bus = getAttr<string>(attrs, 'BUS_NAME');
  const dev = getAttr<string>(attrs, 'DEV_NAME');
  if (bus === undefined || dev === undefined) {
    throw new NetlinkDecodeError(`${what} has no ${bus === undefined ? 'BUS_NAME' : 'DEV_NAME'}`, 0, what);
  }
  return { bus, dev };
}

export function handleAttrs(h: DevlinkHandle): Attr[] {
  if (!h || typeof h.bus !== 'string' || typeof h.dev !== 'string' || !h.bus || !h.dev) {
    throw new NetlinkEncodeError('devlink handle needs non-empty bus and dev strings', 'handle');
  }
  return [dlAttr('BUS_NAME', h.bus), dlAttr('DEV_NAME', h.dev)];
}

function nestedHandleOf(attrs: readonly Attr[]): DevlinkNestedHandle {
  const h: DevlinkNestedHandle = handleOf(attrs, 'nested devlink handle');
  const ns = getAttr<number>(attrs, 'NETNS_ID');
  if (ns !== undefined) h.netnsId = ns;
  const idx = getAttr<number | bigint>(attrs, 'INDEX');
  if (idx !== undefined) h.index = idx;
  return h;
}

function nestedHandleAttrs(h: DevlinkNestedHandle): Attr[] {
  const a = handleAttrs(h);
  if (h.index !== undefined) a.push(dlAttr('INDEX', h.index));
  if (h.netnsId !== undefined) a.push(dlAttr('NETNS_ID', h.netnsId));
  return a;
}

export function sameHandle(a: DevlinkHandle, b: DevlinkHandle): boolean {
  return a.bus === b.bus && a.dev === b.dev;
}

// ---- dev (GET / NEW / DEL) ----------------------------------------------------------------------

export interface DevlinkReloadStatsEntry {
  limit: number;
  value: number;
}
export interface DevlinkReloadActionStats {
  action: number;
  entries: DevlinkReloadStatsEntry[];
}

export interface DevlinkDevice {
  handle: DevlinkHandle;
  /** DEVLINK_ATTR_INDEX (7.1+) */
  index?: number | bigint;
  reloadFailed?: boolean;
  reloadStats?: DevlinkReloadActionStats[];
  remoteReloadStats?: DevlinkReloadActionStats[];
  nested: DevlinkNestedHandle[];
}

function reloadStatsOf(nest: readonly Attr[] | undefined): DevlinkReloadActionStats[] | undefined {
  if (!nest) return undefined;
  return getAttrs<Attr[]>(nest, 'RELOAD_ACTION_INFO').map((info) => ({
    action: getAttr<number>(info, 'RELOAD_ACTION') ?? 0,
    entries: getAttrs<Attr[]>(getAttr<Attr[]>(info, 'RELOAD_ACTION_STATS'), 'RELOAD_STATS_ENTRY').map(
      (e) => ({
        limit: getAttr<number>(e, 'RELOAD_STATS_LIMIT') ?? 0,
        value: getAttr<number>(e, 'RELOAD_STATS_VALUE') ?? 0,
      }),
    ),
  }));
}

function reloadStatsAttrs(name: string, stats: readonly DevlinkReloadActionStats[]): Attr {
  return dlAttr(
    name,
    stats.map((s) =>
      dlAttr('RELOAD_ACTION_INFO', [
        dlAttr('RELOAD_ACTION', s.action),
        dlAttr(
          'RELOAD_ACTION_STATS',
          s.entries.map((e) =>
            dlAttr('RELOAD_STATS_ENTRY', [
              dlAttr('RELOAD_STATS_LIMIT', e.limit),
              dlAttr('RELOAD_STATS_VALUE', e.value),
            ]),
          ),
        ),
      ]),
    ),
  );
}

export function decodeDevice(attrs: readonly Attr[]): DevlinkDevice {
  const d: DevlinkDevice = { handle: handleOf(attrs, 'devlink dev'), nested: [] };
  const idx = getAttr<number | bigint>(attrs, 'INDEX');
  if (idx !== undefined) d.index = idx;
  const rf = getAttr<number>(attrs, 'RELOAD_FAILED');
  if (rf !== undefined) d.reloadFailed = rf !== 0;
  const ds = getAttr<Attr[]>(attrs, 'DEV_STATS');
  const rs = reloadStatsOf(getAttr<Attr[]>(ds, 'RELOAD_STATS'));
  if (rs) d.reloadStats = rs;
  const rrs = reloadStatsOf(getAttr<Attr[]>(ds, 'REMOTE_RELOAD_STATS'));
  if (rrs) d.remoteReloadStats = rrs;
  d.nested = getAttrs<Attr[]>(attrs, 'NESTED_DEVLINK').map(nestedHandleOf);
  return d;
}

/** Attributes of a DEVLINK_CMD_NEW reply in `devlink_nl_fill` order. */
export function deviceAttrs(d: DevlinkDevice): Attr[] {
  const a = handleAttrs(d.handle);
  if (d.index !== undefined) a.push(dlAttr('INDEX', d.index));
  if (d.reloadFailed !== undefined) a.push(dlAttr('RELOAD_FAILED', d.reloadFailed ? 1 : 0));
  if (d.reloadStats || d.remoteReloadStats) {
    const ds: Attr[] = [];
    if (d.reloadStats) ds.push(reloadStatsAttrs('RELOAD_STATS', d.reloadStats));
    if (d.remoteReloadStats) ds.push(reloadStatsAttrs('REMOTE_RELOAD_STATS', d.remoteReloadStats));
    a.push(dlAttr('DEV_STATS', ds));
  }
  for (const n of d.nested) a.push(dlAttr('NESTED_DEVLINK', nestedHandleAttrs(n)));
  return a;
}

// ---- ports --------------------------------------------------------------------------------------

export interface DevlinkPortFunctionInfo extends DevlinkPortFunction {
  /** DEVLINK_PORT_FN_ATTR_DEVLINK: the function's own devlink instance (SFs) */
  devlink?: DevlinkNestedHandle;
}

export interface DevlinkPortInfo extends DevlinkPort {
  ibdevName?: string;
  lanes?: number;
  splitGroup?: number;
  splitSubportNumber?: number;
  linecardIndex?: number;
  function?: DevlinkPortFunctionInfo;
}

export function decodePortFunction(fn: readonly Attr[]): DevlinkPortFunctionInfo {
  const f: DevlinkPortFunctionInfo = {};
  const hw = getAttr<Uint8Array>(fn, 'HW_ADDR');
  if (hw !== undefined) f.hwAddr = hw;
  const st = getAttr<number>(fn, 'STATE');
  if (st !== undefined) f.state = st;
  const op = getAttr<number>(fn, 'OPSTATE');
  if (op !== undefined) f.opstate = op;
  const caps = getAttr<Bitfield32>(fn, 'CAPS');
  if (caps !== undefined) f.caps = { value: caps.value, selector: caps.selector };
  const eqs = getAttr<number>(fn, 'MAX_IO_EQS');
  if (eqs !== undefined) f.maxIoEqs = eqs;
  const dl = getAttr<Attr[]>(fn, 'DEVLINK');
  if (dl !== undefined) f.devlink = nestedHandleOf(dl);
  return f;
}

const PORT_FIELDS: Array<[attr: string, key: keyof DevlinkPortInfo]> = [
  ['PORT_TYPE', 'type'],
  ['PORT_DESIRED_TYPE', 'desiredType'],
  ['PORT_NETDEV_IFINDEX', 'netdevIfindex'],
  ['PORT_NETDEV_NAME', 'netdevName'],
  ['PORT_IBDEV_NAME', 'ibdevName'],
  ['PORT_LANES', 'lanes'],
  ['PORT_SPLITTABLE', 'splittable'],
  ['PORT_FLAVOUR', 'flavour'],
  ['PORT_CONTROLLER_NUMBER', 'controllerNumber'],
  ['PORT_PCI_PF_NUMBER', 'pfNumber'],
  ['PORT_PCI_VF_NUMBER', 'vfNumber'],
  ['PORT_PCI_SF_NUMBER', 'sfNumber'],
  ['PORT_EXTERNAL', 'external'],
  ['PORT_NUMBER', 'number'],
  ['PORT_SPLIT_GROUP', 'splitGroup'],
  ['PORT_SPLIT_SUBPORT_NUMBER', 'splitSubportNumber'],
];

export function decodePort(attrs: readonly Attr[]): DevlinkPortInfo {
  const index = getAttr<number>(attrs, 'PORT_INDEX');
  if (index === undefined)
    throw new NetlinkDecodeError('devlink port message has no PORT_INDEX', 0, 'devlink port');
  const p: DevlinkPortInfo = { handle: handleOf(attrs, 'devlink port'), index };
  const rec = p as unknown as Record<string, unknown>;
  for (const [name, key] of PORT_FIELDS) {
    const v = getAttr(attrs, name);
    if (v !== undefined) rec[key] = v;
  }
  const fn = getAttr<Attr[]>(attrs, 'PORT_FUNCTION');
  if (fn !== undefined) p.function = decodePortFunction(fn);
  const lc = getAttr<number>(attrs, 'LINECARD_INDEX');
  if (lc !== undefined) p.linecardIndex = lc;
  return p;
}

/** PORT_FUNCTION content in the kernel's reply order: HW_ADDR, CAPS, STATE, OPSTATE, MAX_IO_EQS, DEVLINK. */
export function portFunctionReplyAttrs(f: DevlinkPortFunctionInfo): Attr[] {
  const a: Attr[] = [];
  if (f.hwAddr !== undefined) a.push(fnAttr('HW_ADDR', f.hwAddr));
  if (f.caps !== undefined) a.push(fnAttr('CAPS', f.caps));
  if (f.state !== undefined) a.push(fnAttr('STATE', f.state));
  if (f.opstate !== undefined) a.push(fnAttr('OPSTATE', f.opstate));
  if (f.maxIoEqs !== undefined) a.push(fnAttr('MAX_IO_EQS', f.maxIoEqs));
  if (f.devlink !== undefined)
    a.push({ ...fnAttr('DEVLINK', nestedHandleAttrs(f.devlink)), flagBits: 0x8000 });
  return a;
}

/** PORT_FUNCTION content as iproute2 sends it in PORT_SET: HW_ADDR, STATE, CAPS, MAX_IO_EQS. */
export function portFunctionRequestAttrs(f: DevlinkPortFunction): Attr[] {
  const a: Attr[] = [];
  if (f.hwAddr !== undefined) a.push(fnAttr('HW_ADDR', f.hwAddr));
  if (f.state !== undefined) a.push(fnAttr('STATE', f.state));
  if (f.caps !== undefined) a.push(fnAttr('CAPS', f.caps));
  if (f.maxIoEqs !== undefined) a.push(fnAttr('MAX_IO_EQS', f.maxIoEqs));
  return a;
}

/** Attributes of a PORT_NEW reply in `devlink_nl_port_fill` order (PORT_FUNCTION without NLA_F_NESTED, as the kernel). */
export function portAttrs(p: DevlinkPortInfo): Attr[] {
  const a = handleAttrs(p.handle);
  a.push(dlAttr('PORT_INDEX', p.index));
  const put = (name: string, v: unknown) => {
    if (v !== undefined) a.push(dlAttr(name, v));
  };
  put('PORT_TYPE', p.type);
  put('PORT_DESIRED_TYPE', p.desiredType);
  put('PORT_NETDEV_IFINDEX', p.netdevIfindex);
  put('PORT_NETDEV_NAME', p.netdevName);
  put('PORT_IBDEV_NAME', p.ibdevName);
  put('PORT_LANES', p.lanes);
  put('PORT_SPLITTABLE', p.splittable);
  put('PORT_FLAVOUR', p.flavour);
  put('PORT_CONTROLLER_NUMBER', p.controllerNumber);
  put('PORT_PCI_PF_NUMBER', p.pfNumber);
  put('PORT_PCI_VF_NUMBER', p.vfNumber);
  put('PORT_PCI_SF_NUMBER', p.sfNumber);
  put('PORT_EXTERNAL', p.external);
  put('PORT_NUMBER', p.number);
  put('PORT_SPLIT_GROUP', p.splitGroup);
  put('PORT_SPLIT_SUBPORT_NUMBER', p.splitSubportNumber);
  if (p.function) {
    const fn = portFunctionReplyAttrs(p.function);
    if (fn.length) a.push(dlAttr('PORT_FUNCTION', fn));
  }
  put('LINECARD_INDEX', p.linecardIndex);
  return a;
}

// ---- eswitch ------------------------------------------------------------------------------------

export function decodeEswitch(attrs: readonly Attr[]): DevlinkEswitch {
  const e: DevlinkEswitch = {};
  const m = getAttr<number>(attrs, 'ESWITCH_MODE');
  if (m !== undefined) e.mode = m;
  const i = getAttr<number>(attrs, 'ESWITCH_INLINE_MODE');
  if (i !== undefined) e.inlineMode = i;
  const c = getAttr<number>(attrs, 'ESWITCH_ENCAP_MODE');
  if (c !== undefined) e.encapMode = c;
  return e;
}

/** ESWITCH_GET reply / ESWITCH_SET request order: MODE, INLINE_MODE, ENCAP_MODE. */
export function eswitchAttrs(e: DevlinkEswitch): Attr[] {
  const a: Attr[] = [];
  if (e.mode !== undefined) a.push(dlAttr('ESWITCH_MODE', e.mode));
  if (e.inlineMode !== undefined) a.push(dlAttr('ESWITCH_INLINE_MODE', e.inlineMode));
  if (e.encapMode !== undefined) a.push(dlAttr('ESWITCH_ENCAP_MODE', e.encapMode));
  return a;
}

// ---- params -------------------------------------------------------------------------------------

export interface DevlinkParamValueInfo extends DevlinkParamValue {
  /** PARAM_VALUE_DEFAULT (kernel ≥ 6.19) */
  default?: DevlinkParamData;
}

export interface DevlinkParamInfo extends DevlinkParam {
  values: DevlinkParamValueInfo[];
}

const BOOL = DEVLINK_VAR_ATTR_TYPE.FLAG;

/** A decoded DATA/DEFAULT payload → domain value (bool flag/u8 → boolean). */
function paramDataOf(type: number, v: unknown, isDefault: boolean): DevlinkParamData {
  if (type === BOOL) return isDefault ? v !== 0 && v !== undefined : v === true;
  return v as DevlinkParamData;
}

export function decodeParam(attrs: readonly Attr[]): DevlinkParamInfo {
  const handle = handleOf(attrs, 'devlink param');
  const p = getAttr<Attr[]>(attrs, 'PARAM');
  if (!p) throw new NetlinkDecodeError('devlink param message has no PARAM nest', 0, 'devlink param');
  const name = getAttr<string>(p, 'PARAM_NAME');
  const type = getAttr<number>(p, 'PARAM_TYPE');
  if (name === undefined || type === undefined) {
    throw new NetlinkDecodeError(
      `PARAM nest has no ${name === undefined ? 'PARAM_NAME' : 'PARAM_TYPE'}`,
      0,
      'devlink param',
    );
  }
  const values = getAttrs<Attr[]>(getAttr<Attr[]>(p, 'PARAM_VALUES_LIST'), 'PARAM_VALUE').map((pv) => {
    const v: DevlinkParamValueInfo = {
      cmode: getAttr<number>(pv, 'PARAM_VALUE_CMODE') ?? 0,
      data: paramDataOf(type, getAttr(pv, 'PARAM_VALUE_DATA'), false),
    };
    const def = getAttr(pv, 'PARAM_VALUE_DEFAULT');
    if (def !== undefined) v.default = paramDataOf(type, def, true);
    return v;
  });
  return { handle, name, generic: getAttr(p, 'PARAM_GENERIC') === true, type, values };
}

/** A domain value → DATA payload value for `type`; `undefined` = attribute omitted (bool false). */
export function paramDataValue(type: number, v: DevlinkParamData, path = 'PARAM_VALUE_DATA'): unknown {
  switch (type) {
    case BOOL:
      if (typeof v !== 'boolean')
        throw new NetlinkEncodeError(`bool param needs a boolean, got ${typeof v}`, path);
      return v ? true : undefined;
    case DEVLINK_VAR_ATTR_TYPE.U8:
    case DEVLINK_VAR_ATTR_TYPE.U16:
    case DEVLINK_VAR_ATTR_TYPE.U32:
      if (typeof v === 'bigint') return Number(v);
      return v;
    case DEVLINK_VAR_ATTR_TYPE.U64:
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      return v;
    default:
      return v;
  }
}

/** The PARAM nest of a PARAM_GET reply / PARAM_NEW notification (no NLA_F_NESTED anywhere). */
export function paramAttrs(p: DevlinkParamInfo): Attr[] {
  const inner: Attr[] = [dlAttr('PARAM_NAME', p.name)];
  if (p.generic) inner.push(dlAttr('PARAM_GENERIC', true));
  inner.push(dlAttr('PARAM_TYPE', p.type));
  const values = p.values.map((v) => {
    const pv: Attr[] = [dlAttr('PARAM_VALUE_CMODE', v.cmode)];
    const data = paramDataValue(p.type, v.data);
    if (data !== undefined) pv.push(dlAttr('PARAM_VALUE_DATA', data));
    if (v.default !== undefined) {
      const d =
        p.type === BOOL ? (v.default ? 1 : 0) : paramDataValue(p.type, v.default, 'PARAM_VALUE_DEFAULT');
      pv.push(dlAttr('PARAM_VALUE_DEFAULT', d));
    }
    return dlAttr('PARAM_VALUE', pv);
  });
  inner.push(dlAttr('PARAM_VALUES_LIST', values));
  return [...handleAttrs(p.handle), dlAttr('PARAM', inner)];
}

// ---- info ---------------------------------------------------------------------------------------

function versionsOf(attrs: readonly Attr[], name: string): DevlinkInfoVersion[] {
  return getAttrs<Attr[]>(attrs, name).map((v) => ({
    name: getAttr<string>(v, 'INFO_VERSION_NAME') ?? '',
    value: getAttr<string>(v, 'INFO_VERSION_VALUE') ?? '',
  }));
}

export function decodeInfo(attrs: readonly Attr[]): DevlinkInfo {
  const info: DevlinkInfo = {
    handle: handleOf(attrs, 'devlink info'),
    fixed: versionsOf(attrs, 'INFO_VERSION_FIXED'),
    running: versionsOf(attrs, 'INFO_VERSION_RUNNING'),
    stored: versionsOf(attrs, 'INFO_VERSION_STORED'),
  };
  const drv = getAttr<string>(attrs, 'INFO_DRIVER_NAME');
  if (drv !== undefined) info.driverName = drv;
  const sn = getAttr<string>(attrs, 'INFO_SERIAL_NUMBER');
  if (sn !== undefined) info.serialNumber = sn;
  const bsn = getAttr<string>(attrs, 'INFO_BOARD_SERIAL_NUMBER');
  if (bsn !== undefined) info.boardSerialNumber = bsn;
  return info;
}

/** INFO_GET reply: handle, serials, fixed, running, stored versions, then INFO_DRIVER_NAME last. */
export function infoAttrs(i: DevlinkInfo): Attr[] {
  const a = handleAttrs(i.handle);
  if (i.serialNumber !== undefined) a.push(dlAttr('INFO_SERIAL_NUMBER', i.serialNumber));
  if (i.boardSerialNumber !== undefined) a.push(dlAttr('INFO_BOARD_SERIAL_NUMBER', i.boardSerialNumber));
  const ver = (name: string, list: DevlinkInfoVersion[]) => {
    for (const v of list) {
      a.push(dlAttr(name, [dlAttr('INFO_VERSION_NAME', v.name), dlAttr('INFO_VERSION_VALUE', v.value)]));
    }
  };
  ver('INFO_VERSION_FIXED', i.fixed);
  ver('INFO_VERSION_RUNNING', i.running);
  ver('INFO_VERSION_STORED', i.stored);
  if (i.driverName !== undefined) a.push(dlAttr('INFO_DRIVER_NAME', i.driverName));
  return a;
}

// ---- reload -------------------------------------------------------------------------------------

export interface DevlinkReloadResult {
  /** RELOAD_ACTIONS_PERFORMED (only when the request named an action or limit) */
  actionsPerformed?: Bitfield32;
  /** extack text of a successful ACK ("reload while VFs are present is unfavorable") */
  warning?: string;
}

export function decodeReload(attrs: readonly Attr[]): DevlinkReloadResult {
  const ap = getAttr<Bitfield32>(attrs, 'RELOAD_ACTIONS_PERFORMED');
  return ap ? { actionsPerformed: { value: ap.value, selector: ap.selector } } : {};
}
