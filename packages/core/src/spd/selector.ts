/**
 * Selectors and flows in numeric form, and the kernel's `xfrm_selector_match`
 * (`__xfrm4_selector_match` / `__xfrm6_selector_match`).
 */

import { XfrmError } from '../sad/xfrm-error.ts';
import type { XfrmSelector } from '../types/xfrm.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, IPPROTO } from '../types/xfrm.ts';
import { addressWords, familyBits, maskWord, type Words4 } from './address-words.ts';

/** A packet's flow as the policy/state lookup sees it (`struct flowi`). */
export interface Flow {
  family: number;
  daddr: string;
  saddr: string;
  /** upper-layer protocol (0 = none). */
  proto?: number;
  /** TCP/UDP/SCTP/UDPLITE ports; ICMP: sport = type, dport = code; MH: sport = type; GRE: key halves. */
  dport?: number;
  sport?: number;
  /** output (or input) interface index; 0 = none. */
  ifindex?: number;
  /** skb mark. */
  mark?: number;
  /** xfrm interface id (0 = none). */
  ifId?: number;
}

/** A flow with parsed addresses (signed int32 words): the form the hot lookup paths take. */
export interface CompiledFlow {
  family: number;
  d0: number;
  d1: number;
  d2: number;
  d3: number;
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  proto: number;
  dport: number;
  sport: number;
  ifindex: number;
  /** signed 32-bit view of the mark (what `&` produces). */
  mark: number;
  ifId: number;
}

export function checkUint(v: unknown, bits: 8 | 16 | 32, what: string): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new XfrmError('EINVAL', `${what} must be an unsigned ${bits}-bit integer (got ${String(v)})`);
  }
  return v;
}

function checkInt32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new XfrmError('EINVAL', `${what} must be a 32-bit integer (got ${String(v)})`);
  }
  return v | 0;
}

/** Parses a Flow; throws XfrmError EINVAL on bad input. */
export function compileFlow(f: Flow): CompiledFlow {
  if (f === null || typeof f !== 'object') throw new XfrmError('EINVAL', 'flow must be an object');
  if (f.family !== AF_INET && f.family !== AF_INET6) throw new XfrmError('EINVAL', 'Invalid address family');
  const d = addressWords(f.daddr);
  const s = addressWords(f.saddr);
  return {
    family: f.family,
    d0: d[0],
    d1: f.family === AF_INET ? 0 : d[1],
    d2: f.family === AF_INET ? 0 : d[2],
    d3: f.family === AF_INET ? 0 : d[3],
    s0: s[0],
    s1: f.family === AF_INET ? 0 : s[1],
    s2: f.family === AF_INET ? 0 : s[2],
    s3: f.family === AF_INET ? 0 : s[3],
    proto: checkUint(f.proto ?? 0, 8, 'flow proto'),
    dport: checkUint(f.dport ?? 0, 16, 'flow dport'),
    sport: checkUint(f.sport ?? 0, 16, 'flow sport'),
    ifindex: checkInt32(f.ifindex ?? 0, 'flow ifindex'),
    mark: checkUint(f.mark ?? 0, 32, 'flow mark') | 0,
    ifId: checkUint(f.ifId ?? 0, 32, 'flow if_id'),
  };
}

/** Selector fields pre-masked for matching. Address words are signed int32 `addr & mask`. */
export interface CompiledSelector {
  family: number;
  dm0: number;
  dm1: number;
  dm2: number;
  dm3: number;
  dv0: number;
  dv1: number;
  dv2: number;
  dv3: number;
  sm0: number;
  sm1: number;
  sm2: number;
  sm3: number;
  sv0: number;
  sv1: number;
  sv2: number;
  sv3: number;
  prefixlenD: number;
  prefixlenS: number;
  dport: number;
  dportMask: number;
  sport: number;
  sportMask: number;
  proto: number;
  ifindex: number;
}

/**
 * Validates and compiles a selector. `family` overrides `sel.family` when given (AF_UNSPEC SA
 * selectors); `daddr`/`saddr` are the addresses' words when the caller has parsed them already.
 */
export function compileSelector(
  sel: XfrmSelector,
  family = sel.family,
  daddr?: Words4,
  saddr?: Words4,
): CompiledSelector {
  if (sel === null || typeof sel !== 'object') throw new XfrmError('EINVAL', 'selector must be an object');
  const plD = checkUint(sel.prefixlenD, 8, 'selector prefixlen_d');
  const plS = checkUint(sel.prefixlenS, 8, 'selector prefixlen_s');
  const bits = family === AF_INET ? 32 : family === AF_INET6 ? 128 : 128;
  if (family === AF_INET && (plD > 32 || plS > 32))
    throw new XfrmError('EINVAL', 'Invalid prefix length in selector (must be <= 32 for IPv4)');
  if (family !== AF_INET && (plD > 128 || plS > 128))
    throw new XfrmError('EINVAL', 'Invalid prefix length in selector (must be <= 128 for IPv6)');
  const d: Words4 = daddr ?? addressWords(sel.daddr);
  const s: Words4 = saddr ?? addressWords(sel.saddr);
  const pd = Math.min(plD, bits);
  const ps = Math.min(plS, bits);
  const m = (plen: number, i: number) => (family === AF_INET && i > 0 ? 0 : maskWord(plen, i));
  const dm = [m(pd, 0), m(pd, 1), m(pd, 2), m(pd, 3)] as const;
  const sm = [m(ps, 0), m(ps, 1), m(ps, 2), m(ps, 3)] as const;
  return {
    family,
    dm0: dm[0],
    dm1: dm[1],
    dm2: dm[2],
    dm3: dm[3],
    dv0: d[0] & dm[0],
    dv1: d[1] & dm[1],
    dv2: d[2] & dm[2],
    dv3: d[3] & dm[3],
    sm0: sm[0],
    sm1: sm[1],
    sm2: sm[2],
    sm3: sm[3],
    sv0: s[0] & sm[0],
    sv1: s[1] & sm[1],
    sv2: s[2] & sm[2],
    sv3: s[3] & sm[3],
    prefixlenD: pd,
    prefixlenS: ps,
    dport: checkUint(sel.dport, 16, 'selector dport'),
    dportMask: checkUint(sel.dportMask, 16, 'selector dport_mask'),
    sport: checkUint(sel.sport, 16, 'selector sport'),
    sportMask: checkUint(sel.sportMask, 16, 'selector sport_mask'),
    proto: checkUint(sel.proto, 8, 'selector proto'),
    ifindex: checkInt32(sel.ifindex, 'selector ifindex'),
  };
}

/** Address + port + proto + ifindex part of `xfrm_selector_match` (family is checked by the caller). */
export function selectorMatchesFlow(c: CompiledSelector, f: CompiledFlow): boolean {
  return (
    (f.d0 & c.dm0) === c.dv0 &&
    (f.d1 & c.dm1) === c.dv1 &&
    (f.d2 & c.dm2) === c.dv2 &&
    (f.d3 & c.dm3) === c.dv3 &&
    (f.s0 & c.sm0) === c.sv0 &&
    (f.s1 & c.sm1) === c.sv1 &&
    (f.s2 & c.sm2) === c.sv2 &&
    (f.s3 & c.sm3) === c.sv3 &&
    ((f.dport ^ c.dport) & c.dportMask) === 0 &&
    ((f.sport ^ c.sport) & c.sportMask) === 0 &&
    (c.proto === 0 || f.proto === c.proto) &&
    (c.ifindex === 0 || f.ifindex === c.ifindex)
  );
}

/**
 * `xfrm_selector_match` for an SA selector against a flow: an AF_UNSPEC selector matches any flow
 * (the kernel does not consult it); otherwise the families must agree and the fields match.
 */
export function saSelectorMatches(selFamily: number, c: CompiledSelector, f: CompiledFlow): boolean {
  if (selFamily === AF_UNSPEC) return true;
  return selFamily === f.family && selectorMatchesFlow(c, f);
}

/** Ports carried by a protocol (everything else has ports 0 in the flow). */
export function protoHasPorts(proto: number): boolean {
  return (
    proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO.UDPLITE || proto === IPPROTO.SCTP
  );
}

export { familyBits };
