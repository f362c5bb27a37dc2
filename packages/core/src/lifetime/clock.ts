/**
 * Injectable time source. The engine reads wall-clock *seconds* (the kernel's
 * `ktime_get_real_seconds()`); tests drive a ManualClock instead of real timers.
 */
export interface Clock {
  /** Current time in seconds (may be fractional; the engine floors it like the kernel). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() / 1000 };

export class ManualClock implements Clock {
  private t: number;
  constructor(start = 1_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward by `seconds` (negative values are refused). */
  advance(seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds))
      throw new RangeError(`cannot advance clock by ${seconds}`);
    this.t += seconds;
  }
  set(t: number): void {
    if (!Number.isFinite(t)) throw new RangeError(`invalid time ${t}`);
    this.t = t;
  }
}
