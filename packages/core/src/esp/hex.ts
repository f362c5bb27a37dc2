/** Hex helpers for vectors and tests. */

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** Parses hex (whitespace and a leading 0x allowed). Throws TypeError naming `what` on bad input. */
export function hexToBytes(hex: string, what = 'hex'): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError(`${what} must be a hex string`);
  let s = hex.replace(/\s+/g, '');
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new TypeError(
      `${what} is not valid hex (${s.length} characters; must be an even number of 0-9a-f)`,
    );
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}
