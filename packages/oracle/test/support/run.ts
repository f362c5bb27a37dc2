/**
 * Runs operation sequences on the oracle VM and on the simulator, step by step, and reports the
 * first step whose normalised datagrams differ.
 */
import { allocatedSpi, describe, normaliseOracle, type Side, type SimEspSide, withSpi } from './diff.ts';
import type { Op } from './esp-requests.ts';

export class Divergence extends Error {
  constructor(
    message: string,
    /** one line: the request and what each side answered (errno and extack text) */
    readonly summary = '',
  ) {
    super(message);
  }
}

/** errno and extack message of each NLMSG_ERROR, or the message types, of a list of datagrams */
export function brief(dgrams: readonly Uint8Array[]): string {
  return dgrams
    .map((d) => {
      const m = describe(d);
      const text = Buffer.from(d)
        .toString('latin1')
        .match(/[ -~]{12,}(?=\0*$)/);
      return text ? `${m} "${text[0]}"` : m;
    })
    .join(' ; ');
}

function mk(type: number, payload: number[]): Uint8Array {
  const b = new Uint8Array(16 + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, 5, true);
  b.set(payload, 16);
  return b;
}

/** FLUSHSA (any proto), FLUSHPOLICY (main), FLUSHPOLICY (sub): back to empty tables between sequences. */
export const FLUSH_ALL = [
  mk(0x1c, [0, 0, 0, 0]),
  mk(0x1d, []),
  mk(0x1d, [0x0a, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
];

export class DiffRunner {
  private seqNo = 1000;
  /** requests compared so far */
  steps = 0;

  constructor(
    readonly vm: Side,
    readonly sim: SimEspSide,
  ) {}

  /** Sends one sequence to both sides; throws Divergence (with the sequence so far) at the first difference. */
  async run(ops: readonly Op[]): Promise<void> {
    const log: string[] = [];
    let lastSpi = 0;
    try {
      for (const op of ops) {
        let bytes: Uint8Array = op.bytes.slice();
        if (bytes.length >= 16) new DataView(bytes.buffer).setUint32(8, this.seqNo++, true);
        if (op.useAllocatedSpi) bytes = withSpi(bytes, lastSpi);
        log.push(`  ${op.what}: ${Buffer.from(bytes).toString('hex')}`);
        const k = await this.vm.exchange(bytes);
        if (op.spiRange) {
          const spi = allocatedSpi(k);
          if (spi !== undefined) {
            lastSpi = spi;
            if (op.spiRange[0] !== op.spiRange[1]) this.sim.handler.queueRandom(spi - op.spiRange[0]);
          }
        }
        const s = await this.sim.exchange(bytes);
        this.steps++;
        const kn = normaliseOracle(k, this.vm.portid);
        const sn = normaliseOracle(s, this.sim.portid);
        if (JSON.stringify(kn) !== JSON.stringify(sn)) {
          const show = (name: string, raw: Uint8Array[], norm: string[]) =>
            `${name} (${raw.length} datagrams):\n${raw.map((d, i) => `    [${describe(d)}]\n    ${norm[i]}`).join('\n')}`;
          throw new Divergence(
            `kernel and simulator differ at step ${log.length} (${op.what})\nsequence (requests as sent, hex):\n${log.join('\n')}\n${show('kernel', k, kn)}\n${show('simulator', s, sn)}`,
            `${op.what}\n    kernel:    ${brief(k)}\n    simulator: ${brief(s)}`,
          );
        }
        const inv = this.sim.handler.checkInvariants();
        if (inv.length)
          throw new Divergence(
            `simulator invariants broken after ${op.what}: ${inv.join('; ')}\n${log.join('\n')}`,
          );
      }
    } finally {
      for (const b of FLUSH_ALL) {
        await this.vm.exchange(b);
        await this.sim.exchange(b);
      }
    }
  }
}
