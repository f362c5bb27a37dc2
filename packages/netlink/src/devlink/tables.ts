/**
 * devlink attribute sets as data, built from the number/type table in constants.ts, and the
 * `devlinkFamily` GenlFamilySpec (`registry.define(devlinkFamily)` makes devlink messages decode).
 *
 * Nest flags follow the kernel's replies (devlink-uapi.md §10.5): DEV_STATS, RELOAD_*,
 * NESTED_DEVLINK, port-function DEVLINK are sent with NLA_F_NESTED; PARAM, PARAM_VALUES_LIST,
 * PARAM_VALUE and INFO_VERSION_* without; the older nests (dpipe, resource, region, fmsg, health
 * reporter) use nla_nest_start_noflag too. PORT_FUNCTION is the odd one: the kernel sends it without
 * the flag, iproute2 with it — the table follows the kernel and the PORT_SET builder sets the bit
 * explicitly (requests.ts). The table's choice matters twice: for values built from scratch, and for
 * decoded attributes that had no flag bit (schema/attrs.ts records only non-zero flag bits, so
 * re-encoding such an attribute takes the table default).
 */
import type { GenlFamilySpec } from '../genl/genl.ts';
import { type Attr, type AttrSet, attrSet } from '../schema/attrs.ts';
import {
  binary,
  bitfield32,
  flag,
  type PayloadCodec,
  s32,
  string,
  u8,
  u16,
  u32,
  u64,
  uint,
} from '../schema/codec.ts';
import { DEVLINK_ATTR, DEVLINK_ATTR_TABLE, type DevlinkWireType, devlinkCmdName } from './constants.ts';
import {
  type DynamicTypeRule,
  decodeScopedAttrs,
  dynamic,
  encodeScopedAttrs,
  scopedNest,
} from './dynamic.ts';

/** DEVLINK_VAR_ATTR_TYPE_* (= NLA_* numbers) → payload codec of PARAM_VALUE_DATA. */
export const DEVLINK_VAR_ATTR_TYPE = {
  U8: 1,
  U16: 2,
  U32: 3,
  U64: 4,
  STRING: 5,
  FLAG: 6,
  NUL_STRING: 10,
  BINARY: 11,
  U64_ARRAY: 0x81,
} as const;

/**
 * The data-driven rule for param values: PARAM_TYPE (u8) of the enclosing PARAM nest (or of the
 * message, for PARAM_SET) selects the codec of PARAM_VALUE_DATA and PARAM_VALUE_DEFAULT.
 */
export const paramValueRule: DynamicTypeRule = {
  name: 'devlink param value',
  typeAttr: { type: DEVLINK_ATTR.PARAM_TYPE!, name: 'PARAM_TYPE', codec: u8 },
  codecs: {
    [DEVLINK_VAR_ATTR_TYPE.U8]: u8,
    [DEVLINK_VAR_ATTR_TYPE.U16]: u16,
    [DEVLINK_VAR_ATTR_TYPE.U32]: u32,
    [DEVLINK_VAR_ATTR_TYPE.U64]: u64,
    [DEVLINK_VAR_ATTR_TYPE.STRING]: string,
    [DEVLINK_VAR_ATTR_TYPE.FLAG]: flag, // bool: present = true, absent = false
    [DEVLINK_VAR_ATTR_TYPE.NUL_STRING]: string,
    [DEVLINK_VAR_ATTR_TYPE.BINARY]: binary,
  },
  fallback: binary,
};

const rules = [paramValueRule];

/** Codec by wire type for the attributes that need nothing special. */
const SCALAR: Partial<Record<DevlinkWireType, PayloadCodec<unknown>>> = {
  u8,
  u16,
  u32,
  s32,
  u64,
  uint,
  string,
  flag,
  binary,
  bitfield32,
};

/** enum devlink_attr_stats (inside DEVLINK_ATTR_STATS), numbered from 0 */
export const devlinkStatsAttrs = attrSet('devlink-dl-attr-stats', [
  [0, 'RX_PACKETS', u64],
  [1, 'RX_BYTES', u64],
  [2, 'RX_DROPPED', u64],
]);

/** enum devlink_port_function_attr (inside DEVLINK_ATTR_PORT_FUNCTION) */
export const devlinkPortFunctionAttrs: AttrSet = attrSet('devlink-dl-port-function', [
  [1, 'HW_ADDR', binary],
  [2, 'STATE', u8],
  [3, 'OPSTATE', u8],
  [4, 'CAPS', bitfield32],
  [5, 'DEVLINK', scopedNest(() => devlinkAttrs), { nestedFlag: true }],
  [6, 'MAX_IO_EQS', u32],
]);

/** Nests with their own attribute set or scoping, and their NLA_F_NESTED choice. */
const NESTS: Record<string, { codec: PayloadCodec<Attr[] | Uint8Array>; nestedFlag?: boolean }> = {
  PARAM: { codec: scopedNest(() => devlinkAttrs, rules) },
  PORT_FUNCTION: { codec: scopedNest(() => devlinkPortFunctionAttrs) },
  STATS: { codec: scopedNest(() => devlinkStatsAttrs) },
  NESTED_DEVLINK: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  DEV_STATS: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  RELOAD_STATS: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  RELOAD_STATS_ENTRY: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  REMOTE_RELOAD_STATS: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  RELOAD_ACTION_INFO: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  RELOAD_ACTION_STATS: { codec: scopedNest(() => devlinkAttrs), nestedFlag: true },
  // nests of small enums of their own (selftest ids, trap metadata types, rate tc attrs): kept as bytes
  SELFTESTS: { codec: binary, nestedFlag: true },
  TRAP_METADATA: { codec: binary, nestedFlag: true },
  RATE_TC_BWS: { codec: binary, nestedFlag: true },
};

/** Typed-by-PARAM_TYPE attributes; a bool DEFAULT is a u8 0/1 where a bool DATA is a flag. */
const DYNAMIC: Record<string, PayloadCodec<unknown>> = {
  PARAM_VALUE_DATA: dynamic(paramValueRule),
  PARAM_VALUE_DEFAULT: dynamic(paramValueRule, { [DEVLINK_VAR_ATTR_TYPE.FLAG]: u8 }),
};

function buildDevlinkAttrs(): AttrSet {
  const specs: Array<[number, string, PayloadCodec<unknown>, { nestedFlag?: boolean }?]> = [];
  DEVLINK_ATTR_TABLE.forEach(([name, wt], type) => {
    if (wt === 'unspec') return;
    const special = NESTS[name];
    if (special) specs.push([type, name, special.codec, { nestedFlag: special.nestedFlag }]);
    else if (wt === 'dynamic') specs.push([type, name, DYNAMIC[name]!]);
    // other nests (dpipe, resource, region, fmsg, health reporter, linecard types) reuse the devlink space
    else if (wt === 'nest') specs.push([type, name, scopedNest(() => devlinkAttrs)]);
    else specs.push([type, name, SCALAR[wt]!]);
  });
  return attrSet('devlink-attrs', specs);
}

export const devlinkAttrs: AttrSet = buildDevlinkAttrs();

/** The devlink generic netlink family: one attribute space for every command. */
export const devlinkFamily: GenlFamilySpec = {
  name: 'devlink',
  attrsFor: () => devlinkAttrs,
  cmdName: devlinkCmdName,
  // the message itself is a scope of PARAM_TYPE (PARAM_SET carries TYPE and DATA at the top level)
  decodeAttrs: (_cmd, buf, start, end, ctx) => decodeScopedAttrs(rules, devlinkAttrs, buf, start, end, ctx),
  encodeAttrs: (_cmd, attrs, w, path) => encodeScopedAttrs(rules, devlinkAttrs, attrs, w, path),
};
