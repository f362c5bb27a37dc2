/**
 * The performance model: per-packet latency = the sum of the stage visits' cycles; throughput = the
 * bottleneck stage, each stage serving `units × clock / cycles-per-packet` packets per second (the
 * receive queues serve only the share of traffic RSS gives them), capped by the wire.
 */
import type { DatapathProfile, StageName } from './costs.ts';

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

/**
 * Accumulates stage visits of many packets (one traffic direction through one port) and evaluates
 * the model on them.
 */
export class LoadAccumulator {
  packets = 0;
  frameBytes = 0;
  latencyCycles = 0;
  readonly stageCycles = new Map<StageName, number>();
  readonly queueCycles = new Map<number, number>();

  constructor(
    readonly profile: DatapathProfile,
    /** SA contexts in use (cache term) */
    public saContexts: () => number,
  ) {}

  /** Adds one packet's visits; returns its latency in cycles. */
  add(visits: readonly StageVisit[], frameBytes: number): number {
    const ctx = this.saContexts();
    let sum = 0;
    for (const v of visits) {
      const c = visitCycles(this.profile, v, ctx);
      sum += c;
      if (v.stage === 'rx.rq')
        this.queueCycles.set(v.queue ?? 0, (this.queueCycles.get(v.queue ?? 0) ?? 0) + c);
      else this.stageCycles.set(v.stage, (this.stageCycles.get(v.stage) ?? 0) + c);
    }
    this.packets++;
    this.frameBytes += frameBytes;
    this.latencyCycles += sum;
    return sum;
  }

  merge(o: LoadAccumulator): void {
    this.packets += o.packets;
    this.frameBytes += o.frameBytes;
    this.latencyCycles += o.latencyCycles;
    for (const [k, v] of o.stageCycles) this.stageCycles.set(k, (this.stageCycles.get(k) ?? 0) + v);
    for (const [k, v] of o.queueCycles) this.queueCycles.set(k, (this.queueCycles.get(k) ?? 0) + v);
  }

  /** Average latency in ns. */
  latencyNs(): number {
    return this.packets ? (this.latencyCycles / this.packets / this.profile.clockHz) * 1e9 : 0;
  }

  throughput(ports = 1): ThroughputResult | undefined {
    if (this.packets === 0) return undefined;
    const p = this.profile;
    const stages: StageLoad[] = [];
    for (const [stage, cyc] of this.stageCycles) {
      const per = cyc / this.packets;
      if (per <= 0) continue;
      const units = stageUnits(p, stage);
      stages.push({ stage, cyclesPerPacket: per, units, capacityPps: (units * p.clockHz) / per });
    }
    // receive queues: the busiest queue limits (RSS spreads by SPI; one SA ⇒ one queue)
    let busiest = 0;
    for (const c of this.queueCycles.values()) busiest = Math.max(busiest, c);
    if (busiest > 0) {
      const per = busiest / this.packets;
      stages.push({
        stage: 'rx.rq',
        cyclesPerPacket: per,
        units: this.queueCycles.size,
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
