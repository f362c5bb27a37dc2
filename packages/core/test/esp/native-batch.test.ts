/**
 * The native whole-batch ESP path (`espEncapBatch`/`espDecapBatch` in packages/native/src/addon.c) against
 * the TypeScript path of EspSa (the reference): same output buffers byte for byte, same per-packet status,
 * length, next header and sequence numbers, same sequence counters, replay window and statistics, over
 * random SAs (modes, families, ICV sizes, ESN, IV masks, DSCP/ECN/DF flags, replay layouts and window
 * sizes, sequence numbers near 2^32 boundaries) and random decap input (reordering, duplicates, stale and
 * tampered packets, junk), in place and out of place.
 */
import { native } from '@xfrmkit/native';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createNativeGcmProvider,
  type GcmContext,
  type GcmDirection,
  type GcmProvider,
  nodeGcmProvider,
} from '../../src/crypto/index.ts';
import { PacketBatch } from '../../src/esp/batch.ts';
import { EspSa, type EspSaConfig } from '../../src/esp/sa.ts';
import { espSaConfigArb, packetArb, snapshot, startReceivers, toHex } from './util.ts';

/** A provider whose contexts hide the whole-batch ESP calls: EspSa then runs its TypeScript path. */
function withoutEspBatch(p: GcmProvider): GcmProvider {
  return {
    name: p.name,
    createContext(key: Uint8Array, salt: Uint8Array, direction: GcmDirection): GcmContext {
      const c = p.createContext(key, salt, direction);
      return {
        provider: c.provider,
        direction: c.direction,
        keyLength: c.keyLength,
        seal: c.seal.bind(c),
        open: c.open.bind(c),
        sealBatch: c.sealBatch.bind(c),
        openBatch: c.openBatch.bind(c),
        dispose: c.dispose.bind(c),
      };
    },
  };
}

const SLOT = 1700;

const cfgArb = espSaConfigArb([0, 1, 3, 5, 16, 32, 33, 64, 100, 128, 1000, 4096]);

/** Input slots: IP packets, junk, and now and then one too large for the output slot. */
const slotArb = fc.oneof(
  { weight: 8, arbitrary: packetArb },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }) },
);

/** What happens to the i-th ESP packet on its way to the receiver. */
const opArb = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('as-is', 'as-is', 'as-is', 'dup', 'flip', 'junk', 'truncate'),
  bit: fc.nat(),
});

function fill(batch: PacketBatch, pkts: Uint8Array[]): void {
  for (const [i, p] of pkts.entries()) batch.set(i, p);
  batch.count = pkts.length;
}

function sameBatch(a: PacketBatch, b: PacketBatch, n: number): void {
  expect(toHex(a.buf)).toBe(toHex(b.buf));
  expect(Array.from(a.status.subarray(0, n))).toEqual(Array.from(b.status.subarray(0, n)));
  expect(Array.from(a.lengths.subarray(0, n))).toEqual(Array.from(b.lengths.subarray(0, n)));
  expect(Array.from(a.nextHeader.subarray(0, n))).toEqual(Array.from(b.nextHeader.subarray(0, n)));
  expect(Array.from(a.seqLo.subarray(0, n))).toEqual(Array.from(b.seqLo.subarray(0, n)));
  expect(Array.from(a.seqHi.subarray(0, n))).toEqual(Array.from(b.seqHi.subarray(0, n)));
  expect(a.count).toBe(b.count);
}

describe.skipIf(!native)('native whole-batch ESP = the TypeScript path', () => {
  const fast = native ? createNativeGcmProvider(native) : nodeGcmProvider;
  const reference = [withoutEspBatch(fast), nodeGcmProvider];

  it('has the batch calls', () => {
    const c = fast.createContext(new Uint8Array(16), new Uint8Array(4), 'seal');
    expect(c.esp).toBeDefined();
    c.dispose();
  });

  it('encap and decap give identical bytes, statuses, counters and windows', () => {
    fc.assert(
      fc.property(
        cfgArb,
        fc.array(slotArb, { minLength: 1, maxLength: 12 }),
        fc.array(opArb, { minLength: 1, maxLength: 16 }),
        fc.boolean(),
        fc.boolean(),
        fc.nat(),
        fc.constantFrom(0, 1),
        (cfg, pkts, ops, encInPlace, decInPlace, rxStart, refIdx) => {
          const ref = reference[refIdx]!;
          const mk = (provider: GcmProvider, extra: Partial<EspSaConfig> = {}) =>
            new EspSa({ ...cfg, provider, ...extra });
          const txN = mk(fast);
          const txR = mk(ref);
          // encap, twice (counters carry over between batches)
          const outs: Uint8Array[] = [];
          for (let round = 0; round < 2; round++) {
            const inN = PacketBatch.withSlots(pkts.length, SLOT);
            const inR = PacketBatch.withSlots(pkts.length, SLOT);
            fill(inN, pkts);
            fill(inR, pkts);
            // slot 1 without room after its packet (or, in place, too small for the ESP packet); slot 2's
            // room ends right after its packet
            if (pkts.length > 2) {
              inN.capacities[1] = 120;
              inR.capacities[1] = 120;
              inN.capacities[2] = inN.lengths[2]!;
              inR.capacities[2] = inR.lengths[2]!;
            }
            const outN = encInPlace ? inN : PacketBatch.withSlots(pkts.length, SLOT);
            const outR = encInPlace ? inR : PacketBatch.withSlots(pkts.length, SLOT);
            expect(txN.encapBatch(inN, outN)).toBe(txR.encapBatch(inR, outR));
            sameBatch(outN, outR, pkts.length);
            // out of place the input is left as it was (the native path borrows the bytes after a packet)
            if (!encInPlace) expect(toHex(inN.buf)).toBe(toHex(inR.buf));
            expect(snapshot(txN)).toEqual(snapshot(txR));
            for (let i = 0; i < pkts.length; i++) if (outN.status[i] === 0) outs.push(outN.packet(i).slice());
          }
          if (outs.length === 0) return;

          // receivers start at a window top around the sender's start
          const rxN = mk(fast, { dir: 'in' });
          const rxR = mk(ref, { dir: 'in' });
          startReceivers(cfg, rxStart, [rxN, rxR]);
          const decIn = ops.map((op) => {
            const p = outs[op.pick % outs.length]!.slice();
            if (op.kind === 'flip') p[op.bit % p.length]! ^= 1 << (op.bit % 8);
            else if (op.kind === 'junk') return p.subarray(0, op.bit % 30);
            else if (op.kind === 'truncate') return p.subarray(0, p.length - 1 - (op.bit % 20));
            return p;
          });
          for (let round = 0; round < 2; round++) {
            const inN = PacketBatch.withSlots(decIn.length, SLOT);
            const inR = PacketBatch.withSlots(decIn.length, SLOT);
            fill(inN, decIn);
            fill(inR, decIn);
            const outN = decInPlace ? inN : PacketBatch.withSlots(decIn.length, SLOT);
            const outR = decInPlace ? inR : PacketBatch.withSlots(decIn.length, SLOT);
            expect(rxN.decapBatch(inN, outN)).toBe(rxR.decapBatch(inR, outR));
            sameBatch(outN, outR, decIn.length);
            expect(snapshot(rxN)).toEqual(snapshot(rxR));
          }
          for (const sa of [txN, txR, rxN, rxR]) sa.dispose();
        },
      ),
      { numRuns: 250 },
    );
  });

  it('agrees on overlapping views of one buffer and on batches larger than the scratch on the stack', () => {
    fc.assert(
      fc.property(
        cfgArb,
        fc.array(packetArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: -40, max: 40 }),
        (cfg, pkts, shift) => {
          const run = (provider: GcmProvider) => {
            const tx = new EspSa({ ...cfg, provider });
            const rx = new EspSa({ ...cfg, provider, dir: 'in' });
            rx.replay.seq = tx.replay.oseq;
            rx.replay.seqHi = tx.replay.oseqHi;
            const n = pkts.length;
            const input = PacketBatch.withSlots(n, SLOT);
            fill(input, pkts);
            // the output: another view of the same memory, slots shifted by `shift` bytes
            const offs = input.offsets.map((o) => o + 100 + shift);
            const caps = new Uint32Array(n).fill(SLOT - 200);
            const output = new PacketBatch(n, new Uint8Array(input.buf.buffer), offs, caps);
            const k = tx.encapBatch(input, output);
            const enc = { k, buf: toHex(input.buf), status: Array.from(output.status) };
            // many packets: duplicates of the first good one beyond 512 slots
            const good = output.status.indexOf(0);
            let dec = null;
            if (good >= 0) {
              const esp = output.packet(good).slice();
              const big = PacketBatch.withSlots(600, esp.length);
              for (let i = 0; i < 600; i++) big.set(i, esp);
              const out = PacketBatch.withSlots(600, esp.length);
              dec = {
                k: rx.decapBatch(big, out),
                status: Array.from(out.status),
                buf: toHex(out.buf),
                stats: rx.stats(),
              };
            }
            return { enc, dec, sent: tx.replay.lastSent };
          };
          expect(run(fast)).toEqual(run(reference[0]!));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses a too-small output batch before touching the SA; counters add up', () => {
    const cfg: EspSaConfig = {
      spi: 9,
      mode: 'tunnel',
      key: new Uint8Array(16),
      salt: new Uint8Array(4),
      icvLen: 16,
      esn: true,
      tunnel: { src: '10.0.0.1', dst: '10.0.0.2' },
      provider: fast,
    };
    const tx = new EspSa(cfg);
    const input = PacketBatch.withSlots(2, 100);
    const output = PacketBatch.withSlots(2, 200);
    input.set(
      0,
      new Uint8Array([0x45, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]),
    );
    input.set(1, input.packet(0).slice());
    // a count beyond the arrays is a RangeError from the addon, the sequence counter stays
    (input as { count: number }).count = 2;
    const shortOut = new PacketBatch(1, new Uint8Array(200), new Uint32Array([0]), new Uint32Array([200]));
    expect(() => tx.encapBatch(input, shortOut)).toThrow();
    expect(tx.replay.lastSent).toBe(0n);
    expect(tx.encapBatch(input, output)).toBe(2);
    expect(tx.replay.lastSent).toBe(2n);
    expect(tx.stats()).toMatchObject({ packets: 2, bytes: 48 });
    tx.dispose();
    expect(() => tx.encapBatch(input, output)).toThrow(/disposed/);
  });
});
