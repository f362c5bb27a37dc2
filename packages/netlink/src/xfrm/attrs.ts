/**
 * XFRMA_* attributes (`enum xfrm_attr_type_t`) as one table: number, name, payload codec. The
 * kernel's minimum lengths follow from each codec's `minSize`; see xfrm-uapi.md §2.2.
 */

import { attrSet } from '../schema/attrs.ts';
import { address, binary, flag, u8, u16, u32, u64 } from '../schema/codec.ts';
import * as S from './structs.ts';

export const XFRMA = {
  UNSPEC: 0,
  ALG_AUTH: 1,
  ALG_CRYPT: 2,
  ALG_COMP: 3,
  ENCAP: 4,
  TMPL: 5,
  SA: 6,
  POLICY: 7,
  SEC_CTX: 8,
  LTIME_VAL: 9,
  REPLAY_VAL: 10,
  REPLAY_THRESH: 11,
  ETIMER_THRESH: 12,
  SRCADDR: 13,
  COADDR: 14,
  LASTUSED: 15,
  POLICY_TYPE: 16,
  MIGRATE: 17,
  ALG_AEAD: 18,
  KMADDRESS: 19,
  ALG_AUTH_TRUNC: 20,
  MARK: 21,
  TFCPAD: 22,
  REPLAY_ESN_VAL: 23,
  SA_EXTRA_FLAGS: 24,
  PROTO: 25,
  ADDRESS_FILTER: 26,
  PAD: 27,
  OFFLOAD_DEV: 28,
  SET_MARK: 29,
  SET_MARK_MASK: 30,
  IF_ID: 31,
  MTIMER_THRESH: 32,
  SA_DIR: 33,
  NAT_KEEPALIVE_INTERVAL: 34,
  SA_PCPU: 35,
  IPTFS_DROP_TIME: 36,
  IPTFS_REORDER_WINDOW: 37,
  IPTFS_DONT_FRAG: 38,
  IPTFS_INIT_DELAY: 39,
  IPTFS_MAX_QSIZE: 40,
  IPTFS_PKT_SIZE: 41,
} as const;
export const XFRMA_MAX = 41;

export const xfrmAttrs = attrSet('xfrm-attrs', [
  [XFRMA.ALG_AUTH, 'ALG_AUTH', S.algo],
  [XFRMA.ALG_CRYPT, 'ALG_CRYPT', S.algo],
  [XFRMA.ALG_COMP, 'ALG_COMP', S.algo],
  [XFRMA.ENCAP, 'ENCAP', S.encapTmpl],
  [XFRMA.TMPL, 'TMPL', S.tmplArray],
  [XFRMA.SA, 'SA', S.usersaInfo],
  [XFRMA.POLICY, 'POLICY', S.userpolicyInfo],
  [XFRMA.SEC_CTX, 'SEC_CTX', S.userSecCtx],
  [XFRMA.LTIME_VAL, 'LTIME_VAL', S.lifetimeCur],
  [XFRMA.REPLAY_VAL, 'REPLAY_VAL', S.replayState],
  [XFRMA.REPLAY_THRESH, 'REPLAY_THRESH', u32],
  [XFRMA.ETIMER_THRESH, 'ETIMER_THRESH', u32],
  [XFRMA.SRCADDR, 'SRCADDR', address],
  [XFRMA.COADDR, 'COADDR', address],
  [XFRMA.LASTUSED, 'LASTUSED', u64],
  [XFRMA.POLICY_TYPE, 'POLICY_TYPE', S.userpolicyType],
  [XFRMA.MIGRATE, 'MIGRATE', S.migrateArray],
  [XFRMA.ALG_AEAD, 'ALG_AEAD', S.algoAead],
  [XFRMA.KMADDRESS, 'KMADDRESS', S.userKmaddress],
  [XFRMA.ALG_AUTH_TRUNC, 'ALG_AUTH_TRUNC', S.algoAuth],
  [XFRMA.MARK, 'MARK', S.mark],
  [XFRMA.TFCPAD, 'TFCPAD', u32],
  [XFRMA.REPLAY_ESN_VAL, 'REPLAY_ESN_VAL', S.replayStateEsn],
  [XFRMA.SA_EXTRA_FLAGS, 'SA_EXTRA_FLAGS', u32],
  [XFRMA.PROTO, 'PROTO', u8],
  [XFRMA.ADDRESS_FILTER, 'ADDRESS_FILTER', S.addressFilter],
  [XFRMA.PAD, 'PAD', binary],
  [XFRMA.OFFLOAD_DEV, 'OFFLOAD_DEV', S.userOffload],
  [XFRMA.SET_MARK, 'SET_MARK', u32],
  [XFRMA.SET_MARK_MASK, 'SET_MARK_MASK', u32],
  [XFRMA.IF_ID, 'IF_ID', u32],
  [XFRMA.MTIMER_THRESH, 'MTIMER_THRESH', u32],
  [XFRMA.SA_DIR, 'SA_DIR', u8],
  [XFRMA.NAT_KEEPALIVE_INTERVAL, 'NAT_KEEPALIVE_INTERVAL', u32],
  [XFRMA.SA_PCPU, 'SA_PCPU', u32],
  [XFRMA.IPTFS_DROP_TIME, 'IPTFS_DROP_TIME', u32],
  [XFRMA.IPTFS_REORDER_WINDOW, 'IPTFS_REORDER_WINDOW', u16],
  [XFRMA.IPTFS_DONT_FRAG, 'IPTFS_DONT_FRAG', flag],
  [XFRMA.IPTFS_INIT_DELAY, 'IPTFS_INIT_DELAY', u32],
  [XFRMA.IPTFS_MAX_QSIZE, 'IPTFS_MAX_QSIZE', u32],
  [XFRMA.IPTFS_PKT_SIZE, 'IPTFS_PKT_SIZE', u32],
]);

/** XFRMA_SAD_* (NEWSADINFO). */
export const sadInfoAttrs = attrSet('xfrm-sad-info', [
  [1, 'SAD_CNT', u32],
  [2, 'SAD_HINFO', S.sadhinfo],
]);

/** XFRMA_SPD_* (NEWSPDINFO). */
export const spdInfoAttrs = attrSet('xfrm-spd-info', [
  [1, 'SPD_INFO', S.spdinfo],
  [2, 'SPD_HINFO', S.spdhinfo],
  [3, 'SPD_IPV4_HTHRESH', S.spdhthresh],
  [4, 'SPD_IPV6_HTHRESH', S.spdhthresh],
]);

/** Attributes whose payload is key material: never printed. */
export const KEY_ATTRS = new Set(['ALG_AUTH', 'ALG_CRYPT', 'ALG_AEAD', 'ALG_AUTH_TRUNC']);
