/**
 * `xfrmkit oracle diff`: argument parsing and the summary line (no VM), and the command itself
 * against the oracle VM with a few sequences per suite (skipped, with the reason, only where qemu or
 * the prepared kernel is missing; XFRMKIT_ORACLE=require makes that a failure).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { OracleVm, type SuiteResult } from '@xfrmkit/oracle';
import { describe, expect, it } from 'vitest';
import { parseDiffArgs, summaryLine } from '../src/commands/oracle.ts';
import { CliUsageError } from '../src/usage.ts';

const BIN = join(import.meta.dirname, '../../../node_modules/.bin/xfrmkit');

describe('oracle diff arguments', () => {
  it('defaults: kernel 6.12, 100 runs per suite, both suites, a random seed', () => {
    const env = process.env.XFRMKIT_ORACLE_KERNEL;
    delete process.env.XFRMKIT_ORACLE_KERNEL;
    try {
      const a = parseDiffArgs([], () => 0.5);
      expect(a).toEqual({
        kernel: '6.12',
        runs: 100,
        seed: 0x80000000,
        seedGiven: false,
        suites: ['esp', 'netdevsim'],
      });
    } finally {
      if (env !== undefined) process.env.XFRMKIT_ORACLE_KERNEL = env;
    }
  });

  it('takes --kernel, --runs, --seed (decimal or hex), --suite and --path, also as --flag=value', () => {
    expect(
      parseDiffArgs(['--kernel', '6.1', '--runs', '7', '--seed', '0x1f', '--suite', 'esp']),
    ).toMatchObject({
      kernel: '6.1',
      runs: 7,
      seed: 31,
      seedGiven: true,
      suites: ['esp'],
    });
    expect(
      parseDiffArgs(['--kernel=6.12', '--runs=2', '--seed=5', '--suite=netdevsim', '--path=3:1:0']),
    ).toMatchObject({ kernel: '6.12', runs: 2, seed: 5, suites: ['netdevsim'], path: '3:1:0' });
    expect(parseDiffArgs(['--suite', 'all', '--seed', '1']).suites).toEqual(['esp', 'netdevsim']);
  });

  it('refuses what it does not know', () => {
    for (const argv of [
      ['--kernel', '5.10'],
      ['--kernel'],
      ['--runs', '0'],
      ['--runs', 'many'],
      ['--seed', '-1'],
      ['--seed', '0x100000000'],
      ['--suite', 'mlx5'],
      ['--path', '1:2'],
      ['--suite', 'esp', '--path', '1:2'],
      ['--seed', '1', '--path', '1:2'],
      ['--seed', '1', '--suite', 'esp', '--path', 'x'],
      ['--verbose'],
    ])
      expect(() => parseDiffArgs(argv), argv.join(' ')).toThrow(CliUsageError);
  });

  it('ends with "N sequences, M divergences" over all suites (allowed differences are not divergences)', () => {
    const r = (sequences: number, divergences: number, allowed: Record<string, number> = {}) =>
      ({
        name: 'x',
        sequences,
        steps: 0,
        divergences: new Array(divergences).fill({}),
        allowed,
      }) as SuiteResult;
    expect(summaryLine([r(100, 0, { 'extack-added-after-6.1': 12 }), r(100, 2)])).toBe(
      '200 sequences, 2 divergences',
    );
    expect(summaryLine([])).toBe('0 sequences, 0 divergences');
  });

  it('the command line rejects a bad argument with exit status 2', () => {
    const r = spawnSync(BIN, ['oracle', 'diff', '--kernel', '4.19'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--kernel must be one of 6.12, 6.1');
  });
});

const skip = OracleVm.skipReason();

describe.skipIf(skip !== undefined)(
  `xfrmkit oracle diff against the VM${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    it('runs both suites and ends with the summary line', () => {
      const r = spawnSync(BIN, ['oracle', 'diff', '--runs', '4', '--seed', '7'], {
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, XFRMKIT_ORACLE_KERNEL: process.env.XFRMKIT_ORACLE_KERNEL ?? '6.12' },
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(
        /^oracle diff: kernel \S+ \(series 6\.1?2?\), seed 7, 4 sequences per suite \(esp, netdevsim\)$/,
      );
      expect(lines).toContainEqual(expect.stringMatching(/^esp: 4 sequences, 0 divergences/));
      expect(lines).toContainEqual(expect.stringMatching(/^netdevsim: 4 sequences, 0 divergences/));
      expect(lines.at(-1)).toBe('8 sequences, 0 divergences');
    }, 600_000);
  },
);
