#!/usr/bin/env node
// Runs the whole test suite (vitest) and ends with one plain summary line:
//   tests: N passed, N failed, N skipped
// Exit status is vitest's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// The real-kernel oracle (Debian's kernel under qemu) is prepared from Debian packages and cached
// (first run: ~1 minute, then ~1 s). Without root or apt the oracle tests skip and say why.
if (process.platform === 'linux' && process.getuid?.() === 0 && process.env.XFRMKIT_ORACLE !== 'off') {
  const p = spawnSync('bash', ['packages/oracle/scripts/prepare.sh'], { stdio: 'inherit' });
  if (p.status !== 0) console.log(`oracle: prepare.sh failed (exit ${p.status}); oracle tests will skip`);
}

const out = join(process.cwd(), '.cache', 'vitest-results.json');
mkdirSync(join(process.cwd(), '.cache'), { recursive: true });
rmSync(out, { force: true });
const r = spawnSync(
  process.execPath,
  [join('node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile=${out}`, ...process.argv.slice(2)],
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
