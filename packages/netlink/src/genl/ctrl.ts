/**
 * The generic netlink controller family "nlctrl" (id 0x10): resolves family names to ids, ops and
 * multicast groups (CTRL_CMD_GETFAMILY) and dumps attribute policies (CTRL_CMD_GETPOLICY).
 */
import { attrSet, nested } from '../schema/attrs.ts';
import { string, u16, u32 } from '../schema/codec.ts';
import { policyTypeAttrs } from '../wire/control.ts';
import type { GenlFamilySpec } from './genl.ts';

export const CTRL_CMD = {
  UNSPEC: 0,
  NEWFAMILY: 1,
  DELFAMILY: 2,
  GETFAMILY: 3,
  NEWOPS: 4,
  DELOPS: 5,
  GETOPS: 6,
  NEWMCAST_GRP: 7,
  DELMCAST_GRP: 8,
  GETMCAST_GRP: 9,
  GETPOLICY: 10,
} as const;
const CTRL_CMD_NAMES = Object.fromEntries(Object.entries(CTRL_CMD).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

export const CTRL_ATTR = {
  FAMILY_ID: 1,
  FAMILY_NAME: 2,
  VERSION: 3,
  HDRSIZE: 4,
  MAXATTR: 5,
  OPS: 6,
  MCAST_GROUPS: 7,
  POLICY: 8,
  OP_POLICY: 9,
  OP: 10,
} as const;

export const GENL_OP_FLAG = {
  ADMIN_PERM: 0x01,
  CMD_CAP_DO: 0x02,
  CMD_CAP_DUMP: 0x04,
  CMD_CAP_HASPOL: 0x08,
  UNS_ADMIN_PERM: 0x10,
} as const;

export const ctrlOpAttrs = attrSet('ctrl-op-attrs', [
  [1, 'OP_ID', u32],
  [2, 'OP_FLAGS', u32],
]);
export const ctrlMcastGrpAttrs = attrSet('ctrl-mcast-grp-attrs', [
  [1, 'MCAST_GRP_NAME', string],
  [2, 'MCAST_GRP_ID', u32],
]);
/** OPS / MCAST_GROUPS: entries whose type is their 1-based index. */
export const ctrlOpsList = attrSet('ctrl-ops', [], { name: 'OP', codec: nested(() => ctrlOpAttrs) });
export const ctrlMcastList = attrSet('ctrl-mcast-groups', [], {
  name: 'MCAST_GRP',
  codec: nested(() => ctrlMcastGrpAttrs),
});
export const ctrlOpPolicyEntry = attrSet('ctrl-op-policy-entry', [
  [1, 'POLICY_DO', u32],
  [2, 'POLICY_DUMP', u32],
]);
/** OP_POLICY: { <cmd> { POLICY_DO, POLICY_DUMP } } */
export const ctrlOpPolicy = attrSet('ctrl-op-policy', [], {
  name: 'CMD',
  codec: nested(() => ctrlOpPolicyEntry),
});
/** POLICY: { <policy idx> { <attr type> { NL_POLICY_TYPE_ATTR_* } } } */
export const ctrlPolicyAttrType = attrSet('ctrl-policy-attr', [], {
  name: 'ATTR',
  codec: nested(() => policyTypeAttrs),
});
export const ctrlPolicy = attrSet('ctrl-policy', [], {
  name: 'IDX',
  codec: nested(() => ctrlPolicyAttrType),
});

export const ctrlAttrs = attrSet('ctrl-attrs', [
  [CTRL_ATTR.FAMILY_ID, 'FAMILY_ID', u16],
  [CTRL_ATTR.FAMILY_NAME, 'FAMILY_NAME', string],
  [CTRL_ATTR.VERSION, 'VERSION', u32],
  [CTRL_ATTR.HDRSIZE, 'HDRSIZE', u32],
  [CTRL_ATTR.MAXATTR, 'MAXATTR', u32],
  [CTRL_ATTR.OPS, 'OPS', nested(() => ctrlOpsList)],
  [CTRL_ATTR.MCAST_GROUPS, 'MCAST_GROUPS', nested(() => ctrlMcastList)],
  [CTRL_ATTR.POLICY, 'POLICY', nested(() => ctrlPolicy), { nestedFlag: true }],
  [CTRL_ATTR.OP_POLICY, 'OP_POLICY', nested(() => ctrlOpPolicy), { nestedFlag: true }],
  [CTRL_ATTR.OP, 'OP', u32],
]);

export const ctrlFamily: GenlFamilySpec = {
  name: 'nlctrl',
  attrsFor: () => ctrlAttrs,
  cmdName: (cmd) => CTRL_CMD_NAMES[cmd] ?? `CMD_${cmd}`,
};
