/**
 * The kernel's attribute parsing for XFRM requests (`__nla_validate_parse` + `validate_nla` in
 * lib/nlattr.c with the `xfrma_policy` / `xfrma_spd_policy` tables of xfrm_user.c): liberal walking
 * (an attribute that does not fit stops the walk and leaves a "bytes leftover" warning), types 0 and
 * > maxtype ignored, duplicates = last wins, per-attribute minimum lengths (`ERANGE`), strict checks
 * from `strict_start_type` on (exact integer size, no NLA_F_NESTED), integer ranges, and the
 * NLMSGERR_ATTR_POLICY description of the violated policy, all table-driven.
 */
import type { Attr } from '@xfrmkit/netlink';

/** NL_ATTR_TYPE_* values used in NLMSGERR_ATTR_POLICY. */
export const NL_ATTR_TYPE = { FLAG: 1, U8: 2, U16: 3, U32: 4, U64: 5 } as const;

export type NlaPolicy =
  /** `{ .len = N }`: NLA_UNSPEC with a minimum payload; no POLICY TLV on failure */
  | { kind: 'len'; min: number }
  /** NLA_U8/U16/U32/U64, optionally with NLA_POLICY_RANGE */
  | { kind: 'int'; size: 1 | 2 | 4 | 8; range?: [number, number] }
  | { kind: 'flag' };

export interface NlaTable {
  maxtype: number;
  /** `policy[0].strict_start_type` (0 = none) */
  strictStart: number;
  policies: ReadonlyMap<number, NlaPolicy>;
}

const len = (min: number): NlaPolicy => ({ kind: 'len', min });
const u8: NlaPolicy = { kind: 'int', size: 1 };
const u16: NlaPolicy = { kind: 'int', size: 2 };
const u32: NlaPolicy = { kind: 'int', size: 4 };
const u64: NlaPolicy = { kind: 'int', size: 8 };

/** `xfrma_policy` (xfrm_user.c), XFRMA_MAX = 41, strict from XFRMA_SA_DIR (33). */
export const XFRMA_POLICY: NlaTable = {
  maxtype: 41,
  strictStart: 33,
  policies: new Map<number, NlaPolicy>([
    [1, len(68)], // ALG_AUTH
    [2, len(68)], // ALG_CRYPT
    [3, len(68)], // ALG_COMP
    [4, len(24)], // ENCAP
    [5, len(64)], // TMPL
    [6, len(224)], // SA
    [7, len(168)], // POLICY
    [8, len(8)], // SEC_CTX
    [9, len(32)], // LTIME_VAL
    [10, len(12)], // REPLAY_VAL
    [11, u32], // REPLAY_THRESH
    [12, u32], // ETIMER_THRESH
    [13, len(16)], // SRCADDR
    [14, len(16)], // COADDR
    [15, u64], // LASTUSED
    [16, len(6)], // POLICY_TYPE
    [17, len(76)], // MIGRATE
    [18, len(72)], // ALG_AEAD
    [19, len(40)], // KMADDRESS
    [20, len(72)], // ALG_AUTH_TRUNC
    [21, len(8)], // MARK
    [22, u32], // TFCPAD
    [23, len(24)], // REPLAY_ESN_VAL
    [24, u32], // SA_EXTRA_FLAGS
    [25, u8], // PROTO
    [26, len(36)], // ADDRESS_FILTER
    [28, len(8)], // OFFLOAD_DEV
    [29, u32], // SET_MARK
    [30, u32], // SET_MARK_MASK
    [31, u32], // IF_ID
    [32, u32], // MTIMER_THRESH
    [33, { kind: 'int', size: 1, range: [1, 2] }], // SA_DIR
    [34, u32], // NAT_KEEPALIVE_INTERVAL
    [35, u32], // SA_PCPU
    [36, u32], // IPTFS_DROP_TIME
    [37, u16], // IPTFS_REORDER_WINDOW
    [38, { kind: 'flag' }], // IPTFS_DONT_FRAG
    [39, u32], // IPTFS_INIT_DELAY
    [40, u32], // IPTFS_MAX_QSIZE
    [41, u32], // IPTFS_PKT_SIZE
  ]),
};

/** `xfrma_spd_policy` (NEWSPDINFO only), XFRMA_SPD_MAX = 4. */
export const XFRMA_SPD_POLICY: NlaTable = {
  maxtype: 4,
  strictStart: 0,
  policies: new Map<number, NlaPolicy>([
    [3, len(2)],
    [4, len(2)],
  ]),
};

/** One attribute as the kernel keeps it in `attrs[]`: payload view and its offset in the message. */
export interface TbAttr {
  type: number;
  payload: Uint8Array;
  /** offset of the attribute header from the start of the nlmsghdr */
  offset: number;
}

export interface NlaError {
  errno: number;
  msg: string;
  offs: number;
  policy?: Attr[];
}

export interface NlaParseResult {
  tb: (TbAttr | undefined)[];
  /** "bytes leftover after parsing attributes" applies */
  leftover: boolean;
}

const INT_TYPE: Record<1 | 2 | 4 | 8, number> = {
  1: NL_ATTR_TYPE.U8,
  2: NL_ATTR_TYPE.U16,
  4: NL_ATTR_TYPE.U32,
  8: NL_ATTR_TYPE.U64,
};

function u64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

/** The NLMSGERR_ATTR_POLICY content the kernel writes for a policy (`netlink_policy_dump_write_attr`). */
export function policyTlv(p: NlaPolicy): Attr[] | undefined {
  if (p.kind === 'len') return undefined;
  if (p.kind === 'flag') return [{ type: 1, name: 'TYPE', value: NL_ATTR_TYPE.FLAG }];
  const max = p.range ? BigInt(p.range[1]) : (1n << BigInt(p.size * 8)) - 1n;
  const min = p.range ? BigInt(p.range[0]) : 0n;
  return [
    { type: 4, name: 'MIN_VALUE_U', value: u64le(min) },
    { type: 5, name: 'MAX_VALUE_U', value: u64le(max) },
    { type: 1, name: 'TYPE', value: INT_TYPE[p.size] },
  ];
}

function readUint(b: Uint8Array, size: number): number {
  if (size === 1) return b[0]!;
  if (size === 2) return b[0]! | (b[1]! << 8);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

interface CompiledTable {
  /** `maxtype + 1` undefined slots, copied for each parse */
  empty: (TbAttr | undefined)[];
  /** the policies as an array indexed by type */
  byType: (NlaPolicy | undefined)[];
}

const compiled = new WeakMap<NlaTable, CompiledTable>();

/** The table's lookup arrays (built once per table: parsing is on every request's path). */
function compiledTable(table: NlaTable): CompiledTable {
  let c = compiled.get(table);
  if (c === undefined) {
    const empty: (TbAttr | undefined)[] = [];
    const byType: (NlaPolicy | undefined)[] = [];
    for (let t = 0; t <= table.maxtype; t++) {
      empty.push(undefined);
      byType.push(table.policies.get(t));
    }
    c = { empty, byType };
    compiled.set(table, c);
  }
  return c;
}

/**
 * Parses the attributes of `msg[start, end)` (`end - start` may be negative, like the kernel's
 * `nlmsg_attrlen`). Returns the attribute table or the first policy violation.
 */
export function parseNla(
  msg: Uint8Array,
  start: number,
  end: number,
  table: NlaTable,
): NlaParseResult | NlaError {
  const { empty, byType } = compiledTable(table);
  const tb = empty.slice();
  let off = start;
  let rem = end - start;
  while (rem >= 4) {
    const alen = msg[off]! | (msg[off + 1]! << 8);
    if (alen < 4 || alen > rem) break;
    const rawType = msg[off + 2]! | (msg[off + 3]! << 8);
    const type = rawType & 0x3fff;
    if (type !== 0 && type <= table.maxtype) {
      const payload = msg.subarray(off + 4, off + alen);
      const p = byType[type];
      if (p !== undefined) {
        const strict = table.strictStart !== 0 && type >= table.strictStart;
        const err = validateOne(p, payload, rawType, strict, off);
        if (err) return err;
      }
      tb[type] = { type, payload, offset: off };
    }
    const step = (alen + 3) & ~3;
    off += step;
    rem -= step;
  }
  return { tb, leftover: rem > 0 };
}

function validateOne(
  p: NlaPolicy,
  payload: Uint8Array,
  rawType: number,
  strict: boolean,
  offs: number,
): NlaError | undefined {
  const n = payload.length;
  if (strict && p.kind === 'int' && n !== p.size) {
    return { errno: 22, msg: 'invalid attribute length', offs, policy: policyTlv(p) };
  }
  if (strict && rawType & 0x8000) {
    return { errno: 22, msg: 'NLA_F_NESTED not expected', offs, policy: policyTlv(p) };
  }
  if (p.kind === 'flag') {
    if (n > 0) return { errno: 34, msg: 'Attribute failed policy validation', offs, policy: policyTlv(p) };
    return undefined;
  }
  const min = p.kind === 'len' ? p.min : p.size;
  if (n < min) return { errno: 34, msg: 'Attribute failed policy validation', offs, policy: policyTlv(p) };
  if (p.kind === 'int' && p.range && p.size <= 4) {
    const v = readUint(payload, p.size);
    if (v < p.range[0] || v > p.range[1])
      return { errno: 34, msg: 'integer out of range', offs, policy: policyTlv(p) };
  }
  return undefined;
}

export function isNlaError(r: NlaParseResult | NlaError): r is NlaError {
  return (r as NlaError).errno !== undefined;
}
