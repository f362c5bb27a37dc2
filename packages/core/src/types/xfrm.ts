/**
 * XFRM domain types: the objects of the Linux IPsec engine (SAs, policies, selectors, templates,
 * lifetimes, replay state, offload). Field names follow `include/uapi/linux/xfrm.h` in camelCase so
 * a reader can map every field to the kernel struct; `packages/netlink` maps them to and from bytes.
 *
 * Addresses are text: IPv4 dotted quad or IPv6 (RFC 5952). An `xfrm_address_t` is 16 bytes; IPv4
 * uses the first 4. Integers that can exceed 2^53 (64-bit lifetimes, counters) are `bigint`.
 */

/** IPv4 or IPv6 address in text form ("10.0.0.1", "2001:db8::1"). */
export type Address = string;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export type AddressFamily = number;

export const IPPROTO = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  DSTOPTS: 60,
  MH: 135,
  SCTP: 132,
  UDPLITE: 136,
  COMP: 108,
  ANY: 255,
} as const;

/** `struct xfrm_selector` (56 bytes). Padding bytes are kept because the kernel compares selectors byte-wise. */
export interface XfrmSelector {
  daddr: Address;
  saddr: Address;
  dport: number;
  dportMask: number;
  sport: number;
  sportMask: number;
  family: AddressFamily;
  prefixlenD: number;
  prefixlenS: number;
  proto: number;
  /** bytes 45..47, normally zero; part of a policy's identity. */
  pad?: Uint8Array;
  ifindex: number;
  user: number;
}

/** `struct xfrm_id` (24 bytes). `spi` is the host-order value of the big-endian wire field. */
export interface XfrmId {
  daddr: Address;
  spi: number;
  proto: number;
}

/** `struct xfrm_lifetime_cfg` (64 bytes). Byte/packet limits use XFRM_INF for "none", time limits 0. */
export interface XfrmLifetimeCfg {
  softByteLimit: bigint;
  hardByteLimit: bigint;
  softPacketLimit: bigint;
  hardPacketLimit: bigint;
  softAddExpiresSeconds: bigint;
  hardAddExpiresSeconds: bigint;
  softUseExpiresSeconds: bigint;
  hardUseExpiresSeconds: bigint;
}

/** `struct xfrm_lifetime_cur` (32 bytes). */
export interface XfrmLifetimeCur {
  bytes: bigint;
  packets: bigint;
  addTime: bigint;
  useTime: bigint;
}

/** `struct xfrm_stats` (12 bytes). */
export interface XfrmStats {
  replayWindow: number;
  replay: number;
  integrityFailed: number;
}

export const XFRM_INF = 0xffff_ffff_ffff_ffffn;

export const XFRM_MODE = {
  TRANSPORT: 0,
  TUNNEL: 1,
  ROUTEOPTIMIZATION: 2,
  IN_TRIGGER: 3,
  BEET: 4,
  IPTFS: 5,
} as const;
export const XFRM_STATE_FLAG = {
  NOECN: 1,
  DECAP_DSCP: 2,
  NOPMTUDISC: 4,
  WILDRECV: 8,
  ICMP: 16,
  AF_UNSPEC: 32,
  ALIGN4: 64,
  ESN: 128,
} as const;
export const XFRM_SA_XFLAG = { DONT_ENCAP_DSCP: 1, OSEQ_MAY_WRAP: 2 } as const;
export const XFRM_SA_DIR = { IN: 1, OUT: 2 } as const;
export const XFRM_POLICY_DIR = { IN: 0, OUT: 1, FWD: 2 } as const;
export const XFRM_POLICY_ACTION = { ALLOW: 0, BLOCK: 1 } as const;
export const XFRM_POLICY_TYPE = { MAIN: 0, SUB: 1, ANY: 255 } as const;
export const XFRM_SHARE = { ANY: 0, SESSION: 1, USER: 2, UNIQUE: 3 } as const;
export const XFRM_USERPOLICY = { UNSPEC: 0, BLOCK: 1, ACCEPT: 2 } as const;
export const XFRM_OFFLOAD_FLAG = { IPV6: 1, INBOUND: 2, PACKET: 4 } as const;
export const XFRM_AE = { UNSPEC: 0, RTHR: 1, RVAL: 2, LVAL: 4, ETHR: 8, CR: 16, CE: 32, CU: 64 } as const;

/** `struct xfrm_usersa_info` (224 bytes with 7 bytes trailing padding). */
export interface XfrmUsersaInfo {
  sel: XfrmSelector;
  id: XfrmId;
  saddr: Address;
  lft: XfrmLifetimeCfg;
  curlft: XfrmLifetimeCur;
  stats: XfrmStats;
  seq: number;
  reqid: number;
  family: AddressFamily;
  mode: number;
  replayWindow: number;
  flags: number;
}

/** `struct xfrm_usersa_id` (24 bytes). */
export interface XfrmUsersaId {
  daddr: Address;
  spi: number;
  family: AddressFamily;
  proto: number;
}

/** `struct xfrm_user_tmpl` (64 bytes). */
export interface XfrmUserTmpl {
  id: XfrmId;
  family: AddressFamily;
  saddr: Address;
  reqid: number;
  mode: number;
  share: number;
  optional: number;
  aalgos: number;
  ealgos: number;
  calgos: number;
}

/** `struct xfrm_userpolicy_info` (168 bytes). */
export interface XfrmUserpolicyInfo {
  sel: XfrmSelector;
  lft: XfrmLifetimeCfg;
  curlft: XfrmLifetimeCur;
  priority: number;
  index: number;
  dir: number;
  action: number;
  flags: number;
  share: number;
}

/** `struct xfrm_userpolicy_id` (64 bytes). */
export interface XfrmUserpolicyId {
  sel: XfrmSelector;
  index: number;
  dir: number;
}

/** `struct xfrm_algo` / `xfrm_algo_auth` / `xfrm_algo_aead`. `keyLen` is in bits. */
export interface XfrmAlgo {
  name: string;
  keyLen: number;
  key: Uint8Array;
}
export interface XfrmAlgoAuth extends XfrmAlgo {
  truncLen: number;
}
export interface XfrmAlgoAead extends XfrmAlgo {
  icvLen: number;
}

/** `struct xfrm_replay_state` (12 bytes, legacy 32-bit window). */
export interface XfrmReplayState {
  oseq: number;
  seq: number;
  bitmap: number;
}

/** `struct xfrm_replay_state_esn` (24 + 4·bmpLen bytes). `replayWindow` is in packets (bits). */
export interface XfrmReplayStateEsn {
  bmpLen: number;
  oseq: number;
  seq: number;
  oseqHi: number;
  seqHi: number;
  replayWindow: number;
  bmp: number[];
}

/** `struct xfrm_user_offload` (8 bytes): flags are XFRM_OFFLOAD_*. */
export interface XfrmUserOffload {
  ifindex: number;
  flags: number;
}

/** `struct xfrm_mark` (8 bytes). */
export interface XfrmMark {
  v: number;
  m: number;
}

/** `struct xfrm_encap_tmpl` (24 bytes). */
export interface XfrmEncapTmpl {
  encapType: number;
  encapSport: number;
  encapDport: number;
  encapOa: Address;
}

/** `struct xfrm_userpolicy_type` (6 bytes). */
export interface XfrmUserpolicyType {
  type: number;
  reserved1: number;
  reserved2: number;
}

/** `struct xfrm_user_sec_ctx` (8 bytes + context). */
export interface XfrmUserSecCtx {
  len: number;
  exttype: number;
  ctxAlg: number;
  ctxDoi: number;
  ctxLen: number;
  ctx: Uint8Array;
}

/** `struct xfrm_user_expire` (232 bytes). */
export interface XfrmUserExpire {
  state: XfrmUsersaInfo;
  hard: number;
}

/** `struct xfrm_user_polexpire` (176 bytes). */
export interface XfrmUserPolexpire {
  pol: XfrmUserpolicyInfo;
  hard: number;
}

/** `struct xfrm_aevent_id` (48 bytes). */
export interface XfrmAeventId {
  saId: XfrmUsersaId;
  saddr: Address;
  flags: number;
  reqid: number;
}

/** `struct xfrm_userspi_info` (232 bytes). */
export interface XfrmUserspiInfo {
  info: XfrmUsersaInfo;
  min: number;
  max: number;
}

/** `struct xfrm_user_acquire` (280 bytes). */
export interface XfrmUserAcquire {
  id: XfrmId;
  saddr: Address;
  sel: XfrmSelector;
  policy: XfrmUserpolicyInfo;
  aalgos: number;
  ealgos: number;
  calgos: number;
  seq: number;
}

/** `struct xfrm_usersa_flush` (1 byte). */
export interface XfrmUsersaFlush {
  proto: number;
}

/** `struct xfrm_userpolicy_default` (3 bytes). */
export interface XfrmUserpolicyDefault {
  in: number;
  fwd: number;
  out: number;
}

/** `struct xfrm_user_report` (60 bytes). */
export interface XfrmUserReport {
  proto: number;
  sel: XfrmSelector;
}

/** `struct xfrm_user_mapping` (64 bytes). */
export interface XfrmUserMapping {
  id: XfrmId;
  reqid: number;
  oldSaddr: Address;
  newSaddr: Address;
  oldSport: number;
  newSport: number;
}

/** `struct xfrm_address_filter` (36 bytes). */
export interface XfrmAddressFilter {
  saddr: Address;
  daddr: Address;
  family: AddressFamily;
  splen: number;
  dplen: number;
}

/** `struct xfrm_user_kmaddress` (40 bytes). */
export interface XfrmUserKmaddress {
  local: Address;
  remote: Address;
  reserved: number;
  family: AddressFamily;
}

/** `struct xfrm_user_migrate` (76 bytes). */
export interface XfrmUserMigrate {
  oldDaddr: Address;
  oldSaddr: Address;
  newDaddr: Address;
  newSaddr: Address;
  proto: number;
  mode: number;
  reserved: number;
  reqid: number;
  oldFamily: AddressFamily;
  newFamily: AddressFamily;
}

/** `struct xfrm_user_migrate_state` (132 bytes, Linux 7.x). */
export interface XfrmUserMigrateState {
  id: XfrmUsersaId;
  newDaddr: Address;
  newSaddr: Address;
  oldMark: XfrmMark;
  newSel: XfrmSelector;
  newReqid: number;
  flags: number;
  newFamily: AddressFamily;
  reserved: number;
}

/** `struct xfrmu_spdinfo` (24 bytes). */
export interface XfrmuSpdinfo {
  incnt: number;
  outcnt: number;
  fwdcnt: number;
  inscnt: number;
  outscnt: number;
  fwdscnt: number;
}
/** `struct xfrmu_spdhinfo` (8 bytes). */
export interface XfrmuSpdhinfo {
  spdhcnt: number;
  spdhmcnt: number;
}
/** `struct xfrmu_spdhthresh` (2 bytes). */
export interface XfrmuSpdhthresh {
  lbits: number;
  rbits: number;
}
/** `struct xfrmu_sadhinfo` (8 bytes). */
export interface XfrmuSadhinfo {
  sadhcnt: number;
  sadhmcnt: number;
}
