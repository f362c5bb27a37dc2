/**
 * XFRM messages <-> the domain objects of `@xfrmkit/core` (XfrmState, XfrmPolicy). Attribute order
 * when building follows the kernel's own reply order (xfrm-uapi.md §7.2 / §7.5), so an object read
 * from the kernel and written back produces the kernel's bytes.
 */
import type { XfrmPolicy, XfrmState, XfrmUserpolicyInfo, XfrmUsersaInfo } from '@xfrmkit/core';
import { type Attr, type AttrInput, getAttr } from '../schema/attrs.ts';
import { NetlinkDecodeError } from '../wire/errors.ts';
import type { XfrmMessage } from './codec.ts';
import { XFRM_MSG } from './messages.ts';

const STATE_ATTRS: Array<[keyof XfrmState, string]> = [
  ['extraFlags', 'SA_EXTRA_FLAGS'],
  ['coaddr', 'COADDR'],
  ['lastused', 'LASTUSED'],
  ['aead', 'ALG_AEAD'],
  ['auth', 'ALG_AUTH'],
  ['authTrunc', 'ALG_AUTH_TRUNC'],
  ['crypt', 'ALG_CRYPT'],
  ['comp', 'ALG_COMP'],
  ['encap', 'ENCAP'],
  ['tfcpad', 'TFCPAD'],
  ['mark', 'MARK'],
  ['setMark', 'SET_MARK'],
  ['setMarkMask', 'SET_MARK_MASK'],
  ['replayEsn', 'REPLAY_ESN_VAL'],
  ['replay', 'REPLAY_VAL'],
  ['offload', 'OFFLOAD_DEV'],
  ['ifId', 'IF_ID'],
  ['secCtx', 'SEC_CTX'],
  ['mtimerThresh', 'MTIMER_THRESH'],
  ['pcpu', 'SA_PCPU'],
  ['dir', 'SA_DIR'],
  ['natKeepaliveInterval', 'NAT_KEEPALIVE_INTERVAL'],
];

const POLICY_ATTRS: Array<[keyof XfrmPolicy, string]> = [
  ['secCtx', 'SEC_CTX'],
  ['mark', 'MARK'],
  ['ifId', 'IF_ID'],
  ['offload', 'OFFLOAD_DEV'],
];

/** Attributes of an SA in the kernel's reply order. */
export function stateAttrs(s: XfrmState): AttrInput[] {
  const out: AttrInput[] = [];
  for (const [key, name] of STATE_ATTRS) {
    const v = s[key];
    if (v !== undefined) out.push({ name, value: v });
  }
  return out;
}

function stateFromAttrs(info: XfrmUsersaInfo, attrs: readonly Attr[]): XfrmState {
  const s: XfrmState = { info };
  for (const [key, name] of STATE_ATTRS) {
    const v = getAttr(attrs, name);
    if (v !== undefined) (s as unknown as Record<string, unknown>)[key] = v;
  }
  return s;
}

/** The SA carried by a NEWSA / UPDSA / DELSA / EXPIRE / GETSA-reply message. */
export function stateFromMessage(m: XfrmMessage): XfrmState {
  switch (m.type) {
    case XFRM_MSG.NEWSA:
    case XFRM_MSG.UPDSA:
      return stateFromAttrs(m.body as XfrmUsersaInfo, m.attrs);
    case XFRM_MSG.EXPIRE:
      return stateFromAttrs((m.body as { state: XfrmUsersaInfo }).state, m.attrs);
    case XFRM_MSG.DELSA: {
      const sa = getAttr<XfrmUsersaInfo>(m.attrs, 'SA');
      if (!sa) throw new NetlinkDecodeError('DELSA notification without XFRMA_SA', 16, 'DELSA');
      return stateFromAttrs(sa, m.attrs);
    }
    default:
      throw new NetlinkDecodeError(
        `message type 0x${m.type.toString(16)} does not carry an SA`,
        4,
        'nlmsghdr',
      );
  }
}

/** Attributes of a policy in the kernel's GET/dump order (TMPL, SEC_CTX, POLICY_TYPE, MARK, IF_ID, OFFLOAD_DEV). */
export function policyAttrs(p: XfrmPolicy, opts: { withPolicyType?: boolean } = {}): AttrInput[] {
  const out: AttrInput[] = [];
  if (p.tmpls.length) out.push({ name: 'TMPL', value: p.tmpls });
  if (p.secCtx) out.push({ name: 'SEC_CTX', value: p.secCtx });
  if (p.ptype !== undefined || opts.withPolicyType) {
    out.push({ name: 'POLICY_TYPE', value: { type: p.ptype ?? 0, reserved1: 0, reserved2: 0 } });
  }
  for (const [key, name] of POLICY_ATTRS) {
    if (key === 'secCtx') continue;
    const v = p[key];
    if (v !== undefined) out.push({ name, value: v });
  }
  return out;
}

function policyFromAttrs(info: XfrmUserpolicyInfo, attrs: readonly Attr[]): XfrmPolicy {
  const p: XfrmPolicy = { info, tmpls: getAttr(attrs, 'TMPL') ?? [] };
  const pt = getAttr<{ type: number }>(attrs, 'POLICY_TYPE');
  if (pt) p.ptype = pt.type;
  for (const [key, name] of POLICY_ATTRS) {
    const v = getAttr(attrs, name);
    if (v !== undefined) (p as unknown as Record<string, unknown>)[key] = v;
  }
  return p;
}

/** The policy carried by NEWPOLICY / UPDPOLICY / DELPOLICY / POLEXPIRE / GETPOLICY-reply. */
export function policyFromMessage(m: XfrmMessage): XfrmPolicy {
  switch (m.type) {
    case XFRM_MSG.NEWPOLICY:
    case XFRM_MSG.UPDPOLICY:
      return policyFromAttrs(m.body as XfrmUserpolicyInfo, m.attrs);
    case XFRM_MSG.POLEXPIRE:
      return policyFromAttrs((m.body as { pol: XfrmUserpolicyInfo }).pol, m.attrs);
    case XFRM_MSG.DELPOLICY: {
      const pol = getAttr<XfrmUserpolicyInfo>(m.attrs, 'POLICY');
      if (!pol) throw new NetlinkDecodeError('DELPOLICY notification without XFRMA_POLICY', 16, 'DELPOLICY');
      return policyFromAttrs(pol, m.attrs);
    }
    default:
      throw new NetlinkDecodeError(
        `message type 0x${m.type.toString(16)} does not carry a policy`,
        4,
        'nlmsghdr',
      );
  }
}
