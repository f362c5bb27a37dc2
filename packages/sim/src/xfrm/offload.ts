/**
 * The offload hook the XFRM handler calls for XFRMA_OFFLOAD_DEV on a kernel built with
 * CONFIG_XFRM_OFFLOAD (`esp: true`): the device model implements it (xfrmdev_ops). The default hook
 * models a machine where no device has xfrmdev_ops (xfrm-uapi.md §10): crypto offload falls back to
 * software silently, packet offload is refused with EINVAL.
 */
import type { XfrmPolicy, XfrmState, XfrmUserOffload } from '@xfrmkit/core';

export type OffloadMode = 'packet' | 'crypto' | 'none';

export type XfrmOffloadResult =
  | { ok: true; mode: OffloadMode }
  | { ok: false; errno: number; extack?: string };

export interface XfrmOffloadHook {
  /** `xfrm_dev_state_add` after the generic checks of §10.1 #1–#4 passed. */
  stateAdd(sa: XfrmState, offload: XfrmUserOffload, netns: string): XfrmOffloadResult;
  /** `xfrm_dev_policy_add` after the flag check of §10.2 passed. */
  policyAdd(policy: XfrmPolicy, offload: XfrmUserOffload, netns: string): XfrmOffloadResult;
  stateDel(sa: XfrmState, netns: string): void;
  policyDel(policy: XfrmPolicy, netns: string): void;
}

/** A machine whose devices have no xfrmdev_ops. */
export const noDeviceOffload: XfrmOffloadHook = {
  stateAdd(_sa, offload) {
    if (offload.flags & 4) return { ok: false, errno: 22 };
    return { ok: true, mode: 'none' };
  },
  policyAdd() {
    return { ok: false, errno: 22, extack: 'Policy offload is not supported' };
  },
  stateDel() {},
  policyDel() {},
};
