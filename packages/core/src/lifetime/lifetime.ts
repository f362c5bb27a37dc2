/**
 * Lifetime rules of SAs and policies (`xfrm_timer_handler`, `xfrm_state_check_expire`,
 * `xfrm_policy_timer` in net/xfrm), as pure functions over the uapi lifetime structs.
 *
 * Conventions (xfrm-uapi.md §3): byte/packet limits use XFRM_INF (~0) for "none"; time limits use 0
 * for "none". Time arithmetic is done the kernel's way — `limit + add_time - now` in signed 64-bit —
 * so a time limit of ~0 wraps negative and expires on the first timer run.
 */
import type { XfrmLifetimeCfg, XfrmLifetimeCur } from '../types/xfrm.ts';
import { XFRM_INF } from '../types/xfrm.ts';

/** Seconds until the next timer run is needed; Infinity = no timer. */
export type TimerDelay = number;

/** Kernel's XFRM_KM_TIMEOUT: a policy soft-expire warning is repeated this often (seconds). */
export const XFRM_KM_TIMEOUT = 30;

/** `(limit + base - now)` as the kernel computes it in time64_t (signed 64-bit wrap). */
export function timeoutSeconds(limit: bigint, base: bigint, now: bigint): bigint {
  return BigInt.asIntN(64, limit + base - now);
}

function toDelay(tmo: bigint): number {
  return tmo > 1_000_000_000_000n ? 1_000_000_000_000 : Number(tmo);
}

export interface SaTimerVerdict {
  /** the SA must be deleted now with a hard EXPIRE. */
  hard: boolean;
  /** a soft EXPIRE must be sent now (the SA becomes "dying"). */
  soft: boolean;
  /** seconds until the timer must run again (Infinity = never). */
  next: TimerDelay;
}

/**
 * One run of the SA timer (`xfrm_timer_handler`) at integer time `now` (seconds).
 * `dying` = the SA already soft-expired (then soft limits are not re-checked).
 */
export function evaluateSaTimer(
  lft: XfrmLifetimeCfg,
  cur: XfrmLifetimeCur,
  now: bigint,
  dying: boolean,
): SaTimerVerdict {
  let next = Number.POSITIVE_INFINITY;
  if (lft.hardAddExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.hardAddExpiresSeconds, cur.addTime, now);
    if (tmo <= 0n) return { hard: true, soft: false, next };
    next = Math.min(next, toDelay(tmo));
  }
  if (lft.hardUseExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.hardUseExpiresSeconds, cur.useTime !== 0n ? cur.useTime : now, now);
    if (tmo <= 0n) return { hard: true, soft: false, next };
    next = Math.min(next, toDelay(tmo));
  }
  if (dying) return { hard: false, soft: false, next };
  let soft = false;
  if (lft.softAddExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.softAddExpiresSeconds, cur.addTime, now);
    if (tmo <= 0n) soft = true;
    else next = Math.min(next, toDelay(tmo));
  }
  if (lft.softUseExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.softUseExpiresSeconds, cur.useTime !== 0n ? cur.useTime : now, now);
    if (tmo <= 0n) soft = true;
    else next = Math.min(next, toDelay(tmo));
  }
  return { hard: false, soft, next };
}

/** True if a soft time limit would also have fired at `now` (used when a clock jump passes both). */
export function saSoftTimeReached(lft: XfrmLifetimeCfg, cur: XfrmLifetimeCur, now: bigint): boolean {
  if (lft.softAddExpiresSeconds !== 0n && timeoutSeconds(lft.softAddExpiresSeconds, cur.addTime, now) <= 0n)
    return true;
  if (
    lft.softUseExpiresSeconds !== 0n &&
    cur.useTime !== 0n &&
    timeoutSeconds(lft.softUseExpiresSeconds, cur.useTime, now) <= 0n
  )
    return true;
  return false;
}

export type VolumeVerdict = 'ok' | 'soft' | 'hard';

/**
 * `xfrm_state_check_expire`: run before a packet is counted. `hard` when the *current* counters
 * already reached a hard limit (the packet is refused and the SA expires), `soft` when they reached
 * a soft limit and the SA was not dying yet.
 */
export function checkVolume(lft: XfrmLifetimeCfg, cur: XfrmLifetimeCur, dying: boolean): VolumeVerdict {
  if (cur.bytes >= lft.hardByteLimit || cur.packets >= lft.hardPacketLimit) return 'hard';
  if (!dying && (cur.bytes >= lft.softByteLimit || cur.packets >= lft.softPacketLimit)) return 'soft';
  return 'ok';
}

export interface PolicyTimerVerdict {
  hard: boolean;
  soft: boolean;
  next: TimerDelay;
}

/** One run of `xfrm_policy_timer`: soft warnings repeat every XFRM_KM_TIMEOUT seconds. */
export function evaluatePolicyTimer(
  lft: XfrmLifetimeCfg,
  cur: XfrmLifetimeCur,
  now: bigint,
): PolicyTimerVerdict {
  let next = Number.POSITIVE_INFINITY;
  const useBase = cur.useTime !== 0n ? cur.useTime : cur.addTime;
  if (lft.hardAddExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.hardAddExpiresSeconds, cur.addTime, now);
    if (tmo <= 0n) return { hard: true, soft: false, next };
    next = Math.min(next, toDelay(tmo));
  }
  if (lft.hardUseExpiresSeconds !== 0n) {
    const tmo = timeoutSeconds(lft.hardUseExpiresSeconds, useBase, now);
    if (tmo <= 0n) return { hard: true, soft: false, next };
    next = Math.min(next, toDelay(tmo));
  }
  let soft = false;
  if (lft.softAddExpiresSeconds !== 0n) {
    let tmo = timeoutSeconds(lft.softAddExpiresSeconds, cur.addTime, now);
    if (tmo <= 0n) {
      soft = true;
      tmo = BigInt(XFRM_KM_TIMEOUT);
    }
    next = Math.min(next, toDelay(tmo));
  }
  if (lft.softUseExpiresSeconds !== 0n) {
    let tmo = timeoutSeconds(lft.softUseExpiresSeconds, useBase, now);
    if (tmo <= 0n) {
      soft = true;
      tmo = BigInt(XFRM_KM_TIMEOUT);
    }
    next = Math.min(next, toDelay(tmo));
  }
  return { hard: false, soft, next };
}

/** True when any time limit is configured (the object needs a timer). */
export function hasTimeLimits(lft: XfrmLifetimeCfg): boolean {
  return (
    lft.softAddExpiresSeconds !== 0n ||
    lft.hardAddExpiresSeconds !== 0n ||
    lft.softUseExpiresSeconds !== 0n ||
    lft.hardUseExpiresSeconds !== 0n
  );
}

/** The iproute2 default: no limits (XFRM_INF volumes, 0 times). */
export function infiniteLifetime(): XfrmLifetimeCfg {
  return {
    softByteLimit: XFRM_INF,
    hardByteLimit: XFRM_INF,
    softPacketLimit: XFRM_INF,
    hardPacketLimit: XFRM_INF,
    softAddExpiresSeconds: 0n,
    hardAddExpiresSeconds: 0n,
    softUseExpiresSeconds: 0n,
    hardUseExpiresSeconds: 0n,
  };
}

export function zeroCurLifetime(): XfrmLifetimeCur {
  return { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n };
}
