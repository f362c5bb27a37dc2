/**
 * Policy templates (`struct xfrm_user_tmpl`) as the tools build them: `ip xfrm policy … tmpl …`
 * (iproute2's `xfrm_tmpl_parse` starts from a zeroed template with every algorithm allowed) and
 * strongSwan's charon (`add_policy`: the same masks) send a required (`optional` 0) template that
 * shares nothing special (`share` 0, XFRM_SHARE_ANY) and accepts any auth, encryption and
 * compression algorithm.
 */
import type { XfrmUserTmpl } from '../types/xfrm.ts';

/** An algorithm mask that allows every algorithm (`~0`). */
export const XFRM_ALGOS_ALL = 0xffff_ffff;

/** What a template must say; the rest defaults as the tools send it. */
export type UserTmplFields = Pick<XfrmUserTmpl, 'id' | 'family' | 'saddr' | 'reqid' | 'mode'> &
  Partial<XfrmUserTmpl>;

/**
 * A template with the tools' defaults — `share` 0, `optional` 0, all three algorithm masks
 * `XFRM_ALGOS_ALL` — for whatever `t` does not set; fields in the struct's order.
 */
export function userTmpl(t: UserTmplFields): XfrmUserTmpl {
  return {
    id: t.id,
    family: t.family,
    saddr: t.saddr,
    reqid: t.reqid,
    mode: t.mode,
    share: t.share ?? 0,
    optional: t.optional ?? 0,
    aalgos: t.aalgos ?? XFRM_ALGOS_ALL,
    ealgos: t.ealgos ?? XFRM_ALGOS_ALL,
    calgos: t.calgos ?? XFRM_ALGOS_ALL,
  };
}
