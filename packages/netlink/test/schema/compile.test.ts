/**
 * The table compiler (schema/compile.ts) against the tables it compiles: for every XFRM struct, the
 * generated decoder gives what reading each row with its own codec gives, the generated encoder
 * writes what each row's codec writes, and a value the fast path does not take is handed to the
 * row's codec, which throws the same typed error as before.
 */
import { readAddress, writeAddress } from '@xfrmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressText,
  type CodecCtx,
  charsText,
  encodeXfrm,
  NetlinkEncodeError,
  type PayloadCodec,
  type StructCodec,
  writeIPv4,
  xfrmStructs,
} from '../../src/index.ts';

const structs = (Object.entries(xfrmStructs) as Array<[string, unknown]>).filter(
  (e): e is [string, StructCodec<unknown>] => typeof e[1] === 'object' && e[1] !== null && 'compiled' in e[1],
);

/** The interpreted reading of a struct: each row through its codec, as the tables say. */
function interpret(s: StructCodec<unknown>, b: Uint8Array, off: number, family: number): unknown {
  const fam =
    s.familyOffset === undefined ? family : b[off + s.familyOffset]! | (b[off + s.familyOffset + 1]! << 8);
  const o: Record<string, unknown> = {};
  for (const [name, at, codec, opts] of s.fields) {
    if (opts?.omitIfZero && b.subarray(off + at, off + at + codec.size!).every((x) => x === 0)) continue;
    const f =
      opts?.familyOffset === undefined
        ? fam
        : b[off + opts.familyOffset]! | (b[off + opts.familyOffset + 1]! << 8);
    const sub = codec as StructCodec<unknown>;
    if ('compiled' in sub) o[name] = interpret(sub, b, off + at, f);
    else {
      const ctx: CodecCtx = { base: 0, path: '', family: f };
      o[name] = (codec as PayloadCodec<unknown>).decode(b, off + at, codec.size!, ctx);
    }
  }
  return o;
}

/** Random bytes with IPv4-looking addresses now and then (so both address paths run). */
const arbBytes = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).chain((b) =>
    fc.boolean().map((sparse) => {
      if (!sparse) return b;
      const c = b.slice();
      for (let i = 0; i < c.length; i++) if (i % 16 >= 4) c[i] = 0;
      return c;
    }),
  );

describe('compiled structs', () => {
  it('covers every XFRM struct', () => {
    expect(structs.length).toBeGreaterThan(25);
  });

  for (const [key, s] of structs) {
    it(`${key} (${s.desc}): compiled decode = interpreted decode; encode(decode(b)) = b outside padding`, () => {
      fc.assert(
        fc.property(arbBytes(s.size), fc.constantFrom(0, 2, 10), (b, family) => {
          const v = s.decode(b, 0, s.size, { base: 0, path: '', family });
          expect(v).toEqual(interpret(s, b, 0, family));
          // field order is the table's (JSON and printing follow it)
          expect(Object.keys(v as object)).toEqual(Object.keys(interpret(s, b, 0, family) as object));
          const out = new Uint8Array(s.size);
          s.encode(v, out, 0, key);
          const again = s.decode(out, 0, s.size, { base: 0, path: '', family });
          expect(again).toEqual(v);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('decodes the same wherever the struct sits: any offset, any byteOffset, junk around it', () => {
    // the decoders read through a DataView of the input's whole buffer (kept across calls):
    // positions must follow the view's byteOffset, and a new array or buffer must not see a stale view
    const arb = fc.constantFrom(...structs).chain(([key, s]) =>
      fc.record({
        key: fc.constant(key),
        bytes: arbBytes(s.size),
        family: fc.constantFrom(0, 2, 10),
        lead: fc.nat(13),
        at: fc.nat(11),
        junk: fc.nat(255),
      }),
    );
    fc.assert(
      fc.property(arb, ({ key, bytes, family, lead, at, junk }) => {
        const s = structs.find(([k]) => k === key)![1];
        const ctx = { base: 0, path: '', family };
        const want = s.decode(bytes, 0, s.size, ctx);
        const big = new Uint8Array(lead + at + s.size + 7).fill(junk);
        const view = big.subarray(lead);
        view.set(bytes, at);
        expect(s.decode(view, at, s.size, ctx)).toEqual(want);
        // the same buffer through another view, then a fresh array again
        expect(s.decode(big, lead + at, s.size, ctx)).toEqual(want);
        expect(s.decode(bytes.slice(), 0, s.size, ctx)).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });

  it('invalid values go to the row codec: same typed errors as the codec itself', () => {
    const sel = {
      daddr: '10.0.0.1',
      saddr: '10.0.0.2',
      dport: 0,
      dportMask: 0,
      sport: 0,
      sportMask: 0,
      family: 2,
      prefixlenD: 32,
      prefixlenS: 32,
      proto: 0,
      ifindex: 0,
      user: 0,
    };
    const out = new Uint8Array(56);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...sel, dport: 70000 }, 'be16 value must be an integer 0..65535, got 70000'],
      [{ ...sel, prefixlenD: 1.5 }, 'u8 value must be an integer 0..255, got 1.5'],
      [{ ...sel, ifindex: 2 ** 31 }, 's32 value out of range: 2147483648'],
      [{ ...sel, user: -1 }, 'u32 value must be an integer 0..4294967295, got -1'],
      [{ ...sel, daddr: '10.0.0.256' }, 'invalid IPv4 address "10.0.0.256"'],
      [{ ...sel, family: undefined }, 'struct xfrm_selector: missing field family'],
    ];
    for (const [v, msg] of bad) {
      expect(() => xfrmStructs.selector.encode(v as never, out, 0, 'SEL')).toThrow(NetlinkEncodeError);
      expect(() => xfrmStructs.selector.encode(v as never, out, 0, 'SEL')).toThrow(msg);
    }
    // IPv6 text and a pad field take the codec path and still encode
    xfrmStructs.selector.encode(
      { ...sel, daddr: '2001:db8::1', family: 10, pad: Uint8Array.of(1, 2, 3) },
      out,
      0,
      '',
    );
    expect(out.subarray(0, 4)).toEqual(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8));
    expect(out.subarray(45, 48)).toEqual(Uint8Array.of(1, 2, 3));
    const lft = {
      softByteLimit: 2n ** 64n,
      hardByteLimit: 0n,
      softPacketLimit: 0n,
      hardPacketLimit: 0n,
      softAddExpiresSeconds: 0n,
      hardAddExpiresSeconds: 0n,
      softUseExpiresSeconds: 0n,
      hardUseExpiresSeconds: 0n,
    };
    expect(() => xfrmStructs.lifetimeCfg.encode(lft, new Uint8Array(64), 0, 'LFT')).toThrow(
      'u64 value must be a bigint 0..2^64-1',
    );
    expect(() =>
      xfrmStructs.lifetimeCfg.encode({ ...lft, softByteLimit: 5 as never }, new Uint8Array(64), 0, 'LFT'),
    ).toThrow(NetlinkEncodeError);
  });

  it('u64 values: 0, all-ones and everything between', () => {
    const out = new Uint8Array(32);
    for (const x of [0n, 1n, 0xffffffffn, 0x100000000n, 0x123456789abcdefn, 2n ** 64n - 2n, 2n ** 64n - 1n]) {
      const v = { bytes: x, packets: 0n, addTime: x, useTime: 0n };
      xfrmStructs.lifetimeCur.encode(v, out, 0, '');
      expect(new DataView(out.buffer).getBigUint64(0, true)).toBe(x);
      expect(xfrmStructs.lifetimeCur.decode(out, 0, 32, { base: 0, path: '', family: 0 })).toEqual(v);
    }
  });
});

describe('inline address and name helpers', () => {
  it('addressText = readAddress of @xfrmkit/core', () => {
    fc.assert(
      fc.property(arbBytes(16), fc.constantFrom(0, 2, 10, 7), (b, family) => {
        expect(addressText(b, 0, family)).toBe(readAddress(b, 0, family));
      }),
      { numRuns: 2000 },
    );
  });

  it('writeIPv4 writes what writeAddress writes, and declines everything else', () => {
    const octet = fc.oneof(
      fc.nat(255).map(String),
      fc.nat(999).map((n) => String(n).padStart(3, '0')),
    );
    const text = fc.oneof(
      fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
      fc.string({ maxLength: 16 }),
      fc.stringMatching(/^[0-9.]{0,16}$/),
    );
    fc.assert(
      fc.property(text, (t) => {
        const a = new Uint8Array(16).fill(9);
        const ok = writeIPv4(t, new DataView(a.buffer), 0);
        let want: Uint8Array | undefined;
        try {
          want = new Uint8Array(16);
          writeAddress(t, want, 0);
        } catch {
          want = undefined;
        }
        if (ok) expect(a).toEqual(want);
        else if (want && !t.includes(':')) throw new Error(`writeIPv4 declined valid IPv4 text "${t}"`);
      }),
      { numRuns: 3000 },
    );
  });

  it('writeIPv4 gives the same bytes on every call (its cache of parsed text never answers for another text)', () => {
    const texts: string[] = [];
    for (let i = 0; i < 6000; i++) {
      texts.push(`${(i * 7) & 255}.${(i >> 4) & 255}.${i & 255}.${(i * 13) & 255}`);
      if (i % 5 === 0) texts.push(`10.${(i >> 8) & 255}.${i & 255}.2`);
    }
    const a = new Uint8Array(16);
    const dv = new DataView(a.buffer);
    const want = new Uint8Array(16);
    for (let round = 0; round < 2; round++) {
      for (const t of texts) {
        a.fill(9);
        expect(writeIPv4(t, dv, 0)).toBe(true);
        want.fill(0);
        writeAddress(t, want, 0);
        expect(a).toEqual(want);
        // the same text as a string of its own (equal by content, not the same object)
        a.fill(9);
        expect(writeIPv4(t.split('').join(''), dv, 0)).toBe(true);
        expect(a).toEqual(want);
      }
    }
  });

  it('charsText: the text up to the first NUL, whatever the cache holds', () => {
    const names = ['rfc4106(gcm(aes))', 'cbc(aes)', 'cbc(des)', 'hmac(sha1)', 'hmac(sha256)', '', 'x'];
    const field = (s: string, junk = 0) => {
      const b = new Uint8Array(64).fill(junk);
      for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
      if (s.length < 64) b[s.length] = 0;
      return b;
    };
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...names, 'hmac(sha1)x', 'rfc4106(gcm(aes)'), { maxLength: 20 }),
        (seq) => {
          for (const s of seq) expect(charsText(field(s, 0x41), 0, 64)).toBe(s);
        },
      ),
    );
    const full = 'a'.repeat(64);
    expect(charsText(field(full), 0, 64)).toBe(full);
    expect(charsText(field(full), 0, 64)).toBe(full);
  });
});

describe('encoder output buffers', () => {
  it('each encoded message keeps its bytes (later encodes never write over them)', () => {
    const outs: Array<[Uint8Array, Uint8Array]> = [];
    for (let i = 0; i < 2000; i++) {
      const b = encodeXfrm({ type: 0x23, flags: 1, seq: i, pid: 0, body: 0xffffffff });
      outs.push([b, b.slice()]);
    }
    for (const [b, copy] of outs) expect(b).toEqual(copy);
    expect(new Set(outs.map(([b]) => b.buffer)).size).toBeGreaterThan(1);
  });
});
