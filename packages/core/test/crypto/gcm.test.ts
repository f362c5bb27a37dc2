import { native } from '@xfrmkit/native';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createNativeGcmProvider,
  GCM_DESC_STRIDE,
  GcmError,
  type GcmProvider,
  gcmOpenMessage,
  gcmSealMessage,
  nativeFallbackWarning,
  nodeGcmProvider,
  resetGcmProviderSelection,
  selectGcmProvider,
} from '../../src/crypto/index.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const providers: GcmProvider[] = [nodeGcmProvider];
if (native) providers.push(createNativeGcmProvider(native));

/*
 * Test cases with a 96-bit IV from D. McGrew and J. Viega, "The Galois/Counter Mode of Operation (GCM)",
 * revised submission to NIST, May 31 2005, Appendix B (cases 1-4: AES-128; 13-16: AES-256). Cases 5/6,
 * 11/12, 17/18 use 64-bit or 480-bit IVs, which RFC 4106 (salt ‖ 8-byte IV) cannot express; cases 7-12
 * are AES-192, which ESP AES-GCM here does not offer.
 */
const P60 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39';
const A20 = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
const K3 = 'feffe9928665731c6d6a8f9467308308';
const MCGREW_VIEGA = [
  {
    tc: 1,
    key: '00'.repeat(16),
    iv: '00'.repeat(12),
    p: '',
    a: '',
    c: '',
    t: '58e2fccefa7e3061367f1d57a4e7455a',
  },
  {
    tc: 2,
    key: '00'.repeat(16),
    iv: '00'.repeat(12),
    p: '00'.repeat(16),
    a: '',
    c: '0388dace60b6a392f328c2b971b2fe78',
    t: 'ab6e47d42cec13bdf53a67b21257bddf',
  },
  {
    tc: 3,
    key: K3,
    iv: 'cafebabefacedbaddecaf888',
    p: `${P60}1aafd255`,
    a: '',
    c: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985',
    t: '4d5c2af327cd64a62cf35abd2ba6fab4',
  },
  {
    tc: 4,
    key: K3,
    iv: 'cafebabefacedbaddecaf888',
    p: P60,
    a: A20,
    c: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
    t: '5bc94fbc3221a5db94fae95ae7121a47',
  },
  {
    tc: 13,
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    p: '',
    a: '',
    c: '',
    t: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    tc: 14,
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    p: '00'.repeat(16),
    a: '',
    c: 'cea7403d4d606b6e074ec5d3baf39d18',
    t: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    tc: 15,
    key: K3 + K3,
    iv: 'cafebabefacedbaddecaf888',
    p: `${P60}1aafd255`,
    a: '',
    c: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad',
    t: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    tc: 16,
    key: K3 + K3,
    iv: 'cafebabefacedbaddecaf888',
    p: P60,
    a: A20,
    c: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    t: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe.each(providers.map((p) => [p.name, p] as const))('GCM provider %s', (_name, provider) => {
  it.each(MCGREW_VIEGA)('McGrew-Viega test case $tc', (v) => {
    const sealed = gcmSealMessage(provider, hex(v.key), hex(v.iv), hex(v.a), hex(v.p), 16);
    expect(toHex(sealed)).toBe(v.c + v.t);
    const opened = gcmOpenMessage(provider, hex(v.key), hex(v.iv), hex(v.a), hex(v.c + v.t), 16);
    expect(opened && toHex(opened)).toBe(v.p);
    // truncated tags (RFC 4106 allows 8 and 12) are the leading bytes of the full tag
    expect(toHex(gcmSealMessage(provider, hex(v.key), hex(v.iv), hex(v.a), hex(v.p), 8))).toBe(
      v.c + v.t.slice(0, 16),
    );
    const bad = hex(v.c + v.t);
    bad[bad.length - 1]! ^= 1;
    expect(gcmOpenMessage(provider, hex(v.key), hex(v.iv), hex(v.a), bad, 16)).toBeNull();
  });

  it('rejects AES-192 and odd key sizes without echoing key bytes', () => {
    const key = hex('0123456789abcdeffedcba98765432100123456789abcdef');
    let err: unknown;
    try {
      provider.createContext(key, new Uint8Array(4), 'seal');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GcmError);
    expect((err as GcmError).code).toBe('BAD_KEY_LENGTH');
    expect((err as Error).message).toContain('24 bytes');
    expect((err as Error).message).not.toMatch(/0123|89ab|cdef/i);
    expect(() => provider.createContext(new Uint8Array(16), new Uint8Array(3), 'seal')).toThrow(
      /salt must be 4 bytes/,
    );
  });

  it('bounds-checks every region and the direction', () => {
    const ctx = provider.createContext(new Uint8Array(16), new Uint8Array(4), 'seal');
    const buf = new Uint8Array(64);
    expect(() => ctx.seal(buf, 60, 8, buf, 0, 0, buf, 0, buf, 0, 0, 16)).toThrow(RangeError);
    expect(() => ctx.seal(buf, 0, 8, buf, 50, 0, buf, 0, buf, 0, 0, 16)).toThrow(RangeError);
    expect(() => ctx.seal(buf, 0, 8, buf, 0, 0, buf, 60, buf, 0, 0, 16)).toThrow(RangeError);
    expect(() => ctx.seal(buf, 0, 8, buf, 0, 0, buf, 0, buf, 60, 8, 16)).toThrow(RangeError);
    expect(() => ctx.seal(buf, 0, 8, buf, 0, 0, buf, 0, buf, 0, 0, 10)).toThrow(/tag length/);
    expect(() => ctx.open(buf, 0, 8, buf, 0, buf, 0, buf, 0, 0, 16)).toThrow(GcmError);
    const desc = new Uint32Array([0, 8, 0, 0, 0, 0, 0, 16]);
    expect(() => ctx.sealBatch(buf, buf, buf, desc, 2)).toThrow(RangeError);
    ctx.dispose();
    expect(() => ctx.seal(buf, 0, 8, buf, 0, 0, buf, 0, buf, 0, 0, 16)).toThrow(/disposed/);
  });
});

const msgArb = fc.record({
  key: fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
  ),
  salt: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  iv: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  aad: fc.uint8Array({ maxLength: 20 }),
  pt: fc.uint8Array({ maxLength: 300 }),
  tail: fc.uint8Array({ maxLength: 6 }),
  tagLen: fc.constantFrom(8, 12, 16),
});

type Msg = typeof msgArb extends fc.Arbitrary<infer T> ? T : never;

function sealWith(p: GcmProvider, m: Msg) {
  const ctx = p.createContext(m.key, m.salt, 'seal');
  const out = new Uint8Array(m.pt.length + m.tail.length + m.tagLen);
  out.set(m.tail, m.pt.length);
  ctx.seal(m.pt, 0, m.pt.length, out, 0, m.tail.length, m.iv, 0, m.aad, 0, m.aad.length, m.tagLen);
  ctx.dispose();
  return out;
}

describe.skipIf(!native)('native vs node:crypto', () => {
  const nat = native ? createNativeGcmProvider(native) : nodeGcmProvider;

  it('seal gives identical bytes, each opens the other', () => {
    fc.assert(
      fc.property(msgArb, (m) => {
        const a = sealWith(nat, m);
        const b = sealWith(nodeGcmProvider, m);
        expect(toHex(a)).toBe(toHex(b));
        for (const p of [nat, nodeGcmProvider]) {
          const ctx = p.createContext(m.key, m.salt, 'open');
          const len = a.length - m.tagLen;
          const out = new Uint8Array(len);
          expect(ctx.open(a, 0, len, out, 0, m.iv, 0, m.aad, 0, m.aad.length, m.tagLen)).toBe(true);
          expect(toHex(out)).toBe(toHex(m.pt) + toHex(m.tail));
          if (len > 0) {
            const bad = a.slice();
            bad[0]! ^= 0x80;
            expect(ctx.open(bad, 0, len, out, 0, m.iv, 0, m.aad, 0, m.aad.length, m.tagLen)).toBe(false);
            expect(out.every((x) => x === 0)).toBe(true);
          }
          ctx.dispose();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('batch seal/open equals one-by-one and works in place', () => {
    fc.assert(
      fc.property(
        fc.array(msgArb, { minLength: 1, maxLength: 12 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (msgs, key) => {
          for (const p of [nat, nodeGcmProvider]) {
            const salt = msgs[0]!.salt;
            const tagLen = msgs[0]!.tagLen;
            let total = 0;
            const offs: number[] = [];
            for (const m of msgs) {
              offs.push(total);
              total += 8 + m.pt.length + m.tail.length + tagLen + 3; // iv | pt | tail | tag | gap
            }
            const buf = new Uint8Array(total);
            const aad = new Uint8Array(msgs.length * 20);
            const desc = new Uint32Array(msgs.length * GCM_DESC_STRIDE);
            msgs.forEach((m, i) => {
              const o = offs[i]!;
              buf.set(m.iv, o);
              buf.set(m.pt, o + 8);
              buf.set(m.tail, o + 8 + m.pt.length);
              aad.set(m.aad, i * 20);
              desc.set(
                [o + 8, m.pt.length, o + 8, m.tail.length, o, i * 20, m.aad.length, tagLen],
                i * GCM_DESC_STRIDE,
              );
            });
            const sctx = p.createContext(key, salt, 'seal');
            sctx.sealBatch(buf, buf, aad, desc, msgs.length);
            msgs.forEach((m, i) => {
              const o = offs[i]!;
              const one = sealWith(nodeGcmProvider, { ...m, key, salt, tagLen });
              expect(toHex(buf.subarray(o + 8, o + 8 + one.length))).toBe(toHex(one));
            });
            // open in place, corrupt the first message
            const odesc = new Uint32Array(desc.length);
            msgs.forEach((m, i) => {
              const o = offs[i]!;
              odesc.set(
                [o + 8, m.pt.length + m.tail.length, o + 8, 0, o, i * 20, m.aad.length, tagLen],
                i * GCM_DESC_STRIDE,
              );
            });
            buf[offs[0]! + 8 + msgs[0]!.pt.length + msgs[0]!.tail.length]! ^= 1; // first tag byte
            const ok = new Uint8Array(msgs.length);
            const octx = p.createContext(key, salt, 'open');
            expect(octx.openBatch(buf, buf, aad, odesc, msgs.length, ok)).toBe(msgs.length - 1);
            expect(ok[0]).toBe(0);
            msgs.forEach((m, i) => {
              if (i === 0) return;
              const o = offs[i]!;
              expect(ok[i]).toBe(1);
              expect(toHex(buf.subarray(o + 8, o + 8 + m.pt.length + m.tail.length))).toBe(
                toHex(m.pt) + toHex(m.tail),
              );
            });
            sctx.dispose();
            octx.dispose();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('handles partially overlapping source and destination', () => {
    const key = new Uint8Array(16).fill(9);
    const salt = new Uint8Array(4).fill(1);
    const iv = new Uint8Array(8).fill(2);
    const pt = new Uint8Array(100).map((_, i) => i);
    const ref = sealWith(nodeGcmProvider, {
      key,
      salt,
      iv,
      aad: new Uint8Array(0),
      pt,
      tail: new Uint8Array(0),
      tagLen: 16,
    });
    for (const p of [nat, nodeGcmProvider]) {
      const buf = new Uint8Array(200);
      buf.set(pt, 10);
      const ctx = p.createContext(key, salt, 'seal');
      ctx.seal(buf, 10, 100, buf, 26, 0, iv, 0, buf, 0, 0, 16); // output 16 bytes further on
      expect(toHex(buf.subarray(26, 142))).toBe(toHex(ref));
      const o = p.createContext(key, salt, 'open');
      expect(o.open(buf, 26, 100, buf, 10, iv, 0, buf, 0, 0, 16)).toBe(true); // back 16 bytes
      expect(toHex(buf.subarray(10, 110))).toBe(toHex(pt));
    }
  });
});

describe('provider selection', () => {
  it('falls back to node:crypto with exactly one warning per process, naming the reason', () => {
    resetGcmProviderSelection();
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    const a = selectGcmProvider({ api: null, reason: 'build failed: no compiler', prefer: undefined, warn });
    const b = selectGcmProvider({ api: null, reason: 'build failed: no compiler', prefer: undefined, warn });
    expect(a.name).toBe('node-crypto');
    expect(b.name).toBe('node-crypto');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('native AES-GCM addon (@xfrmkit/native) is unavailable');
    expect(warnings[0]).toContain('build failed: no compiler');
    expect(nativeFallbackWarning('x')).toContain('node:crypto');
    resetGcmProviderSelection();
  });

  it('forcing node is silent; forcing native without the addon is an error', () => {
    resetGcmProviderSelection();
    const warnings: string[] = [];
    expect(
      selectGcmProvider({ api: null, reason: 'r', prefer: 'node', warn: (m) => warnings.push(m) }).name,
    ).toBe('node-crypto');
    expect(warnings).toHaveLength(0);
    expect(() => selectGcmProvider({ api: null, reason: 'gone', prefer: 'native' })).toThrow(/gone/);
    resetGcmProviderSelection();
  });

  it.skipIf(!native)('uses the addon when it loaded', () => {
    expect(selectGcmProvider({ api: native, reason: null, prefer: undefined }).name).toBe('native');
  });
});
