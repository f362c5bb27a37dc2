/**
 * The memory references of the lookup benchmarks: how long one *dependent* load takes on this
 * machine, in the same run, from a working set that fits the core's cache and from one far larger
 * than the last-level cache. A lookup in a table of a million policies must read some policy data
 * it has not read recently; when that data lives beyond the cache, each such read costs one
 * `spd.load.dram`, whatever the structure. These figures put `spd.lookup.*` in those units.
 *
 * Method: an Int32Array holding one random cycle through all of its 64-byte lines (each line's
 * first word is the index of the next line, Sattolo's shuffle), walked `j = a[j]`: every load waits
 * for the one before, so the time per step is the load-to-use latency, not bandwidth.
 *
 *   spd.load.cache   dependent loads/s over 256 KiB (fits L2)
 *   spd.load.dram    dependent loads/s over 64 MiB (beyond the last-level cache)
 */
import { type BenchOptions, type BenchResult, measureRate, result } from './harness.ts';
import { rng } from './spd.ts';

/** Ints per cache line. */
const LINE_INTS = 16;

/** An Int32Array of `bytes` whose lines form one random cycle (seeded): `a[line * 16]` = next line's index. */
export function chaseCycle(bytes: number, seed = 1): Int32Array {
  const lines = Math.max(2, Math.floor(bytes / (LINE_INTS * 4)));
  const a = new Int32Array(lines * LINE_INTS);
  const order = new Int32Array(lines);
  for (let i = 0; i < lines; i++) order[i] = i;
  // Sattolo: a uniformly random permutation with a single cycle
  const r = rng(seed);
  for (let i = lines - 1; i > 0; i--) {
    const k = r() % i;
    const t = order[i]!;
    order[i] = order[k]!;
    order[k] = t;
  }
  for (let i = 0; i < lines; i++) a[order[i]! * LINE_INTS] = order[(i + 1) % lines]! * LINE_INTS;
  return a;
}

/** Walks `steps` links of a cycle from `at`; returns where it stopped. */
export function chase(a: Int32Array, at: number, steps: number): number {
  let j = at;
  for (let i = 0; i < steps; i++) j = a[j]!;
  return j;
}

const STEPS = 8192;

/** Dependent loads/s over a random cycle of `bytes` (samples, as `measureRate`). */
export async function loadRate(id: string, bytes: number, opts: BenchOptions): Promise<number[]> {
  const a = chaseCycle(bytes);
  let at = 0;
  // one full walk first: the pages are touched and, for the small set, the lines are cached
  at = chase(a, at, a.length / LINE_INTS);
  return measureRate(
    id,
    () => {
      at = chase(a, at, STEPS);
    },
    STEPS,
    opts,
  );
}

export const CACHE_BYTES = 256 * 1024;
export const DRAM_BYTES = 64 * 1024 * 1024;

/** `spd.load.cache` and `spd.load.dram` (dependent loads/s; ns/op is the latency of one load). */
export async function benchLoads(opts: BenchOptions): Promise<BenchResult[]> {
  const cache = await loadRate('spd.load.cache', CACHE_BYTES, opts);
  const dram = await loadRate('spd.load.dram', DRAM_BYTES, opts);
  return [
    result(
      'spd.load.cache',
      'dependent loads through a random cycle of 64-byte lines over 256 KiB (in cache): load-to-use latency',
      'loads/s',
      cache,
    ),
    result(
      'spd.load.dram',
      'dependent loads through a random cycle of 64-byte lines over 64 MiB (beyond the last-level cache): ' +
        'the cost of one read of data not in cache',
      'loads/s',
      dram,
    ),
  ];
}
