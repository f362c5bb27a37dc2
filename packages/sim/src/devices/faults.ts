/**
 * Fault injection, in the spirit of netdevsim's debugfs knobs: make the next N offload requests
 * fail with a chosen errno, shrink table capacity, fail the next eswitch mode change, and drop or
 * delay devlink notifications. Knobs are plain data on a `SimFaults` object per device.
 */
import type { ProfileLimits } from '@xfrmkit/core';

export interface OffloadFault {
  /** what fails: SA adds, policy adds, or both */
  what: 'state' | 'policy' | 'any';
  /** requests still to fail */
  remaining: number;
  /** positive errno */
  errno: number;
  /** extack text; default the driver's WEAK "mlx5_core: Device failed to offload this state/policy" */
  msg?: string;
}

export interface SimFaults {
  /** queued offload failures, consumed in order */
  offload: OffloadFault[];
  /** capacity overrides applied on top of the profile's limits */
  limits: Partial<ProfileLimits> & { maxIpsecObjects?: number };
  /** the next eswitch mode change fails in the driver with this errno ("Failed setting eswitch to …") */
  modeChange?: { errno: number; remaining: number };
  /** the next encap change in switchdev fails re-creating the FDB ("Failed re-creating fast FDB table") */
  encapChange?: { errno: number; remaining: number };
  /** notifications to drop: a count, or 'all' */
  dropNotifications: number | 'all';
  /** delay (simulated ms, on the machine clock) before notifications are delivered */
  notificationDelayMs: number;
}

export function noFaults(): SimFaults {
  return { offload: [], limits: {}, dropNotifications: 0, notificationDelayMs: 0 };
}

/** Takes one injected failure for `kind` if any is queued. */
export function takeOffloadFault(f: SimFaults, kind: 'state' | 'policy'): OffloadFault | undefined {
  const i = f.offload.findIndex((x) => x.remaining > 0 && (x.what === 'any' || x.what === kind));
  if (i < 0) return undefined;
  const x = f.offload[i]!;
  x.remaining--;
  if (x.remaining <= 0) f.offload.splice(i, 1);
  return x;
}

export function takeCounted(k: { errno: number; remaining: number } | undefined): number | undefined {
  if (!k || k.remaining <= 0) return undefined;
  k.remaining--;
  return k.errno;
}
