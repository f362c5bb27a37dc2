/**
 * `xfrmkit bench` end to end (the CLI binary): table and target verdicts on stdout, progress on stderr,
 * --json, --svg.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { reportProblems } from '../src/index.ts';

const BIN = fileURLToPath(new URL('../../cli/bin/xfrmkit.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'xfrmkit-bench-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function xfrmkit(...args: string[]) {
  return spawnSync(process.execPath, [BIN, 'bench', ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('xfrmkit bench', () => {
  it('--quick --only codec --json --svg: table, progress, report and chart', () => {
    const json = join(dir, 'r.json');
    const svg = join(dir, 'r.svg');
    const r = xfrmkit('--quick', '--only', 'codec', '--json', json, '--svg', svg);
    expect(r.status, r.stderr).toBe(0);
    // the table, a blank line, the verdicts of the targets this run measured
    const [table, verdicts] = r.stdout.trimEnd().split('\n\n');
    const lines = table!.split('\n');
    expect(lines[0]).toMatch(
      /^id\s+value\s+unit\s+spread\s+best\s+Gb\/s\s+ns\/op\s+baseline\s+ratio\s+what$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['codec.newsa', 'codec.dump1000']);
    const v = verdicts!.split('\n');
    expect(v[0]).toContain('judged on full runs only');
    expect(v.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['codec.newsa', 'codec.dump1000']);
    expect(v.slice(2).every((l) => l.endsWith('(quick run)'))).toBe(true);
    expect(r.stderr).toContain('[1/1] running codec');
    expect(r.stderr).toContain(`wrote ${svg}`);
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(reportProblems(rep)).toEqual([]);
    expect(rep.targets.map((t: { name: string }) => t.name)).toEqual(['codec.newsa', 'codec.dump1000']);
    const s = readFileSync(svg, 'utf8');
    expect(s.startsWith('<svg')).toBe(true);
    expect(s).toContain('no esp.* results in this run');
  });

  it('refuses unknown options and a missing value', () => {
    const a = xfrmkit('--fast');
    expect(a.status).not.toBe(0);
    expect(a.stderr).toContain('unknown option --fast');
    const b = xfrmkit('--svg');
    expect(b.status).not.toBe(0);
    expect(b.stderr).toContain('--svg needs a value');
  });

  it('says so when --only matches nothing', () => {
    const r = xfrmkit('--quick', '--only', 'nosuch');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('no benchmark matches --only nosuch');
  });
});
