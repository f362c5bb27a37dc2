/**
 * The receiving side of a `ThreadedLink` (threaded.ts), in its worker thread: builds the replica of
 * the receiving DPU, configures it from the seed, then receives the slabs in ring order until told
 * to stop, and answers with the replica's state.
 */
import { parentPort, workerData as wd } from 'node:worker_threads';
import { FrameBatch } from '../datapath/frames.ts';
import {
  CTRL,
  dpuSnapshot,
  type LinkWorkerData,
  SLAB,
  SLAB_DONE,
  SLAB_FULL,
  SlabViews,
  seedDpu,
  signal,
  waitWhile,
} from './threaded.ts';
import { BatchDelivery, Dpu } from './topology.ts';

async function main(w: LinkWorkerData): Promise<void> {
  const port = parentPort!;
  const dpu = new Dpu(w.dpu);
  dpu.peerMac = Uint8Array.from(w.peerMac);
  await seedDpu(dpu, w.cfg, w.side);
  const ctrl = new Int32Array(w.ctrl);
  const l = w.layout;
  const views = w.slabs.map((s) => new SlabViews(s, l));
  const k = views.length;
  const ring = new FrameBatch(0, 0, 0);
  const idx = new Uint32Array(l.frames);
  const d = new BatchDelivery();
  const enc = new TextEncoder();
  port.postMessage({ ready: true });
  for (let s = 0; ; s = (s + 1) % views.length) {
    // the slab is free (or done, not yet taken back): wait until the sender fills it
    for (let st = Atomics.load(ctrl, s); st !== SLAB_FULL; st = Atomics.load(ctrl, s))
      waitWhile(ctrl, s, st, k + CTRL.WORKER_SLEEPS, k + CTRL.FAILED);
    const v = views[s]!;
    const n = v.hdr[SLAB.PACKETS]!;
    if (n < 0) break;
    const m = v.hdr[SLAB.FRAMES]!;
    const u8 = v.u8;
    ring.clear();
    for (let e = 0; e < m; e++) {
      ring.push(u8, v.wOff[e]!, v.wLen[e]!);
      idx[e] = v.wIdx[e]!;
    }
    d.reset(n);
    dpu.receiveBatchInto(ring, idx, d);
    let drops: [number, string, string, string][] | undefined;
    for (let i = 0; i < n; i++) {
      v.rxCycles[i] = d.rxCycles[i]!;
      const dr = d.drops[i];
      if (dr !== undefined) {
        drops ??= [];
        drops.push([i, dr.where, dr.reason, dr.counter]);
      }
      if (d.ok[i] !== 1) {
        v.ok[i] = 0;
        continue;
      }
      v.ok[i] = 1;
      const b = d.bufs[i]!;
      const len = d.len[i]!;
      if (b === u8) v.dOff[i] = d.off[i]!;
      else {
        // delivered by the per-packet path in its own buffer: into the slab's reply area
        const at = l.resp + i * l.slot;
        if (len > l.slot) throw new Error(`delivered frame of ${len} B > slab slot`);
        u8.set(b.subarray(d.off[i]!, d.off[i]! + len), at);
        v.dOff[i] = at;
      }
      v.dLen[i] = len;
    }
    let dl = 0;
    if (drops) {
      const t = enc.encode(JSON.stringify(drops));
      if (t.length > l.dropsCap) throw new Error('drop records exceed the slab');
      u8.set(t, l.drops);
      dl = t.length;
    }
    v.hdr[SLAB.DROPS_LEN] = dl;
    v.hdr[SLAB.DELIVERED] = d.delivered;
    signal(ctrl, s, SLAB_DONE, k + CTRL.SENDER_SLEEPS);
  }
  port.postMessage({ snapshot: dpuSnapshot(dpu) });
  dpu.datapath.dispose();
}

main(wd as LinkWorkerData).catch((e: unknown) => {
  const w = wd as LinkWorkerData;
  const ctrl = new Int32Array(w.ctrl);
  Atomics.store(ctrl, w.slabs.length + CTRL.FAILED, 1);
  for (let s = 0; s < w.slabs.length; s++) Atomics.notify(ctrl, s);
  parentPort!.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
});
