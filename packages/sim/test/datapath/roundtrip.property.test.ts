/** Whatever BFL encrypts, BFR decrypts to the original bytes (real AES-GCM and modeled crypto). */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ethFrame, ipv4Packet, parseFrame, udpDatagram } from '../../src/index.ts';
import { type Built, espOpen, seeded } from '../topology/support.ts';

function innerFrame(b: Built, payload: Uint8Array, sport: number, dport: number, id: number): Uint8Array {
  const ip = ipv4Packet(
    { src: b.topo.hostL.ip, dst: b.topo.hostR.ip, proto: 17, id },
    udpDatagram(sport, dport, payload),
  );
  return ethFrame(b.topo.hostR.mac, b.topo.hostL.mac, 0x0800, ip);
}

for (const modeled of [false, true]) {
  describe(`BFL → BFR round trip (${modeled ? 'modeled' : 'real'} crypto)`, () => {
    let b: Built;
    beforeAll(async () => {
      b = await seeded({}, { modeledCrypto: modeled });
    });
    afterAll(() => b.topo.dispose());

    it('delivers exactly the bytes sent; the wire carries ESP', () => {
      let id = 0;
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 1400 }),
          fc.integer({ min: 1, max: 65535 }),
          fc.integer({ min: 1, max: 65535 }),
          fc.boolean(),
          (payload, sport, dport, reverse) => {
            const f = innerFrame(b, payload, sport, dport, ++id);
            const d = b.topo.send(reverse ? 'right' : 'left', f, id);
            expect(d.drop).toBeUndefined();
            expect(Buffer.from(d.delivered!)).toEqual(Buffer.from(f));
            const w = parseFrame(d.wire[0]!)!;
            expect(w.proto).toBe(50);
            expect(w.spi).toBe(reverse ? b.cfg.rl.spi : b.cfg.lr.spi);
            if (!modeled) {
              // independent check: node:crypto opens it with the seed's key, and the inner frame is inside
              const plain = espOpen(reverse ? b.cfg.rl.keyMat : b.cfg.lr.keyMat, d.wire[0]!.subarray(14));
              expect(Buffer.from(plain).includes(Buffer.from(f))).toBe(true);
              if (payload.length >= 16)
                expect(Buffer.from(d.wire[0]!).includes(Buffer.from(payload))).toBe(false);
            } else {
              expect(Buffer.from(d.wire[0]!).includes(Buffer.from(f))).toBe(true);
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  });
}
