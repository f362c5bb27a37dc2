/**
 * Reference model of the policy lookup: a linear scan over every policy, written directly from the
 * kernel rules (xfrm-uapi.md §11) with byte-wise prefix comparison. It is the oracle for the indexed
 * `Spd` lookup in tests and the baseline in benchmarks — not meant to be fast.
 */
import { addressBytes } from '../types/address.ts';
import type { XfrmPolicy } from '../types/objects.ts';
import { AF_INET, XFRM_OFFLOAD_FLAG, XFRM_POLICY_TYPE } from '../types/xfrm.ts';
import type { Flow } from './selector.ts';

/** What the reference needs to know about a stored policy. */
export interface ReferencePolicy {
  policy: XfrmPolicy;
  /** age: smaller = older (insertion order, UPDPOLICY counts as new). */
  serial: number;
}

function prefixMatch(a: Uint8Array, b: Uint8Array, plen: number): boolean {
  let bits = plen;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & m) !== (b[i]! & m)) return false;
  }
  return true;
}

/** `xfrm_policy_match` for one policy. */
export function referenceMatches(p: XfrmPolicy, flow: Flow): boolean {
  const sel = p.info.sel;
  if (sel.family !== flow.family) return false;
  if ((p.ifId ?? 0) !== (flow.ifId ?? 0)) return false;
  const mark = flow.mark ?? 0;
  const mv = p.mark === undefined ? 0 : (p.mark.v & p.mark.m) >>> 0;
  const mm = p.mark === undefined ? 0 : p.mark.m >>> 0;
  if ((mark & mm) >>> 0 !== mv) return false;
  const len = flow.family === AF_INET ? 4 : 16;
  const fd = addressBytes(flow.daddr).subarray(0, len);
  const fs = addressBytes(flow.saddr).subarray(0, len);
  const sd = addressBytes(sel.daddr).subarray(0, len);
  const ss = addressBytes(sel.saddr).subarray(0, len);
  if (!prefixMatch(fd, sd, sel.prefixlenD) || !prefixMatch(fs, ss, sel.prefixlenS)) return false;
  if ((((flow.dport ?? 0) ^ sel.dport) & sel.dportMask) !== 0) return false;
  if ((((flow.sport ?? 0) ^ sel.sport) & sel.sportMask) !== 0) return false;
  if (sel.proto !== 0 && sel.proto !== (flow.proto ?? 0)) return false;
  if (sel.ifindex !== 0 && sel.ifindex !== (flow.ifindex ?? 0)) return false;
  return true;
}

function offloaded(p: XfrmPolicy): boolean {
  return p.offload !== undefined && (p.offload.flags & XFRM_OFFLOAD_FLAG.PACKET) !== 0;
}

/** Chain order: packet-offloaded first, then lower priority value, then older. */
export function referenceCompare(a: ReferencePolicy, b: ReferencePolicy): number {
  const oa = offloaded(a.policy) ? 0 : 1;
  const ob = offloaded(b.policy) ? 0 : 1;
  if (oa !== ob) return oa - ob;
  if (a.policy.info.priority !== b.policy.info.priority)
    return a.policy.info.priority - b.policy.info.priority;
  return a.serial - b.serial;
}

/** Linear-scan lookup: SUB policies first, then MAIN; best in chain order. */
export function referenceLookup<T extends ReferencePolicy>(
  policies: readonly T[],
  dir: number,
  flow: Flow,
): T | undefined {
  for (const type of [XFRM_POLICY_TYPE.SUB, XFRM_POLICY_TYPE.MAIN]) {
    let best: T | undefined;
    for (const r of policies) {
      if (r.policy.info.dir !== dir || (r.policy.ptype ?? XFRM_POLICY_TYPE.MAIN) !== type) continue;
      if (!referenceMatches(r.policy, flow)) continue;
      if (best === undefined || referenceCompare(r, best) < 0) best = r;
    }
    if (best !== undefined) return best;
  }
  return undefined;
}
