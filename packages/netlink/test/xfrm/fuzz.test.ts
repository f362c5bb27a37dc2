/**
 * Fuzz: ≥ 100k random and mutated real XFRM datagrams into the decoder. The only exception allowed
 * is a NetlinkDecodeError (typed, with what and where); nothing may hang. Whatever decodes must
 * re-encode without throwing. Deterministic (seeded) so a failure is reproducible.
 */
import { describe, expect, it } from 'vitest';
import { decodeDatagram, encodeDatagram, NetlinkDecodeError, NetlinkEncodeError } from '../../src/index.ts';
import { corpus, mutate, rng } from '../support/corpus.ts';

const pool = [...corpus('ip-xfrm'), ...corpus('reference')];

function check(d: Uint8Array, seed: number, stats: { ok: number; typed: number }): void {
  let msgs: ReturnType<typeof decodeDatagram>;
  try {
    msgs = decodeDatagram(d, 'xfrm');
  } catch (e) {
    if (e instanceof NetlinkDecodeError) {
      expect(e.offset).toBeGreaterThanOrEqual(0);
      expect(e.message.length).toBeGreaterThan(0);
      stats.typed++;
      return;
    }
    throw new Error(
      `seed ${seed}: untyped ${(e as Error).name}: ${(e as Error).message} on ${Buffer.from(d).toString('hex')}`,
    );
  }
  try {
    encodeDatagram(msgs);
  } catch (e) {
    if (!(e instanceof NetlinkEncodeError)) {
      throw new Error(`seed ${seed}: re-encode threw ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  stats.ok++;
}

describe('XFRM decoder fuzz', () => {
  it('has a corpus of real datagrams', () => {
    expect(pool.length).toBeGreaterThan(200);
  });

  it('100k mutated real datagrams: only typed decode errors', () => {
    const r = rng(0x5eed);
    const stats = { ok: 0, typed: 0 };
    for (let i = 0; i < 100_000; i++) {
      const src = pool[r() % pool.length]!;
      check(mutate(src, r, pool), i, stats);
    }
    expect(stats.ok + stats.typed).toBe(100_000);
    // both outcomes must occur, or the mutator is not exercising the decoder
    expect(stats.ok).toBeGreaterThan(1000);
    expect(stats.typed).toBeGreaterThan(1000);
  });

  it('20k random datagrams with a plausible header: only typed decode errors', () => {
    const r = rng(0xf00d);
    const stats = { ok: 0, typed: 0 };
    for (let i = 0; i < 20_000; i++) {
      const len = 16 + (r() % 400);
      const d = new Uint8Array(len);
      for (let j = 0; j < len; j++) d[j] = r() & 0xff;
      const dv = new DataView(d.buffer);
      dv.setUint32(0, r() % 3 === 0 ? len : 16 + (r() % len), true);
      dv.setUint16(4, 0x10 + (r() % 0x1a), true);
      check(d, i, stats);
    }
    expect(stats.ok + stats.typed).toBe(20_000);
  });
});
