/**
 * The performance model: per-packet latency = the sum of the stage visits' cycles; throughput = the
 * bottleneck stage, each stage serving `units × clock / cycles-per-packet` packets per second (the
 * receive queues serve only the share of traffic RSS gives them), capped by the wire.
 */
import { type DatapathProfile, STAGES, type StageName } from './costs.ts';

/** One stage a packet went through (what the datapath records in its trace). */
export interface StageVisit {
  stage: StageName;
  /** table lookups made in the stage (policy chains: one per priority table visited) */
  hops: number;
  /** frame bytes the stage handled */
  bytes: number;
  /** receive queue (rx.rq only) */
  queue?: number;
}

/** Fraction of SA-context lookups that miss the on-chip cache with `contexts` SAs in use. */
export function missFraction(p: DatapathProfile, contexts: number): number {
  return contexts <= p.saCache.contexts ? 0 : 1 - p.saCache.contexts / contexts;
}

/** Wire cost of a frame in cycles: (bytes + 20 B preamble/IFG) × 8 / line rate. */
export function wireCycles(p: DatapathProfile, bytes: number): number {
  return ((bytes + 20) * 8 * p.clockHz) / (p.lineRateGbps * 1e9);
}

/** Cycles of one stage visit. */
export function visitCycles(p: DatapathProfile, v: StageVisit, saContexts: number): number {
  if (v.stage === 'tx.wire' || v.stage === 'rx.wire') return wireCycles(p, v.bytes);
  const c = p.stages[v.stage];
  return (
    c.fixed * v.hops +
    c.perByte * v.bytes +
    (c.saCache ? missFraction(p, saContexts) * p.saCache.missCycles : 0)
  );
}

/** Units of a stage (the wire: one per port; rx.rq: handled per queue). */
export function stageUnits(p: DatapathProfile, stage: StageName): number {
  if (stage === 'tx.wire' || stage === 'rx.wire') return 1;
  return p.stages[stage].units;
}

export interface StageLoad {
  stage: StageName;
  /** cycles per offered packet (averaged over all packets, including those that skip the stage) */
  cyclesPerPacket: number;
  units: number;
  /** packets per second the stage sustains for this traffic */
  capacityPps: number;
}

export interface ThroughputResult {
  pps: number;
  /** L2 frame bits per second of the offered traffic */
  gbps: number;
  bottleneck: StageName;
  stages: StageLoad[];
  /** what the wire alone allows */
  wirePps: number;
  /** average frame bytes of the offered traffic */
  frameBytes: number;
  ports: number;
}

/** A fixed stage sequence for `LoadAccumulator.chargeRun`. */
export interface StagePath {
  /** STAGE_INDEX values, in visit order */
  stages: readonly number[];
  /** stages before this index handle the run's `a` bytes, the rest `b` */
  split: number;
  /** index (in `stages`) of the stage whose hops vary per packet, −1 if none */
  hopsAt: number;
}

/** Index of each stage in `STAGES` (the accumulators and the batch datapath address stages by it). */
export const STAGE_INDEX: Readonly<Record<StageName, number>> = Object.fromEntries(
  STAGES.map((s, i) => [s, i]),
) as Record<StageName, number>;
const RX_RQ = STAGE_INDEX['rx.rq'];
const TX_WIRE = STAGE_INDEX['tx.wire'];
const RX_WIRE = STAGE_INDEX['rx.wire'];

/**
 * Accumulates stage visits of many packets (one traffic direction through one port) and evaluates
 * the model on them.
 *
 * Per-stage sums live in typed arrays indexed by `STAGE_INDEX` (no map lookups per visit); a packet is
 * charged with `begin()`, one `visit()` per stage in path order, `end()`. `add()` does the same for a
 * list of `StageVisit`s, so the per-packet and the batch datapath produce bit-identical sums (same
 * operations in the same order). `stageCycles` / `queueCycles` present the sums as maps in
 * first-visit order.
 */
export class LoadAccumulator {
  packets = 0;
  frameBytes = 0;
  latencyCycles = 0;
  private readonly cyc = new Float64Array(STAGES.length);
  private readonly seen = new Uint8Array(STAGES.length);
  private readonly order: number[] = [];
  private qCyc = new Float64Array(16);
  private qSeen = new Uint8Array(16);
  private readonly qOrder: number[] = [];
  /** queues that are not small non-negative integers (only ever from hand-made visits) */
  private qOther: Map<number, number> | undefined;
  private readonly fixed = new Float64Array(STAGES.length);
  private readonly perByte = new Float64Array(STAGES.length);
  private readonly cached = new Uint8Array(STAGES.length);
  private readonly wireDiv: number;
  private term = 0;
  private sum = 0;

  constructor(
    readonly profile: DatapathProfile,
    /** SA contexts in use (cache term) */
    public saContexts: () => number,
  ) {
    for (let i = 0; i < STAGES.length; i++) {
      if (i === TX_WIRE || i === RX_WIRE) continue;
      const c = profile.stages[STAGES[i] as Exclude<StageName, 'tx.wire' | 'rx.wire'>];
      this.fixed[i] = c.fixed;
      this.perByte[i] = c.perByte;
      this.cached[i] = c.saCache ? 1 : 0;
    }
    this.wireDiv = profile.lineRateGbps * 1e9;
  }

  /** Starts charging one packet (reads the SA-context count once, as `add` does). */
  begin(): void {
    const p = this.profile;
    this.term = missFraction(p, this.saContexts()) * p.saCache.missCycles;
    this.sum = 0;
  }

  /** Charges one stage visit of the current packet (`stage` = STAGE_INDEX). */
  visit(stage: number, hops: number, bytes: number, queue = 0): void {
    const c = this.cycles(stage, hops, bytes);
    this.sum += c;
    if (stage === RX_RQ) this.addQueue(queue, c);
    else {
      this.mark(stage);
      this.cyc[stage] = this.cyc[stage]! + c;
    }
  }

  /** Ends the current packet; returns its latency in cycles. */
  end(frameBytes: number): number {
    this.packets++;
    this.frameBytes += frameBytes;
    this.latencyCycles += this.sum;
    return this.sum;
  }

  /** `visitCycles` with the current packet's cache term. */
  private cycles(stage: number, hops: number, bytes: number): number {
    if (stage === TX_WIRE || stage === RX_WIRE)
      return ((bytes + 20) * 8 * this.profile.clockHz) / this.wireDiv;
    return this.fixed[stage]! * hops + this.perByte[stage]! * bytes + (this.cached[stage] ? this.term : 0);
  }

  private mark(stage: number): void {
    if (this.seen[stage] === 0) {
      this.seen[stage] = 1;
      this.order.push(stage);
    }
  }

  private sums = new Float64Array(64);

  /**
   * Charges packets `from..to-1` that all walk `path`, exactly as `begin`, one `visit` per stage of
   * the path, `end` per packet in order would (every accumulator receives the same additions in the
   * same order, so the sums are bit-identical), but stage by stage over the run. Packet i's visit of
   * `path.stages[k]` handles `a[i]` bytes for k < `path.split`, else `b[i]`; the stage at `path.hopsAt`
   * makes `hops[i]` table hops (others 1); `rx.rq` goes to queue `queue[i]`. The packet's frame bytes
   * are `b[i]`; its latency goes to `lat[i]`. The SA-context count is read once for the run.
   */
  chargeRun(
    path: StagePath,
    from: number,
    to: number,
    hops: Uint16Array,
    a: Uint32Array,
    b: Uint32Array,
    queue: Uint16Array,
    lat: Float64Array,
  ): void {
    if (to <= from) return;
    const p = this.profile;
    this.term = missFraction(p, this.saContexts()) * p.saCache.missCycles;
    if (this.sums.length < to) this.sums = new Float64Array(Math.max(to, this.sums.length * 2));
    const sums = this.sums;
    sums.fill(0, from, to);
    const stages = path.stages;
    for (let k = 0; k < stages.length; k++) {
      const s = stages[k]!;
      const x = k < path.split ? a : b;
      if (s === RX_RQ) {
        for (let i = from; i < to; i++) {
          const c = this.cycles(s, 1, x[i]!);
          sums[i] = sums[i]! + c;
          this.addQueue(queue[i]!, c);
        }
        continue;
      }
      this.mark(s);
      let acc = this.cyc[s]!;
      if (s === TX_WIRE || s === RX_WIRE) {
        const hz = p.clockHz;
        const div = this.wireDiv;
        for (let i = from; i < to; i++) {
          const c = ((x[i]! + 20) * 8 * hz) / div;
          sums[i] = sums[i]! + c;
          acc += c;
        }
      } else {
        const fixed = this.fixed[s]!;
        const perByte = this.perByte[s]!;
        const t = this.cached[s] ? this.term : 0;
        if (k === path.hopsAt) {
          for (let i = from; i < to; i++) {
            const c = fixed * hops[i]! + perByte * x[i]! + t;
            sums[i] = sums[i]! + c;
            acc += c;
          }
        } else {
          for (let i = from; i < to; i++) {
            const c = fixed * 1 + perByte * x[i]! + t;
            sums[i] = sums[i]! + c;
            acc += c;
          }
        }
      }
      this.cyc[s] = acc;
    }
    let lc = this.latencyCycles;
    let fb = this.frameBytes;
    for (let i = from; i < to; i++) {
      const v = sums[i]!;
      lat[i] = v;
      lc += v;
      fb += b[i]!;
    }
    this.latencyCycles = lc;
    this.frameBytes = fb;
    this.packets += to - from;
  }

  private addQueue(q: number, c: number): void {
    if (!(Number.isInteger(q) && q >= 0 && q < 1 << 16)) {
      this.qOther ??= new Map();
      if (!this.qOther.has(q)) this.qOrder.push(q);
      this.qOther.set(q, (this.qOther.get(q) ?? 0) + c);
      return;
    }
    if (q >= this.qCyc.length) {
      let n = this.qCyc.length;
      while (n <= q) n *= 2;
      const a = new Float64Array(n);
      a.set(this.qCyc);
      const s = new Uint8Array(n);
      s.set(this.qSeen);
      this.qCyc = a;
      this.qSeen = s;
    }
    if (this.qSeen[q] === 0) {
      this.qSeen[q] = 1;
      this.qOrder.push(q);
    }
    this.qCyc[q] = this.qCyc[q]! + c;
  }

  private queueSum(q: number): number {
    return Number.isInteger(q) && q >= 0 && q < 1 << 16 ? this.qCyc[q]! : this.qOther!.get(q)!;
  }

  /** Adds one packet's visits; returns its latency in cycles. */
  add(visits: readonly StageVisit[], frameBytes: number): number {
    this.begin();
    for (const v of visits) this.visit(STAGE_INDEX[v.stage], v.hops, v.bytes, v.queue ?? 0);
    return this.end(frameBytes);
  }

  /** Cycles per stage (receive queues excluded), in first-visit order. */
  get stageCycles(): Map<StageName, number> {
    const m = new Map<StageName, number>();
    for (const i of this.order) m.set(STAGES[i]!, this.cyc[i]!);
    return m;
  }

  /** Cycles per receive queue, in first-visit order. */
  get queueCycles(): Map<number, number> {
    const m = new Map<number, number>();
    for (const q of this.qOrder) m.set(q, this.queueSum(q));
    return m;
  }

  merge(o: LoadAccumulator): void {
    this.packets += o.packets;
    this.frameBytes += o.frameBytes;
    this.latencyCycles += o.latencyCycles;
    for (const i of o.order) {
      if (this.seen[i] === 0) {
        this.seen[i] = 1;
        this.order.push(i);
      }
      this.cyc[i] = this.cyc[i]! + o.cyc[i]!;
    }
    for (const q of o.qOrder) this.addQueue(q, o.queueSum(q));
  }

  /** Average latency in ns. */
  latencyNs(): number {
    return this.packets ? (this.latencyCycles / this.packets / this.profile.clockHz) * 1e9 : 0;
  }

  throughput(ports = 1): ThroughputResult | undefined {
    if (this.packets === 0) return undefined;
    const p = this.profile;
    const stages: StageLoad[] = [];
    for (const i of this.order) {
      const stage = STAGES[i]!;
      const per = this.cyc[i]! / this.packets;
      if (per <= 0) continue;
      const units = stageUnits(p, stage);
      stages.push({ stage, cyclesPerPacket: per, units, capacityPps: (units * p.clockHz) / per });
    }
    // receive queues: the busiest queue limits (RSS spreads by SPI; one SA ⇒ one queue)
    let busiest = 0;
    for (const q of this.qOrder) busiest = Math.max(busiest, this.queueSum(q));
    if (busiest > 0) {
      const per = busiest / this.packets;
      stages.push({
        stage: 'rx.rq',
        cyclesPerPacket: per,
        units: this.qOrder.length,
        capacityPps: p.clockHz / per,
      });
    }
    let best = stages[0]!;
    for (const s of stages) if (s.capacityPps < best.capacityPps) best = s;
    const frameBytes = this.frameBytes / this.packets;
    const wirePps = (p.lineRateGbps * 1e9) / ((frameBytes + 20) * 8);
    const pps = best.capacityPps * ports;
    return {
      pps,
      gbps: (pps * frameBytes * 8) / 1e9,
      bottleneck: best.stage,
      stages,
      wirePps: wirePps * ports,
      frameBytes,
      ports,
    };
  }
}
