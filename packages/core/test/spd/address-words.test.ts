/**
 * `addressWords` parses common address text without the byte-array parser; it must accept exactly
 * what `addressBytes` accepts, give the same words, and fail the same way on everything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { addressWords } from '../../src/spd/address-words.ts';
import { addressBytes } from '../../src/types/address.ts';

/** The words by way of the byte parser, or the error it throws. */
function viaBytes(text: string): number[] | 'error' {
  let b: Uint8Array;
  try {
    b = addressBytes(text);
  } catch {
    return 'error';
  }
  const w = (i: number) => (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
  return [w(0), w(4), w(8), w(12)];
}

function viaWords(text: string): number[] | 'error' {
  try {
    return addressWords(text);
  } catch (e) {
    expect(e).toBeInstanceOf(XfrmError);
    expect((e as XfrmError).errno).toBe('EINVAL');
    return 'error';
  }
}

// text made of the characters that matter, biased towards well-formed pieces
const piece = fc.oneof(
  fc.constantFrom('0', '1', '9', '10', '255', '256', '010', '0000', 'ffff', 'FfFf', '12345', 'g', ''),
  fc.constantFrom('.', ':', '::', ':::', ' '),
  fc.integer({ min: 0, max: 0xffff }).map((x) => x.toString(16)),
  fc.integer({ min: 0, max: 300 }).map(String),
);
const text = fc.array(piece, { maxLength: 20 }).map((a) => a.join(''));
const v4 = fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: 0, max: 255 }))).map((o) => o.join('.'));
const v6 = fc
  .tuple(
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    fc.integer({ min: -1, max: 8 }),
    fc.integer({ min: 0, max: 8 }),
  )
  .map(([g, at, len]) => {
    const hex = g.map((x) => x.toString(16));
    if (at < 0) return hex.join(':');
    // compress a run into "::" (the run may hold non-zero groups: then the text means something else)
    return `${hex.slice(0, at).join(':')}::${hex.slice(Math.min(8, at + len)).join(':')}`;
  });

describe('addressWords equals the byte parser', () => {
  it('on well-formed IPv4 and IPv6 text', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6), (t) => {
        expect(viaWords(t)).toEqual(viaBytes(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('on arbitrary text over the address alphabet', () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(viaWords(t)).toEqual(viaBytes(t));
      }),
      { numRuns: 5000 },
    );
  });

  it('on edge cases', () => {
    for (const t of [
      '::',
      '::1',
      '1::',
      ':1',
      '1:',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::',
      '::2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8::',
      '::ffff:192.0.2.1',
      '64:ff9b::192.0.2.1',
      '0.0.0.0',
      '255.255.255.255',
      '1.2.3.4.',
      '.1.2.3',
      '1..2.3',
      '1.2.3',
      '001.002.003.004',
      '',
      ' 1.2.3.4',
    ]) {
      expect(viaWords(t), t).toEqual(viaBytes(t));
    }
  });
});
