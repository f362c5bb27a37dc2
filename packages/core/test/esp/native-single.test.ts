/**
 * The native single-packet ESP path (`espEncapOne`/`espDecapOne` in packages/native/src/addon.c, used by
 * `EspSa.encap`/`decap` with the native provider) against the TypeScript single-packet path (the same SA
 * with `nativeSingle = false`, or the `node:crypto` provider): same returned bytes and output buffers,
 * same sequence numbers and next headers, same counters and replay windows after every packet, and for
 * a dropped packet the same EspError (code, message, offset) — counted once.
 */
import { native } from '@xfrmkit/native';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createNativeGcmProvider, nodeGcmProvider } from '../../src/crypto/index.ts';
import { EspError } from '../../src/esp/errors.ts';
import { EspSa, type EspSaConfig } from '../../src/esp/sa.ts';
import { espSaConfigArb, ipv4, packetArb, snapshot, startReceivers, toHex } from './util.ts';

const cfgArb = espSaConfigArb([0, 1, 3, 5, 16, 32, 33, 64, 100, 1000]);

/** Where a call writes: a fresh buffer (at an offset), in place, overlapping the input, or too small. */
type OutKind = 'fresh' | 'inplace' | 'overlap' | 'small';
const outArb = fc.record({
  kind: fc.constantFrom<OutKind>('fresh', 'fresh', 'fresh', 'inplace', 'inplace', 'overlap', 'small'),
  off: fc.integer({ min: 0, max: 9 }),
});

/** What happens to an ESP packet on its way to the receiver. */
const opArb = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('as-is', 'as-is', 'as-is', 'dup', 'flip', 'flip-trailer', 'junk', 'truncate', 'hdr'),
  bit: fc.nat(),
  out: outArb,
});

type Outcome =
  | { ok: true; bytes: string; buf: string; nextHeader?: number; seq?: bigint }
  | { ok: false; code: string; message: string; offset: number | undefined; buf: string };

/** Runs one call on a private copy of `input` with the output `o`, as the single-packet API is used. */
function call(
  sa: EspSa,
  dir: 'encap' | 'decap',
  input: Uint8Array,
  o: { kind: OutKind; off: number },
): Outcome {
  const size = dir === 'encap' ? sa.encapSize(input.length) : input.length;
  let buf: Uint8Array;
  let packet: Uint8Array;
  let outOffset: number;
  if (o.kind === 'inplace') {
    buf = new Uint8Array(o.off + Math.max(size, input.length) + 3);
    buf.set(input, o.off);
    packet = buf.subarray(o.off, o.off + input.length);
    outOffset = o.off;
  } else if (o.kind === 'overlap') {
    buf = new Uint8Array(size + input.length + 16);
    buf.set(input, 0);
    packet = buf.subarray(0, input.length);
    outOffset = 1 + o.off;
  } else {
    packet = input.slice();
    buf = new Uint8Array(o.off + (o.kind === 'small' ? Math.max(0, size - 1 - o.off * 7) : size + o.off));
    outOffset = o.off;
  }
  try {
    if (dir === 'encap') {
      const r = sa.encap(packet, { out: buf, outOffset });
      return { ok: true, bytes: toHex(r), buf: toHex(buf) };
    }
    const r = sa.decap(packet, { out: buf, outOffset });
    return { ok: true, bytes: toHex(r.packet), buf: toHex(buf), nextHeader: r.nextHeader, seq: r.seq };
  } catch (e) {
    if (!(e instanceof EspError)) throw e;
    return { ok: false, code: e.code, message: e.message, offset: e.offset, buf: toHex(buf) };
  }
}

describe.skipIf(!native)('native single-packet ESP = the TypeScript single-packet path', () => {
  const fast = native ? createNativeGcmProvider(native) : nodeGcmProvider;

  it('has the single-packet calls', () => {
    const c = fast.createContext(new Uint8Array(16), new Uint8Array(4), 'open');
    expect(c.esp?.one).toBeDefined();
    c.dispose();
  });

  it('same bytes, sequence numbers, counters, windows and errors over random packets', () => {
    const seen = new Set<string>();
    const note = (a: Outcome) => {
      seen.add(a.ok ? 'ok' : a.code);
      return a;
    };
    fc.assert(
      fc.property(
        cfgArb,
        fc.array(
          fc.record({
            pkt: fc.oneof(
              { weight: 8, arbitrary: packetArb },
              { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }) },
            ),
            out: outArb,
          }),
          { minLength: 1, maxLength: 10 },
        ),
        fc.array(opArb, { minLength: 1, maxLength: 16 }),
        fc.nat(),
        fc.constantFrom(0, 1),
        (cfg, pkts, ops, rxStart, refIdx) => {
          // the reference: the TypeScript single-packet path, on the native AES-GCM or on node:crypto
          const mk = (ts: boolean, extra: Partial<EspSaConfig> = {}) => {
            const provider = ts && refIdx === 1 ? nodeGcmProvider : fast;
            const sa = new EspSa({ ...cfg, provider, ...extra });
            sa.nativeSingle = !ts;
            return sa;
          };
          const txN = mk(false);
          const txR = mk(true);
          const sent: Uint8Array[] = [];
          for (const { pkt, out } of pkts) {
            const a = note(call(txN, 'encap', pkt, out));
            expect(a).toEqual(call(txR, 'encap', pkt, out));
            expect(snapshot(txN)).toEqual(snapshot(txR));
            if (a.ok) sent.push(Buffer.from(a.bytes, 'hex'));
          }
          if (sent.length === 0) return;

          const rxN = mk(false, { dir: 'in' });
          const rxR = mk(true, { dir: 'in' });
          startReceivers(cfg, rxStart, [rxN, rxR]);
          for (const op of ops) {
            let p = new Uint8Array(sent[op.pick % sent.length]!);
            if (op.kind === 'flip') p[op.bit % p.length]! ^= 1 << (op.bit % 8);
            else if (op.kind === 'flip-trailer') p[p.length - cfg.icvLen - 1 - (op.bit % 3)]! ^= 1;
            else if (op.kind === 'junk') p = p.subarray(0, op.bit % 30);
            else if (op.kind === 'truncate') p = p.subarray(0, p.length - 1 - (op.bit % 20));
            else if (op.kind === 'hdr') p[op.bit % Math.min(48, p.length)]! ^= 1 << (op.bit % 8);
            const a = note(call(rxN, 'decap', p, op.out));
            expect(a).toEqual(call(rxR, 'decap', p, op.out));
            expect(snapshot(rxN)).toEqual(snapshot(rxR));
            if (op.kind === 'dup') {
              expect(call(rxN, 'decap', p, op.out)).toEqual(call(rxR, 'decap', p, op.out));
              expect(snapshot(rxN)).toEqual(snapshot(rxR));
            }
          }
          for (const sa of [txN, txR, rxN, rxR]) sa.dispose();
        },
      ),
      { numRuns: 300 },
    );
    // the drops the random packets reach (BAD_PADDING and the post-window drops: see the next tests)
    for (const code of [
      'ok',
      'TRUNCATED',
      'MALFORMED',
      'NOT_ESP',
      'SPI_MISMATCH',
      'REPLAY',
      'ICV_MISMATCH',
      'BUFFER_TOO_SMALL',
      'OVERLAP',
      'SEQ_OVERFLOW',
    ])
      expect(seen).toContain(code);
  });

  it('takes the native path: no TypeScript framing for a packet that goes through', () => {
    const { n, r } = tunnelPair();
    const proto = EspSa.prototype as unknown as Record<string, () => number>;
    const enc = vi.spyOn(proto, 'prepareEncap');
    const dec = vi.spyOn(proto, 'prepareDecap');
    try {
      const esp = n.encap(ipv4({ payload: new Uint8Array(64) }));
      expect(n.decap(esp).seq).toBe(1n);
      expect(enc).not.toHaveBeenCalled();
      expect(dec).not.toHaveBeenCalled();
      r.decap(r.encap(ipv4({ payload: new Uint8Array(64) })));
      expect(enc).toHaveBeenCalledTimes(1);
      expect(dec).toHaveBeenCalledTimes(1);
    } finally {
      enc.mockRestore();
      dec.mockRestore();
    }
    n.dispose();
    r.dispose();
  });

  it('bad padding under a valid ICV: the same error, nothing counted, the window unmoved', () => {
    for (const mode of ['transport', 'tunnel'] as const) {
      for (const [padLenByte, padByte] of [
        [200, -1], // pad length leaves no payload
        [-1, 0x7f], // a padding byte is not 1, 2, 3, …
      ] as const) {
        const { tx, n, r } = tunnelPair({ mode, esn: false });
        // 21 bytes (transport: a 1-byte payload): one padding byte; re-seal the packet with a bad trailer
        const esp = tx.encap(ipv4({ payload: new Uint8Array(1).fill(5) }));
        const espOff = 20;
        const ctOff = espOff + 16;
        const ctLen = esp.length - ctOff - 16;
        const aad = esp.slice(espOff, espOff + 8);
        const ctx = fast.createContext(new Uint8Array(16).fill(3), new Uint8Array(4).fill(4), 'open');
        const pt = new Uint8Array(ctLen);
        expect(ctx.open(esp, ctOff, ctLen, pt, 0, esp, espOff + 8, aad, 0, 8, 16)).toBe(true);
        ctx.dispose();
        if (padLenByte >= 0) pt[ctLen - 2] = padLenByte;
        expect(pt[ctLen - 2]).toBe(padLenByte >= 0 ? padLenByte : 1);
        if (padByte >= 0) pt[ctLen - 3] = padByte;
        const sctx = fast.createContext(new Uint8Array(16).fill(3), new Uint8Array(4).fill(4), 'seal');
        sctx.seal(pt, 0, ctLen, esp, ctOff, 0, esp, espOff + 8, aad, 0, 8, 16);
        sctx.dispose();
        const a = both2(n, r, esp);
        expect(a).toMatchObject({ ok: false, code: 'BAD_PADDING' });
        if (!a.ok) expect(a.message).toMatch(padByte >= 0 ? /padding byte 0 is 127/ : /pad length 200/);
        expect(n.stats()).toMatchObject({ packets: 0, integrityFailed: 0 });
        expect(n.replay.top).toBe(0n);
        for (const sa of [tx, n, r]) sa.dispose();
      }
    }
  });

  /** An SA pair (native, TypeScript) with the tunnel sender that feeds them. */
  function tunnelPair(extra: Partial<EspSaConfig> = {}) {
    const cfg: EspSaConfig = {
      spi: 0x77,
      mode: 'tunnel',
      key: new Uint8Array(16).fill(3),
      salt: new Uint8Array(4).fill(4),
      icvLen: 16,
      esn: true,
      tunnel: { src: '10.0.0.1', dst: '10.0.0.2' },
      replayWindow: 32,
      provider: fast,
      ...extra,
    };
    const tx = new EspSa(cfg);
    tx.nativeSingle = false;
    const n = new EspSa(cfg);
    const r = new EspSa(cfg);
    r.nativeSingle = false;
    return { tx, n, r };
  }

  it('words every kind of drop as the TypeScript path does, counting it once', () => {
    // 32-bit sequence numbers: with ESN a packet left of the window is taken for the next epoch
    const { tx, n, r } = tunnelPair({ esn: false });
    const inner = ipv4({ payload: new Uint8Array(40).fill(9) });
    const pkts = Array.from({ length: 40 }, () => tx.encap(inner));
    const both = (p: Uint8Array) => {
      const a = call(n, 'decap', p, { kind: 'fresh', off: 0 });
      expect(a).toEqual(call(r, 'decap', p, { kind: 'fresh', off: 0 }));
      expect(snapshot(n)).toEqual(snapshot(r));
      return a;
    };
    expect(both(pkts[35]!).ok).toBe(true);
    const dup = both(pkts[35]!);
    expect(dup).toMatchObject({ ok: false, code: 'REPLAY' });
    expect(both(pkts[0]!)).toMatchObject({ ok: false, code: 'REPLAY_WINDOW' });
    const bad = pkts[34]!.slice();
    bad[bad.length - 1]! ^= 1;
    expect(both(bad)).toMatchObject({ ok: false, code: 'ICV_MISMATCH' });
    expect(both(pkts[34]!.subarray(0, 30))).toMatchObject({ ok: false, code: 'TRUNCATED' });
    expect(n.stats()).toMatchObject({ replay: 1, replayWindow: 1, integrityFailed: 1, packets: 1 });

    // accepted into the window, then dropped: a dummy packet (next header 59); under a tunnel SA, a
    // transport sender's payload that is no IP datagram, or an inner IPv4 header longer than the payload
    const { tx: tt, n: tn, r: tr } = tunnelPair({ mode: 'transport' });
    const dummy = ipv4({ proto: 59, payload: new Uint8Array(12) });
    expect(both2(tn, tr, tt.encap(dummy))).toMatchObject({ ok: false, code: 'DUMMY_PACKET' });
    const { n: n3, r: r3 } = tunnelPair();
    expect(both2(n3, r3, tt.encap(ipv4({ proto: 17, payload: new Uint8Array(30) })))).toMatchObject({
      ok: false,
      code: 'BAD_NEXT_HEADER',
    });
    const fake = ipv4({ payload: new Uint8Array(30) });
    fake[3] = 200; // inner total length beyond the payload
    expect(both2(n3, r3, tt.encap(ipv4({ proto: 4, payload: fake })))).toMatchObject({
      ok: false,
      code: 'MALFORMED',
    });
    expect(both2(n3, r3, tt.encap(ipv4({ proto: 41, payload: fake })))).toMatchObject({
      ok: false,
      code: 'BAD_NEXT_HEADER',
    });
    expect(n3.stats()).toMatchObject({ packets: 3 });
    for (const sa of [tx, n, r, tt, tn, tr, n3, r3]) sa.dispose();
  });

  function both2(n: EspSa, r: EspSa, p: Uint8Array) {
    const a = call(n, 'decap', p, { kind: 'fresh', off: 0 });
    expect(a).toEqual(call(r, 'decap', p, { kind: 'fresh', off: 0 }));
    expect(snapshot(n)).toEqual(snapshot(r));
    return a;
  }

  it('an explicit IV keeps the TypeScript path; sequence numbers stay shared with the native one', () => {
    const { n, r } = tunnelPair();
    const inner = ipv4({ payload: new Uint8Array(20).fill(1) });
    const iv = new Uint8Array(8).fill(0xab);
    expect(toHex(n.encap(inner))).toBe(toHex(r.encap(inner)));
    expect(toHex(n.encap(inner, { iv }))).toBe(toHex(r.encap(inner, { iv })));
    expect(toHex(n.encap(inner))).toBe(toHex(r.encap(inner)));
    expect(n.replay.lastSent).toBe(3n);
    expect(snapshot(n)).toEqual(snapshot(r));
    n.dispose();
    expect(() => n.encap(inner)).toThrow(/disposed/);
    expect(() => n.decap(inner)).toThrow(/disposed/);
    r.dispose();
  });

  it('keeps key bytes out of error messages', () => {
    const key = new Uint8Array(16).fill(0x5a);
    const { tx, n } = tunnelPair({ key });
    const p = tx.encap(ipv4({ payload: new Uint8Array(8) }));
    p[p.length - 1]! ^= 1;
    let msg = '';
    try {
      n.decap(p);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/ICV_MISMATCH/);
    expect(msg.toLowerCase()).not.toContain('5a5a');
    expect(msg).not.toContain('90,90');
    tx.dispose();
    n.dispose();
  });
});
