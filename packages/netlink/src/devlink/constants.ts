/**
 * devlink numbers (`include/uapi/linux/devlink.h`, 7.2-pre): commands, attributes and enums.
 *
 * Both enums are written as ordered name lists and numbered by position, like the C enums they copy
 * ("don't change the order or add anything between, this is ABI"). The two `#define` aliases inside
 * `enum devlink_command` (DEVLINK_CMD_ESWITCH_MODE_GET/SET = 29/30) are *not* enum members: a parser
 * that counts them as entries shifts every command after SB_OCC_MAX_CLEAR (28) by one or two. The
 * anchors asserted at module load catch exactly that kind of mistake.
 */

/** DEVLINK_CMD_* in enum order, starting at UNSPEC = 0. */
const CMD_NAMES = [
  'UNSPEC',
  'GET',
  'SET',
  'NEW',
  'DEL',
  'PORT_GET',
  'PORT_SET',
  'PORT_NEW',
  'PORT_DEL',
  'PORT_SPLIT',
  'PORT_UNSPLIT',
  'SB_GET',
  'SB_SET',
  'SB_NEW',
  'SB_DEL',
  'SB_POOL_GET',
  'SB_POOL_SET',
  'SB_POOL_NEW',
  'SB_POOL_DEL',
  'SB_PORT_POOL_GET',
  'SB_PORT_POOL_SET',
  'SB_PORT_POOL_NEW',
  'SB_PORT_POOL_DEL',
  'SB_TC_POOL_BIND_GET',
  'SB_TC_POOL_BIND_SET',
  'SB_TC_POOL_BIND_NEW',
  'SB_TC_POOL_BIND_DEL',
  'SB_OCC_SNAPSHOT',
  'SB_OCC_MAX_CLEAR',
  'ESWITCH_GET', // #define DEVLINK_CMD_ESWITCH_MODE_GET alias, not an entry
  'ESWITCH_SET', // #define DEVLINK_CMD_ESWITCH_MODE_SET alias, not an entry
  'DPIPE_TABLE_GET',
  'DPIPE_ENTRIES_GET',
  'DPIPE_HEADERS_GET',
  'DPIPE_TABLE_COUNTERS_SET',
  'RESOURCE_SET',
  'RESOURCE_DUMP',
  'RELOAD',
  'PARAM_GET',
  'PARAM_SET',
  'PARAM_NEW',
  'PARAM_DEL',
  'REGION_GET',
  'REGION_SET',
  'REGION_NEW',
  'REGION_DEL',
  'REGION_READ',
  'PORT_PARAM_GET',
  'PORT_PARAM_SET',
  'PORT_PARAM_NEW',
  'PORT_PARAM_DEL',
  'INFO_GET',
  'HEALTH_REPORTER_GET',
  'HEALTH_REPORTER_SET',
  'HEALTH_REPORTER_RECOVER',
  'HEALTH_REPORTER_DIAGNOSE',
  'HEALTH_REPORTER_DUMP_GET',
  'HEALTH_REPORTER_DUMP_CLEAR',
  'FLASH_UPDATE',
  'FLASH_UPDATE_END',
  'FLASH_UPDATE_STATUS',
  'TRAP_GET',
  'TRAP_SET',
  'TRAP_NEW',
  'TRAP_DEL',
  'TRAP_GROUP_GET',
  'TRAP_GROUP_SET',
  'TRAP_GROUP_NEW',
  'TRAP_GROUP_DEL',
  'TRAP_POLICER_GET',
  'TRAP_POLICER_SET',
  'TRAP_POLICER_NEW',
  'TRAP_POLICER_DEL',
  'HEALTH_REPORTER_TEST',
  'RATE_GET',
  'RATE_SET',
  'RATE_NEW',
  'RATE_DEL',
  'LINECARD_GET',
  'LINECARD_SET',
  'LINECARD_NEW',
  'LINECARD_DEL',
  'SELFTESTS_GET',
  'SELFTESTS_RUN',
  'NOTIFY_FILTER_SET',
] as const;

export type DevlinkCmdName = (typeof CMD_NAMES)[number];

export const DEVLINK_CMD = Object.fromEntries(CMD_NAMES.map((n, i) => [n, i])) as Record<
  DevlinkCmdName,
  number
>;
export const DEVLINK_CMD_MAX = CMD_NAMES.length - 1;

export function devlinkCmdName(cmd: number): string {
  return CMD_NAMES[cmd] ?? `CMD_${cmd}`;
}

/**
 * DEVLINK_ATTR_* in enum order, starting at UNSPEC = 0, with the wire type the header comments and
 * the kernel's YNL spec give each. `dynamic` = typed by a sibling/enclosing attribute (see
 * dynamic.ts); `nest` = nested attributes (the set is chosen in attrs.ts).
 */
export type DevlinkWireType =
  | 'unspec'
  | 'u8'
  | 'u16'
  | 'u32'
  | 's32'
  | 'u64'
  | 'uint'
  | 'string'
  | 'flag'
  | 'binary'
  | 'bitfield32'
  | 'nest'
  | 'dynamic';

const ATTRS: ReadonlyArray<readonly [string, DevlinkWireType]> = [
  ['UNSPEC', 'unspec'],
  ['BUS_NAME', 'string'],
  ['DEV_NAME', 'string'],
  ['PORT_INDEX', 'u32'],
  ['PORT_TYPE', 'u16'],
  ['PORT_DESIRED_TYPE', 'u16'],
  ['PORT_NETDEV_IFINDEX', 'u32'],
  ['PORT_NETDEV_NAME', 'string'],
  ['PORT_IBDEV_NAME', 'string'],
  ['PORT_SPLIT_COUNT', 'u32'],
  ['PORT_SPLIT_GROUP', 'u32'],
  ['SB_INDEX', 'u32'],
  ['SB_SIZE', 'u32'],
  ['SB_INGRESS_POOL_COUNT', 'u16'],
  ['SB_EGRESS_POOL_COUNT', 'u16'],
  ['SB_INGRESS_TC_COUNT', 'u16'],
  ['SB_EGRESS_TC_COUNT', 'u16'],
  ['SB_POOL_INDEX', 'u16'],
  ['SB_POOL_TYPE', 'u8'],
  ['SB_POOL_SIZE', 'u32'],
  ['SB_POOL_THRESHOLD_TYPE', 'u8'],
  ['SB_THRESHOLD', 'u32'],
  ['SB_TC_INDEX', 'u16'],
  ['SB_OCC_CUR', 'u32'],
  ['SB_OCC_MAX', 'u32'],
  ['ESWITCH_MODE', 'u16'],
  ['ESWITCH_INLINE_MODE', 'u8'], // u8 on the wire (one spec version said u16; iproute2 and the kernel put a u8)
  ['DPIPE_TABLES', 'nest'],
  ['DPIPE_TABLE', 'nest'],
  ['DPIPE_TABLE_NAME', 'string'],
  ['DPIPE_TABLE_SIZE', 'u64'],
  ['DPIPE_TABLE_MATCHES', 'nest'],
  ['DPIPE_TABLE_ACTIONS', 'nest'],
  ['DPIPE_TABLE_COUNTERS_ENABLED', 'u8'],
  ['DPIPE_ENTRIES', 'nest'],
  ['DPIPE_ENTRY', 'nest'],
  ['DPIPE_ENTRY_INDEX', 'u64'],
  ['DPIPE_ENTRY_MATCH_VALUES', 'nest'],
  ['DPIPE_ENTRY_ACTION_VALUES', 'nest'],
  ['DPIPE_ENTRY_COUNTER', 'u64'],
  ['DPIPE_MATCH', 'nest'],
  ['DPIPE_MATCH_VALUE', 'nest'],
  ['DPIPE_MATCH_TYPE', 'u32'],
  ['DPIPE_ACTION', 'nest'],
  ['DPIPE_ACTION_VALUE', 'nest'],
  ['DPIPE_ACTION_TYPE', 'u32'],
  ['DPIPE_VALUE', 'binary'],
  ['DPIPE_VALUE_MASK', 'binary'],
  ['DPIPE_VALUE_MAPPING', 'u32'],
  ['DPIPE_HEADERS', 'nest'],
  ['DPIPE_HEADER', 'nest'],
  ['DPIPE_HEADER_NAME', 'string'],
  ['DPIPE_HEADER_ID', 'u32'],
  ['DPIPE_HEADER_FIELDS', 'nest'],
  ['DPIPE_HEADER_GLOBAL', 'u8'],
  ['DPIPE_HEADER_INDEX', 'u32'],
  ['DPIPE_FIELD', 'nest'],
  ['DPIPE_FIELD_NAME', 'string'],
  ['DPIPE_FIELD_ID', 'u32'],
  ['DPIPE_FIELD_BITWIDTH', 'u32'],
  ['DPIPE_FIELD_MAPPING_TYPE', 'u32'],
  ['PAD', 'binary'],
  ['ESWITCH_ENCAP_MODE', 'u8'],
  ['RESOURCE_LIST', 'nest'],
  ['RESOURCE', 'nest'],
  ['RESOURCE_NAME', 'string'],
  ['RESOURCE_ID', 'u64'],
  ['RESOURCE_SIZE', 'u64'],
  ['RESOURCE_SIZE_NEW', 'u64'],
  ['RESOURCE_SIZE_VALID', 'u8'],
  ['RESOURCE_SIZE_MIN', 'u64'],
  ['RESOURCE_SIZE_MAX', 'u64'],
  ['RESOURCE_SIZE_GRAN', 'u64'],
  ['RESOURCE_UNIT', 'u8'],
  ['RESOURCE_OCC', 'u64'],
  ['DPIPE_TABLE_RESOURCE_ID', 'u64'],
  ['DPIPE_TABLE_RESOURCE_UNITS', 'u64'],
  ['PORT_FLAVOUR', 'u16'],
  ['PORT_NUMBER', 'u32'],
  ['PORT_SPLIT_SUBPORT_NUMBER', 'u32'],
  ['PARAM', 'nest'],
  ['PARAM_NAME', 'string'],
  ['PARAM_GENERIC', 'flag'],
  ['PARAM_TYPE', 'u8'],
  ['PARAM_VALUES_LIST', 'nest'],
  ['PARAM_VALUE', 'nest'],
  ['PARAM_VALUE_DATA', 'dynamic'],
  ['PARAM_VALUE_CMODE', 'u8'],
  ['REGION_NAME', 'string'],
  ['REGION_SIZE', 'u64'],
  ['REGION_SNAPSHOTS', 'nest'],
  ['REGION_SNAPSHOT', 'nest'],
  ['REGION_SNAPSHOT_ID', 'u32'],
  ['REGION_CHUNKS', 'nest'],
  ['REGION_CHUNK', 'nest'],
  ['REGION_CHUNK_DATA', 'binary'],
  ['REGION_CHUNK_ADDR', 'u64'],
  ['REGION_CHUNK_LEN', 'u64'],
  ['INFO_DRIVER_NAME', 'string'],
  ['INFO_SERIAL_NUMBER', 'string'],
  ['INFO_VERSION_FIXED', 'nest'],
  ['INFO_VERSION_RUNNING', 'nest'],
  ['INFO_VERSION_STORED', 'nest'],
  ['INFO_VERSION_NAME', 'string'],
  ['INFO_VERSION_VALUE', 'string'],
  ['SB_POOL_CELL_SIZE', 'u32'],
  ['FMSG', 'nest'],
  ['FMSG_OBJ_NEST_START', 'flag'],
  ['FMSG_PAIR_NEST_START', 'flag'],
  ['FMSG_ARR_NEST_START', 'flag'],
  ['FMSG_NEST_END', 'flag'],
  ['FMSG_OBJ_NAME', 'string'],
  ['FMSG_OBJ_VALUE_TYPE', 'u8'],
  ['FMSG_OBJ_VALUE_DATA', 'binary'], // typed by the *preceding* FMSG_OBJ_VALUE_TYPE; kept as bytes
  ['HEALTH_REPORTER', 'nest'],
  ['HEALTH_REPORTER_NAME', 'string'],
  ['HEALTH_REPORTER_STATE', 'u8'],
  ['HEALTH_REPORTER_ERR_COUNT', 'u64'],
  ['HEALTH_REPORTER_RECOVER_COUNT', 'u64'],
  ['HEALTH_REPORTER_DUMP_TS', 'u64'],
  ['HEALTH_REPORTER_GRACEFUL_PERIOD', 'u64'],
  ['HEALTH_REPORTER_AUTO_RECOVER', 'u8'],
  ['FLASH_UPDATE_FILE_NAME', 'string'],
  ['FLASH_UPDATE_COMPONENT', 'string'],
  ['FLASH_UPDATE_STATUS_MSG', 'string'],
  ['FLASH_UPDATE_STATUS_DONE', 'u64'],
  ['FLASH_UPDATE_STATUS_TOTAL', 'u64'],
  ['PORT_PCI_PF_NUMBER', 'u16'],
  ['PORT_PCI_VF_NUMBER', 'u16'],
  ['STATS', 'nest'],
  ['TRAP_NAME', 'string'],
  ['TRAP_ACTION', 'u8'],
  ['TRAP_TYPE', 'u8'],
  ['TRAP_GENERIC', 'flag'],
  ['TRAP_METADATA', 'nest'],
  ['TRAP_GROUP_NAME', 'string'],
  ['RELOAD_FAILED', 'u8'],
  ['HEALTH_REPORTER_DUMP_TS_NS', 'u64'],
  ['NETNS_FD', 'u32'],
  ['NETNS_PID', 'u32'],
  ['NETNS_ID', 's32'],
  ['HEALTH_REPORTER_AUTO_DUMP', 'u8'],
  ['TRAP_POLICER_ID', 'u32'],
  ['TRAP_POLICER_RATE', 'u64'],
  ['TRAP_POLICER_BURST', 'u64'],
  ['PORT_FUNCTION', 'nest'],
  ['INFO_BOARD_SERIAL_NUMBER', 'string'],
  ['PORT_LANES', 'u32'],
  ['PORT_SPLITTABLE', 'u8'],
  ['PORT_EXTERNAL', 'u8'],
  ['PORT_CONTROLLER_NUMBER', 'u32'],
  ['FLASH_UPDATE_STATUS_TIMEOUT', 'u64'],
  ['FLASH_UPDATE_OVERWRITE_MASK', 'bitfield32'],
  ['RELOAD_ACTION', 'u8'],
  ['RELOAD_ACTIONS_PERFORMED', 'bitfield32'],
  ['RELOAD_LIMITS', 'bitfield32'],
  ['DEV_STATS', 'nest'],
  ['RELOAD_STATS', 'nest'],
  ['RELOAD_STATS_ENTRY', 'nest'],
  ['RELOAD_STATS_LIMIT', 'u8'],
  ['RELOAD_STATS_VALUE', 'u32'],
  ['REMOTE_RELOAD_STATS', 'nest'],
  ['RELOAD_ACTION_INFO', 'nest'],
  ['RELOAD_ACTION_STATS', 'nest'],
  ['PORT_PCI_SF_NUMBER', 'u32'],
  ['RATE_TYPE', 'u16'],
  ['RATE_TX_SHARE', 'u64'],
  ['RATE_TX_MAX', 'u64'],
  ['RATE_NODE_NAME', 'string'],
  ['RATE_PARENT_NODE_NAME', 'string'],
  ['REGION_MAX_SNAPSHOTS', 'u32'],
  ['LINECARD_INDEX', 'u32'],
  ['LINECARD_STATE', 'u8'],
  ['LINECARD_TYPE', 'string'],
  ['LINECARD_SUPPORTED_TYPES', 'nest'],
  ['NESTED_DEVLINK', 'nest'],
  ['SELFTESTS', 'nest'],
  ['RATE_TX_PRIORITY', 'u32'],
  ['RATE_TX_WEIGHT', 'u32'],
  ['REGION_DIRECT', 'flag'],
  ['RATE_TC_BWS', 'nest'],
  ['HEALTH_REPORTER_BURST_PERIOD', 'u64'],
  ['PARAM_VALUE_DEFAULT', 'dynamic'],
  ['PARAM_RESET_DEFAULT', 'flag'],
  ['INDEX', 'uint'],
  ['RESOURCE_SCOPE_MASK', 'u32'],
];

export type DevlinkAttrName = string;

/** name → number, e.g. DEVLINK_ATTR.PORT_FUNCTION = 145 */
export const DEVLINK_ATTR: Readonly<Record<string, number>> = Object.fromEntries(
  ATTRS.map(([n], i) => [n, i]),
);
/** number → [name, wire type] */
export const DEVLINK_ATTR_TABLE: ReadonlyArray<readonly [string, DevlinkWireType]> = ATTRS;
export const DEVLINK_ATTR_MAX = ATTRS.length - 1;

// Anchors from the 7.2-pre header (devlink-uapi.md §3.1/§3.2): a table that drifts fails at load.
const ANCHORS: Array<[string, number, 'cmd' | 'attr']> = [
  ['SB_OCC_MAX_CLEAR', 28, 'cmd'],
  ['ESWITCH_GET', 29, 'cmd'],
  ['ESWITCH_SET', 30, 'cmd'],
  ['RELOAD', 37, 'cmd'],
  ['PARAM_GET', 38, 'cmd'],
  ['INFO_GET', 51, 'cmd'],
  ['HEALTH_REPORTER_TEST', 73, 'cmd'],
  ['NOTIFY_FILTER_SET', 84, 'cmd'],
  ['ESWITCH_MODE', 25, 'attr'],
  ['PAD', 61, 'attr'],
  ['ESWITCH_ENCAP_MODE', 62, 'attr'],
  ['PORT_FLAVOUR', 77, 'attr'],
  ['PARAM', 80, 'attr'],
  ['INFO_DRIVER_NAME', 98, 'attr'],
  ['PORT_PCI_PF_NUMBER', 127, 'attr'],
  ['TRAP_NAME', 130, 'attr'],
  ['RELOAD_FAILED', 136, 'attr'],
  ['NETNS_FD', 138, 'attr'],
  ['PORT_FUNCTION', 145, 'attr'],
  ['RELOAD_ACTION', 153, 'attr'],
  ['DEV_STATS', 156, 'attr'],
  ['PORT_PCI_SF_NUMBER', 164, 'attr'],
  ['RATE_NODE_NAME', 168, 'attr'],
  ['LINECARD_INDEX', 171, 'attr'],
  ['NESTED_DEVLINK', 175, 'attr'],
  ['PARAM_VALUE_DEFAULT', 182, 'attr'],
  ['PARAM_RESET_DEFAULT', 183, 'attr'],
  ['INDEX', 184, 'attr'],
  ['RESOURCE_SCOPE_MASK', 185, 'attr'],
];
for (const [name, n, kind] of ANCHORS) {
  const got = kind === 'cmd' ? (DEVLINK_CMD as Record<string, number>)[name] : DEVLINK_ATTR[name];
  if (got !== n) throw new Error(`devlink ${kind} table drift: ${name} is ${got}, header says ${n}`);
}

/** enum devlink_port_function_attr (inside DEVLINK_ATTR_PORT_FUNCTION) */
export const DEVLINK_PORT_FN_ATTR = {
  HW_ADDR: 1,
  STATE: 2,
  OPSTATE: 3,
  CAPS: 4,
  DEVLINK: 5,
  MAX_IO_EQS: 6,
} as const;
export const DEVLINK_PORT_FN_STATE = { INACTIVE: 0, ACTIVE: 1 } as const;
export const DEVLINK_PORT_FN_OPSTATE = { DETACHED: 0, ATTACHED: 1 } as const;
export const DEVLINK_RELOAD_ACTION = { UNSPEC: 0, DRIVER_REINIT: 1, FW_ACTIVATE: 2 } as const;
export const DEVLINK_RELOAD_LIMIT = { UNSPEC: 0, NO_RESET: 1 } as const;
/** DEVLINK_RELOAD_LIMITS_VALID_MASK as iproute2 puts it in the RELOAD_LIMITS selector */
export const DEVLINK_RELOAD_LIMITS_VALID_MASK = 0b11;
/** enum devlink_attr_stats (inside DEVLINK_ATTR_STATS): numbered from 0 */
export const DEVLINK_ATTR_STATS = { RX_PACKETS: 0, RX_BYTES: 1, RX_DROPPED: 2 } as const;
export const DEVLINK_GENL_NAME = 'devlink';
export const DEVLINK_GENL_VERSION = 1;
export const DEVLINK_GENL_MCGRP_CONFIG_NAME = 'config';
