/**
 * Kernel-built XFRM messages: SA bodies (`copy_to_user_state_extra`, xfrm-uapi.md §7.2), policy
 * bodies (`dump_one_policy` / `xfrm_notify_policy`, §7.5/§6.3), notifications (§9). Every message is
 * closed like `nlmsg_end`: nlmsg_len includes the final padding.
 */
import type { XfrmPolicy, XfrmState, XfrmUserpolicyInfo, XfrmUsersaInfo } from '@xfrmkit/core';
import { type AttrInput, encodeXfrm } from '@xfrmkit/netlink';
import { unspecSelector } from './usersa.ts';

export function finish(m: Uint8Array): Uint8Array {
  const n = (m.length + 3) & ~3;
  const out = n === m.length ? m : new Uint8Array(n);
  if (out !== m) out.set(m);
  new DataView(out.buffer, out.byteOffset).setUint32(0, n, true);
  return out;
}

export function xmsg(
  type: number,
  seq: number,
  pid: number,
  body: unknown,
  attrs: AttrInput[] = [],
): Uint8Array {
  return finish(encodeXfrm({ type, flags: 0, seq: seq >>> 0, pid: pid >>> 0, body, attrs }));
}

/** Per-SA values the kernel keeps outside `XfrmState`. */
export interface SaExtra {
  replayMaxdiff: number;
  /** jiffies */
  replayMaxage: number;
}

/** `copy_to_user_state`: the usersa_info as the kernel reports it. */
export function userState(s: XfrmState): XfrmUsersaInfo {
  return { ...s.info, seq: s.info.seq >>> 0 };
}

/** Attributes after usersa_info, in `copy_to_user_state_extra` order. */
export function stateExtraAttrs(s: XfrmState): AttrInput[] {
  const a: AttrInput[] = [];
  if (s.extraFlags) a.push({ name: 'SA_EXTRA_FLAGS', value: s.extraFlags });
  if (s.coaddr !== undefined) a.push({ name: 'COADDR', value: s.coaddr });
  if (s.lastused) a.push({ name: 'LASTUSED', value: s.lastused });
  if (s.aead) a.push({ name: 'ALG_AEAD', value: s.aead });
  if (s.authTrunc) {
    const { truncLen: _t, ...plain } = s.authTrunc;
    a.push({ name: 'ALG_AUTH', value: plain });
    a.push({ name: 'ALG_AUTH_TRUNC', value: s.authTrunc });
  }
  if (s.crypt) a.push({ name: 'ALG_CRYPT', value: s.crypt });
  if (s.comp) a.push({ name: 'ALG_COMP', value: { name: s.comp.name, keyLen: 0, key: new Uint8Array(0) } });
  if (s.encap) a.push({ name: 'ENCAP', value: s.encap });
  if (s.tfcpad) a.push({ name: 'TFCPAD', value: s.tfcpad });
  if (s.mark && (s.mark.v | s.mark.m) !== 0) a.push({ name: 'MARK', value: s.mark });
  const sv = s.setMark ?? 0;
  const sm = s.setMarkMask ?? 0;
  if ((sv | sm) !== 0) {
    a.push({ name: 'SET_MARK', value: sv });
    a.push({ name: 'SET_MARK_MASK', value: sm });
  }
  if (s.replayEsn) a.push({ name: 'REPLAY_ESN_VAL', value: s.replayEsn });
  else a.push({ name: 'REPLAY_VAL', value: s.replay ?? { oseq: 0, seq: 0, bitmap: 0 } });
  if (s.offload) a.push({ name: 'OFFLOAD_DEV', value: s.offload });
  if (s.ifId) a.push({ name: 'IF_ID', value: s.ifId });
  if (s.secCtx) a.push({ name: 'SEC_CTX', value: s.secCtx });
  if (s.mtimerThresh) a.push({ name: 'MTIMER_THRESH', value: s.mtimerThresh });
  if (s.pcpu !== undefined) a.push({ name: 'SA_PCPU', value: s.pcpu });
  if (s.dir) a.push({ name: 'SA_DIR', value: s.dir });
  if (s.natKeepaliveInterval) a.push({ name: 'NAT_KEEPALIVE_INTERVAL', value: s.natKeepaliveInterval });
  return a;
}

/** NEWSA body (GET reply, dump entry, NEWSA/UPDSA notification, ALLOCSPI reply). */
export function stateMsg(type: number, s: XfrmState, seq: number, pid: number): Uint8Array {
  return xmsg(type, seq, pid, userState(s), stateExtraAttrs(s));
}

/** DELSA notification: usersa_id + XFRMA_SA + the extra attributes. */
export function delStateMsg(s: XfrmState, seq: number, pid: number): Uint8Array {
  const i = s.info;
  const id = { daddr: i.id.daddr, spi: i.id.spi, family: i.family, proto: i.id.proto };
  return xmsg(0x11, seq, pid, id, [{ name: 'SA', value: userState(s) }, ...stateExtraAttrs(s)]);
}

/** EXPIRE: user_expire{state, hard} + MARK, IF_ID, SA_PCPU, SA_DIR (`build_expire`). */
export function expireMsg(s: XfrmState, hard: boolean, pid: number): Uint8Array {
  const a: AttrInput[] = [];
  if (s.mark && (s.mark.v | s.mark.m) !== 0) a.push({ name: 'MARK', value: s.mark });
  if (s.ifId) a.push({ name: 'IF_ID', value: s.ifId });
  if (s.pcpu !== undefined) a.push({ name: 'SA_PCPU', value: s.pcpu });
  if (s.dir) a.push({ name: 'SA_DIR', value: s.dir });
  return xmsg(0x18, 0, pid, { state: userState(s), hard: hard ? 1 : 0 }, a);
}

/** `copy_to_user_policy`. */
export function userPolicy(p: XfrmPolicy, dir: number): XfrmUserpolicyInfo {
  const i = p.info;
  return { ...i, sel: { ...i.sel }, dir, share: 0 };
}

const ptypeAttr = (t: number): AttrInput => ({
  name: 'POLICY_TYPE',
  value: { type: t, reserved1: 0, reserved2: 0 },
});

/** Policy attributes; `withCtx` for GET/dump (notifications omit SEC_CTX). */
export function policyExtraAttrs(p: XfrmPolicy, withCtx: boolean): AttrInput[] {
  const a: AttrInput[] = [];
  if (p.tmpls.length) a.push({ name: 'TMPL', value: p.tmpls });
  if (withCtx && p.secCtx) a.push({ name: 'SEC_CTX', value: p.secCtx });
  a.push(ptypeAttr(p.ptype ?? 0));
  if (p.mark && (p.mark.v | p.mark.m) !== 0) a.push({ name: 'MARK', value: p.mark });
  if (p.ifId) a.push({ name: 'IF_ID', value: p.ifId });
  if (p.offload) a.push({ name: 'OFFLOAD_DEV', value: p.offload });
  return a;
}

export function policyMsg(
  type: number,
  p: XfrmPolicy,
  dir: number,
  seq: number,
  pid: number,
  withCtx: boolean,
): Uint8Array {
  return xmsg(type, seq, pid, userPolicy(p, dir), policyExtraAttrs(p, withCtx));
}

export function delPolicyMsg(
  p: XfrmPolicy,
  dir: number,
  byIndex: boolean,
  seq: number,
  pid: number,
): Uint8Array {
  const id = { sel: byIndex ? unspecSelector() : p.info.sel, index: byIndex ? p.info.index : 0, dir };
  return xmsg(0x14, seq, pid, id, [
    { name: 'POLICY', value: userPolicy(p, dir) },
    ...policyExtraAttrs(p, false),
  ]);
}

export function polExpireMsg(p: XfrmPolicy, dir: number, hard: boolean, pid: number): Uint8Array {
  return xmsg(0x1b, 0, pid, { pol: userPolicy(p, dir), hard: hard ? 1 : 0 }, policyExtraAttrs(p, true));
}

export { ptypeAttr };
