/**
 * iproute2's argument conventions (lib/utils.c): numbers with base prefixes (get_u32(..., 0)),
 * prefixes "ADDR[/PLEN]", and the error texts `ip` prints for bad input.
 */
import { AF_INET, AF_INET6, addressFamily } from '@xfrmkit/core';
import { CliUsageError } from '../usage.ts';

export class IpArgError extends CliUsageError {}

/** Cursor over argv with iproute2's NEXT_ARG semantics. */
export class Args {
  i = 0;
  constructor(readonly argv: string[]) {}
  get cur(): string | undefined {
    return this.argv[this.i];
  }
  more(): boolean {
    return this.i < this.argv.length;
  }
  /** NEXT_ARG(): advance and require a value */
  next(what: string): string {
    this.i++;
    const v = this.argv[this.i];
    if (v === undefined)
      throw new IpArgError(`Command line is not complete. Try option "help" (missing value after "${what}")`);
    return v;
  }
  peekNext(): string | undefined {
    return this.argv[this.i + 1];
  }
  advance(): void {
    this.i++;
  }
}

/** strtoul(s, &end, 0) as iproute2's get_u32/get_u64 use it: 0x hex, leading 0 octal, else decimal. */
export function parseUnsigned(s: string, what: string, bits: 8 | 16 | 32 | 64 = 32): bigint {
  let v: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = BigInt(s);
  else if (/^0[0-7]+$/.test(s)) v = BigInt(`0o${s.slice(1)}`);
  else if (/^\d+$/.test(s)) v = BigInt(s);
  else throw new IpArgError(`Error: argument "${s}" is wrong: ${what} value is invalid`);
  if (v >= 1n << BigInt(bits))
    throw new IpArgError(`Error: argument "${s}" is wrong: ${what} value is invalid`);
  return v;
}

export const u32 = (s: string, what: string): number => Number(parseUnsigned(s, what, 32));
export const u16 = (s: string, what: string): number => Number(parseUnsigned(s, what, 16));
export const u8 = (s: string, what: string): number => Number(parseUnsigned(s, what, 8));
export const u64 = (s: string, what: string): bigint => parseUnsigned(s, what, 64);

export interface Prefix {
  addr: string;
  family: number;
  /** prefix length; the full length when no "/PLEN" was given */
  bitlen: number;
  hasLen: boolean;
}

/** get_prefix(): "ADDR[/PLEN]", also "any"/"default" (family from `preferred`). */
export function parsePrefix(s: string, _what: string, preferred = 0): Prefix {
  if (s === 'any' || s === 'default' || s === 'all') {
    const fam = preferred === AF_INET6 ? AF_INET6 : AF_INET;
    return { addr: fam === AF_INET6 ? '::' : '0.0.0.0', family: fam, bitlen: 0, hasLen: true };
  }
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const family = addressFamily(addr);
  if (family === AF_INET && !/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) {
    throw new IpArgError(`Error: any valid prefix is expected rather than "${s}".`);
  }
  const max = family === AF_INET ? 32 : 128;
  let bitlen = max;
  if (slash >= 0) {
    const plen = s.slice(slash + 1);
    if (!/^\d+$/.test(plen) || Number(plen) > max)
      throw new IpArgError(`Error: any valid prefix is expected rather than "${s}".`);
    bitlen = Number(plen);
  }
  return { addr, family, bitlen, hasLen: slash >= 0 };
}

/** Hex key material "0x…" or a literal string, as xfrm_algo_parse reads it. */
export function parseKey(s: string, what: string): Uint8Array {
  if (/^0x/i.test(s)) {
    let hex = s.slice(2);
    if (!/^[0-9a-fA-F]*$/.test(hex))
      throw new IpArgError(`Error: argument "<key>" is wrong: "${what}" ALGO-KEYMAT value is invalid`);
    if (hex.length % 2) hex = `0${hex}`;
    return Uint8Array.from(Buffer.from(hex, 'hex'));
  }
  return Uint8Array.from(Buffer.from(s, 'latin1'));
}
