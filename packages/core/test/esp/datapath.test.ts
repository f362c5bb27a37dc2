import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GcmProvider } from '../../src/crypto/index.ts';
import { PacketBatch } from '../../src/esp/batch.ts';
import { EspError, espStatusCode } from '../../src/esp/errors.ts';
import { fixIpv4Checksum } from '../../src/esp/ip.ts';
import { EspSa, type EspSaConfig } from '../../src/esp/sa.ts';
import type { XfrmState } from '../../src/types/index.ts';
import { ESP_SA_BASICS, hex, ipv4, ipv6, packetArb, providers, toHex } from './util.ts';

const KEY16 = hex('000102030405060708090a0b0c0d0e0f');
const KEY32 = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const SALT = hex('a0a1a2a3');

const saArb = fc.record({
  ...ESP_SA_BASICS,
  provider: fc.constantFrom(...providers),
  oseq: fc.constantFrom(0n, 0xfffffff0n, 0x1_ffff_fff0n),
});
type SaSpec = typeof saArb extends fc.Arbitrary<infer T> ? T : never;

function pair(s: SaSpec, extra: Partial<EspSaConfig> = {}): [EspSa, EspSa] {
  const oseq = s.esn ? s.oseq : s.oseq & 0xffffffffn;
  const cfg: EspSaConfig = {
    spi: s.spi,
    mode: s.mode,
    key: s.key,
    salt: s.salt,
    icvLen: s.icvLen,
    esn: s.esn,
    provider: s.provider as GcmProvider,
    tunnel:
      s.outer === 4
        ? { src: '203.0.113.1', dst: '203.0.113.2' }
        : { src: '2001:db8:1::1', dst: '2001:db8:2::2' },
    replayWindow: 128,
    ...extra,
  };
  const tx = new EspSa({ ...cfg, oseq });
  const rx = new EspSa(cfg);
  // the receiver has seen everything up to the sender's starting point
  rx.replay.seq = Number(oseq & 0xffffffffn);
  rx.replay.seqHi = Number(oseq >> 32n);
  return [tx, rx];
}

/** Offset of the ESP header in an encapsulated packet. */
function espOffset(sa: EspSa, out: Uint8Array): number {
  if (sa.mode === 'tunnel') return sa.outerLen;
  if (out[0]! >> 4 === 4) return (out[0]! & 15) * 4;
  let nh = out[6]!;
  let off = 40;
  while (nh === 0 || nh === 43 || nh === 44 || nh === 60) {
    const len = nh === 44 ? 8 : (out[off + 1]! + 1) * 8;
    nh = out[off]!;
    off += len;
  }
  expect(nh).toBe(50);
  return off;
}

describe('ESP encap → decap', () => {
  it('is the identity for random packets, modes, families, ICV sizes, ESN and providers', () => {
    fc.assert(
      fc.property(saArb, fc.array(packetArb, { minLength: 1, maxLength: 4 }), (s, pkts) => {
        const [tx, rx] = pair(s);
        let expectSeq = s.esn ? s.oseq : s.oseq & 0xffffffffn;
        for (const p of pkts) {
          const out = tx.encap(p);
          expectSeq++;
          const eo = espOffset(tx, out);
          // structure: SPI, seq, seqiv IV, 4-byte aligned ciphertext, length fields
          expect(Buffer.from(out).readUInt32BE(eo)).toBe(s.spi);
          expect(BigInt(Buffer.from(out).readUInt32BE(eo + 4))).toBe(expectSeq & 0xffffffffn);
          expect(Buffer.from(out).readBigUInt64BE(eo + 8)).toBe(expectSeq);
          expect((out.length - eo - 16 - s.icvLen) % 4).toBe(0);
          if (out[0]! >> 4 === 4) {
            expect(Buffer.from(out).readUInt16BE(2)).toBe(out.length);
            expect(out[9]).toBe(50);
            const c = out.slice(0, (out[0]! & 15) * 4);
            fixIpv4Checksum(c, 0);
            expect(toHex(c)).toBe(toHex(out.subarray(0, c.length)));
          } else {
            expect(Buffer.from(out).readUInt16BE(4)).toBe(out.length - 40);
          }
          const r = rx.decap(out);
          expect(toHex(r.packet)).toBe(toHex(p));
          expect(r.seq).toBe(expectSeq);
          if (s.mode === 'tunnel') expect(r.nextHeader).toBe(p[0]! >> 4 === 4 ? 4 : 41);
          // a second copy is a replay
          expect(() => rx.decap(out)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
        }
        expect(rx.stats().replay).toBe(pkts.length);
        tx.dispose();
        rx.dispose();
      }),
      { numRuns: 200 },
    );
  });

  it('rejects any single flipped bit in the ESP part and leaves the window alone', () => {
    fc.assert(
      fc.property(saArb, packetArb, fc.nat(), (s, p, bitSeed) => {
        const [tx, rx] = pair(s);
        const out = tx.encap(p);
        const eo = espOffset(tx, out);
        const bit = eo * 8 + (bitSeed % ((out.length - eo) * 8));
        const bad = out.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        const before = rx.replay.toXfrmReplayStateEsn();
        let err: unknown;
        try {
          rx.decap(bad);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(EspError);
        expect(['SPI_MISMATCH', 'ICV_MISMATCH', 'REPLAY', 'REPLAY_WINDOW', 'INVALID_SEQ']).toContain(
          (err as EspError).code,
        );
        expect(rx.replay.toXfrmReplayStateEsn()).toEqual(before);
        // the genuine packet still goes through
        expect(toHex(rx.decap(out).packet)).toBe(toHex(p));
      }),
      { numRuns: 300 },
    );
  });
});

describe('batches', () => {
  it('encapBatch/decapBatch give the same bytes as one-by-one, in place too, and catch in-batch duplicates', () => {
    fc.assert(
      fc.property(
        saArb,
        fc.array(packetArb, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (s, pkts, dupSeed) => {
          const [tx1] = pair(s);
          const [tx2, rx] = pair(s);
          const single = pkts.map((p) => toHex(tx1.encap(p)));

          const input = PacketBatch.withSlots(pkts.length, 1600);
          for (const [i, p] of pkts.entries()) input.set(i, p);
          const output = PacketBatch.withSlots(pkts.length + 1, 1600);
          expect(tx2.encapBatch(input, output)).toBe(pkts.length);
          for (let i = 0; i < pkts.length; i++) {
            expect(output.status[i]).toBe(0);
            expect(toHex(output.packet(i))).toBe(single[i]);
          }

          // decap in place; append a duplicate of one packet at the end
          const dup = dupSeed % pkts.length;
          output.set(pkts.length, output.packet(dup).slice());
          expect(rx.decapBatch(output, output)).toBe(pkts.length);
          for (let i = 0; i < pkts.length; i++) {
            expect(output.status[i]).toBe(0);
            expect(toHex(output.packet(i))).toBe(toHex(pkts[i]!));
          }
          expect(espStatusCode(output.status[pkts.length]!)).toBe('REPLAY');
          expect(rx.stats().replay).toBe(1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('encapsulates in place and reports per-packet errors without stopping the batch', () => {
    for (const provider of providers) {
      const tx = new EspSa({
        spi: 0x100,
        mode: 'tunnel',
        key: KEY16,
        salt: SALT,
        icvLen: 16,
        provider,
        tunnel: { src: '10.0.0.1', dst: '10.0.0.2' },
      });
      const rx = new EspSa({
        spi: 0x100,
        mode: 'tunnel',
        key: KEY16,
        salt: SALT,
        icvLen: 16,
        provider,
        tunnel: { src: '10.0.0.1', dst: '10.0.0.2' },
      });
      const b = PacketBatch.withSlots(4, 300);
      const p0 = ipv4({ payload: new Uint8Array(100).fill(1) });
      const p2 = ipv6({ payload: new Uint8Array(200).fill(2) });
      b.set(0, p0);
      b.set(1, new Uint8Array([0x45, 0, 0])); // truncated
      b.set(2, p2);
      b.set(3, ipv4({ payload: new Uint8Array(260) })); // too big for the slot once encapsulated
      expect(tx.encapBatch(b, b)).toBe(2);
      expect([0, 1, 2, 3].map((i) => espStatusCode(b.status[i]!) ?? 'OK')).toEqual([
        'OK',
        'TRUNCATED',
        'OK',
        'BUFFER_TOO_SMALL',
      ]);
      expect(tx.replay.oseq).toBe(2); // failed packets consume no sequence number
      expect(rx.decapBatch(b, b)).toBe(2);
      expect(toHex(b.packet(0))).toBe(toHex(p0));
      expect(toHex(b.packet(2))).toBe(toHex(p2));
    }
  });
});

describe('headers', () => {
  const provider = providers[0]!;

  it('transport IPv6: ESP goes after hop-by-hop, routing, fragment and destination options', () => {
    const p = ipv6({
      exts: [
        { type: 0, units: 0, fill: 0xaa },
        { type: 60, units: 1, fill: 0xbb },
        { type: 43, units: 2, fill: 0xcc },
        { type: 44, units: 0, fill: 0xdd },
        { type: 60, units: 0, fill: 0xee },
      ],
      nh: 6,
      payload: new Uint8Array(33).fill(7),
    });
    const sa = new EspSa({ spi: 0x1234, mode: 'transport', key: KEY16, salt: SALT, icvLen: 12, provider });
    const out = sa.encap(p);
    const extEnd = 40 + 8 + 16 + 24 + 8 + 8;
    const lastExt = 40 + 8 + 16 + 24 + 8;
    const expected = p.slice(0, extEnd);
    expected[lastExt] = 50; // the last destination-options header now names ESP
    expected[4] = (out.length - 40) >> 8;
    expected[5] = (out.length - 40) & 0xff;
    expect(p[lastExt]).toBe(6);
    expect(toHex(out.subarray(0, extEnd))).toBe(toHex(expected));
    expect(Buffer.from(out).readUInt32BE(extEnd)).toBe(0x1234);
    // 33 bytes payload + 1 pad + 2 = 36
    expect(out.length).toBe(extEnd + 16 + 36 + 12);
  });

  it('tunnel IPv4: DSCP copied, ECN per RFC 6040, DF copied, id 0 with DF, checksum valid', () => {
    const sa = new EspSa({
      spi: 0x1234,
      mode: 'tunnel',
      key: KEY16,
      salt: SALT,
      icvLen: 16,
      provider,
      tunnel: { src: '10.1.1.1', dst: '10.2.2.2' },
    });
    const ce = sa.encap(ipv4({ tos: 0xb8 | 3, df: true, payload: new Uint8Array(10) }));
    expect(ce[1]).toBe(0xb8 | 2); // CE inside → ECT(0) outside
    expect(ce[6]! & 0x40).toBe(0x40);
    expect(Buffer.from(ce).readUInt16BE(4)).toBe(0);
    expect(ce[8]).toBe(64);
    expect(toHex(ce.subarray(12, 20))).toBe('0a0101010a020202');
    const ect1 = sa.encap(ipv4({ tos: 0x01, df: false, payload: new Uint8Array(10) }));
    expect(ect1[1]).toBe(0x01);
    expect(ect1[6]! & 0x40).toBe(0);
    const quiet = new EspSa({
      spi: 0x1234,
      mode: 'tunnel',
      key: KEY16,
      salt: SALT,
      icvLen: 16,
      provider,
      tunnel: { src: '10.1.1.1', dst: '10.2.2.2' },
      dontEncapDscp: true,
      noEcn: true,
      noPmtuDisc: true,
    });
    const q = quiet.encap(ipv4({ tos: 0xbb, df: true, payload: new Uint8Array(10) }));
    expect(q[1]).toBe(0);
    expect(q[6]).toBe(0);
  });

  it('tunnel IPv6: traffic class and flow label from an IPv6 inner header; CE on the outer marks the inner', () => {
    const tx = new EspSa({
      spi: 0x99,
      mode: 'tunnel',
      key: KEY32,
      salt: SALT,
      icvLen: 16,
      provider,
      tunnel: { src: '2001:db8::a', dst: '2001:db8::b' },
    });
    const rx = new EspSa({
      spi: 0x99,
      mode: 'tunnel',
      key: KEY32,
      salt: SALT,
      icvLen: 16,
      provider,
      tunnel: { src: '2001:db8::a', dst: '2001:db8::b' },
    });
    const inner = ipv6({ tclass: 0x29, flow: 0xabcde, payload: new Uint8Array(20) });
    const out = tx.encap(inner);
    expect(out[0]! >> 4).toBe(6);
    expect(((out[0]! & 15) << 4) | (out[1]! >> 4)).toBe(0x29);
    expect(((out[1]! & 15) << 16) | (out[2]! << 8) | out[3]!).toBe(0xabcde);
    expect(out[6]).toBe(50);
    // a router marks congestion on the outer header (ECT(1) → CE)
    out[1] = out[1]! | 0x30;
    const r = rx.decap(out);
    expect(((r.packet[0]! & 15) << 4) | (r.packet[1]! >> 4)).toBe(0x2b);
  });
});

describe('errors', () => {
  const provider = providers[0]!;
  const mk = (extra: Partial<EspSaConfig> = {}) =>
    new EspSa({ spi: 0x4242, mode: 'transport', key: KEY16, salt: SALT, icvLen: 16, provider, ...extra });

  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(EspError);
      expect((e as Error).message).not.toContain('0001020304050607');
      return (e as EspError).code;
    }
    return 'OK';
  };

  it('typed errors for bad input, never a crash', () => {
    const sa = mk();
    const good = sa.encap(ipv4({ payload: new Uint8Array(40) }));
    expect(code(() => mk().decap(good.subarray(0, 30)))).toBe('TRUNCATED');
    expect(code(() => mk().decap(new Uint8Array(0)))).toBe('TRUNCATED');
    expect(code(() => mk().decap(ipv4({ proto: 17, payload: new Uint8Array(60) })))).toBe('NOT_ESP');
    expect(code(() => mk({ spi: 0x4243 }).decap(good))).toBe('SPI_MISMATCH');
    expect(code(() => mk({ key: KEY32 }).decap(good))).toBe('ICV_MISMATCH');
    expect(code(() => mk().decap(new Uint8Array([0x25, 0, 0, 0])))).toBe('MALFORMED');
    expect(code(() => sa.encap(new Uint8Array([0x45, 0, 0, 20])))).toBe('TRUNCATED');
    expect(code(() => sa.encap(ipv4({ payload: new Uint8Array(0) })))).toBe('EMPTY_PAYLOAD');
    expect(code(() => sa.encap(ipv4({ payload: new Uint8Array(10) }), { out: new Uint8Array(20) }))).toBe(
      'BUFFER_TOO_SMALL',
    );
    expect(code(() => mk({ key: new Uint8Array(24) }))).toBe('BAD_KEY');
    expect(code(() => mk({ key: new Uint8Array(16), salt: new Uint8Array(3) }))).toBe('BAD_KEY');
    expect(code(() => mk({ icvLen: 10 }))).toBe('BAD_CONFIG');
    expect(code(() => mk({ mode: 'tunnel' }))).toBe('BAD_CONFIG');
    const bad6 = ipv6({ exts: [{ type: 0, units: 3, fill: 0 }], payload: new Uint8Array(1) });
    expect(code(() => sa.encap(bad6.subarray(0, 48)))).toBe('TRUNCATED');
    // fuzz: random bytes never throw anything but EspError
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        code(() => mk().decap(junk));
        code(() => mk().encap(junk));
      }),
      { numRuns: 500 },
    );
  });

  it('bad padding and unknown next header are detected after the ICV, before/after the window moves like Linux', () => {
    // build packets by hand with the SA's own AEAD so that only the trailer is wrong
    for (const [trailer, want, advanced] of [
      [[1, 3, 2, 6], 'BAD_PADDING', false], // padding 1,3 instead of 1,2
      [[9, 6], 'BAD_PADDING', false], // pad length beyond the payload
      [[0, 59], 'DUMMY_PACKET', true],
    ] as const) {
      const payload = new Uint8Array(6).fill(0x55);
      const body = new Uint8Array([...payload, ...trailer]);
      const esp = new Uint8Array(16 + body.length + 16);
      Buffer.from(esp.buffer).writeUInt32BE(0x4242, 0);
      Buffer.from(esp.buffer).writeUInt32BE(1, 4);
      Buffer.from(esp.buffer).writeUInt32BE(1, 12);
      const ctx = provider.createContext(KEY16, SALT, 'seal');
      ctx.seal(body, 0, body.length, esp, 16, 0, esp, 8, esp, 0, 8, 16);
      const rx = mk();
      expect(code(() => rx.decap(ipv4({ proto: 50, payload: esp })))).toBe(want);
      expect(rx.replay.seq).toBe(advanced ? 1 : 0);
    }
    // tunnel mode with next header 6 after a valid ICV
    const tx = new EspSa({ spi: 7, mode: 'transport', key: KEY16, salt: SALT, icvLen: 8, provider });
    const rx = new EspSa({
      spi: 7,
      mode: 'tunnel',
      key: KEY16,
      salt: SALT,
      icvLen: 8,
      provider,
      tunnel: { src: '192.0.2.1', dst: '198.51.100.7' },
    });
    expect(code(() => rx.decap(tx.encap(ipv4({ proto: 6, payload: new Uint8Array(30) }))))).toBe(
      'BAD_NEXT_HEADER',
    );
  });

  it('refuses to wrap the 32-bit sequence number; ESN carries on', () => {
    const sa = mk({ oseq: 0xfffffffen });
    sa.encap(ipv4({ payload: new Uint8Array(8) }));
    expect(code(() => sa.encap(ipv4({ payload: new Uint8Array(8) })))).toBe('SEQ_OVERFLOW');
    expect(code(() => sa.encap(ipv4({ payload: new Uint8Array(8) })))).toBe('SEQ_OVERFLOW');
    const esn = mk({ esn: true, oseq: 0xfffffffen });
    esn.encap(ipv4({ payload: new Uint8Array(8) }));
    const out = esn.encap(ipv4({ payload: new Uint8Array(8) }));
    expect(Buffer.from(out).readUInt32BE(24)).toBe(0); // low half on the wire
    expect(Buffer.from(out).readBigUInt64BE(28)).toBe(0x1_0000_0000n); // IV = full seq
    const wrap = mk({ oseq: 0xffffffffn, oseqMayWrap: true });
    expect(Buffer.from(wrap.encap(ipv4({ payload: new Uint8Array(8) }))).readUInt32BE(24)).toBe(0);
  });

  it('an IV mask (seqiv salt) is XORed into the sequence number IV', () => {
    const mask = hex('0102030405060708');
    const sa = mk({ ivMask: mask, oseq: 0x10n });
    const out = sa.encap(ipv4({ payload: new Uint8Array(8) }));
    expect(toHex(out.subarray(28, 36))).toBe('0102030405060719');
    expect(toHex(mk({ ivMask: mask }).decap(out).packet)).toBe(toHex(ipv4({ payload: new Uint8Array(8) })));
  });
});

describe('from an XFRM state', () => {
  it('maps rfc4106 key ‖ salt, ICV bits, mode, ESN and replay state', () => {
    const key = hex('0102030405060708090a0b0c0d0e0f10c0ffee00');
    const state = {
      info: {
        id: { daddr: '198.51.100.2', spi: 0xc0de, proto: 50 },
        saddr: '198.51.100.1',
        mode: 1,
        flags: 128,
        replayWindow: 0,
      },
      aead: { name: 'rfc4106(gcm(aes))', keyLen: 160, key, icvLen: 96 },
      replayEsn: {
        bmpLen: 4,
        oseq: 0xffffffff,
        seq: 0,
        oseqHi: 2,
        seqHi: 0,
        replayWindow: 128,
        bmp: [0, 0, 0, 0],
      },
    } as unknown as XfrmState;
    const tx = EspSa.fromXfrmState(state);
    expect([tx.mode, tx.icvLen, tx.esn, tx.spi, tx.replay.window]).toEqual(['tunnel', 12, true, 0xc0de, 128]);
    const out = tx.encap(ipv4({ payload: new Uint8Array(16) }));
    expect(toHex(out.subarray(12, 20))).toBe('c6336401c6336402');
    const rx = EspSa.fromXfrmState({
      ...state,
      replayEsn: { ...state.replayEsn!, seq: 0xfffffff0, seqHi: 2 },
    });
    const r = rx.decap(out);
    expect(r.seq).toBe(3n << 32n);
    expect(rx.replay.toXfrmReplayStateEsn()).toMatchObject({ seq: 0, seqHi: 3 });
  });
});
