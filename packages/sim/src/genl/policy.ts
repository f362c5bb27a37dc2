/**
 * Netlink attribute policies as data (`struct nla_policy`), the kernel's liberal validation of a
 * request against them (`__nla_validate_parse` with NL_VALIDATE_LIBERAL, lib/nlattr.c), and their
 * encoding as NL_POLICY_TYPE_ATTR_* (netlink_policy_dump_write_attr, net/netlink/policy.c) for
 * CTRL_CMD_GETPOLICY dumps and for NLMSGERR_ATTR_POLICY in extended acks.
 *
 * Liberal (GENL_DONT_VALIDATE_STRICT) means: attributes above `maxattr` are ignored, attributes
 * without a policy entry are accepted unchecked, a malformed tail stops the walk silently, fixed-size
 * integers longer than their type are accepted (the kernel only warns), shorter ones fail with
 * "Attribute failed policy validation" (−ERANGE, as the captured 6.18 kernel answers), ranges with
 * "integer out of range" (−ERANGE, lib/nlattr.c; devlink-uapi.md §4 says EINVAL — the kernel code
 * and capture win). The last duplicate wins.
 */
import type { Attr } from '@xfrmkit/netlink';

export type NlaType =
  | 'flag'
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 's32'
  | 'string'
  | 'nul_string'
  | 'binary'
  | 'nested'
  | 'bitfield32'
  | 'uint';

export interface NlaPolicy {
  type: NlaType;
  /** unsigned range (NLA_POLICY_RANGE / _MAX / _MIN) */
  min?: bigint;
  max?: bigint;
  /** strings: max length without NUL; binary: max length */
  len?: number;
  /** bitfield32: valid bits */
  mask?: number;
  /** NLA_POLICY_NESTED */
  nested?: PolicyTable;
  /** NLA_POLICY_VALIDATE_FN: returns an extack message on failure (set with NL_SET_ERR_MSG_ATTR: no POLICY) */
  validateFn?: (payload: Uint8Array) => string | undefined;
}

/** One policy object (`nla_policy[maxattr + 1]`); identity matters for GETPOLICY indices. */
export interface PolicyTable {
  name: string;
  maxattr: number;
  attrs: Readonly<Record<number, NlaPolicy>>;
}

export const NL_ATTR_TYPE: Record<NlaType, number> = {
  flag: 1,
  u8: 2,
  u16: 3,
  u32: 4,
  u64: 5,
  s32: 8,
  binary: 10,
  string: 11,
  nul_string: 12,
  nested: 13,
  bitfield32: 15,
  uint: 17,
};

const INT_BYTES: Partial<Record<NlaType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8, s32: 4 };
const TYPE_MAX: Partial<Record<NlaType, bigint>> = {
  u8: 0xffn,
  u16: 0xffffn,
  u32: 0xffffffffn,
  u64: 0xffffffffffffffffn,
};

export const pol = {
  u8: (max?: number): NlaPolicy => (max === undefined ? { type: 'u8' } : { type: 'u8', max: BigInt(max) }),
  u16: (max?: number): NlaPolicy => (max === undefined ? { type: 'u16' } : { type: 'u16', max: BigInt(max) }),
  u32: (): NlaPolicy => ({ type: 'u32' }),
  range: (type: 'u8' | 'u16' | 'u32', min: number, max: number): NlaPolicy => ({
    type,
    min: BigInt(min),
    max: BigInt(max),
  }),
  s32: (): NlaPolicy => ({ type: 's32' }),
  nulString: (len?: number): NlaPolicy =>
    len === undefined ? { type: 'nul_string' } : { type: 'nul_string', len },
  flag: (): NlaPolicy => ({ type: 'flag' }),
  binary: (len?: number): NlaPolicy => (len === undefined ? { type: 'binary' } : { type: 'binary', len }),
  bitfield32: (mask: number): NlaPolicy => ({ type: 'bitfield32', mask }),
  nested: (t: PolicyTable): NlaPolicy => ({ type: 'nested', nested: t }),
};

/** A top-level or nested attribute as the kernel's parser sees it. */
export interface Tlv {
  type: number;
  flagBits: number;
  payload: Uint8Array;
  /** offset of the attribute header from the start of the request nlmsghdr */
  offset: number;
}

/** Walks attributes like `nla_for_each_attr`: stops silently at a malformed tail. */
export function walkTlvs(buf: Uint8Array, start: number, end: number, msgOffset: number): Tlv[] {
  const out: Tlv[] = [];
  let off = start;
  while (end - off >= 4) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    const rawType = buf[off + 2]! | (buf[off + 3]! << 8);
    if (len < 4 || len > end - off) break;
    out.push({
      type: rawType & 0x3fff,
      flagBits: rawType & 0xc000,
      payload: buf.subarray(off + 4, off + len),
      offset: msgOffset + off,
    });
    off += (len + 3) & ~3;
  }
  return out;
}

export interface PolicyFailure {
  errno: number;
  msg?: string;
  offs: number;
  /** NLMSGERR_ATTR_POLICY content (absent when a validate function refused) */
  policy?: Attr[];
}

function readUnsigned(p: Uint8Array, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(p[i]!);
  return v;
}

/** Validates one attribute against its policy entry (validate_nla). */
function validateOne(t: Tlv, p: NlaPolicy, depth: number): PolicyFailure | undefined {
  const len = t.payload.length;
  // validate_nla starts with err = -ERANGE; only some branches set -EINVAL before `goto out_err`
  const fail = (msg = 'Attribute failed policy validation', errno = 34): PolicyFailure => ({
    errno,
    msg,
    offs: t.offset,
    policy: policyAttrs(p),
  });
  switch (p.type) {
    case 'flag':
      if (len > 0) return fail();
      return undefined;
    case 'nul_string': {
      const minlen = p.len ? Math.min(len, p.len + 1) : len;
      if (minlen === 0 || t.payload.subarray(0, minlen).indexOf(0) < 0) return fail(undefined, 22);
      let l = len;
      if (p.len) {
        if (t.payload[len - 1] === 0) l--;
        if (l > p.len) return fail();
      }
      return undefined;
    }
    case 'string': {
      if (len < 1) return fail();
      if (p.len) {
        let l = len;
        if (t.payload[len - 1] === 0) l--;
        if (l > p.len) return fail();
      }
      return undefined;
    }
    case 'binary':
      if (p.len && len > p.len) return fail();
      return undefined;
    case 'nested': {
      if (len === 0) return undefined;
      if (len < 4) return fail();
      if (p.nested && depth < 16) {
        const inner = walkTlvs(t.payload, 0, len, t.offset + 4);
        const f = validateTlvs(inner, p.nested, depth + 1);
        if (f) return f;
      }
      return undefined;
    }
    case 'bitfield32': {
      if (len !== 8) return fail();
      const dv = new DataView(t.payload.buffer, t.payload.byteOffset, 8);
      const value = dv.getUint32(0, true);
      const selector = dv.getUint32(4, true);
      const mask = p.mask ?? 0;
      if (!mask || selector & ~mask || value & ~mask || value & ~selector) return fail(undefined, 22);
      return undefined;
    }
    case 'uint':
      if (len !== 4 && len !== 8) return fail('invalid attribute length', 22);
      return undefined;
    default: {
      const n = INT_BYTES[p.type]!;
      if (len < n) return fail();
      if (p.validateFn) {
        const m = p.validateFn(t.payload);
        if (m !== undefined) return { errno: 22, msg: m, offs: t.offset };
      }
      if (p.min !== undefined || p.max !== undefined) {
        const v = readUnsigned(t.payload, n);
        if ((p.min !== undefined && v < p.min) || (p.max !== undefined && v > p.max))
          return fail('integer out of range');
      }
      return undefined;
    }
  }
}

/** Validates a list of attributes against a table (liberal); first failure wins. */
export function validateTlvs(tlvs: readonly Tlv[], table: PolicyTable, depth = 0): PolicyFailure | undefined {
  for (const t of tlvs) {
    if (t.type > table.maxattr) continue;
    const p = table.attrs[t.type];
    if (!p) continue;
    const f = validateOne(t, p, depth);
    if (f) return f;
  }
  return undefined;
}

/** `tb[]` after parsing: the last attribute of each type (types above maxattr dropped). */
export function toTb(tlvs: readonly Tlv[], maxattr: number): Map<number, Tlv> {
  const tb = new Map<number, Tlv>();
  for (const t of tlvs) if (t.type <= maxattr) tb.set(t.type, t);
  return tb;
}

function u64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}

/**
 * NL_POLICY_TYPE_ATTR_* of one attribute policy, type-specific first and TYPE last
 * (netlink_policy_dump_write_attr). `nested` = {idx, maxtype} when writing a policy dump.
 */
export function policyAttrs(p: NlaPolicy, nested?: { idx: number; maxtype: number }): Attr[] {
  const a: Attr[] = [];
  switch (p.type) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 'u64':
      a.push({ type: 4, name: 'MIN_VALUE_U', value: u64le(p.min ?? 0n) });
      a.push({ type: 5, name: 'MAX_VALUE_U', value: u64le(p.max ?? TYPE_MAX[p.type]!) });
      break;
    case 's32':
      a.push({ type: 2, name: 'MIN_VALUE_S', value: u64le(p.min ?? -0x80000000n) });
      a.push({ type: 3, name: 'MAX_VALUE_S', value: u64le(p.max ?? 0x7fffffffn) });
      break;
    case 'nul_string':
    case 'binary':
      if (p.len) a.push({ type: 7, name: 'MAX_LENGTH', value: p.len });
      break;
    case 'string':
      if (p.len) a.push({ type: 7, name: 'MAX_LENGTH', value: p.len });
      break;
    case 'bitfield32':
      a.push({ type: 10, name: 'BITFIELD32_MASK', value: p.mask ?? 0 });
      break;
    case 'nested':
      if (nested) {
        a.push({ type: 8, name: 'POLICY_IDX', value: nested.idx });
        a.push({ type: 9, name: 'POLICY_MAXTYPE', value: nested.maxtype });
      }
      break;
    default:
      break;
  }
  a.push({ type: 1, name: 'TYPE', value: NL_ATTR_TYPE[p.type] });
  return a;
}

/**
 * The policy objects of a GETPOLICY dump, indexed like `netlink_policy_dump_add_policy`: each
 * distinct table (by identity) gets the next index when first added, then the nested tables it
 * references are appended as found.
 */
export class PolicyDumpState {
  readonly tables: PolicyTable[] = [];

  add(t: PolicyTable): void {
    if (this.tables.includes(t)) return;
    this.tables.push(t);
    for (let i = 0; i < this.tables.length; i++) {
      const cur = this.tables[i]!;
      for (let type = 0; type <= cur.maxattr; type++) {
        const n = cur.attrs[type]?.nested;
        if (n && !this.tables.includes(n)) this.tables.push(n);
      }
    }
  }

  idx(t: PolicyTable | undefined): number | undefined {
    if (!t) return undefined;
    const i = this.tables.indexOf(t);
    return i < 0 ? undefined : i;
  }
}
