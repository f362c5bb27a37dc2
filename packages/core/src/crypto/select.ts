/**
 * Picks the AES-GCM provider: the native addon when it loaded, else `node:crypto` with ONE warning per
 * process on stderr saying why the addon is unavailable. `XFRMKIT_GCM=node` forces the fallback
 * silently (benchmarks, tests); `XFRMKIT_GCM=native` makes a missing addon an error.
 */
import { type NativeApi, native, nativeLoadError } from '@xfrmkit/native';
import type { GcmProvider } from './gcm.ts';
import { createNativeGcmProvider } from './native-gcm.ts';
import { nodeGcmProvider } from './node-gcm.ts';

const WARNED = Symbol.for('xfrmkit.crypto.nativeFallbackWarned');

export interface SelectGcmOptions {
  /** The addon (default: `@xfrmkit/native`'s). */
  api?: NativeApi | null;
  /** Why the addon is null (default: `nativeLoadError`). */
  reason?: string | null;
  /** Provider preference (default: `process.env.XFRMKIT_GCM`): 'native' | 'node' | undefined (auto). */
  prefer?: string | undefined;
  /** Where the one-time warning goes (default: stderr). */
  warn?: (message: string) => void;
}

/** The warning text for a missing addon. */
export function nativeFallbackWarning(reason: string | null): string {
  return (
    `xfrmkit: native AES-GCM addon (@xfrmkit/native) is unavailable: ${reason ?? 'unknown reason'}. ` +
    'Falling back to node:crypto (same bytes, ~5-10x slower per packet). ' +
    'Rebuild it with `node packages/native/scripts/build.mjs --strict`.'
  );
}

export function selectGcmProvider(opts: SelectGcmOptions = {}): GcmProvider {
  const api = opts.api === undefined ? native : opts.api;
  const reason = opts.reason === undefined ? nativeLoadError : opts.reason;
  const prefer = 'prefer' in opts ? opts.prefer : process.env.XFRMKIT_GCM;
  if (prefer === 'node') return nodeGcmProvider;
  if (api) return createNativeGcmProvider(api);
  if (prefer === 'native')
    throw new Error(`XFRMKIT_GCM=native but the addon is unavailable: ${reason ?? 'unknown'}`);
  const g = globalThis as unknown as Record<symbol, boolean>;
  if (!g[WARNED]) {
    g[WARNED] = true;
    const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
    warn(nativeFallbackWarning(reason));
  }
  return nodeGcmProvider;
}

let cached: GcmProvider | null = null;

/** The process-wide default provider (selected on first use). */
export function defaultGcmProvider(): GcmProvider {
  cached ??= selectGcmProvider();
  return cached;
}

/** For tests: forget the once-per-process warning flag and the cached default. */
export function resetGcmProviderSelection(): void {
  cached = null;
  delete (globalThis as unknown as Record<symbol, boolean>)[WARNED];
}
