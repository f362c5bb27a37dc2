/**
 * Property: for every XFRM message type, a random message encodes, decodes and re-encodes to the
 * same bytes, and decoding is stable (decode(encode(decode(b))) equals decode(b)).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeDatagram,
  encodeDatagram,
  encodeXfrm,
  XFRM_MSG_SPECS,
  xfrmAttrs,
  xfrmStructs,
} from '../../src/index.ts';
import { arbAttrs, arbForCodec } from '../support/arbitrary.ts';

const special = {
  TMPL: fc.array(arbForCodec(xfrmStructs.userTmpl), { minLength: 1, maxLength: 3 }),
  MIGRATE: fc.array(arbForCodec(xfrmStructs.userMigrate), { minLength: 1, maxLength: 2 }),
};

describe('XFRM codec round trip (fast-check)', () => {
  for (const spec of XFRM_MSG_SPECS.values()) {
    it(`${spec.name}: encode → decode → encode is the identity on bytes`, () => {
      const attrsArb = spec.attrs === xfrmAttrs ? arbAttrs(xfrmAttrs, special) : arbAttrs(spec.attrs);
      const bodyArb = spec.body ? arbForCodec(spec.body) : fc.constant(undefined);
      fc.assert(
        fc.property(
          bodyArb,
          attrsArb,
          fc.nat(0xffff),
          fc.nat(0xffffffff),
          fc.nat(0xffffffff),
          (body, attrs, flags, seq, pid) => {
            // requests with a dump flag have no body for GETSA/GETPOLICY; keep REQUEST off to test bodies
            const f = flags & ~0x1;
            const bytes = encodeXfrm({ type: spec.type, flags: f, seq, pid, body, attrs });
            const msgs = decodeDatagram(bytes, 'xfrm');
            expect(msgs).toHaveLength(1);
            const again = encodeDatagram(msgs);
            expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
            expect(decodeDatagram(again, 'xfrm')).toEqual(msgs);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it('a datagram decodes the same at any byteOffset of a larger buffer, and re-encodes to its bytes', () => {
    // decoders read through a DataView of the input's whole buffer: positions follow byteOffset
    const specs = [...XFRM_MSG_SPECS.values()];
    const arb = fc
      .constantFrom(...specs)
      .chain((spec) =>
        fc.tuple(
          fc.constant(spec),
          spec.body ? arbForCodec(spec.body) : fc.constant(undefined),
          spec.attrs === xfrmAttrs ? arbAttrs(xfrmAttrs, special) : arbAttrs(spec.attrs),
          fc.nat(15),
          fc.nat(255),
        ),
      );
    fc.assert(
      fc.property(arb, ([spec, body, attrs, lead, junk]) => {
        const bytes = encodeXfrm({ type: spec.type, flags: 0, seq: 7, pid: 9, body, attrs });
        const want = decodeDatagram(bytes, 'xfrm');
        const big = new Uint8Array(lead + bytes.length + 5).fill(junk);
        big.set(bytes, lead);
        const moved = big.subarray(lead, lead + bytes.length);
        const got = decodeDatagram(moved, 'xfrm');
        expect(got).toEqual(want);
        expect(Buffer.from(encodeDatagram(got)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('dump requests (GETSA/GETPOLICY with NLM_F_DUMP) carry attributes right after the header', () => {
    fc.assert(
      fc.property(arbAttrs(xfrmAttrs, special), (attrs) => {
        const bytes = encodeXfrm({ type: 0x12, flags: 0x301, seq: 1, pid: 0, attrs });
        const [m] = decodeDatagram(bytes, 'xfrm');
        expect(m?.kind).toBe('xfrm');
        if (m?.kind === 'xfrm') expect(m.xfrm.body).toBeUndefined();
        expect(Buffer.from(encodeDatagram(decodeDatagram(bytes, 'xfrm'))).equals(Buffer.from(bytes))).toBe(
          true,
        );
      }),
      { numRuns: 200 },
    );
  });
});
