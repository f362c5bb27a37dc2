/**
 * The batch path is the per-packet path, batched: `sendBatch` and `send` one frame at a time, on two
 * topologies with the same keys and SPIs, give the same packets (delivered bytes, drops, wire frames
 * and pcap taps, wire clock) and the same state (ethtool / MIB / port / per-SA / OVS counters, RSS
 * queues, SAD curlft and stats, and the cycle model's sums — bit for bit, in the same map order).
 * Scenarios mix both directions, frame sizes across the VXLAN and p0 MTUs (OVS drops, XfrmOutError
 * drops in the middle of a batch), ESN and non-ESN SAs, byte/packet lifetimes that expire mid-run
 * (the SA goes away, later packets go out in clear and are refused), and a wire impairment.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BatchDelivery,
  type Delivery,
  dpuSnapshot,
  hostFrame,
  type TwoDpuTopology,
} from '../../src/index.ts';
import { type Built, rng, seeded } from './support.ts';

interface Scenario {
  seed: number;
  modeled: boolean;
  esn: boolean;
  p0Mtu: number;
  /** SA soft/hard packet and byte lifetimes (0: none) */
  packets: number[];
  bytes: number[];
  impairEvery: number;
  /** frames sent each way first (past an ESN window's first 128 sequence numbers) */
  warm: number;
  batches: Array<{ side: 'left' | 'right'; sizes: number[] }>;
}

const scenario = (modeled: boolean): fc.Arbitrary<Scenario> =>
  fc.record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    modeled: fc.constant(modeled),
    esn: fc.boolean(),
    p0Mtu: fc.constantFrom(1600, 1600, 1400),
    packets: fc.constantFrom([0, 0], [0, 0], [0, 0], [5, 12], [40, 70], [20, 300]),
    bytes: fc.constantFrom([0, 0], [0, 0], [0, 0], [15_000, 30_000], [20_000, 400_000]),
    impairEvery: fc.constantFrom(0, 0, 0, 0, 3),
    warm: fc.constantFrom(0, 140),
    batches: fc.array(
      fc.record({
        side: fc.constantFrom('left' as const, 'right' as const),
        sizes: fc.array(
          fc.oneof(
            { weight: 6, arbitrary: fc.integer({ min: 42, max: 1414 }) },
            { weight: 1, arbitrary: fc.integer({ min: 1380, max: 1530 }) },
          ),
          { minLength: 0, maxLength: 40 },
        ),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  });

async function build(s: Scenario): Promise<Built> {
  const lim = (n: number) => (n === 0 ? 0xffff_ffff_ffff_ffffn : BigInt(n));
  const b = await seeded(
    { esn: s.esn, random: rng(s.seed) },
    { modeledCrypto: s.modeled, p0Mtu: s.p0Mtu },
    {
      state: (st) => {
        st.info.lft.softPacketLimit = lim(s.packets[0]!);
        st.info.lft.hardPacketLimit = lim(s.packets[1]!);
        st.info.lft.softByteLimit = lim(s.bytes[0]!);
        st.info.lft.hardByteLimit = lim(s.bytes[1]!);
      },
    },
  );
  if (s.impairEvery) {
    let k = 0;
    b.topo.wire.impair = (f) => (++k % s.impairEvery === 0 ? [f, f.slice()] : [f]);
  }
  return b;
}

interface Seen {
  delivered: Array<string | undefined>;
  drops: Array<string | undefined>;
  latency: number[];
  wire: string[];
}

function tap(t: TwoDpuTopology, into: string[]): void {
  t.wire.taps.push((f, ns, from) => into.push(`${from} ${ns} ${Buffer.from(f).toString('hex')}`));
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
const dropText = (d: Delivery['drop']) => (d ? `${d.where}|${d.reason}|${d.counter}` : undefined);

function fromSend(d: Delivery, seen: Seen): void {
  seen.delivered.push(hex(d.delivered));
  seen.drops.push(dropText(d.drop));
  seen.latency.push((d.tx?.latencyCycles ?? 0) + (d.rx ?? []).reduce((a, r) => a + r.latencyCycles, 0));
}

function fromBatch(d: BatchDelivery, seen: Seen): void {
  for (let i = 0; i < d.count; i++) {
    seen.delivered.push(hex(d.frame(i)));
    seen.drops.push(dropText(d.drops[i]));
    seen.latency.push(d.latencyCycles[i]!);
  }
}

/** Everything the two DPUs and the wire keep. */
function state(b: Built) {
  const t = b.topo;
  return {
    bfl: dpuSnapshot(t.bfl),
    bfr: dpuSnapshot(t.bfr),
    wire: { timeNs: t.wire.timeNs, frames: t.wire.frames, bytes: t.wire.bytes },
  };
}

for (const modeled of [true, false]) {
  describe(`sendBatch ≡ send per frame (${modeled ? 'modeled' : 'real'} crypto)`, () => {
    it('same packets, wire, counters and cycle sums', async () => {
      await fc.assert(
        fc.asyncProperty(scenario(modeled), async (s) => {
          const one = await build(s);
          const many = await build(s);
          try {
            const a: Seen = { delivered: [], drops: [], latency: [], wire: [] };
            const b: Seen = { delivered: [], drops: [], latency: [], wire: [] };
            tap(one.topo, a.wire);
            tap(many.topo, b.wire);
            let ipId = 1;
            const warm = s.warm
              ? [{ side: 'left' as const, sizes: new Array<number>(s.warm).fill(200) }]
              : [];
            const back = s.warm
              ? [{ side: 'right' as const, sizes: new Array<number>(s.warm).fill(300) }]
              : [];
            for (const batch of [...warm, ...back, ...s.batches]) {
              const t = one.topo;
              const [src, dst] = batch.side === 'left' ? [t.hostL, t.hostR] : [t.hostR, t.hostL];
              const frames = batch.sizes.map((n, i) => hostFrame(src, dst, n, ipId + i));
              for (const [i, f] of frames.entries()) fromSend(one.topo.send(batch.side, f, ipId + i), a);
              const d = many.topo.sendBatch(batch.side, frames, ipId);
              expect(d.delivered).toBe(d.ok.subarray(0, d.count).reduce((x, y) => x + y, 0));
              fromBatch(d, b);
              ipId += frames.length;
            }
            expect(b.delivered).toEqual(a.delivered);
            expect(b.drops).toEqual(a.drops);
            expect(b.latency).toEqual(a.latency);
            expect(b.wire).toEqual(a.wire);
            expect(state(many)).toEqual(state(one));
          } finally {
            one.topo.dispose();
            many.topo.dispose();
          }
        }),
        { numRuns: modeled ? 40 : 20 },
      );
    }, 120_000);
  });
}

describe('sendBatch', () => {
  it('reaches the batch path: steady traffic is carried without per-packet results', async () => {
    const b = await seeded({ esn: true }, { modeledCrypto: true });
    try {
      const frames = Array.from({ length: 64 }, (_, i) => hostFrame(b.topo.hostL, b.topo.hostR, 1414, i));
      let kinds = '';
      const tx = b.topo.bfl.datapath;
      const orig = tx.transmitBatch.bind(tx);
      tx.transmitBatch = (r) => {
        const x = orig(r);
        kinds = Array.from(x.kind.subarray(0, x.count)).join('');
        return x;
      };
      for (let r = 0; r < 4; r++) {
        const d = b.topo.sendBatch('left', frames, r * 64);
        expect(d.delivered).toBe(64);
        for (let i = 0; i < 64; i++) expect(Buffer.from(d.frame(i)!)).toEqual(Buffer.from(frames[i]!));
      }
      expect(kinds).toBe('0'.repeat(64));
      // the RX side: ESN window past its first 128 sequence numbers → batch decap, no results objects
      const rx = b.topo.bfr.datapath;
      const origRx = rx.receiveBatch.bind(rx);
      let rxKinds = '';
      rx.receiveBatch = (r) => {
        const x = origRx(r);
        rxKinds = Array.from(x.kind.subarray(0, x.count)).join('');
        return x;
      };
      b.topo.sendBatch('left', frames, 999);
      expect(rxKinds).toBe('0'.repeat(64));
    } finally {
      b.topo.dispose();
    }
  });
});
