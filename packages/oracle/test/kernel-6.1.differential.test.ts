/**
 * bookworm's 6.1 kernel (`XFRMKIT_ORACLE_KERNEL=6.1 bash packages/oracle/scripts/prepare.sh`)
 * against the simulator: the crypto API probes and a bounded number of random sequences of both
 * suites (ORACLE_61_RUNS each, default 150, seed ORACLE_61_SEED). 6.1 predates much of what the
 * simulator models (XFRMA_SA_DIR, packet offload, ~40 extack messages, its devlink core): those
 * requests are not generated or their answers are allowed differences, each listed once with its
 * reason in src/diff/allowed.ts. Anything else that differs fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALLOWED_DIFFERENCES, EXCLUDED_REQUESTS } from '../src/diff/allowed.ts';
import { openEspRunner } from '../src/diff/esp.ts';
import { arbEspSequence } from '../src/diff/esp-requests.ts';
import { arbNetdevsimSequence, openNetdevsimRunner } from '../src/diff/netdevsim.ts';
import { algorithmProbes } from '../src/diff/probes.ts';
import type { DiffRunner } from '../src/diff/runner.ts';
import { formatSuite, runSuite } from '../src/diff/suite.ts';
import { OracleVm } from '../src/vm.ts';

const skip = OracleVm.skipReason('6.1');
const RUNS = Number(process.env.ORACLE_61_RUNS ?? 150);
const SEED = Number(process.env.ORACLE_61_SEED ?? 0x61);

describe.skipIf(skip !== undefined)(`Debian 6.1 vs the simulator${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let vm: OracleVm;
  const runners: DiffRunner[] = [];

  beforeAll(async () => {
    vm = await OracleVm.shared({ series: '6.1' });
  }, 300_000);

  afterAll(async () => {
    for (const r of runners) {
      r.kernel.close();
      r.sim.close();
    }
    await vm?.shutdown();
  });

  test('the oracle runs bookworm 6.1 with the modules 6.1 needs loaded by hand', async () => {
    expect(vm.kernelRelease).toMatch(/^6\.1\.0-\d+-amd64$/);
    const mods = await vm.sh('cut -d" " -f1 /proc/modules');
    for (const m of ['ctr', 'drbg', 'virtio_console', 'esp4', 'netdevsim'])
      expect(mods).toMatch(new RegExp(`^${m}$`, 'm'));
    // every allowed difference and exclusion that applies to 6.1 says why
    for (const a of [...ALLOWED_DIFFERENCES, ...EXCLUDED_REQUESTS].filter((x) => x.kernels.includes('6.1')))
      expect(a.reason.length, a.id).toBeGreaterThan(40);
  });

  test('crypto API: every algorithm of the table answers as in the simulator', async () => {
    const runner = await openEspRunner(vm);
    try {
      for (const p of algorithmProbes()) await runner.run([{ what: `probe ${p.name}`, bytes: p.bytes }]);
    } finally {
      runner.kernel.close();
      runner.sim.close();
    }
  }, 300_000);

  test(`${RUNS} ESP/XFRM and ${RUNS} netdevsim sequences: no divergence beyond the allowed list`, async () => {
    const esp = await openEspRunner(vm);
    const nsim = (await openNetdevsimRunner(vm)).runner;
    runners.push(esp, nsim);
    const results = [
      await runSuite('esp', arbEspSequence('6.1'), esp, { runs: RUNS, seed: SEED, maxDivergences: 1 }),
      await runSuite('netdevsim', arbNetdevsimSequence('6.1'), nsim, {
        runs: RUNS,
        seed: SEED,
        maxDivergences: 1,
      }),
    ];
    for (const r of results) {
      expect(r.divergences.length, formatSuite(r)).toBe(0);
      expect(r.sequences).toBe(RUNS);
      for (const id of Object.keys(r.allowed)) expect(ALLOWED_DIFFERENCES.map((a) => a.id)).toContain(id);
    }
  }, 900_000);
});
