/**
 * Runs a differential suite: `runs` random sequences of a fast-check arbitrary through a
 * DiffRunner. A divergence is shrunk by fast-check to a minimal sequence that still reproduces it;
 * the suite then goes on with the sequences left (a new seed), so one run can report several.
 * Allowed differences end their sequence and are tallied, they are not divergences.
 *
 * Replaying one divergence: the same `seed` with the reported `path` (fast-check's counterexample
 * path) runs exactly the shrunk sequence again.
 */
import fc from 'fast-check';
import { type DiffRunner, Divergence, type OracleOp, showRequest } from './runner.ts';

export interface SuiteOptions {
  /** sequences to run */
  runs: number;
  seed: number;
  /** replay a counterexample path of a previous report (with its seed) */
  path?: string;
  /** stop after this many divergences (default 5) */
  maxDivergences?: number;
}

export interface SuiteDivergence {
  /** seed and fast-check path that replay the shrunk sequence */
  seed: number;
  path: string;
  /** the minimal sequence fast-check shrunk the failing one to */
  ops: OracleOp[];
  /** the divergence of the shrunk sequence (requests and both sides' answers, keys redacted) */
  error: Divergence;
}

export interface SuiteResult {
  name: string;
  /** sequences run (shrinking runs not counted) */
  sequences: number;
  /** requests compared (shrinking included) */
  steps: number;
  divergences: SuiteDivergence[];
  /** allowed difference id → steps it excused */
  allowed: Record<string, number>;
}

/** A printable sequence: one line per step with the request hex (keys redacted). */
export function formatSequence(ops: readonly OracleOp[]): string {
  return ops
    .map((o) => {
      if (o.action) return `  ${o.what}`;
      return `  ${o.what}${o.family ? ` (${o.family})` : ''}: ${showRequest(o.bytes, o.protocol ?? 6)}`;
    })
    .join('\n');
}

export async function runSuite(
  name: string,
  arb: fc.Arbitrary<OracleOp[]>,
  runner: DiffRunner,
  opts: SuiteOptions,
): Promise<SuiteResult> {
  const result: SuiteResult = { name, sequences: 0, steps: 0, divergences: [], allowed: {} };
  const max = opts.maxDivergences ?? 5;
  const steps0 = runner.steps;
  let remaining = opts.runs;
  let seed = opts.seed >>> 0;
  while (remaining > 0 && result.divergences.length < max) {
    // outcome of every property call in order: the first `numRuns` are the real runs, then shrinking
    const outcomes: string[][] = [];
    let broken: Error | undefined;
    const prop = fc.asyncProperty(arb, async (ops) => {
      if (broken) return; // the VM failed: let shrinking end at once, rethrown below
      try {
        outcomes.push((await runner.run(ops)).allowed.map((a) => a.id));
      } catch (e) {
        if (!(e instanceof Divergence)) broken = e as Error;
        throw e;
      }
    });
    const params: fc.Parameters<[OracleOp[]]> = { numRuns: remaining, seed, endOnFailure: false };
    // a replay runs the one sequence the path names (fast-check starts there)
    if (opts.path !== undefined) Object.assign(params, { path: opts.path, numRuns: 1 });
    const details = await fc.check(prop, params);
    if (broken) throw broken;
    const real = details.failed ? details.numRuns - 1 : details.numRuns;
    for (const ids of outcomes.slice(0, real))
      for (const id of ids) result.allowed[id] = (result.allowed[id] ?? 0) + 1;
    result.sequences += details.numRuns;
    remaining = opts.path !== undefined ? 0 : remaining - details.numRuns;
    if (!details.failed) break;
    const error = details.errorInstance;
    if (!(error instanceof Divergence)) throw error instanceof Error ? error : new Error(String(error));
    result.divergences.push({
      seed,
      path: details.counterexamplePath ?? '',
      ops: details.counterexample?.[0] ?? [],
      error,
    });
    if (opts.path !== undefined) break;
    seed = (seed + 0x9e3779b9) >>> 0;
  }
  result.steps = runner.steps - steps0;
  return result;
}

/** The report of a suite: its line, then each divergence with its shrunk sequence. */
export function formatSuite(r: SuiteResult): string {
  const allowed = Object.entries(r.allowed)
    .map(([id, n]) => `${id} ×${n}`)
    .join(', ');
  const lines = [
    `${r.name}: ${r.sequences} sequences, ${r.divergences.length} divergences${allowed ? ` (allowed differences: ${allowed})` : ''}`,
  ];
  for (const [i, d] of r.divergences.entries()) {
    lines.push(
      `--- ${r.name} divergence ${i + 1}: replay with --seed ${d.seed} --path ${d.path}`,
      `minimal sequence (${d.ops.length} steps):`,
      formatSequence(d.ops),
      d.error.message,
    );
  }
  return lines.join('\n');
}
