#!/usr/bin/env node
// Builds the addon with node-gyp at install time. A failed build never fails the install: the reason is
// written to build/BUILD_FAILED.txt (the loader reports it) and the JS side falls back to node:crypto.
// `--strict` (pnpm --filter @xfrmkit/native rebuild) exits non-zero instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

function findNodeGyp() {
  const candidates = [];
  // npm and pnpm both point this at the node-gyp they bundle.
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(createRequire(join(pkgDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  // the node-gyp bundled with npm, next to the node binary
  const prefix = join(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(join(prefix, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  for (const c of candidates) if (c && existsSync(c)) return { cmd: process.execPath, args: [c] };
  // last resort: whatever is on PATH
  const which = spawnSync('sh', ['-c', 'command -v node-gyp'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return { cmd: which.stdout.trim(), args: [] };
  return null;
}

function fail(reason) {
  const dir = join(pkgDir, 'build');
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'BUILD_FAILED.txt'), `${reason}\n`);
  } catch {}
  console.warn(`@xfrmkit/native: addon not built (${reason.split('\n')[0]}); falling back to node:crypto`);
  process.exit(strict ? 1 : 0);
}

if (process.env.XFRMKIT_NATIVE_SKIP_BUILD === '1') fail('build skipped: XFRMKIT_NATIVE_SKIP_BUILD=1');
const gyp = findNodeGyp();
if (!gyp) fail('node-gyp not found (install it or run through npm/pnpm, which bundle it)');
const args = [...gyp.args, 'rebuild'];
// Use the headers installed next to the node binary (no download) unless a nodedir is configured.
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const r = spawnSync(gyp.cmd, args, { cwd: pkgDir, encoding: 'utf8', env: process.env });
if (r.error || r.status !== 0) {
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
  fail(`node-gyp rebuild failed (${r.error ? r.error.message : `exit ${r.status}`})\n${out}`);
}
console.log('@xfrmkit/native: addon built (build/Release/xfrmkit_native.node)');
