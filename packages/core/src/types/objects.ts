/**
 * The objects the SA/SP engine works on: a state (SA) and a policy (SP) with every attribute the
 * kernel can attach, as one typed record. The netlink layer converts an XFRM message to and from these.
 */
import type {
  Address,
  XfrmAlgo,
  XfrmAlgoAead,
  XfrmAlgoAuth,
  XfrmEncapTmpl,
  XfrmLifetimeCur,
  XfrmMark,
  XfrmReplayState,
  XfrmReplayStateEsn,
  XfrmUserOffload,
  XfrmUserpolicyInfo,
  XfrmUserSecCtx,
  XfrmUsersaInfo,
  XfrmUserTmpl,
} from './xfrm.ts';

/** Which way an SA or policy is offloaded, as `ip xfrm … offload [crypto|packet] dev DEV dir DIR`. */
export type OffloadMode = 'crypto' | 'packet';
export type OffloadDir = 'in' | 'out';

export interface OffloadSpec {
  /** Device name as the user gave it ("p0"); resolved to an ifindex by the backend. */
  dev: string;
  dir: OffloadDir;
  mode: OffloadMode;
}

/** An SA: `xfrm_usersa_info` plus its attributes. Absent optional fields were not on the wire. */
export interface XfrmState {
  info: XfrmUsersaInfo;
  aead?: XfrmAlgoAead;
  auth?: XfrmAlgo;
  authTrunc?: XfrmAlgoAuth;
  crypt?: XfrmAlgo;
  comp?: XfrmAlgo;
  encap?: XfrmEncapTmpl;
  tfcpad?: number;
  mark?: XfrmMark;
  setMark?: number;
  setMarkMask?: number;
  replay?: XfrmReplayState;
  replayEsn?: XfrmReplayStateEsn;
  offload?: XfrmUserOffload;
  ifId?: number;
  /** XFRMA_SA_DIR: 1 in, 2 out. */
  dir?: number;
  extraFlags?: number;
  coaddr?: Address;
  lastused?: bigint;
  secCtx?: XfrmUserSecCtx;
  mtimerThresh?: number;
  natKeepaliveInterval?: number;
  pcpu?: number;
}

/** A policy: `xfrm_userpolicy_info` plus templates and attributes. */
export interface XfrmPolicy {
  info: XfrmUserpolicyInfo;
  tmpls: XfrmUserTmpl[];
  /** XFRMA_POLICY_TYPE type (0 main, 1 sub); undefined when the attribute was absent. */
  ptype?: number;
  mark?: XfrmMark;
  ifId?: number;
  offload?: XfrmUserOffload;
  secCtx?: XfrmUserSecCtx;
}

/** Per-SA counters a datapath keeps (the kernel's curlft + stats). */
export interface XfrmStateCounters {
  curlft: XfrmLifetimeCur;
  replay: number;
  replayWindow: number;
  integrityFailed: number;
}
