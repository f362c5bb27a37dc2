/**
 * The SPD index's hash table of prefixes (`prefix-table.ts`) against a Map: random sets and removals
 * of colliding keys (a handful of values per word), one-word and four-word keys, with every key read
 * back after each step — through growth, shrinking and backward-shift deletion, whose run of moved
 * slots may wrap around the end of the table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixTable } from '../../src/spd/prefix-table.ts';

type Key = [number, number, number, number];

const word = fc.oneof(
  fc.constantFrom(0, 1, 2, -1, 0x7fffffff, -0x80000000, 0x01020304),
  fc.integer({ min: 0, max: 40 }),
);
const keyArb = (wide: boolean) =>
  fc.tuple(word, wide ? word : fc.constant(0), wide ? word : fc.constant(0), wide ? word : fc.constant(0));
const opArb = (wide: boolean) =>
  fc.record({ key: keyArb(wide), head: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })) });

describe('PrefixTable', () => {
  for (const wide of [false, true]) {
    it(`${wide ? 'four-word' : 'one-word'} keys: every stored head reads back, removed keys read 0`, () => {
      fc.assert(
        fc.property(fc.array(opArb(wide), { maxLength: 300 }), (ops) => {
          const t = new PrefixTable(wide ? 128 : 32, wide);
          const model = new Map<string, number>();
          const all: Key[] = [];
          for (const { key, head } of ops) {
            t.set(key[0], key[1], key[2], key[3], head);
            const k = key.join(',');
            if (head === 0) model.delete(k);
            else model.set(k, head);
            all.push(key);
            for (const q of all) expect(t.get(q[0], q[1], q[2], q[3])).toBe(model.get(q.join(',')) ?? 0);
            expect(t.size).toBe(model.size);
          }
          if (!wide) {
            // forEach visits exactly the stored keys with their heads
            const seen = new Map<string, number>();
            t.forEach((a0, h) => {
              seen.set(`${a0},0,0,0`, h);
            });
            expect(seen).toEqual(model);
          }
        }),
        { numRuns: 150 },
      );
    });
  }
});
