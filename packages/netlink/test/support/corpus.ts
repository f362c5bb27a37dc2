/** Every real datagram we have on disk (kernel + iproute2 captures), for fuzzing and round trips. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseHexInput } from '../../src/tools/hexinput.ts';

function walk(dir: string, out: string[]): void {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (f.endsWith('.txt') && !f.startsWith('commands')) out.push(p);
  }
}

export function corpus(kind: 'ip-xfrm' | 'devlink' | 'reference'): Uint8Array[] {
  const files: string[] = [];
  const root = join(import.meta.dirname, '..');
  if (kind === 'reference') walk(join(root, 'xfrm', 'reference-captures'), files);
  else {
    for (const v of ['iproute2-6.1', 'iproute2-6.15']) walk(join(root, 'fixtures', v, kind), files);
  }
  const out: Uint8Array[] = [];
  for (const f of files) {
    try {
      for (const d of parseHexInput(readFileSync(f, 'utf8').split('# ---- raw strace output ----')[0]!))
        out.push(d.bytes);
    } catch {
      // summaries without hex (probe files) carry no datagrams
    }
  }
  return out;
}

/** xorshift32: a small deterministic PRNG so a failing case can be reproduced from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** One mutation of a real datagram: bit flips, byte overwrites, truncation, length-field edits, splices. */
export function mutate(src: Uint8Array, r: () => number, pool: Uint8Array[]): Uint8Array {
  let b = src.slice();
  const n = 1 + (r() % 4);
  for (let k = 0; k < n; k++) {
    const op = r() % 7;
    if (b.length === 0) break;
    const at = r() % b.length;
    switch (op) {
      case 0:
        b[at]! ^= 1 << (r() % 8);
        break;
      case 1:
        b[at] = r() & 0xff;
        break;
      case 2:
        b = b.slice(0, at);
        break;
      case 3: {
        // corrupt a 16-bit length field at a 4-byte boundary (nla_len / nlmsg_len low half)
        const p = at & ~3;
        if (p + 1 < b.length) {
          const v = r() % 3 === 0 ? 0xffff : r() & 0x1ff;
          b[p] = v & 0xff;
          b[p + 1] = v >> 8;
        }
        break;
      }
      case 4: {
        const other = pool[r() % pool.length]!;
        const from = r() % Math.max(1, other.length);
        const piece = other.slice(from, from + (r() % 64));
        const nb = new Uint8Array(b.length + piece.length);
        nb.set(b.subarray(0, at));
        nb.set(piece, at);
        nb.set(b.subarray(at), at + piece.length);
        b = nb;
        break;
      }
      case 5:
        b[at] = 0;
        break;
      case 6: {
        const extra = new Uint8Array(r() % 9);
        for (let i = 0; i < extra.length; i++) extra[i] = r() & 0xff;
        const nb = new Uint8Array(b.length + extra.length);
        nb.set(b);
        nb.set(extra, b.length);
        b = nb;
        break;
      }
    }
  }
  return b;
}
