/**
 * `ip xfrm state|policy …` command lines → the XFRM requests iproute2 would send, byte for byte
 * (ip/xfrm_state.c, ip/xfrm_policy.c, ip/ipxfrm.c). Attribute order follows iproute2: algorithms,
 * encap, coa and ctx in command-line order, then replay, extra flags, mark, output mark, if_id,
 * offload and SA direction.
 */
import {
  AF_INET,
  AF_INET6,
  IPPROTO,
  userTmpl,
  XFRM_INF,
  XFRM_OFFLOAD_FLAG,
  XFRM_STATE_FLAG,
  type XfrmLifetimeCfg,
  type XfrmSelector,
  type XfrmUserTmpl,
} from '@xfrmkit/core';
import { type AttrInput, NLM_F, XFRM_MSG } from '@xfrmkit/netlink';
import { Args, IpArgError, parseKey, parsePrefix, u8, u16, u32, u64 } from './args.ts';

export type IproutePersona = '6.1' | '6.15';

export interface IpXfrmOptions {
  /** which iproute2 to mimic (6.15 knows `offload crypto|packet` and SA `dir`, and sends XFRMA_SA_DIR) */
  persona?: IproutePersona;
  /** resolves `dev NAME` to an ifindex (if_nametoindex) */
  ifindex(name: string): number;
}

export interface XfrmRequestPlan {
  kind: 'request';
  /** what the command does, for messages ("state add") */
  what: string;
  type: number;
  flags: number;
  body: unknown;
  attrs: AttrInput[];
  /** 'reply' = a GET-style request answered by one message (no ack) */
  expect: 'ack' | 'reply';
}

export interface XfrmDumpPlan {
  kind: 'dump';
  what: string;
  type: number;
  flags: number;
  attrs: AttrInput[];
  /** print the entries, or delete each match (deleteall) */
  action: 'list' | 'deleteall';
  filter: XfrmListFilter;
}

export interface XfrmListFilter {
  saddr?: { addr: string; bitlen: number };
  daddr?: { addr: string; bitlen: number };
  proto?: number;
  spi?: number;
  mode?: number;
  reqid?: number;
  stateFlags?: number;
  dir?: number;
  index?: number;
  action?: number;
  priority?: number;
  ptype?: number;
  /** policy selector filter */
  sel?: XfrmSelector;
}

export type IpXfrmPlan = XfrmRequestPlan | XfrmDumpPlan | { kind: 'monitor'; argv: string[] };

const MODES: Record<string, number> = { transport: 0, tunnel: 1, ro: 2, in_trigger: 3, beet: 4, iptfs: 5 };
const XFRM_PROTOS: Record<string, number> = {
  esp: 50,
  ah: 51,
  comp: 108,
  route2: 43,
  hao: 60,
  'ipsec-any': 255,
};
const ALGO_TYPES: Record<string, string> = {
  enc: 'ALG_CRYPT',
  auth: 'ALG_AUTH',
  'auth-trunc': 'ALG_AUTH_TRUNC',
  aead: 'ALG_AEAD',
  comp: 'ALG_COMP',
};
const DIRS: Record<string, number> = { in: 0, out: 1, fwd: 2 };
const ENCAP_TYPES: Record<string, number> = { espinudp: 2, 'espinudp-nonike': 1, espintcp: 7 };
const UP_PROTOS: Record<string, number> = {
  tcp: 6,
  udp: 17,
  sctp: 132,
  dccp: 33,
  icmp: 1,
  'ipv6-icmp': 58,
  icmpv6: 58,
  gre: 47,
  mh: 135,
  ipv6mh: 135,
  udplite: 136,
  esp: 50,
  ah: 51,
  comp: 108,
  any: 0,
};

export const zeroSelector = (): XfrmSelector => ({
  daddr: '0.0.0.0',
  saddr: '0.0.0.0',
  dport: 0,
  dportMask: 0,
  sport: 0,
  sportMask: 0,
  family: 0,
  prefixlenD: 0,
  prefixlenS: 0,
  proto: 0,
  ifindex: 0,
  user: 0,
});

const infLft = (): XfrmLifetimeCfg => ({
  softByteLimit: XFRM_INF,
  hardByteLimit: XFRM_INF,
  softPacketLimit: XFRM_INF,
  hardPacketLimit: XFRM_INF,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
});
const zeroLft = (): XfrmLifetimeCfg => ({
  softByteLimit: 0n,
  hardByteLimit: 0n,
  softPacketLimit: 0n,
  hardPacketLimit: 0n,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
});
const zeroCur = () => ({ bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n });

/** State shared while parsing one command (iproute2's global `preferred_family`). */
class Ctx {
  family = 0;
  constructor(readonly opts: IpXfrmOptions) {}
  get persona(): IproutePersona {
    return this.opts.persona ?? '6.15';
  }
}

/** xfrm_id_parse(): [src ADDR] [dst ADDR] [proto XFRM-PROTO] [spi SPI] */
function parseId(
  a: Args,
  ctx: Ctx,
  loose: boolean,
): {
  saddr: string;
  daddr: string;
  family: number;
  proto: number;
  spi: number;
  src?: { addr: string; bitlen: number };
  dst?: { addr: string; bitlen: number };
} {
  const out = { saddr: '0.0.0.0', daddr: '0.0.0.0', family: ctx.family, proto: 0, spi: 0 } as ReturnType<
    typeof parseId
  >;
  let srcFam = 0;
  let dstFam = 0;
  while (a.more()) {
    const k = a.cur!;
    if (k === 'src') {
      const p = parsePrefix(a.next(k), '"src"', ctx.family);
      out.saddr = p.addr;
      out.src = { addr: p.addr, bitlen: p.bitlen };
      srcFam = p.family;
      out.family = p.family;
    } else if (k === 'dst') {
      const p = parsePrefix(a.next(k), '"dst"', ctx.family);
      out.daddr = p.addr;
      out.dst = { addr: p.addr, bitlen: p.bitlen };
      dstFam = p.family;
      out.family = p.family;
    } else if (k === 'proto') {
      const v = a.next(k);
      const n = XFRM_PROTOS[v];
      if (n === undefined)
        throw new IpArgError(`Error: argument "${v}" is wrong: XFRM-PROTO value is invalid`);
      out.proto = n;
    } else if (k === 'spi') {
      out.spi = u32(a.next(k), '"SPI"');
    } else break;
    a.advance();
  }
  if (srcFam && dstFam && srcFam !== dstFam) {
    throw new IpArgError(
      'Error: argument "src/dst" is wrong: the same address family is required between values after "src" and "dst"',
    );
  }
  if (!loose && out.proto === 0) throw new IpArgError('Error: "XFRM-PROTO" is required');
  if (out.family === AF_INET6) {
    if (out.saddr === '0.0.0.0') out.saddr = '::';
    if (out.daddr === '0.0.0.0') out.daddr = '::';
  }
  return out;
}

/** xfrm_selector_parse(): [src ADDR[/PLEN]] [dst ADDR[/PLEN]] [dev DEV] [UPSPEC] */
function parseSelector(a: Args, ctx: Ctx, sel: XfrmSelector): void {
  let seen = false;
  while (a.more()) {
    const k = a.cur!;
    if (k === 'src') {
      const p = parsePrefix(a.next(k), '"src"', ctx.family);
      sel.saddr = p.addr;
      sel.prefixlenS = p.bitlen;
      sel.family = p.family;
      ctx.family = p.family;
    } else if (k === 'dst') {
      const p = parsePrefix(a.next(k), '"dst"', ctx.family);
      sel.daddr = p.addr;
      sel.prefixlenD = p.bitlen;
      sel.family = p.family;
      ctx.family = p.family;
    } else if (k === 'dev') {
      const name = a.next(k);
      sel.ifindex = name === 'none' ? 0 : ctx.opts.ifindex(name);
    } else if (k === 'proto') {
      const v = a.next(k);
      const n = UP_PROTOS[v] ?? (/^\d+$/.test(v) ? u8(v, '"PROTO"') : undefined);
      if (n === undefined) throw new IpArgError(`Error: argument "${v}" is wrong: PROTO value is invalid`);
      sel.proto = n;
    } else if (k === 'sport' || k === 'dport') {
      const port = u16(a.next(k), `"${k.toUpperCase()}"`);
      if (k === 'sport') {
        sel.sport = port;
        sel.sportMask = 0xffff;
      } else {
        sel.dport = port;
        sel.dportMask = 0xffff;
      }
    } else if (k === 'type' || k === 'code') {
      const v = u8(a.next(k), `"${k.toUpperCase()}"`);
      if (k === 'type') {
        sel.sport = v;
        sel.sportMask = 0xffff;
      } else {
        sel.dport = v;
        sel.dportMask = 0xffff;
      }
    } else if (k === 'key') {
      const v = a.next(k);
      const key = /^\d+\.\d+\.\d+\.\d+$/.test(v)
        ? Buffer.from(v.split('.').map(Number)).readUInt32BE(0)
        : u32(v, '"KEY"');
      sel.sport = key >>> 16;
      sel.sportMask = 0xffff;
      sel.dport = key & 0xffff;
      sel.dportMask = 0xffff;
    } else break;
    seen = true;
    a.advance();
  }
  if (!seen) throw new IpArgError('Error: "SELECTOR" is required');
  if (sel.family === AF_INET6) {
    if (sel.saddr === '0.0.0.0') sel.saddr = '::';
    if (sel.daddr === '0.0.0.0') sel.daddr = '::';
  }
}

/** xfrm_lifetime_cfg_parse(): limit { time-soft|time-hard|time-use-soft|time-use-hard SECONDS | byte-* | packet-* N } */
function parseLimit(a: Args, lft: XfrmLifetimeCfg): void {
  const k = a.cur!;
  const v = a.next(k);
  const map: Record<string, keyof XfrmLifetimeCfg> = {
    'time-soft': 'softAddExpiresSeconds',
    'time-hard': 'hardAddExpiresSeconds',
    'time-use-soft': 'softUseExpiresSeconds',
    'time-use-hard': 'hardUseExpiresSeconds',
    'byte-soft': 'softByteLimit',
    'byte-hard': 'hardByteLimit',
    'packet-soft': 'softPacketLimit',
    'packet-hard': 'hardPacketLimit',
  };
  const f = map[k];
  if (!f) throw new IpArgError(`Error: argument "${k}" is wrong: LIMIT value is invalid`);
  lft[f] = u64(v, `"${k}"`);
}

function parseMark(a: Args): { v: number; m: number } {
  const v = u32(a.next('mark'), '"MARK"');
  let m = 0xffffffff;
  if (a.peekNext() === 'mask') {
    a.advance();
    m = u32(a.next('mask'), '"MASK"');
  }
  return { v, m };
}

function parseStateFlags(a: Args): number {
  let flags = 0;
  const names: Record<string, number> = {
    noecn: XFRM_STATE_FLAG.NOECN,
    'decap-dscp': XFRM_STATE_FLAG.DECAP_DSCP,
    nopmtudisc: XFRM_STATE_FLAG.NOPMTUDISC,
    wildrecv: XFRM_STATE_FLAG.WILDRECV,
    icmp: XFRM_STATE_FLAG.ICMP,
    'af-unspec': XFRM_STATE_FLAG.AF_UNSPEC,
    align4: XFRM_STATE_FLAG.ALIGN4,
    esn: XFRM_STATE_FLAG.ESN,
  };
  const first = a.next('flag');
  if (/^0x/.test(first)) return u8(first, '"FLAG"');
  let k: string | undefined = first;
  for (;;) {
    const f = names[k];
    if (f === undefined) throw new IpArgError(`Error: argument "${k}" is wrong: FLAG value is invalid`);
    flags |= f;
    const nx = a.peekNext();
    if (nx === undefined || names[nx] === undefined) break;
    a.advance();
    k = a.cur!;
  }
  return flags;
}

function tmplDefaults(): XfrmUserTmpl {
  return userTmpl({
    id: { daddr: '0.0.0.0', spi: 0, proto: 0 },
    family: 0,
    saddr: '0.0.0.0',
    reqid: 0,
    mode: 0,
  });
}

// ---------------------------------------------------------------- state

function stateModify(a: Args, ctx: Ctx, update: boolean): XfrmRequestPlan {
  const info = {
    sel: zeroSelector(),
    id: { daddr: '0.0.0.0', spi: 0, proto: 0 },
    saddr: '0.0.0.0',
    lft: infLft(),
    curlft: zeroCur(),
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: 0,
    family: ctx.family,
    mode: 0,
    replayWindow: 0,
    flags: 0,
  };
  const attrs: AttrInput[] = [];
  let replayWindow = 0;
  let seq = 0;
  let oseq = 0;
  let seqHi = 0;
  let oseqHi = 0;
  let extraFlags = 0;
  let mark = { v: 0, m: 0 };
  let outputMark: { v: number; m: number } | undefined;
  let ifId: number | undefined;
  let offload: { ifindex: number; flags: number } | undefined;
  let saDir = 0;
  let tfcpad: number | undefined;
  let haveId = false;
  const algos = new Set<string>();
  while (a.more()) {
    const k = a.cur!;
    if (k === 'mode') {
      const v = a.next(k);
      const m = MODES[v];
      if (m === undefined) throw new IpArgError(`Error: argument "${v}" is wrong: MODE value is invalid`);
      info.mode = m;
    } else if (k === 'mark') mark = parseMark(a);
    else if (k === 'reqid') info.reqid = u32(a.next(k), '"REQID"');
    else if (k === 'seq')
      info.seq = Buffer.from(new Uint32Array([u32(a.next(k), '"SEQ"')]).buffer).readUInt32BE(0);
    else if (k === 'replay-window') replayWindow = u32(a.next(k), 'value after "replay-window"');
    else if (k === 'replay-seq') seq = u32(a.next(k), 'value after "replay-seq"');
    else if (k === 'replay-seq-hi') seqHi = u32(a.next(k), 'value after "replay-seq-hi"');
    else if (k === 'replay-oseq') oseq = u32(a.next(k), 'value after "replay-oseq"');
    else if (k === 'replay-oseq-hi') oseqHi = u32(a.next(k), 'value after "replay-oseq-hi"');
    else if (k === 'flag') info.flags |= parseStateFlags(a);
    else if (k === 'extra-flag') {
      const v = a.next(k);
      if (v === 'dont-encap-dscp') extraFlags |= 1;
      else if (v === 'oseq-may-wrap') extraFlags |= 2;
      else extraFlags = u32(v, '"EXTRA-FLAG"');
    } else if (k === 'sel') {
      a.advance();
      const saved = ctx.family;
      ctx.family = 0;
      parseSelector(a, ctx, info.sel);
      ctx.family = info.sel.family || saved;
      continue;
    } else if (k === 'limit') {
      a.advance();
      parseLimit(a, info.lft);
    } else if (k === 'encap') {
      const t = a.next(k);
      const et = ENCAP_TYPES[t];
      if (et === undefined)
        throw new IpArgError(`Error: argument "${t}" is wrong: ENCAP-TYPE value is invalid`);
      const sport = u16(a.next(k), '"encap" sport');
      const dport = u16(a.next(k), '"encap" dport');
      const oa = parsePrefix(a.next(k), '"encap" oa').addr;
      attrs.push({
        name: 'ENCAP',
        value: { encapType: et, encapSport: sport, encapDport: dport, encapOa: oa },
      });
    } else if (k === 'coa') {
      const p = parsePrefix(a.next(k), '"coa"', ctx.family);
      attrs.push({ name: 'COADDR', value: p.addr });
    } else if (k === 'output-mark') {
      outputMark = { v: u32(a.next(k), '"output-mark"'), m: 0 };
      if (a.peekNext() === 'mask') {
        a.advance();
        outputMark.m = u32(a.next('mask'), '"MASK"');
      }
    } else if (k === 'if_id') ifId = u32(a.next(k), '"IF_ID"');
    else if (k === 'tfcpad') tfcpad = u32(a.next(k), '"tfcpad"');
    else if (k === 'offload') {
      let nx = a.next(k);
      let flags = 0;
      if (nx === 'crypto' || nx === 'packet') {
        if (ctx.persona === '6.1')
          throw new IpArgError(`Error: argument "${nx}" is wrong: value after "offload" is invalid`);
        if (nx === 'packet') flags |= XFRM_OFFLOAD_FLAG.PACKET;
        nx = a.next(k);
      }
      if (nx !== 'dev') throw new IpArgError('Error: "dev" is required after "offload"');
      const ifindex = ctx.opts.ifindex(a.next('dev'));
      if (a.next('dev') !== 'dir') throw new IpArgError('Error: "dir" is required after "offload dev"');
      const d = a.next('dir');
      if (d === 'in') flags |= XFRM_OFFLOAD_FLAG.INBOUND;
      else if (d !== 'out') throw new IpArgError(`Error: argument "${d}" is wrong: DIR value is invalid`);
      offload = { ifindex, flags };
      if (ctx.persona !== '6.1') saDir = d === 'in' ? 1 : 2;
    } else if (k === 'dir') {
      if (ctx.persona === '6.1') throw new IpArgError(`Error: argument "dir" is wrong: unknown`);
      const d = a.next(k);
      if (d === 'in') saDir = 1;
      else if (d === 'out') saDir = 2;
      else throw new IpArgError(`Error: argument "${d}" is wrong: DIR value is invalid`);
    } else if (ALGO_TYPES[k]) {
      const name = ALGO_TYPES[k]!;
      if (algos.has(name)) throw new IpArgError(`Error: duplicate "ALGO-TYPE": "${k}" is the second`);
      algos.add(name);
      const algName = a.next(k);
      const key = name === 'ALG_COMP' ? new Uint8Array(0) : parseKey(a.next(k), k);
      const value: Record<string, unknown> = { name: algName, keyLen: key.length * 8, key };
      if (name === 'ALG_AEAD') value.icvLen = u32(a.next(k), '"ALGO-ICV-LEN"');
      if (name === 'ALG_AUTH_TRUNC') value.truncLen = u32(a.next(k), '"ALGO-TRUNC-LEN"');
      attrs.push({ name, value });
    } else {
      if (haveId) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
      haveId = true;
      const id = parseId(a, ctx, false);
      info.saddr = id.saddr;
      info.id = { daddr: id.daddr, spi: id.spi, proto: id.proto };
      info.family = id.family;
      if (ctx.family === 0) ctx.family = id.family;
      continue;
    }
    a.advance();
  }
  if (!haveId) throw new IpArgError('Not enough information: "ID" is required');
  if (info.flags & XFRM_STATE_FLAG.ESN && replayWindow === 0)
    throw new IpArgError('Error: esn flag set without replay-window.');
  if (replayWindow > 4096)
    throw new IpArgError(`Error: replay-window (${replayWindow}) > XFRMA_REPLAY_ESN_MAX (4096).`);
  if (info.flags & XFRM_STATE_FLAG.ESN || replayWindow > 32) {
    attrs.push({
      name: 'REPLAY_ESN_VAL',
      value: { bmpLen: Math.ceil(replayWindow / 32), oseq, seq, oseqHi, seqHi, replayWindow, bmp: [] },
      // iproute2 sends the 24-byte struct without the bitmap (the kernel zero-fills it)
      raw: esnRaw(Math.ceil(replayWindow / 32), oseq, seq, oseqHi, seqHi, replayWindow),
    } as AttrInput);
  } else {
    if (seq || oseq) attrs.push({ name: 'REPLAY_VAL', value: { oseq, seq, bitmap: 0 } });
    info.replayWindow = replayWindow;
  }
  if (extraFlags) attrs.push({ name: 'SA_EXTRA_FLAGS', value: extraFlags });
  if (mark.m) attrs.push({ name: 'MARK', value: mark });
  if (outputMark) {
    attrs.push({ name: 'SET_MARK', value: outputMark.v });
    if (outputMark.m) attrs.push({ name: 'SET_MARK_MASK', value: outputMark.m });
  }
  if (ifId !== undefined) attrs.push({ name: 'IF_ID', value: ifId });
  if (offload) attrs.push({ name: 'OFFLOAD_DEV', value: offload });
  if (tfcpad !== undefined) attrs.push({ name: 'TFCPAD', value: tfcpad });
  if (saDir) attrs.push({ name: 'SA_DIR', value: saDir });
  if (info.family === 0) info.family = AF_INET;
  fixFamilyText(info.sel);
  return {
    kind: 'request',
    what: update ? 'state update' : 'state add',
    type: update ? XFRM_MSG.UPDSA : XFRM_MSG.NEWSA,
    flags: NLM_F.REQUEST | NLM_F.ACK,
    body: info,
    attrs,
    expect: 'ack',
  };
}

function esnRaw(
  bmpLen: number,
  oseq: number,
  seq: number,
  oseqHi: number,
  seqHi: number,
  win: number,
): Uint8Array {
  const b = Buffer.alloc(24);
  [bmpLen, oseq, seq, oseqHi, seqHi, win].forEach((v, i) => {
    b.writeUInt32LE(v >>> 0, i * 4);
  });
  return new Uint8Array(b);
}

/** Keeps address text consistent with the selector family (IPv6 zeros print as "::"). */
function fixFamilyText(sel: XfrmSelector): void {
  if (sel.family === AF_INET6) {
    if (sel.saddr === '0.0.0.0') sel.saddr = '::';
    if (sel.daddr === '0.0.0.0') sel.daddr = '::';
  }
}

function stateAllocspi(a: Args, ctx: Ctx): XfrmRequestPlan {
  const info = {
    sel: zeroSelector(),
    id: { daddr: '0.0.0.0', spi: 0, proto: 0 },
    saddr: '0.0.0.0',
    lft: zeroLft(),
    curlft: zeroCur(),
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: 0,
    family: ctx.family,
    mode: 0,
    replayWindow: 0,
    flags: 0,
  };
  let min: number | undefined;
  let max: number | undefined;
  let haveId = false;
  const attrs: AttrInput[] = [];
  let mark = { v: 0, m: 0 };
  while (a.more()) {
    const k = a.cur!;
    if (k === 'mode') {
      const v = a.next(k);
      const m = MODES[v];
      if (m === undefined) throw new IpArgError(`Error: argument "${v}" is wrong: MODE value is invalid`);
      info.mode = m;
    } else if (k === 'mark') mark = parseMark(a);
    else if (k === 'reqid') info.reqid = u32(a.next(k), '"REQID"');
    else if (k === 'seq') info.seq = u32(a.next(k), '"SEQ"');
    else if (k === 'min') min = u32(a.next(k), '"min"');
    else if (k === 'max') max = u32(a.next(k), '"max"');
    else {
      if (haveId) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
      haveId = true;
      const id = parseId(a, ctx, false);
      if (id.spi) throw new IpArgError('"SPI" must be zero');
      info.saddr = id.saddr;
      info.id = { daddr: id.daddr, spi: 0, proto: id.proto };
      info.family = id.family;
      continue;
    }
    a.advance();
  }
  if (!haveId) throw new IpArgError('Not enough information: "ID" is required');
  if ((min === undefined) !== (max === undefined))
    throw new IpArgError(`"${min === undefined ? 'min' : 'max'}" is missing`);
  if (min !== undefined && max !== undefined && min > max)
    throw new IpArgError('"min" value is larger than "max" one');
  if (min === undefined) {
    min = 0x100;
    max = info.id.proto === IPPROTO.COMP ? 0xffff : 0x0fffffff;
  }
  if (mark.m) attrs.push({ name: 'MARK', value: mark });
  if (info.family === 0) info.family = AF_INET;
  return {
    kind: 'request',
    what: 'state allocspi',
    type: XFRM_MSG.ALLOCSPI,
    flags: NLM_F.REQUEST,
    body: { info, min, max },
    attrs,
    expect: 'reply',
  };
}

function stateGetOrDelete(a: Args, ctx: Ctx, del: boolean): XfrmRequestPlan {
  let id: ReturnType<typeof parseId> | undefined;
  let mark = { v: 0, m: 0 };
  while (a.more()) {
    const k = a.cur!;
    if (k === 'mark') {
      mark = parseMark(a);
      a.advance();
      continue;
    }
    if (id) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
    id = parseId(a, ctx, false);
  }
  if (!id) throw new IpArgError('Not enough information: "ID" is required');
  const attrs: AttrInput[] = [];
  if (mark.m) attrs.push({ name: 'MARK', value: mark });
  attrs.push({ name: 'SRCADDR', value: id.saddr });
  const body = { daddr: id.daddr, spi: id.spi, family: id.family || AF_INET, proto: id.proto };
  return getOrDeletePlan('state', del, body, attrs);
}

/**
 * `state get|delete` and `policy get|delete`: GET expects the object back, DELETE asks for an ack.
 */
function getOrDeletePlan(
  object: 'state' | 'policy',
  del: boolean,
  body: XfrmRequestPlan['body'],
  attrs: AttrInput[],
): XfrmRequestPlan {
  const [get, remove] =
    object === 'state' ? [XFRM_MSG.GETSA, XFRM_MSG.DELSA] : [XFRM_MSG.GETPOLICY, XFRM_MSG.DELPOLICY];
  return {
    kind: 'request',
    what: `${object} ${del ? 'delete' : 'get'}`,
    type: del ? remove : get,
    flags: del ? NLM_F.REQUEST | NLM_F.ACK : NLM_F.REQUEST,
    body,
    attrs,
    expect: del ? 'ack' : 'reply',
  };
}

function stateListOrDeleteall(a: Args, ctx: Ctx, deleteall: boolean): XfrmDumpPlan {
  const filter: XfrmListFilter = {};
  while (a.more()) {
    const k = a.cur!;
    if (k === 'mode') {
      const v = a.next(k);
      filter.mode = MODES[v];
      if (filter.mode === undefined)
        throw new IpArgError(`Error: argument "${v}" is wrong: MODE value is invalid`);
    } else if (k === 'reqid') filter.reqid = u32(a.next(k), '"REQID"');
    else if (k === 'flag') filter.stateFlags = parseStateFlags(a);
    else {
      const before = a.i;
      const id = parseId(a, ctx, true);
      if (a.i === before) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
      if (id.src) filter.saddr = id.src;
      if (id.dst) filter.daddr = id.dst;
      if (id.proto) filter.proto = id.proto;
      if (id.spi) filter.spi = id.spi;
      continue;
    }
    a.advance();
  }
  // `list` sends XFRMA_ADDRESS_FILTER (all zero); deleteall sends a bare dump request
  const attrs: AttrInput[] = deleteall
    ? []
    : [
        {
          name: 'ADDRESS_FILTER',
          value: { saddr: '0.0.0.0', daddr: '0.0.0.0', family: 0, splen: 0, dplen: 0 },
        },
      ];
  return {
    kind: 'dump',
    what: deleteall ? 'state deleteall' : 'state list',
    type: XFRM_MSG.GETSA,
    flags: NLM_F.REQUEST | NLM_F.DUMP,
    attrs,
    action: deleteall ? 'deleteall' : 'list',
    filter,
  };
}

// ---------------------------------------------------------------- policy

/** `dir in|out|fwd` (the value after `dir`). */
function parseDir(a: Args, k: string): number {
  const d = a.next(k);
  const dir = DIRS[d];
  if (dir === undefined) throw new IpArgError(`Error: argument "${d}" is wrong: DIR value is invalid`);
  return dir;
}

/** `ptype main|sub` → XFRM_POLICY_TYPE number. */
function parsePtype(a: Args, k: string): number {
  const v = a.next(k);
  if (v === 'main') return 0;
  if (v === 'sub') return 1;
  throw new IpArgError(`Error: argument "${v}" is wrong: PTYPE value is invalid`);
}

const ptypeAttr = (type: number): AttrInput => ({
  name: 'POLICY_TYPE',
  value: { type, reserved1: 0, reserved2: 0 },
});

/** `ctx CTX`: XFRMA_SEC_CTX as iproute2's xfrm_sctx_parse builds it (NUL included). */
function parseSecCtx(a: Args, k: string): AttrInput {
  const c = Buffer.from(`${a.next(k)}\0`, 'latin1');
  return {
    name: 'SEC_CTX',
    value: { len: 8 + c.length, exttype: 8, ctxAlg: 1, ctxDoi: 1, ctxLen: c.length, ctx: new Uint8Array(c) },
  };
}

function policyModify(a: Args, ctx: Ctx, update: boolean): XfrmRequestPlan {
  const info = {
    sel: zeroSelector(),
    lft: infLft(),
    curlft: zeroCur(),
    priority: 0,
    index: 0,
    dir: -1,
    action: 0,
    flags: 0,
    share: 0,
  };
  const tmpls: XfrmUserTmpl[] = [];
  let ptype: number | undefined;
  let mark = { v: 0, m: 0 };
  let ifId: number | undefined;
  let offload: { ifindex: number; flags: number } | undefined;
  let ctxAttr: AttrInput | undefined;
  let haveSel = false;
  while (a.more()) {
    const k = a.cur!;
    if (k === 'dir') info.dir = parseDir(a, k);
    else if (k === 'ctx') ctxAttr = parseSecCtx(a, k);
    else if (k === 'mark') mark = parseMark(a);
    else if (k === 'index') info.index = u32(a.next(k), '"INDEX"');
    else if (k === 'ptype') ptype = parsePtype(a, k);
    else if (k === 'action') {
      const v = a.next(k);
      if (v === 'allow') info.action = 0;
      else if (v === 'block') info.action = 1;
      else throw new IpArgError(`Error: argument "${v}" is wrong: ACTION value is invalid`);
    } else if (k === 'priority') info.priority = u32(a.next(k), '"PRIORITY"');
    else if (k === 'flag') {
      const v = a.next(k);
      if (v === 'localok') info.flags |= 1;
      else if (v === 'icmp') info.flags |= 2;
      else info.flags = u8(v, '"FLAG"');
    } else if (k === 'limit') {
      a.advance();
      parseLimit(a, info.lft);
    } else if (k === 'if_id') ifId = u32(a.next(k), '"IF_ID"');
    else if (k === 'offload') {
      let nx = a.next(k);
      if (nx === 'packet') nx = a.next(k);
      if (nx !== 'dev') throw new IpArgError('Error: "dev" is required after "offload"');
      offload = { ifindex: ctx.opts.ifindex(a.next('dev')), flags: XFRM_OFFLOAD_FLAG.PACKET };
    } else if (k === 'tmpl') {
      a.advance();
      if (tmpls.length >= 6) throw new IpArgError('Error: too many templates (max 6)');
      const t = tmplDefaults();
      const id = parseId(a, ctx, false);
      t.id = { daddr: id.daddr, spi: id.spi, proto: id.proto };
      t.saddr = id.saddr;
      t.family = id.family;
      while (a.more()) {
        const tk = a.cur!;
        if (tk === 'mode') {
          const v = a.next(tk);
          const m = MODES[v];
          if (m === undefined) throw new IpArgError(`Error: argument "${v}" is wrong: MODE value is invalid`);
          t.mode = m;
        } else if (tk === 'reqid') t.reqid = u32(a.next(tk), '"REQID"');
        else if (tk === 'level') {
          const v = a.next(tk);
          if (v === 'required') t.optional = 0;
          else if (v === 'use') t.optional = 1;
          else throw new IpArgError(`Error: argument "${v}" is wrong: LEVEL value is invalid`);
        } else break;
        a.advance();
      }
      if (ctx.family === 0) ctx.family = t.family;
      tmpls.push(t);
      continue;
    } else {
      if (haveSel) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
      haveSel = true;
      parseSelector(a, ctx, info.sel);
      continue;
    }
    a.advance();
  }
  if (info.dir < 0) throw new IpArgError('Not enough information: "DIR" is required');
  if (info.sel.family === 0) info.sel.family = ctx.family || AF_INET;
  fixFamilyText(info.sel);
  const attrs: AttrInput[] = [];
  if (ptype !== undefined) attrs.push(ptypeAttr(ptype));
  if (tmpls.length) attrs.push({ name: 'TMPL', value: tmpls });
  if (mark.m) attrs.push({ name: 'MARK', value: mark });
  if (ctxAttr) attrs.push(ctxAttr);
  if (ifId !== undefined) attrs.push({ name: 'IF_ID', value: ifId });
  if (offload) attrs.push({ name: 'OFFLOAD_DEV', value: offload });
  return {
    kind: 'request',
    what: update ? 'policy update' : 'policy add',
    type: update ? XFRM_MSG.UPDPOLICY : XFRM_MSG.NEWPOLICY,
    flags: NLM_F.REQUEST | NLM_F.ACK,
    body: info,
    attrs,
    expect: 'ack',
  };
}

function policyGetOrDelete(a: Args, ctx: Ctx, del: boolean): XfrmRequestPlan {
  const body = { sel: zeroSelector(), index: 0, dir: -1 };
  let ptype: number | undefined;
  let mark = { v: 0, m: 0 };
  let ifId: number | undefined;
  let ctxAttr: AttrInput | undefined;
  let haveSel = false;
  while (a.more()) {
    const k = a.cur!;
    if (k === 'dir') body.dir = parseDir(a, k);
    else if (k === 'ctx') ctxAttr = parseSecCtx(a, k);
    else if (k === 'mark') mark = parseMark(a);
    else if (k === 'index') body.index = u32(a.next(k), '"INDEX"');
    else if (k === 'ptype') ptype = parsePtype(a, k);
    else if (k === 'if_id') ifId = u32(a.next(k), '"IF_ID"');
    else {
      if (haveSel) throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
      haveSel = true;
      parseSelector(a, ctx, body.sel);
      continue;
    }
    a.advance();
  }
  if (body.dir < 0) throw new IpArgError('Not enough information: "DIR" is required');
  if (!haveSel && !body.index)
    throw new IpArgError('Not enough information: "SELECTOR" or "INDEX" is required');
  if (body.sel.family === 0) body.sel.family = ctx.family || AF_INET;
  fixFamilyText(body.sel);
  const attrs: AttrInput[] = [];
  if (ptype !== undefined) attrs.push(ptypeAttr(ptype));
  if (mark.m) attrs.push({ name: 'MARK', value: mark });
  if (ctxAttr) attrs.push(ctxAttr);
  if (ifId !== undefined) attrs.push({ name: 'IF_ID', value: ifId });
  return getOrDeletePlan('policy', del, body, attrs);
}

function policyListOrDeleteall(a: Args, ctx: Ctx, deleteall: boolean): XfrmDumpPlan {
  const filter: XfrmListFilter = {};
  while (a.more()) {
    const k = a.cur!;
    if (k === 'dir') filter.dir = parseDir(a, k);
    else if (k === 'index') filter.index = u32(a.next(k), '"INDEX"');
    else if (k === 'ptype') filter.ptype = a.next(k) === 'sub' ? 1 : 0;
    else if (k === 'action') filter.action = a.next(k) === 'block' ? 1 : 0;
    else if (k === 'priority') filter.priority = u32(a.next(k), '"PRIORITY"');
    else if (k === 'nosock') {
      // socket policies are not listed
    } else {
      filter.sel = zeroSelector();
      parseSelector(a, ctx, filter.sel);
      continue;
    }
    a.advance();
  }
  return {
    kind: 'dump',
    what: deleteall ? 'policy deleteall' : 'policy list',
    type: XFRM_MSG.GETPOLICY,
    flags: NLM_F.REQUEST | NLM_F.DUMP,
    attrs: [],
    action: deleteall ? 'deleteall' : 'list',
    filter,
  };
}

function policyFlush(a: Args): XfrmRequestPlan {
  const attrs: AttrInput[] = [];
  while (a.more()) {
    const k = a.cur!;
    if (k === 'ptype') attrs.push(ptypeAttr(parsePtype(a, k)));
    else throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
    a.advance();
  }
  return {
    kind: 'request',
    what: 'policy flush',
    type: XFRM_MSG.FLUSHPOLICY,
    flags: NLM_F.REQUEST | NLM_F.ACK,
    body: undefined,
    attrs,
    expect: 'ack',
  };
}

function policySetDefault(a: Args): XfrmRequestPlan {
  const body = { in: 0, fwd: 0, out: 0 };
  while (a.more()) {
    const k = a.cur!;
    const v = a.next(k);
    const act = v === 'block' ? 1 : v === 'accept' ? 2 : 0;
    if (!act) throw new IpArgError(`Error: argument "${v}" is wrong: ACTION value is invalid`);
    if (k === 'in' || k === 'fwd' || k === 'out') body[k] = act;
    else throw new IpArgError(`Error: argument "${k}" is wrong: DIR value is invalid`);
    a.advance();
  }
  return {
    kind: 'request',
    what: 'policy setdefault',
    type: XFRM_MSG.SETDEFAULT,
    flags: NLM_F.REQUEST | NLM_F.ACK,
    body,
    attrs: [],
    expect: 'ack',
  };
}

function policySet(a: Args): XfrmRequestPlan {
  const attrs: AttrInput[] = [];
  while (a.more()) {
    const k = a.cur!;
    if (k === 'hthresh4' || k === 'hthresh6') {
      const l = u8(a.next(k), `"${k}" LBITS`);
      const r = u8(a.next(k), `"${k}" RBITS`);
      const max = k === 'hthresh4' ? 32 : 128;
      if (l > max || r > max) throw new IpArgError(`Error: argument "${l}" is wrong: "${k}" is invalid`);
      attrs.push({
        name: k === 'hthresh4' ? 'SPD_IPV4_HTHRESH' : 'SPD_IPV6_HTHRESH',
        value: { lbits: l, rbits: r },
      });
    } else throw new IpArgError(`Error: argument "${k}" is wrong: unknown`);
    a.advance();
  }
  return {
    kind: 'request',
    what: 'policy set',
    type: XFRM_MSG.NEWSPDINFO,
    flags: NLM_F.REQUEST | NLM_F.ACK,
    body: 0xffffffff,
    attrs,
    expect: 'ack',
  };
}

/** Parses `state …` / `policy …` (the words after `ip xfrm`). */
export function parseIpXfrm(argv: string[], opts: IpXfrmOptions): IpXfrmPlan {
  const [obj, verb = 'list', ...rest] = argv;
  const ctx = new Ctx(opts);
  const a = new Args(rest);
  const is = (v: string, ...names: string[]) =>
    names.some((n) => n === v || (v.length >= 1 && n.startsWith(v) && v.length >= 3));
  if (obj === 'state' || obj === 'sa') {
    if (is(verb, 'add')) return stateModify(a, ctx, false);
    if (is(verb, 'update')) return stateModify(a, ctx, true);
    if (is(verb, 'allocspi')) return stateAllocspi(a, ctx);
    if (verb === 'get') return stateGetOrDelete(a, ctx, false);
    if (is(verb, 'delete') || verb === 'del') return stateGetOrDelete(a, ctx, true);
    if (is(verb, 'deleteall') || verb === 'delall') return stateListOrDeleteall(a, ctx, true);
    if (is(verb, 'list', 'show') || verb === 'lst') return stateListOrDeleteall(a, ctx, false);
    if (is(verb, 'flush')) {
      let proto = 0;
      if (a.cur === 'proto') {
        const v = a.next('proto');
        const p = XFRM_PROTOS[v];
        if (p === undefined)
          throw new IpArgError(`Error: argument "${v}" is wrong: XFRM-PROTO value is invalid`);
        proto = p;
      }
      return {
        kind: 'request',
        what: 'state flush',
        type: XFRM_MSG.FLUSHSA,
        flags: NLM_F.REQUEST | NLM_F.ACK,
        body: { proto },
        attrs: [],
        expect: 'ack',
      };
    }
    if (is(verb, 'count'))
      return {
        kind: 'request',
        what: 'state count',
        type: XFRM_MSG.GETSADINFO,
        flags: NLM_F.REQUEST,
        body: 0xffffffff,
        attrs: [],
        expect: 'reply',
      };
    throw new IpArgError(`Command "${verb}" is unknown, try "ip xfrm state help".`);
  }
  if (obj === 'policy' || obj === 'pol') {
    if (is(verb, 'add')) return policyModify(a, ctx, false);
    if (is(verb, 'update')) return policyModify(a, ctx, true);
    if (verb === 'get') return policyGetOrDelete(a, ctx, false);
    if (is(verb, 'delete') || verb === 'del') return policyGetOrDelete(a, ctx, true);
    if (is(verb, 'deleteall') || verb === 'delall') return policyListOrDeleteall(a, ctx, true);
    if (is(verb, 'list', 'show') || verb === 'lst') return policyListOrDeleteall(a, ctx, false);
    if (is(verb, 'flush')) return policyFlush(a);
    if (is(verb, 'count'))
      return {
        kind: 'request',
        what: 'policy count',
        type: XFRM_MSG.GETSPDINFO,
        flags: NLM_F.REQUEST,
        body: 0xffffffff,
        attrs: [],
        expect: 'reply',
      };
    if (verb === 'setdefault') return policySetDefault(a);
    if (verb === 'getdefault')
      return {
        kind: 'request',
        what: 'policy getdefault',
        type: XFRM_MSG.GETDEFAULT,
        flags: NLM_F.REQUEST,
        body: { in: 0, fwd: 0, out: 0 },
        attrs: [],
        expect: 'reply',
      };
    if (verb === 'set') return policySet(a);
    throw new IpArgError(`Command "${verb}" is unknown, try "ip xfrm policy help".`);
  }
  if (obj === 'monitor') return { kind: 'monitor', argv: rest };
  throw new IpArgError(`Command "${obj}" is unknown, try "ip xfrm help".`);
}
