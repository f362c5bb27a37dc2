/**
 * The simulated clock: seconds since the epoch for add_time/use_time, advanced by the simulator's
 * owner (tests move it explicitly; `realtime` follows the wall clock). Timers fire when it advances.
 */
export class SimClock {
  private nowMs: number;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;

  constructor(
    startMs = Date.now(),
    readonly realtime = false,
  ) {
    this.nowMs = startMs;
  }

  /** milliseconds since the epoch */
  now(): number {
    return this.realtime ? Date.now() : this.nowMs;
  }

  /** seconds since the epoch, as the kernel's get_seconds() */
  seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** runs `fn` once the clock reaches now + ms; returns a handle for `cancel` */
  after(ms: number, fn: () => void): number {
    const id = this.nextId++;
    this.timers.push({ at: this.now() + ms, fn, id });
    this.timers.sort((a, b) => a.at - b.at);
    return id;
  }

  cancel(id: number): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** advances the clock, firing due timers in order */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const t = this.timers[0];
      if (!t || t.at > target) break;
      this.timers.shift();
      this.nowMs = Math.max(this.nowMs, t.at);
      t.fn();
    }
    this.nowMs = target;
  }

  /** fires timers that are due by the wall clock (realtime mode) */
  poll(): void {
    const now = this.now();
    while (this.timers[0] && this.timers[0].at <= now) this.timers.shift()!.fn();
  }
}
