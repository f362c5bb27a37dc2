import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lifetime/clock.ts';
import {
  checkVolume,
  evaluateSaTimer,
  infiniteLifetime,
  timeoutSeconds,
} from '../../src/lifetime/lifetime.ts';
import { TimerQueue } from '../../src/lifetime/timer-queue.ts';

const cur = (o = {}) => ({ bytes: 0n, packets: 0n, addTime: 100n, useTime: 0n, ...o });

describe('lifetime rules', () => {
  it('time arithmetic wraps like time64_t: ~0 is already expired', () => {
    expect(timeoutSeconds(0xffff_ffff_ffff_ffffn, 100n, 100n)).toBe(-1n);
    expect(
      evaluateSaTimer(
        { ...infiniteLifetime(), hardAddExpiresSeconds: 0xffff_ffff_ffff_ffffn },
        cur(),
        100n,
        false,
      ).hard,
    ).toBe(true);
    expect(evaluateSaTimer(infiniteLifetime(), cur(), 10n ** 12n, false)).toEqual({
      hard: false,
      soft: false,
      next: Infinity,
    });
  });

  it('soft is not re-reported while dying; next is the nearest deadline', () => {
    const l = { ...infiniteLifetime(), softAddExpiresSeconds: 10n, hardAddExpiresSeconds: 50n };
    expect(evaluateSaTimer(l, cur(), 105n, false)).toEqual({ hard: false, soft: false, next: 5 });
    expect(evaluateSaTimer(l, cur(), 110n, false)).toEqual({ hard: false, soft: true, next: 40 });
    expect(evaluateSaTimer(l, cur(), 110n, true)).toEqual({ hard: false, soft: false, next: 40 });
  });

  it('volume limits are checked on the counters before the packet', () => {
    const l = { ...infiniteLifetime(), softByteLimit: 100n, hardPacketLimit: 2n };
    expect(checkVolume(l, cur({ bytes: 99n }), false)).toBe('ok');
    expect(checkVolume(l, cur({ bytes: 100n }), false)).toBe('soft');
    expect(checkVolume(l, cur({ bytes: 100n }), true)).toBe('ok');
    expect(checkVolume(l, cur({ packets: 2n }), true)).toBe('hard');
  });

  it('timer queue pops due items in order and skips re-armed ones', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 50 }), (ts) => {
        const q = new TimerQueue<{ timerGen: number; id: number }>();
        const items = ts.map((_, id) => ({ timerGen: 0, id }));
        ts.forEach((t, i) => {
          q.arm(items[i]!, t);
        });
        q.arm(items[0]!, 1000); // re-arm: the old deadline is stale
        const due = q.popDue(100).map((x) => x.id);
        expect(due).not.toContain(0);
        const times = due.map((id) => ts[id]!);
        expect(times).toEqual([...times].sort((a, b) => a - b));
        expect(q.peek()).toBe(1000);
      }),
    );
    const c = new ManualClock(5);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });
});
