/**
 * Differential test: random XFRM operation sequences sent as raw bytes to the real kernel (private
 * netns) and to the simulator (`esp: false`, the personality of this kernel). Every datagram both
 * sockets receive must be byte-identical after `normaliseDiff` (src/xfrm/diff.ts, shared with the
 * oracle's VM-kernel suite).
 *
 * XFRM_DIFF_RUNS (default 1000) sequences, seed XFRM_DIFF_SEED (default 0x5eed); fast-check shrinks a
 * failing sequence and prints its seed/path for replay.
 */

import { KernelTransport } from '@xfrmkit/netlink';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createNetns, deleteNetns, kernelTestSkipReason } from '../../../netlink/test/support/netns.ts';
import {
  allocatedSpi,
  NETLINK_XFRM_PROTO,
  normaliseDiff,
  SimXfrmEndpoint,
  TransportEndpoint,
  XFRM_GROUPS,
} from '../../src/xfrm/diff.ts';
import { arbSequence, type Op } from '../../src/xfrm/diff-requests.ts';

const skip = kernelTestSkipReason();
const RUNS = Number(process.env.XFRM_DIFF_RUNS ?? 1000);
const SEED = Number(process.env.XFRM_DIFF_SEED ?? 0x5eed);

let seqNo = 1000;
function stamp(op: Op): Uint8Array {
  const b = op.bytes.slice();
  if (b.length >= 16) new DataView(b.buffer).setUint32(8, seqNo++, true);
  return b;
}

function flushAll(): Uint8Array[] {
  const mk = (type: number, payload: number[]) => {
    const b = new Uint8Array(16 + payload.length);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, b.length, true);
    dv.setUint16(4, type, true);
    dv.setUint16(6, 5, true);
    b.set(payload, 16);
    return b;
  };
  return [mk(0x1c, [0, 0, 0, 0]), mk(0x1d, []), mk(0x1d, [0x0a, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0])];
}

describe.skipIf(skip !== undefined)('XFRM simulator vs kernel (differential)', () => {
  let ns = '';
  let kernel: TransportEndpoint;
  let sim: SimXfrmEndpoint;

  beforeAll(async () => {
    ns = createNetns('xk-simdiff');
    const t = await KernelTransport.open({ protocol: NETLINK_XFRM_PROTO, netns: ns, groups: XFRM_GROUPS });
    if (!t.extAck) throw new Error('kernel socket without NETLINK_EXT_ACK: extack cannot be compared');
    kernel = new TransportEndpoint(t, 3000);
    // the personality of this kernel: no ESP, no gcm, no CONFIG_XFRM_OFFLOAD
    sim = new SimXfrmEndpoint({ esp: false });
  });

  afterAll(() => {
    kernel?.close();
    sim?.close();
    if (ns) deleteNetns(ns);
  });

  async function step(op: Op, bytes: Uint8Array, log: string[]): Promise<void> {
    const k = await kernel.exchange(bytes);
    if (op.spiRange && op.spiRange[0] !== op.spiRange[1]) {
      const spi = allocatedSpi(k);
      if (spi !== undefined) sim.handler.queueRandom(spi - op.spiRange[0]);
    }
    const s = await sim.exchange(bytes);
    const kn = normaliseDiff(k, kernel);
    const sn = normaliseDiff(s, sim);
    log.push(`${op.what}: ${Buffer.from(bytes).toString('hex')}`);
    expect(sn, `after:\n${log.join('\n')}`).toEqual(kn);
    expect(sim.handler.checkInvariants()).toEqual([]);
  }

  test(`${RUNS} random sequences are byte-identical`, async () => {
    let total = 0;
    await fc.assert(
      fc.asyncProperty(arbSequence, async (ops) => {
        const log: string[] = [];
        try {
          for (const op of ops) {
            await step(op, stamp(op), log);
            total++;
          }
        } finally {
          for (const b of flushAll()) {
            await kernel.exchange(b);
            await sim.exchange(b);
          }
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false },
    );
    expect(total).toBeGreaterThan(RUNS * 3);
  }, 600_000);
});
