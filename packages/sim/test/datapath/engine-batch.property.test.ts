/**
 * The ESP engines' batch calls are their single-packet calls, batched: for transport and tunnel SAs,
 * real and modeled crypto, `encapBatch` then `decapBatch` give the bytes, lengths, sequence numbers
 * and errors of `encap` / `decap` one packet at a time — out of place, and in place in the layouts
 * the batch datapath uses (modeled: headers moved into the headroom / onto the ESP header; real:
 * decrypted in the same slot).
 */
import { EspError, espStatusCode, PacketBatch } from '@xfrmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4Packet, modeledEngine, realEngine, seedConfig, seedState } from '../../src/index.ts';

const SLOT = 2048;
const HEAD = 64;

function engines(modeled: boolean, tunnel: boolean, esn: boolean) {
  const cfg = seedConfig({ esn });
  const mk = (dir: 'in' | 'out') => {
    const s = seedState(cfg, 'left', dir === 'out' ? 'out' : 'in', 1);
    // the inbound SA of the same key: the peer's view of BFL's outbound SA
    if (dir === 'in') {
      const o = seedState(cfg, 'left', 'out', 1);
      s.info.id = { ...o.info.id };
      s.info.saddr = o.info.saddr;
      s.aead = o.aead!;
    }
    if (tunnel) s.info.mode = 1;
    return modeled ? modeledEngine(s, dir) : realEngine(s, dir);
  };
  return { tx: mk('out'), rx: mk('in'), tx1: mk('out'), rx1: mk('in') };
}

function packet(len: number, id: number): Uint8Array {
  const payload = Uint8Array.from({ length: Math.max(0, len - 20) }, (_, i) => (i * 31 + id) & 0xff);
  return ipv4Packet({ src: '192.168.1.64', dst: '192.168.1.65', proto: 17, id }, payload);
}

function single(f: () => Uint8Array): { ok: Uint8Array } | { code: string } {
  try {
    return { ok: f() };
  } catch (err) {
    if (err instanceof EspError) return { code: err.code };
    throw err;
  }
}

for (const modeled of [true, false]) {
  for (const tunnel of [false, true]) {
    describe(`EspEngine batch ≡ single (${modeled ? 'modeled' : 'real'}, ${tunnel ? 'tunnel' : 'transport'})`, () => {
      it('same ESP bytes and sequence numbers out; same datagrams back in', () => {
        fc.assert(
          fc.property(
            fc.array(fc.integer({ min: 20, max: 1500 }), { minLength: 1, maxLength: 24 }),
            fc.boolean(),
            fc.boolean(),
            fc.integer({ min: -1, max: 23 }),
            (sizes, esn, inPlace, corrupt) => {
              const { tx, rx, tx1, rx1 } = engines(modeled, tunnel, esn);
              const pkts = sizes.map((n, i) => packet(n, i + 1));
              const n = pkts.length;
              // one packet at a time (a datagram without payload is refused by real ESP: EMPTY_PAYLOAD)
              const sent = pkts.map((p) => single(() => tx1.encap(p)));
              // batch: packets in slots; modeled in place (header moves down), real out of place
              const shift = tunnel ? 36 : 16;
              const buf = new Uint8Array(n * SLOT);
              const inp = new PacketBatch(n, buf);
              for (let i = 0; i < n; i++) {
                inp.offsets[i] = i * SLOT + HEAD;
                inp.capacities[i] = SLOT - HEAD;
                inp.lengths[i] = pkts[i]!.length;
                buf.set(pkts[i]!, inp.offsets[i]!);
              }
              inp.count = n;
              let out: PacketBatch;
              if (modeled && inPlace) {
                out = new PacketBatch(n, buf);
                for (let i = 0; i < n; i++) {
                  out.offsets[i] = inp.offsets[i]! - shift;
                  out.capacities[i] = SLOT - HEAD + shift;
                }
              } else {
                out = PacketBatch.withSlots(n, SLOT);
              }
              tx.encapBatch(inp, out);
              const want: Uint8Array[] = [];
              for (let i = 0; i < n; i++) {
                const w = sent[i]!;
                if ('code' in w) {
                  expect(espStatusCode(out.status[i]!)).toBe(w.code);
                  continue;
                }
                expect(out.status[i]).toBe(0);
                expect(Buffer.from(out.packet(i))).toEqual(Buffer.from(w.ok));
                expect(out.seqLo[i]).toBe(want.length + 1);
                want.push(w.ok);
              }
              if (want.length === 0) return;
              // back in: one packet damaged (ICV / trailer), the rest as sent
              const wire = want.map((w) => w.slice());
              if (corrupt >= 0 && corrupt < wire.length) wire[corrupt]![wire[corrupt]!.length - 3]! ^= 0x40;
              const back = wire.map((w) => single(() => rx1.decap(w).packet));
              const m = wire.length;
              const rbuf = new Uint8Array(m * SLOT);
              const rin = new PacketBatch(m, rbuf);
              for (let i = 0; i < m; i++) {
                rin.offsets[i] = i * SLOT + HEAD;
                rin.capacities[i] = SLOT - HEAD;
                rin.lengths[i] = wire[i]!.length;
                rbuf.set(wire[i]!, rin.offsets[i]!);
              }
              rin.count = m;
              let rout = rin;
              if (modeled && inPlace) {
                rout = new PacketBatch(m, rbuf);
                for (let i = 0; i < m; i++) {
                  rout.offsets[i] = rin.offsets[i]! + (tunnel ? 36 : 16);
                  rout.capacities[i] = wire[i]!.length;
                }
              } else if (!inPlace) rout = PacketBatch.withSlots(m, SLOT);
              rx.decapBatch(rin, rout);
              const orig = pkts.filter((_, i) => !('code' in sent[i]!));
              for (let i = 0; i < m; i++) {
                const b = back[i]!;
                if ('code' in b) expect(espStatusCode(rout.status[i]!)).toBe(b.code);
                else {
                  expect(rout.status[i]).toBe(0);
                  expect(Buffer.from(rout.packet(i))).toEqual(Buffer.from(b.ok));
                  expect(Buffer.from(b.ok)).toEqual(Buffer.from(orig[i]!));
                }
              }
              for (const e of [tx, rx, tx1, rx1]) e.dispose();
            },
          ),
          { numRuns: 40 },
        );
      });
    });
  }
}
