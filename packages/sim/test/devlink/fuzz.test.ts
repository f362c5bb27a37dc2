/**
 * Decoder-to-simulator fuzz: 120 000 random and mutated NETLINK_GENERIC requests (nlctrl and
 * devlink) go to a simulated BlueField-3 through a raw socket. The simulated kernel must answer
 * every one without an exception and keep its invariants:
 *  - no handler exception (the endpoint would turn one into EINVAL "simulator: …"),
 *  - every reply datagram splits into whole messages addressed to the socket with the request's seq,
 *  - a do request with ACK gets exactly one NLMSG_ERROR last; a dump ends with exactly one DONE
 *    (or is refused with one NLMSG_ERROR),
 *  - every devlink/nlctrl reply decodes with the codec's tables,
 *  - device state stays coherent (representors exist iff the eswitch is not legacy, table
 *    counters never negative).
 */
import {
  DEVLINK_ATTR_TABLE,
  decodeDatagram,
  devlinkFamily,
  GenlRegistry,
  splitDatagram,
} from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { loadIproute2DevlinkFixtures, loadKernelCaptures } from '../../../netlink/test/devlink/helpers.ts';
import { createSimMachine, type SimHost } from '../../src/create.ts';
import { rawGenlSocket } from '../genl/support.ts';

const RUNS = Number(process.env.GENL_FUZZ_RUNS ?? 120_000);
const SEED = Number(process.env.GENL_FUZZ_SEED ?? 0x5eed);
const DEVLINK_ID = 0x16;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const corpus: Uint8Array[] = [
  ...loadIproute2DevlinkFixtures().flatMap((f) =>
    f.lines.filter((l) => l.dir === 'send').map((l) => l.bytes),
  ),
  ...loadKernelCaptures().map((c) => c.request),
];

function attr(type: number, payload: Uint8Array, nested = false): Uint8Array {
  const len = 4 + payload.length;
  const b = new Uint8Array((len + 3) & ~3);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type | (nested ? 0x8000 : 0), true);
  b.set(payload, 4);
  return b;
}

const cat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const enc = new TextEncoder();
const HANDLES = ['pci\0', '0000:03:00.0\0', '0000:03:00.1\0', 'auxiliary\0', 'bogus', ''];

function randomPayload(r: () => number, wireType: string): Uint8Array {
  const pick = r();
  if (pick < 0.15) return new Uint8Array(Math.floor(r() * 12)).map(() => Math.floor(r() * 256));
  switch (wireType) {
    case 'u8':
      return Uint8Array.of(Math.floor(r() * 5));
    case 'u16':
      return Uint8Array.of(Math.floor(r() * 4), 0);
    case 'u32':
    case 's32': {
      const v = r() < 0.5 ? Math.floor(r() * 4) : [0xffff, 1, 2, 65535, 65536, 65537][Math.floor(r() * 6)]!;
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, v, true);
      return b;
    }
    case 'string':
      return enc.encode(HANDLES[Math.floor(r() * HANDLES.length)]!);
    case 'flag':
      return new Uint8Array(0);
    case 'bitfield32': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, Math.floor(r() * 16), true);
      new DataView(b.buffer).setUint32(4, Math.floor(r() * 16), true);
      return b;
    }
    case 'nest':
      return cat([
        attr(Math.floor(r() * 7), randomPayload(r, 'u8')),
        attr(4, randomPayload(r, 'bitfield32')),
      ]);
    default:
      return new Uint8Array(Math.floor(r() * 8)).map(() => Math.floor(r() * 256));
  }
}

function randomRequest(r: () => number): Uint8Array {
  const type = r() < 0.75 ? DEVLINK_ID : r() < 0.8 ? 0x10 : Math.floor(r() * 0x40);
  const flags = [5, 0x305, 1, 0x301, 4, Math.floor(r() * 0x10000)][Math.floor(r() * 6)]!;
  const cmd =
    r() < 0.8 ? [1, 5, 6, 29, 30, 37, 38, 39, 51, 84, 3, 10][Math.floor(r() * 12)]! : Math.floor(r() * 256);
  const attrs: Uint8Array[] = [];
  if (r() < 0.85)
    attrs.push(
      attr(1, enc.encode('pci\0')),
      attr(2, enc.encode(r() < 0.8 ? '0000:03:00.0\0' : '0000:03:00.1\0')),
    );
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const t =
      r() < 0.9
        ? [3, 4, 25, 26, 62, 81, 83, 86, 87, 145, 153, 155, 138, 139, 140, 183][Math.floor(r() * 16)]!
        : Math.floor(r() * 200);
    const wt = DEVLINK_ATTR_TABLE[t]?.[1] ?? 'binary';
    attrs.push(attr(t, randomPayload(r, wt), t === 145 && r() < 0.8));
  }
  const body = cat([Uint8Array.of(cmd, 1, 0, 0), ...attrs]);
  const msg = new Uint8Array(16 + body.length);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, msg.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, Math.floor(r() * 0xffffffff), true);
  msg.set(body, 16);
  return msg;
}

function mutate(r: () => number, base: Uint8Array): Uint8Array {
  let b: Uint8Array = base.slice();
  const k = 1 + Math.floor(r() * 4);
  for (let i = 0; i < k; i++) {
    const op = Math.floor(r() * 6);
    if (op === 0 && b.length) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    else if (op === 1 && b.length > 16) b = b.slice(0, 16 + Math.floor(r() * (b.length - 16)));
    else if (op === 2 && b.length > 20) {
      const at = 20 + Math.floor(r() * Math.min(8, b.length - 20));
      b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
    } else if (op === 3) b = cat([b, attr(Math.floor(r() * 190), randomPayload(r, 'binary'))]);
    else if (op === 4 && b.length >= 17) b[16] = Math.floor(r() * 90);
    else if (op === 5 && b.length >= 8)
      new DataView(b.buffer).setUint16(6, [5, 0x305, 1][Math.floor(r() * 3)]!, true);
  }
  // keep nlmsg_len honest half of the time (the kernel drops datagrams whose length is wrong)
  if (b.length >= 4 && r() < 0.5) new DataView(b.buffer).setUint32(0, b.length, true);
  return b;
}

function checkDevices(sim: SimHost): void {
  for (const d of sim.devices) {
    const reps = d.portsOf('pci').filter((p) => p.kind !== 'uplink').length;
    expect(reps === 0, `${d.pciAddr} reps vs mode ${d.eswitch.mode}`).toBe(d.eswitch.mode === 0);
    for (const [k, v] of Object.entries(d.ipsec.occupancy())) expect(v, k).toBeGreaterThanOrEqual(0);
  }
}

describe('genl/devlink request fuzz', () => {
  test(`${RUNS} random and mutated requests: answered, never an exception, invariants hold`, () => {
    const r = prng(SEED);
    const registry = new GenlRegistry().define(devlinkFamily);
    registry.bind(DEVLINK_ID, 'devlink');
    let sim = createSimMachine('bf3', { devlink: { id: DEVLINK_ID } });
    let s = rawGenlSocket(sim.machine, { port: 4242 });
    const stats = { acked: 0, errors: 0, dumps: 0, silent: 0 };
    for (let i = 0; i < RUNS; i++) {
      if (i % 4000 === 0 && i > 0) {
        checkDevices(sim);
        sim = createSimMachine(['bf3', 'cx7', 'bf2', 'cx6dx'][(i / 4000) % 4] as 'bf3', {
          devlink: { id: DEVLINK_ID },
        });
        s = rawGenlSocket(sim.machine, { port: 4242 });
        sim.genl.setCapNetAdmin(4242, r() < 0.8);
      }
      const req = r() < 0.5 ? randomRequest(r) : mutate(r, corpus[Math.floor(r() * corpus.length)]!);
      const got = s.send(req);
      const dv = new DataView(req.buffer);
      const wellFormed =
        req.length >= 16 && dv.getUint32(0, true) >= 16 && dv.getUint32(0, true) <= req.length;
      const flags = req.length >= 8 ? dv.getUint16(6, true) : 0;
      const seq = req.length >= 12 ? dv.getUint32(8, true) : 0;
      const msgs = got.flatMap((d) => splitDatagram(d));
      for (const m of msgs) {
        expect(m.header.pid).toBe(4242);
        expect(m.header.seq).toBe(seq);
      }
      for (const d of got) {
        for (const m of decodeDatagram(d, 'genl', registry)) {
          if (m.kind === 'error') {
            const text = m.error.tlvs.find((t) => t.name === 'MSG')?.value;
            if (typeof text === 'string') expect(text.startsWith('simulator:'), text).toBe(false);
          }
        }
      }
      if (!wellFormed || !(flags & 1) || dv.getUint16(4, true) < 0x10) {
        stats.silent++;
        continue;
      }
      const last = msgs.at(-1);
      const isDump = (flags & 0x300) === 0x300;
      const errors = msgs.filter((m) => m.header.type === 2).length;
      const dones = msgs.filter((m) => m.header.type === 3).length;
      if (isDump && dones === 1) {
        expect(last!.header.type).toBe(3);
        expect(errors).toBe(0);
        stats.dumps++;
      } else if (flags & 4 || errors > 0) {
        expect(errors).toBe(1);
        expect(last!.header.type).toBe(2);
        if (new DataView(last!.payload.buffer, last!.payload.byteOffset).getInt32(0, true) === 0)
          stats.acked++;
        else stats.errors++;
      }
    }
    checkDevices(sim);
    expect(stats.acked).toBeGreaterThan(500);
    expect(stats.errors).toBeGreaterThan(RUNS / 10);
    expect(stats.dumps).toBeGreaterThan(500);
  }, 300_000);
});
