/**
 * The memory-latency reference of the lookup benchmarks (latency.ts): the chase array must be one
 * cycle through every line, or the walk would stay in a few lines (in cache) and measure nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chase, chaseCycle } from '../src/latency.ts';

describe('chaseCycle', () => {
  it('links every 64-byte line into one cycle (Sattolo), for any size and seed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 128, max: 64 * 700 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (bytes, seed) => {
          const a = chaseCycle(bytes, seed);
          const lines = a.length / 16;
          expect(lines).toBe(Math.floor(bytes / 64));
          const seen = new Uint8Array(lines);
          let j = 0;
          for (let i = 0; i < lines; i++) {
            expect(j % 16).toBe(0);
            expect(seen[j / 16]).toBe(0);
            seen[j / 16] = 1;
            j = a[j]!;
          }
          // back at the start after exactly `lines` steps, every line visited once
          expect(j).toBe(0);
          expect(seen.every((x) => x === 1)).toBe(true);
          // only the first word of a line is a link; the rest stay zero
          for (let i = 0; i < a.length; i++) if (i % 16 !== 0) expect(a[i]).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('chase walks the links', () => {
    const a = chaseCycle(64 * 5, 3);
    expect(chase(a, 0, 0)).toBe(0);
    expect(chase(a, 0, 1)).toBe(a[0]);
    expect(chase(a, 0, 2)).toBe(a[a[0]!]);
    expect(chase(a, 0, 5)).toBe(0);
  });
});
