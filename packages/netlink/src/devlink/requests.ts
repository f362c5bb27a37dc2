/**
 * Pure builders of devlink requests, byte-identical to what iproute2's `devlink` sends for the same
 * command (attribute order of `dl_opts_put`, NUL-terminated strings, flags REQUEST|ACK = 0x005 for
 * do and REQUEST|ACK|DUMP = 0x305 for dumps, genl version 1, pid 0). The channel fills in seq.
 *
 * Comparing with captured iproute2 bytes: libmnl does not clear the padding after an attribute
 * payload (its buffer is reused), so captured requests carry stale bytes there where these builders
 * write zeros. `maskRequestPadding` (below) is the single place that defines what to mask: the
 * nlmsghdr seq field and every attribute's padding bytes.
 */
import type { DevlinkEswitch, DevlinkHandle, DevlinkParamData, DevlinkPortFunction } from '@xfrmkit/core';
import type { NetlinkMessage } from '../message.ts';
import type { Attr } from '../schema/attrs.ts';
import { NetlinkEncodeError } from '../wire/errors.ts';
import { NLA_F_NESTED, nlaAlign } from '../wire/nlattr.ts';
import { NLM_F, nlmsgAlign } from '../wire/nlmsg.ts';
import {
  DEVLINK_CMD,
  DEVLINK_GENL_VERSION,
  DEVLINK_RELOAD_LIMITS_VALID_MASK,
  devlinkCmdName,
} from './constants.ts';
import { dlAttr, eswitchAttrs, handleAttrs, paramDataValue, portFunctionRequestAttrs } from './domain.ts';
import { DEVLINK_VAR_ATTR_TYPE, devlinkAttrs } from './tables.ts';

export const DO_FLAGS = NLM_F.REQUEST | NLM_F.ACK;
export const DUMP_FLAGS = NLM_F.REQUEST | NLM_F.ACK | NLM_F.DUMP;

/** A devlink request message (seq 0 until a channel assigns one). */
export function devlinkRequest(familyId: number, cmd: number, flags: number, attrs: Attr[]): NetlinkMessage {
  return {
    kind: 'genl',
    header: { len: 0, type: familyId, flags, seq: 0, pid: 0 },
    genl: { type: familyId, flags, seq: 0, pid: 0, cmd, version: DEVLINK_GENL_VERSION, reserved: 0, attrs },
    family: 'devlink',
  };
}

export function requestName(m: NetlinkMessage): string {
  return m.kind === 'genl' ? `DEVLINK_CMD_${devlinkCmdName(m.genl.cmd)}` : 'devlink request';
}

/** `devlink dev show [DEV]`: GET do with the handle, or a dump of every instance. */
export function buildDevGet(familyId: number, handle?: DevlinkHandle): NetlinkMessage {
  return handle
    ? devlinkRequest(familyId, DEVLINK_CMD.GET, DO_FLAGS, handleAttrs(handle))
    : devlinkRequest(familyId, DEVLINK_CMD.GET, DUMP_FLAGS, []);
}

/**
 * `devlink port show [DEV/INDEX | DEV]`: PORT_GET do with an index; a dump filtered by the handle
 * (iproute2 ≥ 6.6 dump selector) with a handle only; an unfiltered dump without either.
 */
export function buildPortGet(familyId: number, handle?: DevlinkHandle, index?: number): NetlinkMessage {
  if (index !== undefined) {
    if (!handle) throw new NetlinkEncodeError('a port index needs a devlink handle', 'PORT_GET');
    return devlinkRequest(familyId, DEVLINK_CMD.PORT_GET, DO_FLAGS, [
      ...handleAttrs(handle),
      dlAttr('PORT_INDEX', index),
    ]);
  }
  return devlinkRequest(familyId, DEVLINK_CMD.PORT_GET, DUMP_FLAGS, handle ? handleAttrs(handle) : []);
}

/** Port-function capability switches as `devlink port function set` takes them. */
export interface PortFnCapsInput {
  roce?: boolean;
  migratable?: boolean;
  ipsecCrypto?: boolean;
  ipsecPacket?: boolean;
}

export interface PortFunctionSetOpts {
  hwAddr?: Uint8Array;
  /** DEVLINK_PORT_FN_STATE_*: 0 inactive, 1 active */
  state?: number;
  /** switches (iproute2 style: selector = the switches given, value = those enabled) or a raw bitfield */
  caps?: PortFnCapsInput | { value: number; selector: number };
  maxIoEqs?: number;
}

const CAP_BITS: Array<[keyof PortFnCapsInput, number]> = [
  ['roce', 0x1],
  ['migratable', 0x2],
  ['ipsecCrypto', 0x4],
  ['ipsecPacket', 0x8],
];

export function capsBitfield(
  caps: PortFunctionSetOpts['caps'],
): { value: number; selector: number } | undefined {
  if (caps === undefined) return undefined;
  if ('selector' in caps && 'value' in caps) return { value: caps.value, selector: caps.selector };
  let value = 0;
  let selector = 0;
  for (const [k, bit] of CAP_BITS) {
    const v = (caps as PortFnCapsInput)[k];
    if (v === undefined) continue;
    selector |= bit;
    if (v) value |= bit;
  }
  return selector ? { value, selector } : undefined;
}

/** `devlink port function set DEV/INDEX [hw_addr] [state] [roce|…|ipsec_packet] [max_io_eqs]`: PORT_SET. */
export function buildPortFunctionSet(
  familyId: number,
  handle: DevlinkHandle,
  index: number,
  opts: PortFunctionSetOpts,
): NetlinkMessage {
  const fn: DevlinkPortFunction = {};
  if (opts.hwAddr !== undefined) fn.hwAddr = opts.hwAddr;
  if (opts.state !== undefined) fn.state = opts.state;
  const caps = capsBitfield(opts.caps);
  if (caps !== undefined) fn.caps = caps;
  if (opts.maxIoEqs !== undefined) fn.maxIoEqs = opts.maxIoEqs;
  const inner = portFunctionRequestAttrs(fn);
  if (inner.length === 0)
    throw new NetlinkEncodeError('nothing to set: give hwAddr, state, caps or maxIoEqs', 'PORT_SET');
  return devlinkRequest(familyId, DEVLINK_CMD.PORT_SET, DO_FLAGS, [
    ...handleAttrs(handle),
    dlAttr('PORT_INDEX', index),
    dlAttr('PORT_FUNCTION', inner, NLA_F_NESTED), // iproute2 flags this nest, the kernel does not
  ]);
}

/** `devlink dev eswitch show DEV`: ESWITCH_GET do. */
export function buildEswitchGet(familyId: number, handle: DevlinkHandle): NetlinkMessage {
  return devlinkRequest(familyId, DEVLINK_CMD.ESWITCH_GET, DO_FLAGS, handleAttrs(handle));
}

/** `devlink dev eswitch set DEV [mode M] [inline-mode I] [encap-mode E]`: ESWITCH_SET (MODE u16, INLINE u8, ENCAP u8). */
export function buildEswitchSet(
  familyId: number,
  handle: DevlinkHandle,
  opts: DevlinkEswitch,
): NetlinkMessage {
  const a = eswitchAttrs(opts);
  if (a.length === 0) throw new NetlinkEncodeError('Need to set at least one option', 'ESWITCH_SET');
  return devlinkRequest(familyId, DEVLINK_CMD.ESWITCH_SET, DO_FLAGS, [...handleAttrs(handle), ...a]);
}

/**
 * `devlink dev param show [DEV [name NAME]]`: PARAM_GET do {BUS, DEV, NAME[, CMODE]} with a name
 * (`devlink dev param set` first sends it with CMODE), else a dump, filtered by the handle if given.
 */
export function buildParamGet(
  familyId: number,
  handle?: DevlinkHandle,
  name?: string,
  cmode?: number,
): NetlinkMessage {
  if (name !== undefined) {
    if (!handle) throw new NetlinkEncodeError('a param name needs a devlink handle', 'PARAM_GET');
    const a = [...handleAttrs(handle), dlAttr('PARAM_NAME', name)];
    if (cmode !== undefined) a.push(dlAttr('PARAM_VALUE_CMODE', cmode));
    return devlinkRequest(familyId, DEVLINK_CMD.PARAM_GET, DO_FLAGS, a);
  }
  return devlinkRequest(familyId, DEVLINK_CMD.PARAM_GET, DUMP_FLAGS, handle ? handleAttrs(handle) : []);
}

/** The value of a PARAM_SET: a value, or `{ resetDefault: true }` (`… default cmode C`, kernel ≥ 6.19). */
export type ParamSetValue = DevlinkParamData | { resetDefault: true };

export function isResetDefault(v: ParamSetValue): v is { resetDefault: true } {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'resetDefault' in v;
}

/**
 * `devlink dev param set DEV name NAME value V cmode C`: PARAM_SET {BUS, DEV, NAME, CMODE u8,
 * [RESET_DEFAULT], PARAM_TYPE u8, [DATA]} — CMODE before TYPE as iproute2 puts them; DATA omitted
 * for a false bool and for a reset.
 */
export function buildParamSet(
  familyId: number,
  handle: DevlinkHandle,
  name: string,
  type: number,
  value: ParamSetValue,
  cmode: number,
): NetlinkMessage {
  const a = [...handleAttrs(handle), dlAttr('PARAM_NAME', name), dlAttr('PARAM_VALUE_CMODE', cmode)];
  if (isResetDefault(value)) {
    a.push(dlAttr('PARAM_RESET_DEFAULT', true), dlAttr('PARAM_TYPE', type));
  } else {
    a.push(dlAttr('PARAM_TYPE', type));
    const data = paramDataValue(type, value);
    if (data !== undefined) a.push(dlAttr('PARAM_VALUE_DATA', data));
  }
  return devlinkRequest(familyId, DEVLINK_CMD.PARAM_SET, DO_FLAGS, a);
}

/** `devlink dev info [DEV]`: INFO_GET do / dump. */
export function buildInfoGet(familyId: number, handle?: DevlinkHandle): NetlinkMessage {
  return handle
    ? devlinkRequest(familyId, DEVLINK_CMD.INFO_GET, DO_FLAGS, handleAttrs(handle))
    : devlinkRequest(familyId, DEVLINK_CMD.INFO_GET, DUMP_FLAGS, []);
}

export interface ReloadOpts {
  /** DEVLINK_RELOAD_ACTION_*: 1 driver_reinit, 2 fw_activate */
  action?: number;
  /** DEVLINK_RELOAD_LIMIT_*: 0 unspecified, 1 no_reset (sent as bitfield {BIT(limit), VALID_MASK}) */
  limit?: number;
  /** move the instance: netns by pid or by fd (iproute2 `netns PID|NAME`) */
  netns?: { pid: number } | { fd: number };
}

/** `devlink dev reload DEV [netns …] [action A] [limit L]`: RELOAD {BUS, DEV, [NETNS], [ACTION u8], [LIMITS]}. */
export function buildReload(familyId: number, handle: DevlinkHandle, opts: ReloadOpts = {}): NetlinkMessage {
  const a = handleAttrs(handle);
  if (opts.netns)
    a.push('pid' in opts.netns ? dlAttr('NETNS_PID', opts.netns.pid) : dlAttr('NETNS_FD', opts.netns.fd));
  if (opts.action !== undefined) a.push(dlAttr('RELOAD_ACTION', opts.action));
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 0 || opts.limit > 31) {
      throw new NetlinkEncodeError(`reload limit must be 0..31, got ${opts.limit}`, 'RELOAD_LIMITS');
    }
    a.push(
      dlAttr('RELOAD_LIMITS', { value: (1 << opts.limit) >>> 0, selector: DEVLINK_RELOAD_LIMITS_VALID_MASK }),
    );
  }
  return devlinkRequest(familyId, DEVLINK_CMD.RELOAD, DO_FLAGS, a);
}

/** NOTIFY_FILTER_SET {[BUS, DEV], [PORT_INDEX]} (kernel ≥ 6.8): narrows this socket's notifications. */
export function buildNotifyFilterSet(
  familyId: number,
  handle?: DevlinkHandle,
  portIndex?: number,
): NetlinkMessage {
  const a = handle ? handleAttrs(handle) : [];
  if (portIndex !== undefined) a.push(dlAttr('PORT_INDEX', portIndex));
  return devlinkRequest(familyId, DEVLINK_CMD.NOTIFY_FILTER_SET, DO_FLAGS, a);
}

/**
 * The one definition of "same request bytes modulo what iproute2 leaves to chance": zeroes the seq
 * field of every nlmsghdr and the padding bytes after every attribute (recursively into nests that
 * the devlink/nlctrl tables know as nests, by walking the raw TLVs: a payload that parses as a clean
 * attribute list whose type is a nest in the table is walked). Returns a copy.
 */
export function maskRequestPadding(dgram: Uint8Array): Uint8Array {
  const out = dgram.slice();
  const dv = new DataView(out.buffer);
  let off = 0;
  while (off + 16 <= out.length) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > out.length) break;
    dv.setUint32(off + 8, 0, true);
    // message padding (NLMSG_ALIGN)
    out.fill(0, off + len, Math.min(off + nlmsgAlign(len), out.length));
    if (len >= 20) maskAttrPadding(out, off + 20, off + len, 0);
    off += nlmsgAlign(len);
  }
  return out;
}

function maskAttrPadding(b: Uint8Array, start: number, end: number, depth: number): void {
  let off = start;
  while (end - off >= 4) {
    const len = b[off]! | (b[off + 1]! << 8);
    const type = (b[off + 2]! | (b[off + 3]! << 8)) & 0x3fff;
    if (len < 4 || off + len > end) return;
    b.fill(0, off + len, Math.min(off + nlaAlign(len), end));
    const spec = devlinkAttrs.byType.get(type);
    const isNest = spec?.codec.desc.startsWith('nest ');
    if (isNest && depth < 8) maskAttrPadding(b, off + 4, off + len, depth + 1);
    off += nlaAlign(len);
  }
}

export { DEVLINK_VAR_ATTR_TYPE };
