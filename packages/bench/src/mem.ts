/**
 * Memory per entry of the core tables at 100k entries (`mem.sa.100k`, `mem.policy.100k`): V8 heap in
 * use (`process.memoryUsage().heapUsed` after forced full GCs) plus `external` (typed-array backing
 * stores, where the SAD/SPD keep their hash slots and policy records), before and after filling a
 * table, with the inputs generated and kept alive before the first reading — so the difference is what
 * the table retains: stored copies, entries, index structures.
 *
 * Also the runner the table suites use (`runBundled`): the suite module is bundled with the installed
 * esbuild into a temporary .mjs and run in a child `node --expose-gc`, which prints its results as
 * JSON. That gives `gc()` for the memory readings, isolates each suite's heap (1M policies), and runs
 * the measured code exactly as a plain ESM bundle. (Measured: for these suites the tsx loader itself
 * is not slower — 186 ns vs 186 ns per 1k-policy lookup — so the 5–6× reported earlier came from the
 * old implementation, not from tsx; the child also stops one suite's garbage from slowing the next.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Sad, Spd, XfrmError } from '@xfrmkit/core';
import type { BenchOptions, BenchResult } from './harness.ts';
import { randomStates } from './sad.ts';
import { mixedPolicies } from './spd.ts';

/** A full GC function: `globalThis.gc` under --expose-gc, else enabled at run time. */
function gcFunction(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Heap in use plus typed-array backing stores, once it has settled: V8 frees ArrayBuffer backing
 * stores on a concurrent sweeper, so `external` can still drop after `gc()` returns (measured: the
 * previous table's slots were released during the next reading, giving a negative size). Collect,
 * yield to the event loop, and read again until two readings agree within 0.1 %.
 */
async function heapBytes(gc: () => void): Promise<number> {
  let last = Number.NaN;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 3; i++) gc();
    await new Promise((r) => setTimeout(r, 20));
    const m = process.memoryUsage();
    // `external` includes ArrayBuffer backing stores (typed arrays)
    const now = m.heapUsed + m.external;
    if (Math.abs(now - last) <= now * 0.001) return now;
    last = now;
  }
  return last;
}

function memResult(id: string, what: string, bytes: number): BenchResult {
  return { id, what, value: bytes, unit: 'bytes', samples: [bytes], spread: 0 };
}

const HOW =
  'process.memoryUsage() heapUsed+external after forced GCs (--expose-gc) until two readings agree, filled table minus before; inputs pre-built and one throwaway table filled from them first';

function fillSad(states: ReturnType<typeof randomStates>): Sad {
  const sad = new Sad();
  for (const s of states) sad.add(s);
  return sad;
}

function fillSpd(pols: ReturnType<typeof mixedPolicies>): Spd {
  const spd = new Spd();
  for (const g of pols) {
    try {
      spd.add(g.policy);
    } catch (e) {
      if (!(e instanceof XfrmError) || e.errno !== 'EEXIST') throw e;
    }
  }
  return spd;
}

/**
 * Bytes retained per SA by a SAD of `n` SAs. A first table is filled from the same inputs and dropped
 * before the first reading, so that what the first pass leaves behind for good (optimised code,
 * flattened strings, object layouts of the inputs) is in both readings: measured without it, a reading
 * after the SA suite could come out below the one before it. Separate function: nothing else stays
 * reachable.
 */
async function saBytes(gc: () => void, n: number): Promise<number> {
  const states = randomStates(n, 11);
  fillSad(states);
  const before = await heapBytes(gc);
  const sad = fillSad(states);
  const after = await heapBytes(gc);
  if (sad.size !== n) throw new Error('mem.sa: SAD size mismatch');
  return (after - before) / n;
}

/** Bytes retained per policy by an SPD of `n` mixed-prefix policies (warmed the same way). */
async function policyBytes(gc: () => void, n: number): Promise<{ bytes: number; size: number }> {
  const pols = mixedPolicies(n, 12);
  fillSpd(pols);
  const before = await heapBytes(gc);
  const spd = fillSpd(pols);
  const after = await heapBytes(gc);
  return { bytes: (after - before) / spd.size, size: spd.size };
}

export async function benchMem(_opts: BenchOptions): Promise<BenchResult[]> {
  const gc = gcFunction();
  const n = 100_000;
  const sa = await saBytes(gc, n);
  const pol = await policyBytes(gc, n);
  return [
    memResult(
      'mem.sa.100k',
      `bytes per SA, ${n} ESP AES-GCM SAs (80% IPv4, tunnel, no selector); ${HOW}`,
      sa,
    ),
    memResult(
      'mem.policy.100k',
      `bytes per policy, ${pol.size} mixed-prefix policies (dir OUT, no templates); ${HOW}`,
      pol.bytes,
    ),
  ];
}

/** Suites that `runBundled` can run, by module file and export. */
const BUNDLED = {
  spd: { file: 'spd.ts', fn: 'benchSpd' },
  sad: { file: 'sad.ts', fn: 'benchSad' },
  mem: { file: 'mem.ts', fn: 'benchMem' },
} as const;

/**
 * Runs a suite in a child `node --expose-gc` from an esbuild bundle; falls back to running it in this
 * process when esbuild is not installed or XFRMKIT_BENCH_INPROC=1.
 */
export async function runBundled(
  name: keyof typeof BUNDLED,
  opts: BenchOptions,
  inProcess: (o: BenchOptions) => Promise<BenchResult[]>,
): Promise<BenchResult[]> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const esbuild = join(here, '../../../node_modules/.bin/esbuild');
  if (process.env.XFRMKIT_BENCH_INPROC === '1' || !existsSync(esbuild)) return inProcess(opts);
  const { file, fn } = BUNDLED[name];
  const dir = mkdtempSync(join(tmpdir(), `xfrmkit-bench-${name}-`));
  try {
    const entry = join(dir, 'entry.ts');
    const out = join(dir, 'bench.mjs');
    writeFileSync(
      entry,
      `import { ${fn} } from ${JSON.stringify(pathToFileURL(join(here, file)).pathname)};\n` +
        `const r = await ${fn}({ quick: ${opts.quick}, only: ${JSON.stringify(opts.only)}, log: (s) => process.stderr.write(s + '\\n') });\n` +
        `process.stdout.write(JSON.stringify(r));\n`,
    );
    await run(esbuild, [
      entry,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      `--outfile=${out}`,
      '--log-level=warning',
      `--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);`,
    ]);
    const json = await run(process.execPath, ['--expose-gc', out]);
    return JSON.parse(json) as BenchResult[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      out += d;
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}
