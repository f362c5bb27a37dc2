/**
 * Runs operation sequences on the oracle VM's kernel and on the simulator, step by step, and stops
 * at the first step whose normalised datagrams differ: with a `Divergence` (a simulator bug, or an
 * unknown kernel behaviour), or with an allowed difference (./allowed.ts, the sequence ends there).
 *
 * Each side is a set of netlink sockets (one per protocol) plus the names that must differ between
 * machines (ifindexes, genl ids: `DiffNames`). A step is a netlink request to one socket, or an
 * action (a sysfs write); after it every socket of both sides is synced and everything it received
 * is compared, so notifications the step caused on other sockets are compared too.
 */
import {
  allocatedSpi,
  briefDatagrams,
  type DiffEndpoint,
  type DiffNames,
  type DiffOp,
  describeDatagram,
  localise,
  NETLINK_XFRM_PROTO,
  normaliseDiff,
  withSpi,
  type XfrmHandler,
} from '@xfrmkit/sim';
import { type AllowedDifference, allowedDifference, type OracleKernel, type StepDiff } from './allowed.ts';

/**
 * A step that is not a netlink request: both sides perform it and report an outcome string ("ok" or
 * an errno name for a sysfs write, the text of a debugfs file with key material redacted).
 */
export type DiffAction = { kind: 'sriov_numvfs'; value: number } | { kind: 'debugfs_ipsec'; port: number };

export interface OracleOp extends DiffOp {
  action?: DiffAction;
  /** the step creates or destroys netdevs: both sides re-read their names before comparing */
  netdevs?: boolean;
}

export interface DiffSide {
  readonly label: 'kernel' | 'simulator';
  /** one socket per netlink protocol */
  readonly endpoints: ReadonlyMap<number, DiffEndpoint>;
  readonly names: DiffNames;
  refreshNames?(): Promise<void>;
  act?(a: DiffAction): Promise<string>;
  close(): void;
}

export interface SimDiffSide extends DiffSide {
  /** the simulator's XFRM handler: ALLOCSPI's random source, table invariants */
  readonly xfrm: XfrmHandler;
}

export class Divergence extends Error {
  constructor(
    message: string,
    /** one line: the step and what each side answered (errno and extack text) */
    readonly summary = '',
  ) {
    super(message);
    this.name = 'Divergence';
  }
}

/** Result of one sequence: the allowed differences it met (in order); the last may have ended it. */
export interface SequenceOutcome {
  allowed: AllowedDifference[];
}

/** Resets both sides to empty XFRM tables between sequences (and any other per-suite state). */
export type Cleanup = (side: DiffSide) => Promise<void>;

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
export const FLUSH_ALL: readonly Uint8Array[] = [
  mk(0x1c, [0, 0, 0, 0]),
  mk(0x1d, []),
  mk(0x1d, [0x0a, 0, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
];

export async function flushXfrm(side: DiffSide): Promise<void> {
  const e = side.endpoints.get(NETLINK_XFRM_PROTO);
  if (!e) return;
  for (const b of FLUSH_ALL) await e.exchange(b);
}

/**
 * errno and extack message of the NLMSG_ERROR (or the NLMSG_DONE of a dump) answering `seq`
 * (undefined: acked without error, or answered)
 */
export function errorOf(
  dgrams: readonly Uint8Array[],
  seq: number,
): { errno: number; msg?: string } | undefined {
  for (const d of dgrams) {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    let off = 0;
    while (off + 16 <= d.length) {
      const len = dv.getUint32(off, true);
      if (len < 16 || off + len > d.length) break;
      const type = dv.getUint16(off + 4, true);
      if ((type === 2 || type === 3) && dv.getUint32(off + 8, true) === seq && len >= 20) {
        const errno = dv.getInt32(off + 16, true);
        if (errno === 0) return undefined;
        const flags = dv.getUint16(off + 6, true);
        // extack TLVs after the echoed request (capped: header only); a DONE has none
        const echoed = type === 3 ? 0 : flags & 0x100 ? 16 : dv.getUint32(off + 20, true);
        let msg: string | undefined;
        let a = off + 20 + ((echoed + 3) & ~3);
        while (flags & 0x200 && a + 4 <= off + len) {
          const alen = dv.getUint16(a, true);
          if (alen < 4) break;
          if (dv.getUint16(a + 2, true) === 1)
            msg = Buffer.from(d.subarray(a + 4, a + alen))
              .toString('latin1')
              .replace(/\0+$/, '');
          a += (alen + 3) & ~3;
        }
        return msg === undefined ? { errno } : { errno, msg };
      }
      off += (len + 3) & ~3;
    }
  }
  return undefined;
}

/** The datagrams with the extack TLVs of every NLMSG_ERROR and NLMSG_DONE removed (flag ACK_TLVS cleared). */
export function withoutExtack(dgrams: readonly Uint8Array[]): Uint8Array[] {
  return dgrams.map((d) => {
    const parts: Uint8Array[] = [];
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    let off = 0;
    while (off + 16 <= d.length) {
      const len = dv.getUint32(off, true);
      if (len < 16 || off + len > d.length) break;
      let m = d.slice(off, off + len);
      const flags = dv.getUint16(off + 6, true);
      const type = dv.getUint16(off + 4, true);
      if ((type === 2 || type === 3) && flags & 0x200 && len >= 20) {
        const echoed = type === 3 ? 0 : flags & 0x100 ? 16 : dv.getUint32(off + 20, true);
        const keep = Math.min(len, 20 + ((echoed + 3) & ~3));
        m = m.slice(0, keep);
        const mv = new DataView(m.buffer);
        mv.setUint32(0, keep, true);
        mv.setUint16(6, flags & ~0x200, true);
      }
      parts.push(m);
      off += (len + 3) & ~3;
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + ((p.length + 3) & ~3), 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += (p.length + 3) & ~3;
    }
    return out;
  });
}

/** The request as printed in reports: hex, with key material replaced by `[key:N]`. */
export function showRequest(bytes: Uint8Array, protocol: number): string {
  return normaliseDiff([bytes], { protocol, portid: -1, redactKeys: true })[0]!;
}

/** What the kernel answered at one step of the last sequence (for tests that check the kernel too). */
export interface TranscriptStep {
  op: OracleOp;
  /** datagrams per protocol */
  kernel: Map<number, Uint8Array[]>;
  /** the action's outcome ("ok" or an errno name) */
  kernelOutcome?: string;
  /** NLMSG_ERROR of the step's own request (undefined: acked or answered) */
  kernelError?: { errno: number; msg?: string };
}

export class DiffRunner {
  private seqNo = 1000;
  /** requests compared so far */
  steps = 0;
  /** the kernel's answers of the last sequence, step by step */
  transcript: TranscriptStep[] = [];

  constructor(
    readonly kernel: DiffSide,
    readonly sim: SimDiffSide,
    readonly kernelSeries: OracleKernel,
    private readonly cleanup: Cleanup = flushXfrm,
  ) {}

  /**
   * Sends one sequence to both sides; throws a Divergence (with the sequence so far) at the first
   * difference that is not allowed. Both sides are cleaned up afterwards.
   */
  async run(ops: readonly OracleOp[]): Promise<SequenceOutcome> {
    const log: string[] = [];
    const outcome: SequenceOutcome = { allowed: [] };
    this.transcript = [];
    let lastSpi = 0;
    // a clean slate: whatever reached the sockets since the last sequence (other sockets' traffic)
    for (const side of [this.kernel, this.sim]) for (const e of side.endpoints.values()) await e.exchange();
    try {
      for (const op of ops) {
        const protocol = op.protocol ?? NETLINK_XFRM_PROTO;
        let bytes: Uint8Array = op.bytes.slice();
        const seq = this.seqNo++;
        if (bytes.length >= 16) new DataView(bytes.buffer).setUint32(8, seq, true);
        if (op.useAllocatedSpi) bytes = withSpi(bytes, lastSpi);
        const kb = op.action ? bytes : localise(op, bytes, this.kernel.names);
        log.push(
          op.action
            ? `  ${op.what}`
            : `  ${op.what}${op.family ? ` (${op.family})` : ''}: ${showRequest(kb, protocol)}`,
        );
        const got = { kernel: new Map<number, Uint8Array[]>(), sim: new Map<number, Uint8Array[]>() };
        let kAct: string | undefined;
        let sAct: string | undefined;
        if (op.action) {
          if (!this.kernel.act || !this.sim.act)
            throw new Error(`${op.what}: the sides cannot perform actions`);
          kAct = await this.kernel.act(op.action);
          sAct = await this.sim.act(op.action);
        } else {
          const ke = this.endpoint(this.kernel, protocol);
          const k = await ke.exchange(kb);
          got.kernel.set(protocol, k);
          if (op.spiRange) {
            const spi = allocatedSpi(k);
            if (spi !== undefined) {
              lastSpi = spi;
              if (op.spiRange[0] !== op.spiRange[1]) this.sim.xfrm.queueRandom(spi - op.spiRange[0]);
            }
          }
          got.sim.set(
            protocol,
            await this.endpoint(this.sim, protocol).exchange(localise(op, bytes, this.sim.names)),
          );
        }
        // notifications the step caused on the other sockets
        for (const side of ['kernel', 'sim'] as const) {
          const s = side === 'kernel' ? this.kernel : this.sim;
          for (const [p, e] of s.endpoints) if (!got[side].has(p)) got[side].set(p, await e.exchange());
        }
        if (op.netdevs) {
          await this.kernel.refreshNames?.();
          await this.sim.refreshNames?.();
        }
        this.steps++;
        const ts: TranscriptStep = { op, kernel: got.kernel };
        if (kAct !== undefined) ts.kernelOutcome = kAct;
        const ownError = op.action ? undefined : errorOf(got.kernel.get(protocol) ?? [], seq);
        if (ownError) ts.kernelError = ownError;
        this.transcript.push(ts);
        const diffs: string[] = [];
        let allowed: AllowedDifference | undefined;
        let step: StepDiff | undefined;
        if (kAct !== sAct) diffs.push(`  outcome: kernel ${kAct}, simulator ${sAct}`);
        for (const [p, k] of got.kernel) {
          const s = got.sim.get(p) ?? [];
          const ke = this.endpoint(this.kernel, p);
          const se = this.endpoint(this.sim, p);
          const norm = (d: readonly Uint8Array[], portid: number, names: DiffNames) =>
            JSON.stringify(normaliseDiff(d, { protocol: p, portid, names }));
          if (norm(k, ke.portid, this.kernel.names) === norm(s, se.portid, this.sim.names)) continue;
          const show = (name: string, raw: Uint8Array[], names: DiffNames, portid: number) => {
            const shown = normaliseDiff(raw, { protocol: p, portid, names, redactKeys: true });
            return `  ${name} (${raw.length} datagrams):\n${raw.map((d, i) => `    [${describeDatagram(d)}]\n    ${shown[i]}`).join('\n')}`;
          };
          diffs.push(
            `  on the ${p === NETLINK_XFRM_PROTO ? 'NETLINK_XFRM' : `protocol ${p}`} socket:\n${show('kernel', k, this.kernel.names, ke.portid)}\n${show('simulator', s, this.sim.names, se.portid)}`,
          );
          if (p !== protocol || kAct !== sAct) continue;
          step = {
            kernel: this.kernelSeries,
            op,
            request: kb,
            kernelError: errorOf(k, seq),
            simError: errorOf(s, seq),
            sameWithoutExtack: () =>
              norm(withoutExtack(k), ke.portid, this.kernel.names) ===
              norm(withoutExtack(s), se.portid, this.sim.names),
          };
          allowed = allowedDifference(step);
        }
        // an allowed difference only excuses the answer of the step's own socket
        if (allowed && diffs.length === 1) {
          outcome.allowed.push(allowed);
          if (!(typeof allowed.sameState === 'function' ? allowed.sameState(step!) : allowed.sameState))
            return outcome;
        } else if (diffs.length) {
          const kErr = errorOf(got.kernel.get(protocol) ?? [], seq);
          const sErr = errorOf(got.sim.get(protocol) ?? [], seq);
          const brief = (g: Map<number, Uint8Array[]>, act?: string) =>
            act ?? briefDatagrams(g.get(protocol) ?? []);
          throw new Divergence(
            `kernel ${this.kernelSeries} and simulator differ at step ${log.length} (${op.what})\nsequence (requests as the kernel got them, hex; keys redacted):\n${log.join('\n')}\n${diffs.join('\n')}`,
            `${op.what}\n    kernel:    ${kErr ? `${kErr.errno} ${kErr.msg ?? ''}` : brief(got.kernel, kAct)}\n    simulator: ${sErr ? `${sErr.errno} ${sErr.msg ?? ''}` : brief(got.sim, sAct)}`,
          );
        }
        const inv = this.sim.xfrm.checkInvariants();
        if (inv.length)
          throw new Divergence(
            `simulator invariants broken after ${op.what}: ${inv.join('; ')}\n${log.join('\n')}`,
            `${op.what}: invariants ${inv.join('; ')}`,
          );
      }
      return outcome;
    } finally {
      await this.cleanup(this.kernel);
      await this.cleanup(this.sim);
    }
  }

  private endpoint(side: DiffSide, protocol: number): DiffEndpoint {
    const e = side.endpoints.get(protocol);
    if (!e) throw new Error(`the ${side.label} side has no socket of protocol ${protocol}`);
    return e;
  }
}
