/**
 * The two DPUs of a `TwoDpuTopology` as two machines on two threads: the sending DPU (OVS VXLAN
 * encap, p0 TX datapath, the wire) stays on the calling thread, the receiving DPU's side (p0 RX
 * datapath, kernel/OVS, VXLAN decap) runs in a worker thread, on a replica of that DPU built from
 * the same seed configuration (same SAs, keys, SPIs and policies). Between them is the wire: a ring
 * of frame slabs in SharedArrayBuffers — the sender copies the frames that crossed the wire into a
 * free slab and hands it over; the worker runs `Dpu.receiveBatchInto` on them in place and writes
 * back what each packet became. Batches are pipelined (the sender works on batch k+1 while the
 * worker receives batch k), and both sides process the batches in order, so every packet, byte,
 * counter and cycle charge is the one `TwoDpuTopology.sendBatch` gives (test/topology/threaded.test.ts).
 *
 * While the link runs, the receiving DPU of the calling thread's topology is not used (its replica
 * in the worker receives); `stop` returns the replica's state (`dpuSnapshot`). The replica is exact
 * when the link starts on a freshly seeded topology (no traffic received yet).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ProfileId } from '@xfrmkit/core';
import { XfrmClient } from '@xfrmkit/netlink';
import { NETLINK_XFRM } from '../machine.ts';
import { InProcTransport } from '../transport/inproc.ts';
import { type SeedConfig, type Side, seedPolicy, seedState } from './seed.ts';
import { BatchDelivery, type Dpu, type DpuOptions, TopologyError, type TwoDpuTopology } from './topology.ts';

/** Everything a DPU keeps (counters, cycle-model sums, SA and SAD state), as plain data. */
export interface DpuSnapshot {
  ethtool: Record<string, bigint>;
  mib: Array<[string, number]>;
  port: Array<[string, number]>;
  queues: number[];
  sas: ReturnType<Dpu['datapath']['saCounters']>;
  ovs: Array<[string, number]>;
  tx: LoadSnapshot;
  rx: LoadSnapshot;
  sad: Array<{
    spi: number;
    km: string;
    dying: boolean;
    curlft: { bytes: bigint; packets: bigint; used: boolean };
    stats: { replayWindow: number; replay: number; integrityFailed: number };
  }>;
}

interface LoadSnapshot {
  packets: number;
  frameBytes: number;
  latency: number;
  stages: Array<[string, number]>;
  queues: Array<[number, number]>;
}

export function dpuSnapshot(d: Dpu): DpuSnapshot {
  const sad = d.sim.xfrm.netns('default').sad;
  const load = (l: Dpu['datapath']['txLoad']): LoadSnapshot => ({
    packets: l.packets,
    frameBytes: l.frameBytes,
    latency: l.latencyCycles,
    stages: [...l.stageCycles],
    queues: [...l.queueCycles],
  });
  return {
    ethtool: d.datapath.ethtool(),
    mib: [...d.datapath.mib],
    port: [...d.datapath.port],
    queues: [...d.datapath.queuePackets],
    sas: d.datapath.saCounters(),
    ovs: [...d.counters],
    tx: load(d.datapath.txLoad),
    rx: load(d.datapath.rxLoad),
    sad: sad.entries().map((e) => ({
      spi: e.state.info.id.spi,
      km: e.kmState,
      dying: e.dying,
      // add_time / use_time are wall-clock seconds
      curlft: {
        bytes: e.state.info.curlft.bytes,
        packets: e.state.info.curlft.packets,
        used: e.state.info.curlft.useTime > 0n,
      },
      stats: { ...e.state.info.stats },
    })),
  };
}

/** Configures one DPU of the seed topology (its two SAs and two policies) through XfrmClient. */
export async function seedDpu(dpu: Dpu, cfg: SeedConfig, side: Side): Promise<void> {
  const c = XfrmClient.over(new InProcTransport(dpu.sim.machine, NETLINK_XFRM));
  try {
    const ifx = dpu.sim.ifindex('p0');
    for (const dir of ['out', 'in'] as const) await c.addState(seedState(cfg, side, dir, ifx));
    for (const dir of ['out', 'in'] as const) await c.addPolicy(seedPolicy(cfg, side, dir, ifx));
  } finally {
    c.close();
  }
}

/** The options a DPU was built with (what the worker needs to build its replica). */
export function dpuOptionsOf(d: Dpu): DpuOptions {
  return {
    name: d.name,
    profile: d.datapath.device.profile.id as ProfileId,
    ip: d.ip,
    peerIp: d.peerIp,
    vni: d.vni,
    p0Mtu: d.p0.mtu,
    vxlanMtu: d.vxlanMtu,
    ovsHwOffload: d.ovsHwOffload,
    modeledCrypto: d.datapath.modeledCrypto,
  };
}

/** Slab layout shared by both threads (offsets in bytes into one slab's SharedArrayBuffer). */
export interface SlabLayout {
  /** packets per batch and wire frames per batch the slab holds */
  packets: number;
  frames: number;
  /** bytes per frame slot (frames sit `HEADROOM` bytes in) */
  slot: number;
  hdr: number;
  wOff: number;
  wLen: number;
  wIdx: number;
  ok: number;
  dOff: number;
  dLen: number;
  rxCycles: number;
  data: number;
  resp: number;
  drops: number;
  dropsCap: number;
  size: number;
}

/** Slab header words. */
export const SLAB = { PACKETS: 0, FRAMES: 1, DELIVERED: 2, DROPS_LEN: 3 } as const;
/** Frame offset inside its slot: puts the IPv4 header on a 4-byte boundary (as FrameBatch's default). */
export const SLAB_HEADROOM = 66;
/** ctrl word values per slab. */
export const SLAB_FREE = 0;
export const SLAB_FULL = 1;
export const SLAB_DONE = 2;
/**
 * Words of the ctrl array after the slabs' (index = slab count + this): the worker failed; the
 * worker / the sender sleeps in `Atomics.wait` (the other side only calls `Atomics.notify`, a
 * system call, when it does). Both sides spin `SPIN` polls before they sleep.
 */
export const CTRL = { FAILED: 0, WORKER_SLEEPS: 1, SENDER_SLEEPS: 2, WORDS: 3 } as const;
export const SPIN = 256;

/**
 * Waits until `ctrl[i]` is no longer `value` (polls, then sleeps with the `sleeps` flag raised: the
 * other side stores the new value, then notifies if the flag is up — sequentially consistent, so no
 * wake-up is lost). Returns false when `ctrl[failed]` got set.
 */
export function waitWhile(
  ctrl: Int32Array,
  i: number,
  value: number,
  sleeps: number,
  failed: number,
): boolean {
  for (let k = 0; k < SPIN; k++) if (Atomics.load(ctrl, i) !== value) return true;
  for (;;) {
    Atomics.store(ctrl, sleeps, 1);
    if (Atomics.load(ctrl, i) !== value) break;
    if (Atomics.load(ctrl, failed) !== 0) {
      Atomics.store(ctrl, sleeps, 0);
      return false;
    }
    Atomics.wait(ctrl, i, value, 200);
    Atomics.store(ctrl, sleeps, 0);
    if (Atomics.load(ctrl, i) !== value) return true;
  }
  Atomics.store(ctrl, sleeps, 0);
  return true;
}

/** Stores `ctrl[i] = value` and wakes the other side if it sleeps (see `waitWhile`). */
export function signal(ctrl: Int32Array, i: number, value: number, sleeps: number): void {
  Atomics.store(ctrl, i, value);
  if (Atomics.load(ctrl, sleeps) !== 0) Atomics.notify(ctrl, i);
}

export function slabLayout(packets: number, mtu: number): SlabLayout {
  const frames = packets * 4;
  const slot = Math.max(2048, Math.ceil((SLAB_HEADROOM + mtu + 14 + 128) / 64) * 64);
  let o = 0;
  const take = (n: number, align = 8) => {
    o = Math.ceil(o / align) * align;
    const at = o;
    o += n;
    return at;
  };
  const hdr = take(32);
  const wOff = take(frames * 4);
  const wLen = take(frames * 4);
  const wIdx = take(frames * 4);
  const ok = take(packets);
  const dOff = take(packets * 4);
  const dLen = take(packets * 4);
  const rxCycles = take(packets * 8);
  const data = take(frames * slot, 64);
  const resp = take(packets * slot, 64);
  const dropsCap = 64 * 1024;
  const drops = take(dropsCap);
  return {
    packets,
    frames,
    slot,
    hdr,
    wOff,
    wLen,
    wIdx,
    ok,
    dOff,
    dLen,
    rxCycles,
    data,
    resp,
    drops,
    dropsCap,
    size: o,
  };
}

/** Typed views of one slab (both threads build the same). */
export class SlabViews {
  readonly u8: Uint8Array;
  readonly hdr: Int32Array;
  readonly wOff: Uint32Array;
  readonly wLen: Uint32Array;
  readonly wIdx: Uint32Array;
  readonly ok: Uint8Array;
  readonly dOff: Uint32Array;
  readonly dLen: Uint32Array;
  readonly rxCycles: Float64Array;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly l: SlabLayout,
  ) {
    this.u8 = new Uint8Array(sab);
    this.hdr = new Int32Array(sab, l.hdr, 8);
    this.wOff = new Uint32Array(sab, l.wOff, l.frames);
    this.wLen = new Uint32Array(sab, l.wLen, l.frames);
    this.wIdx = new Uint32Array(sab, l.wIdx, l.frames);
    this.ok = new Uint8Array(sab, l.ok, l.packets);
    this.dOff = new Uint32Array(sab, l.dOff, l.packets);
    this.dLen = new Uint32Array(sab, l.dLen, l.packets);
    this.rxCycles = new Float64Array(sab, l.rxCycles, l.packets);
  }
}

/** What the worker gets. */
export interface LinkWorkerData {
  dpu: DpuOptions;
  peerMac: Uint8Array;
  cfg: SeedConfig;
  side: Side;
  ctrl: SharedArrayBuffer;
  slabs: SharedArrayBuffer[];
  layout: SlabLayout;
  entry: string;
}

/** The tsx loader (the worker runs TypeScript like the CLI and the tests do; tsx is a dependency of sim). */
function tsxLoader(): string {
  try {
    // tsx/esm/api: its register() installs the TypeScript loader hooks in the calling thread
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    return pathToFileURL(join(dirname(pkg), 'dist', 'esm', 'api', 'index.mjs')).href;
  } catch {
    throw new TopologyError('threaded link: cannot find the tsx loader for the worker thread');
  }
}

const BOOT = `
const { workerData } = require('node:worker_threads');
import(workerData.loader).then((tsx) => {
  tsx.register();
  return import(workerData.entry);
});
`;

export interface ThreadedLinkOptions {
  /** the sending side (the other DPU receives in the worker) */
  from: Side;
  /** the seed configuration both DPUs were configured with (the worker configures its replica so) */
  cfg: SeedConfig;
  /** slabs in the ring (batches in flight), default 4 */
  slabs?: number;
  /** most host frames per batch, default 64 */
  maxBatch?: number;
}

/**
 * A pipelined two-thread link across a `TwoDpuTopology` (see the module comment). `send` does the
 * sending half now and queues the receiving half; `onDone` gets the batch's `BatchDelivery` (as
 * `sendBatch` returns it; its frames are valid during the call) once the worker received it, in
 * batch order, at the latest on `flush`/`stop`.
 */
export class ThreadedLink {
  private readonly ctrl: Int32Array;
  private readonly views: SlabViews[];
  private readonly results: BatchDelivery[];
  private readonly pending: (((d: BatchDelivery) => void) | null | undefined)[];
  private next = 0;
  private stopped = false;

  private constructor(
    private readonly topo: TwoDpuTopology,
    private readonly from: Side,
    private readonly worker: Worker,
    ctrl: SharedArrayBuffer,
    slabs: SharedArrayBuffer[],
    private readonly layout: SlabLayout,
    private readonly snapshot: Promise<DpuSnapshot>,
  ) {
    this.ctrl = new Int32Array(ctrl);
    this.views = slabs.map((s) => new SlabViews(s, layout));
    this.results = slabs.map(() => new BatchDelivery());
    this.pending = slabs.map(() => undefined);
  }

  static async start(topo: TwoDpuTopology, o: ThreadedLinkOptions): Promise<ThreadedLink> {
    if (topo.wire.impair) throw new TopologyError('threaded link: the wire has an impair hook');
    const [src, dst] = o.from === 'left' ? [topo.bfl, topo.bfr] : [topo.bfr, topo.bfl];
    const n = o.slabs ?? 4;
    const layout = slabLayout(o.maxBatch ?? 64, Math.max(dst.p0.mtu, src.p0.mtu));
    // one word per slab, then CTRL
    const ctrl = new SharedArrayBuffer(4 * (n + CTRL.WORDS));
    const slabs = Array.from({ length: n }, () => new SharedArrayBuffer(layout.size));
    const data: LinkWorkerData & { loader: string } = {
      dpu: dpuOptionsOf(dst),
      peerMac: src.p0.mac.slice(),
      cfg: o.cfg,
      side: o.from === 'left' ? 'right' : 'left',
      ctrl,
      slabs,
      layout,
      entry: new URL('./link-worker.ts', import.meta.url).href,
      loader: tsxLoader(),
    };
    const worker = new Worker(BOOT, { eval: true, workerData: data });
    let ready!: () => void;
    let fail!: (e: unknown) => void;
    const up = new Promise<void>((res, rej) => {
      ready = res;
      fail = rej;
    });
    let snap!: (s: DpuSnapshot) => void;
    let snapFail!: (e: unknown) => void;
    const snapshot = new Promise<DpuSnapshot>((res, rej) => {
      snap = res;
      snapFail = rej;
      worker.once('error', rej);
      worker.once('exit', (code) => rej(new TopologyError(`threaded link: worker exited (${code})`)));
    });
    snapshot.catch(() => {});
    worker.on('message', (m: { ready?: true; snapshot?: DpuSnapshot; error?: string }) => {
      if (m.ready) ready();
      else if (m.snapshot) snap(m.snapshot);
      else if (m.error) {
        const e = new TopologyError(`threaded link worker: ${m.error}`);
        fail(e);
        snapFail(e);
      }
    });
    worker.once('error', fail);
    await up;
    return new ThreadedLink(topo, o.from, worker, ctrl, slabs, layout, snapshot);
  }

  /**
   * Sends a batch of host frames (as `TwoDpuTopology.sendBatch(from, frames, ipId)`): the sending
   * DPU and the wire now, the receiving DPU in the worker.
   */
  send(frames: readonly Uint8Array[], ipId: number, onDone?: (d: BatchDelivery) => void): void {
    if (this.stopped) throw new TopologyError('threaded link: stopped');
    const l = this.layout;
    if (frames.length > l.packets)
      throw new TopologyError(`threaded link: ${frames.length} frames > ${l.packets} per batch`);
    const s = this.next;
    this.next = (s + 1) % this.views.length;
    this.reclaim(s);
    const d = this.results[s]!;
    const { ring, idx } = this.topo.transmitHalf(this.from, frames, ipId, d);
    const v = this.views[s]!;
    const m = ring.count;
    if (m > l.frames) throw new TopologyError(`threaded link: ${m} wire frames > ${l.frames} per batch`);
    const u8 = v.u8;
    for (let e = 0; e < m; e++) {
      const len = ring.len[e]!;
      if (len > l.slot - SLAB_HEADROOM - 128)
        throw new TopologyError(`threaded link: a ${len}-byte frame does not fit a slab slot`);
      const at = l.data + e * l.slot + SLAB_HEADROOM;
      const o = ring.off[e]!;
      u8.set(ring.bufs[e]!.subarray(o, o + len), at);
      v.wOff[e] = at;
      v.wLen[e] = len;
      v.wIdx[e] = idx[e]!;
    }
    v.hdr[SLAB.PACKETS] = frames.length;
    v.hdr[SLAB.FRAMES] = m;
    this.pending[s] = onDone ?? null;
    signal(this.ctrl, s, SLAB_FULL, this.views.length + CTRL.WORKER_SLEEPS);
  }

  /** Waits for slab s's batch (if any) and completes its delivery. */
  private reclaim(s: number): void {
    const cb = this.pending[s];
    if (cb === undefined) return;
    const k = this.views.length;
    if (!waitWhile(this.ctrl, s, SLAB_FULL, k + CTRL.SENDER_SLEEPS, k + CTRL.FAILED))
      throw new TopologyError('threaded link: the worker failed (see the error of stop())');
    const v = this.views[s]!;
    const d = this.results[s]!;
    const n = d.count;
    for (let i = 0; i < n; i++) {
      const rx = v.rxCycles[i]!;
      d.rxCycles[i] = rx;
      d.latencyCycles[i] = d.latencyCycles[i]! + rx;
      if (v.ok[i] === 1) {
        d.ok[i] = 1;
        d.bufs[i] = v.u8;
        d.off[i] = v.dOff[i]!;
        d.len[i] = v.dLen[i]!;
        d.delivered++;
      }
    }
    const dl = v.hdr[SLAB.DROPS_LEN]!;
    if (dl > 0) {
      const text = new TextDecoder().decode(v.u8.slice(this.layout.drops, this.layout.drops + dl));
      for (const [i, where, reason, counter] of JSON.parse(text) as [number, string, string, string][])
        d.drops[i] = { where, reason, counter };
    }
    this.pending[s] = undefined;
    Atomics.store(this.ctrl, s, SLAB_FREE);
    if (cb) cb(d);
  }

  /** Completes every batch in flight, in order. */
  flush(): void {
    const k = this.views.length;
    for (let j = 0; j < k; j++) this.reclaim((this.next + j) % k);
  }

  /** Completes the batches in flight, stops the worker; returns the receiving replica's state. */
  async stop(): Promise<DpuSnapshot> {
    if (this.stopped) throw new TopologyError('threaded link: stopped');
    this.flush();
    this.stopped = true;
    const s = this.next;
    this.views[s]!.hdr[SLAB.PACKETS] = -1;
    Atomics.store(this.ctrl, s, SLAB_FULL);
    Atomics.notify(this.ctrl, s);
    try {
      return await this.snapshot;
    } finally {
      await this.worker.terminate();
    }
  }
}
