#!/usr/bin/env node
// Runs the whole test suite (vitest) and ends with one plain summary line:
//   tests: N passed, N failed, N skipped
// Exit status is vitest's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// The real-kernel oracle (Debian's kernels under qemu: bookworm-security's 6.12, the default, and
// bookworm's 6.1) is prepared from Debian packages and cached (first run: ~1 minute per kernel, then
// ~1 s). Without root or apt the oracle tests skip and say why.
if (process.platform === 'linux' && process.getuid?.() === 0 && process.env.XFRMKIT_ORACLE !== 'off') {
  for (const series of ['6.12', '6.1']) {
    const p = spawnSync('bash', ['packages/oracle/scripts/prepare.sh'], {
      stdio: 'inherit',
      env: { ...process.env, XFRMKIT_ORACLE_KERNEL: series },
    });
    if (p.status !== 0)
      console.log(`oracle: prepare.sh ${series} failed (exit ${p.status}); its tests will skip`);
  }
}

const out = join(process.cwd(), '.cache', 'vitest-results.json');
mkdirSync(join(process.cwd(), '.cache'), { recursive: true });
rmSync(out, { force: true });
const r = spawnSync(
  process.execPath,
  [
    join('node_modules', 'vitest', 'vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${out}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let summary = 'tests: summary unavailable (vitest wrote no results)';
try {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  summary = `tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + (j.numTodoTests ?? 0)} skipped`;
  if (j.numTotalTests === 0) {
    summary += ' (no test ran)';
    if (r.status === 0) r.status = 1;
  }
} catch {}
console.log(summary);
process.exit(r.status ?? 1);
