/**
 * Fuzz: ≥ 100k random and mutated real requests (iproute2 and kernel captures as corpus, plus the
 * differential generator's requests) into the simulator. Each must be answered by an ack, a netlink
 * error, a reply or a dump — never by the endpoint's "simulator:" internal-error fallback — and the
 * table invariants must hold after each.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { corpus, mutate, rng } from '../../../netlink/test/support/corpus.ts';
import { SimClock } from '../../src/clock.ts';
import { SimMachine } from '../../src/machine.ts';
import { arbOp } from '../../src/xfrm/diff-requests.ts';
import { XfrmHandler } from '../../src/xfrm/handler.ts';

const N = Number(process.env.XFRM_FUZZ_N ?? 100_000);
const SEED = Number(process.env.XFRM_FUZZ_SEED ?? 0xf022);

function isRequest(d: Uint8Array): boolean {
  if (d.length < 16) return false;
  const dv = new DataView(d.buffer, d.byteOffset);
  return (dv.getUint16(6, true) & 1) !== 0;
}

function* messages(d: Uint8Array): Generator<{ type: number; payload: Uint8Array }> {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let off = 0;
  while (off + 16 <= d.length) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > d.length) return;
    yield { type: dv.getUint16(off + 4, true), payload: d.subarray(off + 16, off + len) };
    off += (len + 3) & ~3;
  }
}

describe('XFRM handler fuzz', () => {
  test(`${N} random and mutated requests never break the handler`, () => {
    const seeds = [
      ...corpus('ip-xfrm'),
      ...corpus('reference'),
      ...fc.sample(arbOp, { numRuns: 400, seed: SEED }).map((o) => o.bytes),
    ].filter(isRequest);
    expect(seeds.length).toBeGreaterThan(400);
    const clock = new SimClock(1_700_000_000_000);
    const m = new SimMachine({ clock });
    const h = XfrmHandler.attach(m, { esp: true, randomU32: rng(SEED) });
    const got: Uint8Array[] = [];
    const sock = m.openSocket(6, (d) => got.push(d), { netns: 'fuzz' });
    sock.extAck = true;
    for (const g of [1, 2, 3, 4, 5]) sock.groups.add(g);
    const r = rng(SEED);
    const counts = { ack: 0, error: 0, reply: 0, done: 0, silent: 0 };
    for (let i = 0; i < N; i++) {
      const src = seeds[r() % seeds.length]!;
      const d = r() % 100 < 15 ? src : mutate(src, r, seeds);
      got.length = 0;
      m.send(sock, d);
      if (got.length === 0) counts.silent++;
      for (const dg of got) {
        for (const msg of messages(dg)) {
          if (msg.type === 2) {
            const err = new DataView(msg.payload.buffer, msg.payload.byteOffset).getInt32(0, true);
            if (err === 0) counts.ack++;
            else counts.error++;
            const text = Buffer.from(msg.payload).toString('latin1');
            expect(
              text.includes('simulator: '),
              `internal error for ${Buffer.from(d).toString('hex')}: ${text}`,
            ).toBe(text.includes('simulator: XFRM_MSG_MIGRATE'));
          } else if (msg.type === 3) counts.done++;
          else counts.reply++;
        }
      }
      if (i % 97 === 0) clock.advance(1000);
      const inv = h.checkInvariants();
      if (inv.length)
        throw new Error(`invariants after ${Buffer.from(d).toString('hex')}: ${inv.join('; ')}`);
    }
    // the run exercised every outcome
    expect(counts.ack).toBeGreaterThan(N / 100);
    expect(counts.error).toBeGreaterThan(N / 10);
    expect(counts.reply + counts.done).toBeGreaterThan(N / 100);
  }, 120_000);
});
