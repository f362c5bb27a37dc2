/**
 * nlctrl helpers over a NetlinkChannel: resolve a generic netlink family by name
 * (CTRL_CMD_GETFAMILY, bytes exactly as iproute2's `family_get`) and dump a family's attribute
 * policies (CTRL_CMD_GETPOLICY, as iproute2 ≥ 6.6 does before using dump selectors).
 */
import type { NetlinkChannel } from '../client/channel.ts';
import type { NetlinkMessage } from '../message.ts';
import { type Attr, getAttr, getAttrs } from '../schema/attrs.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { NLM_F } from '../wire/nlmsg.ts';
import { CTRL_ATTR, CTRL_CMD } from './ctrl.ts';
import { GENL_ID_CTRL } from './genl.ts';

/** The version iproute2 (and libmnl users generally) put in nlctrl requests. */
export const CTRL_REQUEST_VERSION = 1;

export interface GenlOp {
  id: number;
  /** GENL_OP_FLAG bits: ADMIN_PERM 0x1, CMD_CAP_DO 0x2, CMD_CAP_DUMP 0x4, CMD_CAP_HASPOL 0x8, UNS_ADMIN_PERM 0x10 */
  flags: number;
}

export interface GenlMcastGroup {
  name: string;
  id: number;
}

export interface GenlFamilyInfo {
  id: number;
  name: string;
  version: number;
  hdrsize: number;
  maxattr: number;
  ops: GenlOp[];
  mcastGroups: GenlMcastGroup[];
}

function ctrlRequest(cmd: number, flags: number, attrs: Attr[]): NetlinkMessage {
  return {
    kind: 'genl',
    header: { len: 0, type: GENL_ID_CTRL, flags, seq: 0, pid: 0 },
    genl: {
      type: GENL_ID_CTRL,
      flags,
      seq: 0,
      pid: 0,
      cmd,
      version: CTRL_REQUEST_VERSION,
      reserved: 0,
      attrs,
    },
    family: 'nlctrl',
  };
}

/** CTRL_CMD_GETFAMILY {FAMILY_NAME}, flags REQUEST|ACK: `20 00 00 00 10 00 05 00 <seq> 00 00 00 00 03 01 00 00 …`. */
export function buildGetFamily(name: string): NetlinkMessage {
  if (typeof name !== 'string' || name.length === 0 || name.length > 15) {
    throw new NetlinkEncodeError('family name must be 1..15 characters', 'CTRL_ATTR_FAMILY_NAME');
  }
  return ctrlRequest(CTRL_CMD.GETFAMILY, NLM_F.REQUEST | NLM_F.ACK, [
    { type: CTRL_ATTR.FAMILY_NAME, name: 'FAMILY_NAME', value: name },
  ]);
}

/** CTRL_CMD_GETPOLICY dump {FAMILY_ID u16[, OP u32]}, flags REQUEST|ACK|DUMP (iproute2 sends no OP). */
export function buildGetPolicy(familyId: number, op?: number): NetlinkMessage {
  const attrs: Attr[] = [{ type: CTRL_ATTR.FAMILY_ID, name: 'FAMILY_ID', value: familyId }];
  if (op !== undefined) attrs.push({ type: CTRL_ATTR.OP, name: 'OP', value: op });
  return ctrlRequest(CTRL_CMD.GETPOLICY, NLM_F.REQUEST | NLM_F.ACK | NLM_F.DUMP, attrs);
}

/** Reads a CTRL_CMD_NEWFAMILY message (reply to GETFAMILY, or an nlctrl notification). */
export function decodeFamilyInfo(attrs: readonly Attr[]): GenlFamilyInfo {
  const id = getAttr<number>(attrs, 'FAMILY_ID');
  const name = getAttr<string>(attrs, 'FAMILY_NAME');
  if (id === undefined || name === undefined) {
    throw new NetlinkDecodeError(
      `NEWFAMILY without ${id === undefined ? 'FAMILY_ID' : 'FAMILY_NAME'}`,
      0,
      'nlctrl NEWFAMILY',
    );
  }
  const ops = (getAttr<Attr[]>(attrs, 'OPS') ?? []).map((e) => {
    const inner = e.value as Attr[];
    return { id: getAttr<number>(inner, 'OP_ID') ?? 0, flags: getAttr<number>(inner, 'OP_FLAGS') ?? 0 };
  });
  const mcastGroups = (getAttr<Attr[]>(attrs, 'MCAST_GROUPS') ?? []).map((e) => {
    const inner = e.value as Attr[];
    return {
      name: getAttr<string>(inner, 'MCAST_GRP_NAME') ?? '',
      id: getAttr<number>(inner, 'MCAST_GRP_ID') ?? 0,
    };
  });
  return {
    id,
    name,
    version: getAttr<number>(attrs, 'VERSION') ?? 0,
    hdrsize: getAttr<number>(attrs, 'HDRSIZE') ?? 0,
    maxattr: getAttr<number>(attrs, 'MAXATTR') ?? 0,
    ops,
    mcastGroups,
  };
}

/**
 * Resolves a family by name. Rejects with NetlinkError ENOENT when the kernel has no such family
 * (e.g. "devlink" on a kernel built without it).
 */
export async function resolveFamily(channel: NetlinkChannel, name: string): Promise<GenlFamilyInfo> {
  const { replies } = await channel.request({
    msg: buildGetFamily(name),
    what: `CTRL_CMD_GETFAMILY ${name}`,
  });
  const reply = replies.find(
    (m) => m.kind === 'genl' && m.genl.type === GENL_ID_CTRL && m.genl.cmd === CTRL_CMD.NEWFAMILY,
  );
  if (reply?.kind !== 'genl') {
    throw new NetlinkDecodeError(
      `CTRL_CMD_GETFAMILY ${name}: acknowledged without a NEWFAMILY reply`,
      0,
      'nlctrl',
    );
  }
  const info = decodeFamilyInfo(reply.genl.attrs);
  channel.genl?.bind(info.id, info.name);
  return info;
}

// ---- policies -----------------------------------------------------------------------------------

/** NL_ATTR_TYPE_* names (include/uapi/linux/netlink.h). */
export const NL_ATTR_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'INVALID',
  1: 'FLAG',
  2: 'U8',
  3: 'U16',
  4: 'U32',
  5: 'U64',
  6: 'S8',
  7: 'S16',
  8: 'S32',
  9: 'S64',
  10: 'BINARY',
  11: 'STRING',
  12: 'NUL_STRING',
  13: 'NESTED',
  14: 'NESTED_ARRAY',
  15: 'BITFIELD32',
  16: 'SINT',
  17: 'UINT',
};

/** One attribute's policy (NL_POLICY_TYPE_ATTR_*). */
export interface AttrPolicy {
  type: number;
  typeName: string;
  minValue?: bigint;
  maxValue?: bigint;
  minLength?: number;
  maxLength?: number;
  policyIdx?: number;
  policyMaxtype?: number;
  bitfield32Mask?: number;
  mask?: bigint;
}

export interface FamilyPolicy {
  /** cmd → policy indices of its do and dump ops */
  ops: Map<number, { do?: number; dump?: number }>;
  /** policy index → attribute type → policy */
  policies: Map<number, Map<number, AttrPolicy>>;
}

function int64Of(b: Uint8Array | undefined, signed: boolean): bigint | undefined {
  if (b?.length !== 8) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  return signed ? dv.getBigInt64(0, true) : dv.getBigUint64(0, true);
}

export function decodeAttrPolicy(attrs: readonly Attr[]): AttrPolicy {
  const type = getAttr<number>(attrs, 'TYPE') ?? 0;
  const p: AttrPolicy = { type, typeName: NL_ATTR_TYPE_NAMES[type] ?? `TYPE_${type}` };
  const min = int64Of(getAttr(attrs, 'MIN_VALUE_U'), false) ?? int64Of(getAttr(attrs, 'MIN_VALUE_S'), true);
  if (min !== undefined) p.minValue = min;
  const max = int64Of(getAttr(attrs, 'MAX_VALUE_U'), false) ?? int64Of(getAttr(attrs, 'MAX_VALUE_S'), true);
  if (max !== undefined) p.maxValue = max;
  const set = <K extends keyof AttrPolicy>(k: K, v: AttrPolicy[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  set('minLength', getAttr<number>(attrs, 'MIN_LENGTH'));
  set('maxLength', getAttr<number>(attrs, 'MAX_LENGTH'));
  set('policyIdx', getAttr<number>(attrs, 'POLICY_IDX'));
  set('policyMaxtype', getAttr<number>(attrs, 'POLICY_MAXTYPE'));
  set('bitfield32Mask', getAttr<number>(attrs, 'BITFIELD32_MASK'));
  set('mask', int64Of(getAttr(attrs, 'MASK'), false));
  return p;
}

/** Folds the messages of a GETPOLICY dump into a FamilyPolicy. */
export function foldPolicyMessages(
  msgs: readonly NetlinkMessage[],
  into: FamilyPolicy = { ops: new Map(), policies: new Map() },
): FamilyPolicy {
  for (const m of msgs) {
    if (m.kind !== 'genl' || m.genl.type !== GENL_ID_CTRL || m.genl.cmd !== CTRL_CMD.GETPOLICY) continue;
    for (const opPol of getAttrs<Attr[]>(m.genl.attrs, 'OP_POLICY')) {
      for (const e of opPol) {
        const entry = into.ops.get(e.type) ?? {};
        const inner = e.value as Attr[];
        const d = getAttr<number>(inner, 'POLICY_DO');
        const du = getAttr<number>(inner, 'POLICY_DUMP');
        if (d !== undefined) entry.do = d;
        if (du !== undefined) entry.dump = du;
        into.ops.set(e.type, entry);
      }
    }
    for (const pol of getAttrs<Attr[]>(m.genl.attrs, 'POLICY')) {
      for (const idx of pol) {
        let table = into.policies.get(idx.type);
        if (!table) {
          table = new Map();
          into.policies.set(idx.type, table);
        }
        for (const at of idx.value as Attr[]) table.set(at.type, decodeAttrPolicy(at.value as Attr[]));
      }
    }
  }
  return into;
}

/** Dumps the policies of a family (CTRL_CMD_GETPOLICY). */
export async function getPolicy(
  channel: NetlinkChannel,
  familyId: number,
  op?: number,
): Promise<FamilyPolicy> {
  const msgs: NetlinkMessage[] = [];
  for await (const m of channel.dump({ msg: buildGetPolicy(familyId, op), what: 'CTRL_CMD_GETPOLICY' }))
    msgs.push(m);
  return foldPolicyMessages(msgs);
}

/**
 * iproute2's test for dump selectors (lib/mnl_utils.c): the command has both a do and a dump policy,
 * they differ, and the dump policy lists at least one attribute.
 */
export function dumpSelectorSupported(policy: FamilyPolicy, cmd: number): boolean {
  const op = policy.ops.get(cmd);
  if (!op || op.do === undefined || op.dump === undefined || op.do === op.dump) return false;
  return (policy.policies.get(op.dump)?.size ?? 0) > 0;
}
