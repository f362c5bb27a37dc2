/**
 * Every suite of SUITES in --quick mode through runBenchmarks: a well-formed JSON report whose ids
 * belong to the suite, plus the ids and baselines the issue names for the suites of this package.
 * No timing assertions (the machine is shared): only shape, ids, and the arithmetic that ties a
 * figure to its baseline.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BenchReport,
  type BenchResult,
  benchEsp,
  benchSim,
  ESP_SIZES,
  kernelProgramUnavailable,
  reportProblems,
  runBenchmarks,
  SUITES,
  sizesFor,
} from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'xfrmkit-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function quickReport(only: string): Promise<BenchReport> {
  const file = join(dir, `${only}.json`);
  await runBenchmarks({ quick: true, only, json: file });
  return JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
}

const byId = (rs: BenchResult[]) => new Map(rs.map((r) => [r.id, r]));

const ROOT_SKIP = kernelProgramUnavailable();

/** ids this package promises per suite (the other suites are checked for shape only) */
const EXPECTED: Record<string, string[]> = {
  esp: ESP_SIZES.flatMap((s) => [
    `esp.raw_seal.${s}`,
    `esp.raw_open.${s}`,
    `esp.raw_seal.${s}.single`,
    `esp.raw_open.${s}.single`,
    ...['encap', 'decap'].flatMap((d) => ['', '.noesn', '.single', '.node'].map((v) => `esp.${d}.${s}${v}`)),
  ]),
  codec: ['codec.newsa', 'codec.dump1000'],
  spd: ['spd.load.cache', 'spd.load.dram', ...['1k', '10k', '100k', '1m'].map((n) => `spd.lookup.${n}`)],
  kernel: ['kernel.program.100k'],
  sim: [
    'sim.program.100k',
    'sim.pipeline.real',
    'sim.pipeline.real.threaded',
    'sim.pipeline.modeled',
    'sim.pipeline.modeled.threaded',
  ],
};

describe('every suite in --quick mode writes a well-formed report', () => {
  for (const suite of SUITES) {
    const skip = suite.name === 'kernel' && ROOT_SKIP;
    it.skipIf(skip)(
      `${suite.name}${skip ? ` (skipped: ${ROOT_SKIP})` : ''}`,
      async () => {
        const rep = await quickReport(suite.name);
        expect(reportProblems(rep)).toEqual([]);
        expect(rep.machine).toMatchObject({ node: process.version });
        expect(rep.results.length).toBeGreaterThan(0);
        for (const r of rep.results) expect(r.id.startsWith(`${suite.name}.`)).toBe(true);
        const want = EXPECTED[suite.name];
        if (want) expect(rep.results.map((r) => r.id).sort()).toEqual([...want].sort());
      },
      90_000,
    );
  }

  it('the issue’s ids are all claimed by some suite', () => {
    const names = new Set(SUITES.map((s) => s.name));
    for (const s of Object.keys(EXPECTED)) expect(names.has(s)).toBe(true);
  });
});

describe('esp', () => {
  it('puts each encap/decap figure next to the ceiling of the same size, with Gb/s and ns/packet', () => {
    const rs = benchEsp({ quick: true, samples: 2, roundMs: 4, sizes: ['512', 'imix'] });
    expect(reportProblems({ machine: {}, results: rs })).toEqual([]);
    const m = byId(rs);
    for (const size of ['512', 'imix'] as const) {
      const bytes = sizesFor(size, 256).reduce((a, b) => a + b, 0) / 256;
      for (const [dir, raw] of [
        ['encap', 'raw_seal'],
        ['decap', 'raw_open'],
      ] as const) {
        const ceiling = m.get(`esp.${raw}.${size}`)!;
        expect(ceiling.baseline).toBeUndefined();
        // one packet per call is measured against the raw AES-GCM call of one packet per call
        const ceilingOne = m.get(`esp.${raw}.${size}.single`)!;
        expect(ceilingOne.baseline).toBeUndefined();
        expect(ceilingOne.what).toContain('one packet per call');
        for (const v of ['', '.noesn', '.single', '.node']) {
          const r = m.get(`esp.${dir}.${size}${v}`)!;
          const base = v === '.single' ? ceilingOne : ceiling;
          expect(r.unit).toBe('Mpps');
          expect(r.baseline).toBe(base.value);
          expect(r.baseline_name).toContain(`raw AES-GCM ${raw === 'raw_seal' ? 'seal' : 'open'}`);
          expect(r.ratio).toBeCloseTo(r.value / base.value, 12);
          expect(r.gbps).toBeCloseTo((r.value * bytes * 8) / 1000, 9);
          expect(r.ns_per_op).toBeCloseTo(1000 / r.value, 6);
          expect(r.samples).toHaveLength(2);
        }
        expect(m.get(`esp.${dir}.${size}.node`)!.what).toContain('node-crypto');
        expect(m.get(`esp.${dir}.${size}.noesn`)!.what).toContain('no ESN');
        expect(m.get(`esp.${dir}.${size}.single`)!.what).toContain('one packet per call');
        expect(m.get(`esp.${dir}.${size}.single`)!.what).toContain(`baseline: raw AES-GCM`);
        expect(m.get(`esp.${dir}.${size}.single`)!.baseline_name).toContain('one packet per call');
      }
    }
  });

  it('measures only what --only selects, and always the ceiling it needs', () => {
    const rs = benchEsp({ quick: true, samples: 1, roundMs: 2, only: 'esp.decap.64.single' });
    expect(rs.map((r) => r.id)).toEqual(['esp.decap.64.single']);
    expect(rs[0]!.baseline).toBeGreaterThan(0);
  });
});

describe('runBenchmarks --only', () => {
  it('filters ids inside a suite', async () => {
    const rep = await quickReport('codec.newsa');
    expect(rep.results.map((r) => r.id)).toEqual(['codec.newsa']);
  });
});

describe('sim', () => {
  it('takes the esp.encap.1400 baseline of the same run when the esp suite ran first', async () => {
    const prior = [
      { id: 'esp.encap.1400', what: 'w', value: 0.5, unit: 'Mpps', samples: [0.5], spread: 0 },
    ] satisfies BenchResult[];
    const [r, threaded] = await benchSim({ quick: true, only: 'sim.pipeline.modeled', prior });
    expect(r!.id).toBe('sim.pipeline.modeled');
    expect(threaded!.id).toBe('sim.pipeline.modeled.threaded');
    expect(threaded!.baseline).toBe(0.5);
    expect(threaded!.what).toContain('two threads');
    expect(r!.baseline).toBe(0.5);
    expect(r!.baseline_name).toBe('esp.encap.1400 (this run)');
    expect(r!.ratio).toBeCloseTo(r!.value / 0.5, 12);
    expect(r!.what).toContain('modeled crypto');
  });

  it.skipIf(ROOT_SKIP)(
    `takes the kernel figure of the same run as the sim.program baseline${ROOT_SKIP ? ` (skipped: ${ROOT_SKIP})` : ''}`,
    async () => {
      const prior = [
        { id: 'kernel.program.100k', what: 'w', value: 1234, unit: 'policies/s', samples: [1234], spread: 0 },
      ] satisfies BenchResult[];
      const [r] = await benchSim({ quick: true, only: 'sim.program', prior });
      expect(r!.id).toBe('sim.program.100k');
      expect(r!.what).toMatch(/^5000 policies/);
      expect(r!.baseline).toBe(1234);
    },
  );
});
