/**
 * Simulator benchmarks.
 *
 *   sim.program.100k      the policies of `kernel.program.100k` (program.ts) into a fresh simulated
 *                         BlueField-3 (`createSimMachine('bf3')`) through XfrmClient.addPolicies over
 *                         InProcTransport — same client, same pipelining; baseline: the kernel figure of
 *                         this run (measured here, one run, when the kernel suite did not run).
 *   sim.pipeline.real     simulated packets per wall-clock second through the two-DPU topology
 *                         (host L → BFL OVS/VXLAN → BFL p0 TX datapath (policy → SA → ESP, real
 *                         AES-GCM) → wire → BFR p0 RX datapath (decrypt, checks) → VXLAN decap → host R),
 *                         1400-byte inner IP packets sent 64 at a time (`sendBatch`: each stage works
 *                         on the batch; same bytes, counters and cycle charges as `send` per frame,
 *                         tested); baseline: `esp.encap.1400` of this run. Each packet is encrypted
 *                         AND decrypted, so the AES work alone is about twice the baseline's. The
 *                         `what` text also gives the rate with the two DPUs on two threads
 *                         (`ThreadedLink`: BFL and the wire on this thread, BFR in a worker on a
 *                         replica, batches pipelined through SharedArrayBuffer slabs; same packets and
 *                         counters, tested), which splits the AES work when a second core is free.
 *   sim.pipeline.modeled  the same with modeled crypto (AES-GCM skipped; the cycle model still charges it).
 *
 * The topology is configured like the tests do (seed SAs and policies as objects through XfrmClient
 * over InProcTransport; `xfrmkit demo` sends the same configuration as `ip xfrm` lines).
 */
import { performance } from 'node:perf_hooks';
import type { XfrmPolicy } from '@xfrmkit/core';
import { XfrmClient } from '@xfrmkit/netlink';
import {
  BatchDelivery,
  createSimMachine,
  hostFrame,
  InProcTransport,
  NETLINK_XFRM,
  seedConfig,
  seedDpu,
  seedTopologyOptions,
  ThreadedLink,
  TwoDpuTopology,
} from '@xfrmkit/sim';
import { benchEsp } from './esp.ts';
import {
  type BenchOptions,
  type BenchResult,
  measureRate,
  result,
  selected,
  withBaseline,
} from './harness.ts';
import {
  KERNEL_PROGRAM_ID,
  kernelProgramRate,
  kernelProgramUnavailable,
  PIPELINE,
  programCount,
  programPolicy,
} from './program.ts';

/** Inner IP packet size of the pipeline runs (the baseline is `esp.encap.1400`). */
export const PIPELINE_IP_BYTES = 1400;
/** Host frames per `sendBatch` call (a NAPI budget's worth). */
export const PIPELINE_BATCH = 64;
const ESP_BASELINE_ID = 'esp.encap.1400';

/** One run: `policies` into a fresh simulated bf3 machine; policies/s. */
export async function simProgramRate(policies: readonly XfrmPolicy[]): Promise<number> {
  const sim = createSimMachine('bf3', { name: 'bench' });
  const c = XfrmClient.over(new InProcTransport(sim.machine, NETLINK_XFRM));
  const t0 = performance.now();
  try {
    await c.addPolicies(policies, PIPELINE);
  } finally {
    c.close();
  }
  const dt = performance.now() - t0;
  const got = sim.xfrm.netns('default').spd.size;
  if (got !== policies.length) throw new Error(`simulator holds ${got} of ${policies.length} policies`);
  return (policies.length * 1000) / dt;
}

async function simProgram(opts: BenchOptions, log: (s: string) => void): Promise<BenchResult> {
  const n = programCount(opts.quick);
  const policies = Array.from({ length: n }, (_, i) => programPolicy(i).policy);
  const rounds = opts.quick ? 1 : 3;
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    samples.push(await simProgramRate(policies));
    log(`sim.program.100k round ${r + 1}/${rounds}: ${Math.round(samples[r]!)} policies/s`);
  }
  const what =
    `${n} policies (as ${KERNEL_PROGRAM_ID}) into a fresh createSimMachine('bf3') via XfrmClient.addPolicies ` +
    `over InProcTransport (window ${PIPELINE.window}, ${PIPELINE.perDatagram} per datagram); ${rounds} run(s)`;
  const res = result('sim.program.100k', what, 'policies/s', samples);
  const prior = opts.prior?.find((r) => r.id === KERNEL_PROGRAM_ID);
  if (prior) return withBaseline(res, `${KERNEL_PROGRAM_ID} (kernel, this run)`, prior.value);
  const why = kernelProgramUnavailable();
  if (why) {
    res.what += `; no kernel baseline: ${why}`;
    log(`sim.program.100k: no kernel baseline (${why})`);
    return res;
  }
  log('sim.program.100k: measuring the kernel baseline (one run)');
  const k = await kernelProgramRate(policies);
  return withBaseline(res, 'kernel via KernelTransport (one run, sim suite)', k);
}

/** The seed two-DPU topology, configured through XfrmClient, ready to carry VXLAN both ways. */
export async function seededTopology(
  modeledCrypto: boolean,
  cfg = seedConfig({ esn: true }),
): Promise<TwoDpuTopology> {
  const topo = new TwoDpuTopology({
    profile: 'bf3',
    ...seedTopologyOptions(cfg),
    modeledCrypto,
  });
  await seedDpu(topo.bfl, cfg, 'left');
  await seedDpu(topo.bfr, cfg, 'right');
  return topo;
}

/** Throws unless every packet of `d` arrived as sent, having crossed the wire as ESP. */
function checkIntact(id: string, d: BatchDelivery, frames: readonly Uint8Array[]): void {
  for (let i = 0; i < d.count; i++) {
    const got = d.frame(i);
    if (!got || Buffer.compare(Buffer.from(got), Buffer.from(frames[i]!)) !== 0)
      throw new Error(
        `${id}: batch frame ${i} not delivered intact (${d.drops[i]?.reason ?? 'payload mismatch'})`,
      );
    if (!d.ipsec[i]) throw new Error(`${id}: batch frame ${i} crossed the wire without ESP`);
  }
}

/**
 * One thread: `sendBatch` on a topology past its correctness checks, as its two halves (what
 * `sendBatch` runs), each timed: the sending side (OVS VXLAN encap, BFL p0 TX datapath, wire) and the
 * receiving side (BFR p0 RX datapath, VXLAN decap). Mpps samples and the sending side's share of
 * the time (over every call, warm-up included: a share, unlike a mean time, hardly moves with it).
 */
async function pipelineOneThread(
  id: string,
  topo: TwoDpuTopology,
  frames: readonly Uint8Array[],
  k0: number,
  opts: BenchOptions,
): Promise<{ samples: number[]; sent: number; txShare: number }> {
  const per = frames.length;
  let k = k0;
  const wire0 = topo.wire.frames;
  const esp0 = topo.bfr.datapath.ethtool().ipsec_rx_pkts ?? 0n;
  const d = new BatchDelivery();
  let sent = 0;
  let lost = 0;
  let txMs = 0;
  let rxMs = 0;
  const samples = await measureRate(
    id,
    () => {
      const t0 = performance.now();
      const { dst, ring, idx } = topo.transmitHalf('left', frames, k, d);
      const t1 = performance.now();
      dst.receiveBatchInto(ring, idx, d);
      rxMs += performance.now() - t1;
      txMs += t1 - t0;
      lost += d.count - d.delivered;
      k += per;
      sent += per;
    },
    per / 1e6,
    opts,
  );
  if (lost) throw new Error(`${id}: ${lost} of ${sent} packets were not delivered`);
  // every measured packet crossed the wire once and was decrypted by BFR's RX datapath
  const esp = (topo.bfr.datapath.ethtool().ipsec_rx_pkts ?? 0n) - esp0;
  if (topo.wire.frames - wire0 !== sent || esp !== BigInt(sent))
    throw new Error(`${id}: ${sent} packets sent, ${topo.wire.frames - wire0} on the wire, ${esp} decrypted`);
  return { samples, sent, txShare: txMs / (txMs + rxMs) };
}

/**
 * Two threads: a fresh seeded topology whose BFR receives in a worker thread (`ThreadedLink`: BFL
 * OVS + TX datapath + wire on this thread, BFR RX datapath + VXLAN decap on the other, batches
 * pipelined through a ring of SharedArrayBuffer slabs); Mpps samples.
 */
async function pipelineTwoThreads(
  id: string,
  modeled: boolean,
  frames: readonly Uint8Array[],
  opts: BenchOptions,
): Promise<{ samples: number[]; sent: number }> {
  const cfg = seedConfig({ esn: true });
  const topo = await seededTopology(modeled, cfg);
  const link = await ThreadedLink.start(topo, { from: 'left', cfg, maxBatch: frames.length });
  let stopped = false;
  try {
    const per = frames.length;
    let k = 0;
    // correctness first (the replica past the ESN window's first 128 packets, where its batch path starts)
    const check = (d: BatchDelivery) => checkIntact(`${id} (two threads)`, d, frames);
    for (let round = 0; round < 4; round++, k += per) link.send(frames, k, check);
    link.flush();
    const wire0 = topo.wire.frames;
    let sent = 0;
    let lost = 0;
    const done = (d: BatchDelivery) => {
      lost += d.count - d.delivered;
    };
    const samples = await measureRate(
      `${id} (two threads)`,
      () => {
        link.send(frames, k, done);
        k += per;
        sent += per;
      },
      per / 1e6,
      opts,
    );
    link.flush();
    stopped = true;
    const replica = await link.stop();
    if (lost) throw new Error(`${id}: ${lost} of ${sent} packets were not delivered (two threads)`);
    // every measured packet crossed the wire once and was decrypted by BFR's RX datapath (the replica)
    const esp = (replica.ethtool.ipsec_rx_pkts ?? 0n) - BigInt(4 * per);
    if (topo.wire.frames - wire0 !== sent || esp !== BigInt(sent))
      throw new Error(
        `${id}: ${sent} packets sent, ${topo.wire.frames - wire0} on the wire, ${esp} decrypted`,
      );
    return { samples, sent };
  } finally {
    if (!stopped) await link.stop().catch(() => {});
    topo.dispose();
  }
}

/** The two-DPU pipeline, one thread (`sim.pipeline.X`) and two (`sim.pipeline.X.threaded`). */
async function pipeline(
  modeled: boolean,
  opts: BenchOptions,
  baseline: { name: string; value: number } | undefined,
): Promise<BenchResult[]> {
  const id = `sim.pipeline.${modeled ? 'modeled' : 'real'}`;
  const topo = await seededTopology(modeled);
  try {
    const frameBytes = PIPELINE_IP_BYTES + 14;
    const per = PIPELINE_BATCH;
    const frames = Array.from({ length: per }, (_, i) => hostFrame(topo.hostL, topo.hostR, frameBytes, i));
    // correctness first: every frame arrives intact (modeled crypto carries the payload in clear), one
    // at a time and as batches (past the ESN window's first 128 packets, where the RX batch path starts)
    for (const [i, f] of frames.entries()) {
      const d = topo.send('left', f, i);
      if (!d.delivered || Buffer.compare(Buffer.from(d.delivered), Buffer.from(f)) !== 0)
        throw new Error(`${id}: frame ${i} not delivered intact (${d.drop?.reason ?? 'payload mismatch'})`);
      if (!d.tx?.ipsec) throw new Error(`${id}: frame ${i} crossed the wire without ESP`);
    }
    let k = per;
    for (let round = 0; round < 4; round++, k += per)
      checkIntact(id, topo.sendBatch('left', frames, k), frames);
    const one = await pipelineOneThread(id, topo, frames, k, opts);
    const two = await pipelineTwoThreads(id, modeled, frames, opts);
    const common =
      `host→host UDP packets, ${PIPELINE_IP_BYTES} B inner IP (VXLAN, ESN, transport ESP) through ` +
      `BFL TX + wire + BFR RX of the cycle-counted bf3 pipeline, ${modeled ? 'modeled crypto (no AES-GCM)' : 'real AES-GCM'}, ` +
      `in batches of ${per}; one packet = one encrypt + one decrypt`;
    const results = [
      result(
        id,
        `${one.sent} ${common}; one thread (TwoDpuTopology.sendBatch: same stages, bytes and counters as send ` +
          `per frame); of a packet's time, the sending side (OVS VXLAN encap + BFL TX + wire) took ` +
          `${(100 * one.txShare).toFixed(0)} %, the receiving side (BFR RX + VXLAN decap) ${(100 - 100 * one.txShare).toFixed(0)} %`,
        'Mpps',
        one.samples,
      ),
      result(
        `${id}.threaded`,
        `${two.sent} ${common}; two threads, one DPU each (ThreadedLink: BFL and the wire on this thread, BFR ` +
          'in a worker thread on a replica, batches pipelined through SharedArrayBuffer slabs; same packets ' +
          `and counters as one thread, tested)${modeled ? '' : ': each thread does one AES-GCM operation per packet'}`,
        'Mpps',
        two.samples,
      ),
    ];
    for (const r of results) {
      r.gbps = (r.value * 1e6 * PIPELINE_IP_BYTES * 8) / 1e9;
      if (baseline) withBaseline(r, baseline.name, baseline.value);
    }
    return results;
  } finally {
    topo.dispose();
  }
}

/** `esp.encap.1400` of this run: from the esp suite if it ran, else measured now. */
function espBaseline(opts: BenchOptions, log: (s: string) => void): { name: string; value: number } {
  const prior = opts.prior?.find((r) => r.id === ESP_BASELINE_ID);
  if (prior) return { name: `${ESP_BASELINE_ID} (this run)`, value: prior.value };
  log(`sim.pipeline: measuring the ${ESP_BASELINE_ID} baseline`);
  const [r] = benchEsp({ quick: opts.quick, sizes: ['1400'], variants: [''], only: ESP_BASELINE_ID });
  if (!r || r.id !== ESP_BASELINE_ID) throw new Error(`sim.pipeline: no ${ESP_BASELINE_ID} baseline`);
  return { name: `${ESP_BASELINE_ID} (measured by the sim suite)`, value: r.value };
}

export async function benchSim(opts: BenchOptions): Promise<BenchResult[]> {
  const log = opts.log ?? (() => {});
  const out: BenchResult[] = [];
  if (selected('sim.program.100k', opts.only)) out.push(await simProgram(opts, log));
  const real = selected('sim.pipeline.real', opts.only);
  const modeled = selected('sim.pipeline.modeled', opts.only);
  if (real || modeled) {
    const base = espBaseline(opts, log);
    for (const m of [false, true]) {
      if (!(m ? modeled : real)) continue;
      for (const r of await pipeline(m, opts, base)) {
        log(`${r.id}: ${(r.value * 1e3).toFixed(1)} kpps`);
        out.push(r);
      }
    }
  }
  return out;
}
