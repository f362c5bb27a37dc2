/**
 * Private network namespaces for tests that touch the real kernel: each test file creates its own
 * (`ip netns add`) and deletes it afterwards, so the host's own XFRM tables are never touched.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function kernelTestSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (ip netns add)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 `ip` not installed';
  }
  return undefined;
}

export function createNetns(prefix = 'xk-test'): string {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  return name;
}

export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Runs a command inside the namespace (e.g. `ip xfrm policy list`), returning stdout. */
export function inNetns(name: string, argv: string[]): string {
  return execFileSync('ip', ['netns', 'exec', name, ...argv], { encoding: 'utf8' });
}
