/**
 * iproute2's text output for XFRM objects (ip/ipxfrm.c, ip/xfrm_state.c, ip/xfrm_policy.c,
 * ip/xfrm_monitor.c), from decoded XFRM messages: `ip xfrm state list/get`, `ip xfrm policy
 * list/get`, `count`, `getdefault` and `monitor`, for the 6.1 and 6.15 personas. Whitespace is
 * iproute2's, trailing blanks included. `ip -j` has no JSON for xfrm: iproute2 prints text there too.
 *
 * Also the client-side filters of `list`/`deleteall` (xfrm_state_filter_match,
 * xfrm_policy_filter_match).
 */
import {
  AF_INET,
  AF_INET6,
  addressBytes,
  formatIPv4,
  formatIPv6,
  type XfrmAlgo,
  type XfrmAlgoAead,
  type XfrmAlgoAuth,
  type XfrmEncapTmpl,
  type XfrmLifetimeCfg,
  type XfrmLifetimeCur,
  type XfrmMark,
  type XfrmReplayState,
  type XfrmReplayStateEsn,
  type XfrmSelector,
  type XfrmStats,
  type XfrmUserOffload,
  type XfrmUserpolicyDefault,
  type XfrmUserpolicyInfo,
  type XfrmUserSecCtx,
  type XfrmUsersaInfo,
  type XfrmUserTmpl,
} from '@xfrmkit/core';
import { type Attr, getAttr, XFRM_MSG, type XfrmMessage } from '@xfrmkit/netlink';
import type { IproutePersona, XfrmListFilter } from './xfrm.ts';

export interface XfrmPrintOptions {
  /** number of `-s` flags */
  stats: number;
  persona: IproutePersona;
  /** `ip xfrm state list nokeys` (6.15): keys print as `<<Keys hidden>>` */
  nokeys?: boolean;
  /** ll_index_to_name(): netdev name of an ifindex (iproute2 prints `if%d` for unknown ones) */
  ifname(ifindex: number): string | undefined;
  /** IANA protocol names (getprotobynumber); defaults to /etc/protocols' usual entries */
  protoName?(proto: number): string | undefined;
  /** strftime("%Y-%m-%d %T", localtime(t)); replaceable for tests */
  formatTime?(seconds: bigint): string;
}

const XFRM_INF = 0xffff_ffff_ffff_ffffn;
const XFRM_POLICY_MAX = 3;

/** getprotobynumber() with the protocols of a stock /etc/protocols that XFRM selectors use. */
const PROTOCOLS: Record<number, string> = {
  0: 'ip',
  1: 'icmp',
  2: 'igmp',
  4: 'ipencap',
  6: 'tcp',
  8: 'egp',
  12: 'pup',
  17: 'udp',
  20: 'hmp',
  22: 'xns-idp',
  27: 'rdp',
  29: 'iso-tp4',
  33: 'dccp',
  36: 'xtp',
  37: 'ddp',
  38: 'idpr-cmtp',
  41: 'ipv6',
  43: 'ipv6-route',
  44: 'ipv6-frag',
  45: 'idrp',
  46: 'rsvp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  57: 'skip',
  58: 'ipv6-icmp',
  59: 'ipv6-nonxt',
  60: 'ipv6-opts',
  73: 'rspf',
  81: 'vmtp',
  88: 'eigrp',
  89: 'ospf',
  93: 'ax.25',
  94: 'ipip',
  97: 'etherip',
  98: 'encap',
  103: 'pim',
  108: 'ipcomp',
  112: 'vrrp',
  115: 'l2tp',
  124: 'isis',
  132: 'sctp',
  133: 'fc',
  135: 'mobility-header',
  136: 'udplite',
  137: 'mpls-in-ip',
  138: 'manet',
  139: 'hip',
  140: 'shim6',
  141: 'wesp',
  142: 'rohc',
  143: 'ethernet',
  262: 'mptcp',
};

const XFRM_PROTO_NAMES: Record<number, string> = {
  50: 'esp',
  51: 'ah',
  108: 'comp',
  43: 'route2',
  60: 'hao',
  255: 'ipsec-any',
};
const MODE_NAMES: Record<number, string> = {
  0: 'transport',
  1: 'tunnel',
  2: 'ro',
  3: 'in_trigger',
  4: 'beet',
  5: 'iptfs',
};

/** rt_addr_n2a(): address text in the given family ("???" for families iproute2 does not print). */
export function addrText(family: number, addr: string): string {
  const b = addressBytes(addr);
  if (family === AF_INET) return formatIPv4(b, 0);
  if (family === AF_INET6) return formatIPv6(b, 0);
  return '???';
}

const hex = (n: number) => (n >>> 0).toString(16);
/** printf("%#x") */
const altHex = (n: number) => (n >>> 0 === 0 ? '0' : `0x${hex(n)}`);
const hex8 = (n: number) => hex(n).padStart(8, '0');

/** strxf_mask8(): the 8 bits of a flag byte, most significant first. */
const mask8 = (v: number) => (v & 0xff).toString(2).padStart(8, '0');

/** XFRM_FLAG_PRINT(): prints names of known bits, then the rest in hex. */
function flagList(flags: number, names: Array<[number, string]>): string {
  let out = '';
  let rest = flags;
  for (const [bit, name] of names) {
    if (rest & bit) {
      rest &= ~bit;
      out += `${name}${rest ? ' ' : ''}`;
    }
  }
  if (rest) out += hex(rest);
  return out;
}

function defaultTime(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

class Printer {
  out = '';
  constructor(readonly o: XfrmPrintOptions) {}
  w(s: string): void {
    this.out += s;
  }
  get s(): number {
    return this.o.stats;
  }
  time(t: bigint): string {
    return t === 0n ? '-' : (this.o.formatTime ?? defaultTime)(t);
  }
  proto(p: number): string {
    return (this.o.protoName ?? ((n) => PROTOCOLS[n]))(p) ?? String(p);
  }
  ifname(i: number): string {
    return this.o.ifname(i) ?? `if${i}`;
  }

  /** xfrm_id_info_print() */
  idInfo(
    saddr: string,
    id: { daddr: string; spi: number; proto: number },
    mode: number,
    reqid: number,
    family: number,
    forceSpi: boolean,
    prefix: string,
    title: string,
  ): void {
    this.w(title);
    this.w(`src ${addrText(family, saddr)} dst ${addrText(family, id.daddr)}\n`);
    this.w(`${prefix}\t`);
    this.w(`proto ${XFRM_PROTO_NAMES[id.proto] ?? String(id.proto)} `);
    if (this.s > 0 || forceSpi || id.spi) {
      this.w(`spi 0x${hex8(id.spi)}`);
      if (this.s > 0) this.w(`(${id.spi >>> 0})`);
      this.w(' ');
    }
    this.w(`reqid ${reqid >>> 0}`);
    if (this.s > 0) this.w(`(0x${hex8(reqid)})`);
    this.w(' ');
    this.w(`mode ${MODE_NAMES[mode] ?? String(mode)}\n`);
  }

  /** xfrm_selector_print() */
  selector(sel: XfrmSelector, family: number, prefix: string): void {
    let f = sel.family;
    if (f === 0) f = family;
    this.w(prefix);
    this.w(`src ${addrText(f, sel.saddr)}/${sel.prefixlenS} `);
    this.w(`dst ${addrText(f, sel.daddr)}/${sel.prefixlenD} `);
    if (sel.proto) this.w(`proto ${this.proto(sel.proto)} `);
    switch (sel.proto) {
      case 1:
      case 58:
        if (sel.sportMask) this.w(`type ${sel.sport} `);
        if (sel.dportMask) this.w(`code ${sel.dport} `);
        break;
      case 47:
        if (sel.sportMask || sel.dportMask) this.w(`key ${sel.sport * 65536 + sel.dport} `);
        break;
      case 135:
        if (sel.sportMask) this.w(`type ${sel.sport} `);
        // iproute2 prints the raw (network order) field here
        if (sel.dportMask && this.s > 0)
          this.w(
            `(dport) 0x${(((sel.dport & 0xff) << 8) | (sel.dport >> 8)).toString(16).padStart(4, '0')} `,
          );
        break;
      default:
        if (sel.sportMask) this.w(`sport ${sel.sport} `);
        if (sel.dportMask) this.w(`dport ${sel.dport} `);
    }
    if (sel.ifindex > 0) this.w(`dev ${this.ifname(sel.ifindex)} `);
    if (this.s > 0) this.w(`uid ${sel.user >>> 0}`);
    this.w('\n');
  }

  lifetime(cfg: XfrmLifetimeCfg | undefined, cur: XfrmLifetimeCur | undefined, prefix: string): void {
    const lim = (v: bigint) => (v === XFRM_INF ? '(INF)' : v.toString());
    if (cfg) {
      this.w(`${prefix}lifetime config:\n`);
      this.w(
        `${prefix}  limit: soft ${lim(cfg.softByteLimit)}(bytes), hard ${lim(cfg.hardByteLimit)}(bytes)\n`,
      );
      this.w(
        `${prefix}  limit: soft ${lim(cfg.softPacketLimit)}(packets), hard ${lim(cfg.hardPacketLimit)}(packets)\n`,
      );
      this.w(
        `${prefix}  expire add: soft ${cfg.softAddExpiresSeconds}(sec), hard ${cfg.hardAddExpiresSeconds}(sec)\n`,
      );
      this.w(
        `${prefix}  expire use: soft ${cfg.softUseExpiresSeconds}(sec), hard ${cfg.hardUseExpiresSeconds}(sec)\n`,
      );
    }
    if (cur) {
      this.w(`${prefix}lifetime current:\n`);
      this.w(`${prefix}  ${cur.bytes}(bytes), ${cur.packets}(packets)\n`);
      this.w(`${prefix}  add ${this.time(cur.addTime)} use ${this.time(cur.useTime)}\n`);
    }
  }

  stats(st: XfrmStats, prefix: string): void {
    this.w(`${prefix}stats:\n`);
    this.w(`${prefix}  replay-window ${st.replayWindow} replay ${st.replay} failed ${st.integrityFailed}\n`);
  }

  /** __xfrm_algo_print(); keys are printed as iproute2 does unless `nokeys` */
  algo(type: string, a: XfrmAlgo, prefix: string, newline: boolean): void {
    this.w(`${prefix}${type} ${a.name} `);
    if (this.o.nokeys) {
      this.w('<<Keys hidden>>');
    } else if (a.keyLen) {
      const keylen = Math.floor(a.keyLen / 8);
      this.w(`0x${Buffer.from(a.key.subarray(0, keylen)).toString('hex')}`);
      if (this.s > 0) this.w(` (${a.keyLen} bits)`);
    }
    if (newline) this.w('\n');
  }

  tmpls(tmpls: XfrmUserTmpl[], prefix: string): void {
    if (tmpls.length === 0) {
      this.w(`${prefix}(ERROR "tmpl" truncated)\n`);
      return;
    }
    for (const t of tmpls) {
      this.w(prefix);
      this.idInfo(t.saddr, t.id, t.mode, t.reqid, t.family, false, prefix, 'tmpl ');
      if (this.s > 0 || t.optional) {
        this.w(`${prefix}\t`);
        if (t.optional === 0) {
          if (this.s > 0) this.w('level required ');
        } else if (t.optional === 1) this.w('level use ');
        else this.w(`level ${t.optional} `);
        if (this.s > 0) this.w(`share ${shareName(t.share)} `);
        this.w('\n');
      }
      if (this.s > 0) {
        this.w(
          `${prefix}\tenc-mask ${hex8(t.ealgos)} auth-mask ${hex8(t.aalgos)} comp-mask ${hex8(t.calgos)}\n`,
        );
      }
    }
  }

  /** xfrm_xfrma_print(); `dir` = print the offload direction (states, not policies) */
  xfrma(attrs: Attr[], family: number, prefix: string, dir: boolean): void {
    const a = <T>(n: string) => getAttr<T>(attrs, n);
    const mark = a<XfrmMark>('MARK');
    if (mark) this.w(`\tmark ${altHex(mark.v)}/${altHex(mark.m)} `);
    const setMark = a<number>('SET_MARK');
    if (setMark !== undefined) {
      if (!mark) this.w(prefix);
      this.w(`output-mark 0x${hex(setMark)}`);
      const m = a<number>('SET_MARK_MASK');
      if (m !== undefined) this.w(`/0x${hex(m)}`);
    }
    if (mark || setMark !== undefined) this.w('\n');
    const auth = a<XfrmAlgo>('ALG_AUTH');
    const trunc = a<XfrmAlgoAuth>('ALG_AUTH_TRUNC');
    if (auth && !trunc) this.algo('auth', auth, prefix, true);
    if (trunc) {
      this.algo('auth-trunc', trunc, prefix, false);
      this.w(` ${trunc.truncLen}\n`);
    }
    const aead = a<XfrmAlgoAead>('ALG_AEAD');
    if (aead) {
      this.algo('aead', aead, prefix, false);
      this.w(` ${aead.icvLen}\n`);
    }
    const crypt = a<XfrmAlgo>('ALG_CRYPT');
    if (crypt) this.algo('enc', crypt, prefix, true);
    const comp = a<XfrmAlgo>('ALG_COMP');
    if (comp) this.algo('comp', comp, prefix, true);
    const encap = a<XfrmEncapTmpl>('ENCAP');
    if (encap) {
      const types: Record<number, string> = { 1: 'espinudp-nonike', 2: 'espinudp', 7: 'espintcp' };
      this.w(`${prefix}encap type ${types[encap.encapType] ?? String(encap.encapType)} `);
      this.w(`sport ${encap.encapSport} dport ${encap.encapDport} addr ${addrText(family, encap.encapOa)}\n`);
    }
    const tmpl = a<XfrmUserTmpl[]>('TMPL');
    if (tmpl) this.tmpls(tmpl, prefix);
    const coa = a<string>('COADDR');
    if (coa !== undefined) this.w(`${prefix}coa ${addrText(family, coa)}\n`);
    const lastused = a<bigint>('LASTUSED');
    if (lastused !== undefined) this.w(`${prefix}lastused ${this.time(lastused)}\n`);
    const replay = a<XfrmReplayState>('REPLAY_VAL');
    if (replay) {
      this.w(
        `${prefix}anti-replay context: seq 0x${hex(replay.seq)}, oseq 0x${hex(replay.oseq)}, bitmap 0x${hex8(replay.bitmap)}\n`,
      );
    }
    const esn = a<XfrmReplayStateEsn>('REPLAY_ESN_VAL');
    if (esn) {
      this.w(`${prefix}anti-replay esn context:\n`);
      this.w(
        `${prefix} seq-hi 0x${hex(esn.seqHi)}, seq 0x${hex(esn.seq)}, oseq-hi 0x${hex(esn.oseqHi)}, oseq 0x${hex(esn.oseq)}\n`,
      );
      this.w(`${prefix} replay_window ${esn.replayWindow >>> 0}, bitmap-length ${esn.bmpLen >>> 0}`);
      const bmp = esn.bmp ?? [];
      for (let i = esn.bmpLen, j = 0; i; i--) {
        if (j++ % 8 === 0) this.w(`\n${prefix} `);
        this.w(`${hex8(bmp[i - 1] ?? 0)} `);
      }
      this.w('\n');
    }
    const off = a<XfrmUserOffload>('OFFLOAD_DEV');
    if (off) {
      this.w(`${prefix}crypto offload parameters: `);
      const d = off.flags & 2 ? 'in' : 'out';
      if (this.o.persona === '6.1') {
        this.w(`dev ${this.ifname(off.ifindex)} dir ${d}`);
      } else {
        this.w(`dev ${this.ifname(off.ifindex)} `);
        if (dir) this.w(`dir ${d} `);
        this.w(`mode ${off.flags & 4 ? 'packet' : 'crypto'}`);
      }
      this.w('\n');
    }
    const ifId = a<number>('IF_ID');
    if (ifId !== undefined) this.w(`${prefix}if_id ${altHex(ifId)}\n`);
    const tfcpad = a<number>('TFCPAD');
    if (tfcpad !== undefined) this.w(`${prefix}tfcpad ${tfcpad}\n`);
    const saDir = a<number>('SA_DIR');
    if (saDir !== undefined && this.o.persona !== '6.1') {
      this.w(`\tdir ${saDir === 1 ? 'in' : saDir === 2 ? 'out' : `other (${saDir})`}\n`);
    }
  }

  /** xfrm_state_info_print() */
  stateInfo(x: XfrmUsersaInfo, attrs: Attr[], prefix: string, title: string): void {
    const forceSpi = x.id.proto === 50 || x.id.proto === 51 || x.id.proto === 108;
    this.idInfo(x.saddr, x.id, x.mode, x.reqid, x.family, forceSpi, prefix, title);
    const buf = `${prefix}\t`;
    this.w(buf);
    this.w(`replay-window ${x.replayWindow} `);
    if (this.s > 0) this.w(`seq 0x${String(x.seq >>> 0).padStart(8, '0')} `);
    if (this.s > 0 || x.flags) {
      this.w('flag ');
      this.w(
        flagList(x.flags, [
          [1, 'noecn'],
          [2, 'decap-dscp'],
          [4, 'nopmtudisc'],
          [8, 'wildrecv'],
          [16, 'icmp'],
          [32, 'af-unspec'],
          [64, 'align4'],
          [128, 'esn'],
        ]),
      );
    }
    const extra = getAttr<number>(attrs, 'SA_EXTRA_FLAGS');
    if (this.s > 0 && extra !== undefined) {
      this.w('extra_flag ');
      this.w(
        flagList(extra, [
          [1, 'dont-encap-dscp'],
          [2, 'oseq-may-wrap'],
        ]),
      );
    }
    if (this.s > 0) this.w(` (0x${mask8(x.flags)})`);
    this.w('\n');
    this.xfrma(attrs, x.family, buf, true);
    if (!selectorIsZero(x.sel)) this.selector(x.sel, x.family, `${buf}sel `);
    if (this.s > 0) {
      this.lifetime(x.lft, x.curlft, buf);
      this.stats(x.stats, buf);
    }
    const ctx = getAttr<XfrmUserSecCtx>(attrs, 'SEC_CTX');
    if (ctx) this.w(`\tsecurity context ${ctxText(ctx)} \n`);
  }

  /** xfrm_policy_info_print() */
  policyInfo(p: XfrmUserpolicyInfo, attrs: Attr[], prefix: string, title: string): void {
    this.selector(p.sel, 0, title);
    const ctx = getAttr<XfrmUserSecCtx>(attrs, 'SEC_CTX');
    if (ctx) this.w(`\tsecurity context ${ctxText(ctx)} \n`);
    const buf = `${prefix}\t`;
    this.w(buf);
    let dir = p.dir;
    if (dir >= XFRM_POLICY_MAX) {
      dir -= XFRM_POLICY_MAX;
      this.w('socket ');
    } else this.w('dir ');
    this.w(`${(['in', 'out', 'fwd'] as const)[dir] ?? String(dir)} `);
    if (p.action === 0) {
      if (this.s > 0) this.w('action allow ');
    } else if (p.action === 1) this.w('action block ');
    else this.w(`action ${p.action} `);
    if (this.s) this.w(`index ${p.index >>> 0} `);
    this.w(`priority ${p.priority >>> 0} `);
    const pt = getAttr<{ type: number }>(attrs, 'POLICY_TYPE');
    if (pt) this.w(`ptype ${pt.type === 0 ? 'main' : pt.type === 1 ? 'sub' : String(pt.type)} `);
    if (this.s > 0) this.w(`share ${shareName(p.share)} `);
    if (this.s > 0 || p.flags) {
      this.w('flag ');
      this.w(
        flagList(p.flags, [
          [1, 'localok'],
          [2, 'icmp'],
        ]),
      );
    }
    if (this.s > 0) this.w(` (0x${mask8(p.flags)})`);
    this.w('\n');
    if (this.s > 0) this.lifetime(p.lft, p.curlft, buf);
    this.xfrma(attrs, p.sel.family, buf, false);
  }
}

function shareName(s: number): string {
  return (['any', 'session', 'user', 'unique'] as const)[s] ?? String(s);
}

function ctxText(c: XfrmUserSecCtx): string {
  const b = Buffer.from(c.ctx);
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

function selectorIsZero(s: XfrmSelector): boolean {
  const zeroAddr = (x: string) => addressBytes(x).every((v) => v === 0);
  return (
    zeroAddr(s.saddr) &&
    zeroAddr(s.daddr) &&
    !s.dport &&
    !s.dportMask &&
    !s.sport &&
    !s.sportMask &&
    !s.family &&
    !s.prefixlenD &&
    !s.prefixlenS &&
    !s.proto &&
    !s.ifindex &&
    !s.user &&
    !(s.pad ?? []).some((v) => v !== 0)
  );
}

/** The SA carried by a state message (NEWSA/UPDSA body, DELSA's XFRMA_SA, EXPIRE's state). */
export function stateOf(m: XfrmMessage): XfrmUsersaInfo | undefined {
  if (m.type === XFRM_MSG.NEWSA || m.type === XFRM_MSG.UPDSA) return m.body as XfrmUsersaInfo;
  if (m.type === XFRM_MSG.EXPIRE) return (m.body as { state: XfrmUsersaInfo }).state;
  if (m.type === XFRM_MSG.DELSA) return getAttr<XfrmUsersaInfo>(m.attrs, 'SA');
  return undefined;
}

/** The policy carried by a policy message. */
export function policyOf(m: XfrmMessage): XfrmUserpolicyInfo | undefined {
  if (m.type === XFRM_MSG.NEWPOLICY || m.type === XFRM_MSG.UPDPOLICY) return m.body as XfrmUserpolicyInfo;
  if (m.type === XFRM_MSG.POLEXPIRE) return (m.body as { pol: XfrmUserpolicyInfo }).pol;
  if (m.type === XFRM_MSG.DELPOLICY) return getAttr<XfrmUserpolicyInfo>(m.attrs, 'POLICY');
  return undefined;
}

/** xfrm_state_print(): one SA (list/get entry or notification) with its Deleted/Updated/Expired prefix. */
export function printState(m: XfrmMessage, o: XfrmPrintOptions): string {
  const x = stateOf(m);
  if (!x) throw new Error(`Not a state: message type 0x${m.type.toString(16)}`);
  const p = new Printer(o);
  if (m.type === XFRM_MSG.DELSA) p.w('Deleted ');
  else if (m.type === XFRM_MSG.UPDSA) p.w('Updated ');
  else if (m.type === XFRM_MSG.EXPIRE) p.w('Expired ');
  p.stateInfo(x, m.attrs, '', '');
  if (m.type === XFRM_MSG.EXPIRE) p.w(`\thard ${(m.body as { hard: number }).hard}\n`);
  return p.out;
}

/** xfrm_policy_print() */
export function printPolicy(m: XfrmMessage, o: XfrmPrintOptions): string {
  const x = policyOf(m);
  if (!x) throw new Error(`Not a policy: message type 0x${m.type.toString(16)}`);
  const p = new Printer(o);
  if (m.type === XFRM_MSG.DELPOLICY) p.w('Deleted ');
  else if (m.type === XFRM_MSG.UPDPOLICY) p.w('Updated ');
  else if (m.type === XFRM_MSG.POLEXPIRE) p.w('Expired ');
  p.policyInfo(x, m.attrs, '', '');
  if (m.type === XFRM_MSG.POLEXPIRE) p.w(`\thard ${(m.body as { hard: number }).hard}\n`);
  return p.out;
}

/** print_sadinfo() (`ip xfrm state count`) */
export function printSadInfo(m: XfrmMessage, o: XfrmPrintOptions): string {
  let s = '\t SAD';
  const cnt = getAttr<number>(m.attrs, 'SAD_CNT');
  if (cnt !== undefined) s += ` count ${cnt >>> 0}`;
  const h = getAttr<{ sadhcnt: number; sadhmcnt: number }>(m.attrs, 'SAD_HINFO');
  if (o.stats && h) s += ` (buckets count ${h.sadhcnt | 0} Max ${h.sadhmcnt | 0})`;
  return `${s}\n`;
}

/** print_spdinfo() (`ip xfrm policy count`) */
export function printSpdInfo(m: XfrmMessage, o: XfrmPrintOptions): string {
  let s = '\t SPD';
  const si = getAttr<{
    incnt: number;
    outcnt: number;
    fwdcnt: number;
    inscnt: number;
    outscnt: number;
    fwdscnt: number;
  }>(m.attrs, 'SPD_INFO');
  if (si) {
    s += ` IN  ${si.incnt | 0} OUT ${si.outcnt | 0} FWD ${si.fwdcnt | 0}`;
    if (o.stats) s += ` (Sock: IN ${si.inscnt | 0} OUT ${si.outscnt | 0} FWD ${si.fwdscnt | 0})`;
    s += '\n';
  }
  if (o.stats > 1) {
    const h = getAttr<{ spdhcnt: number; spdhmcnt: number }>(m.attrs, 'SPD_HINFO');
    if (h) s += `\t SPD buckets: count ${h.spdhcnt | 0} Max ${h.spdhmcnt | 0}\n`;
    const t4 = getAttr<{ lbits: number; rbits: number }>(m.attrs, 'SPD_IPV4_HTHRESH');
    if (t4) s += `\t SPD IPv4 thresholds: local ${t4.lbits} remote ${t4.rbits}\n`;
    const t6 = getAttr<{ lbits: number; rbits: number }>(m.attrs, 'SPD_IPV6_HTHRESH');
    if (t6) s += `\t SPD IPv6 thresholds: local ${t6.lbits} remote ${t6.rbits}\n`;
  }
  return s;
}

/** xfrm_policy_default_print() (`ip xfrm policy getdefault`, monitor) */
export function printPolicyDefault(m: XfrmMessage): string {
  const d = m.body as XfrmUserpolicyDefault;
  const name = (v: number) => (v === 1 ? 'block' : v === 2 ? 'accept' : 'unspec');
  return `Default policies:\n in:  ${name(d.in)}\n fwd: ${name(d.fwd)}\n out: ${name(d.out)}\n`;
}

/** xfrm_accept_msg() of `ip xfrm monitor`: one notification as text. */
export function printMonitorMessage(m: XfrmMessage, o: XfrmPrintOptions): string {
  switch (m.type) {
    case XFRM_MSG.NEWSA:
    case XFRM_MSG.DELSA:
    case XFRM_MSG.UPDSA:
    case XFRM_MSG.EXPIRE:
      return printState(m, o);
    case XFRM_MSG.NEWPOLICY:
    case XFRM_MSG.DELPOLICY:
    case XFRM_MSG.UPDPOLICY:
    case XFRM_MSG.POLEXPIRE:
      return printPolicy(m, o);
    case XFRM_MSG.ACQUIRE:
      return printAcquire(m, o);
    case XFRM_MSG.FLUSHSA: {
      const proto = (m.body as { proto: number }).proto;
      return `Flushed state proto ${XFRM_PROTO_NAMES[proto] ?? String(proto)}\n`;
    }
    case XFRM_MSG.FLUSHPOLICY: {
      const pt = getAttr<{ type: number }>(m.attrs, 'POLICY_TYPE');
      return `Flushed policy ${pt ? `ptype ${pt.type === 0 ? 'main' : pt.type === 1 ? 'sub' : String(pt.type)} ` : ''}\n`;
    }
    case XFRM_MSG.NEWAE:
      return printAe(m);
    case XFRM_MSG.MAPPING:
      return printMapping(m);
    case XFRM_MSG.REPORT:
      return printReport(m, o);
    case XFRM_MSG.GETDEFAULT:
      return printPolicyDefault(m);
    default:
      return '';
  }
}

function printAcquire(m: XfrmMessage, o: XfrmPrintOptions): string {
  const x = m.body as {
    id: { daddr: string; spi: number; proto: number };
    sel: XfrmSelector;
    policy: XfrmUserpolicyInfo;
    aalgos: number;
    ealgos: number;
    calgos: number;
    seq: number;
  };
  const p = new Printer(o);
  let family = x.sel.family;
  if (family === 0) family = x.policy.sel.family;
  p.w(`acquire proto ${XFRM_PROTO_NAMES[x.id.proto] ?? String(x.id.proto)} `);
  if (o.stats > 0 || x.id.spi) {
    p.w(`spi 0x${hex8(x.id.spi)}`);
    if (o.stats > 0) p.w(`(${x.id.spi >>> 0})`);
    p.w(' ');
  }
  p.w('\n');
  p.selector(x.sel, family, '  sel ');
  p.policyInfo(x.policy, m.attrs, '    ', '  policy ');
  if (o.stats > 0) {
    p.w(`  seq 0x${String(x.seq >>> 0).padStart(8, '0')} `);
    p.w(`enc-mask ${hex8(x.ealgos)} auth-mask ${hex8(x.aalgos)} comp-mask ${hex8(x.calgos)}`);
  }
  p.w('\n');
  return p.out;
}

function usersaText(
  id: { daddr: string; spi: number; family: number; proto: number },
  reqid: number,
  o?: XfrmPrintOptions,
): string {
  const proto = (o?.protoName ?? ((n: number) => PROTOCOLS[n]))(id.proto) ?? String(id.proto);
  return `dst ${addrText(id.family, id.daddr)}  reqid 0x${hex(reqid)} protocol ${proto}  SPI 0x${hex(id.spi)}`;
}

function printAe(m: XfrmMessage): string {
  const id = m.body as {
    saId: { daddr: string; spi: number; family: number; proto: number };
    saddr: string;
    flags: number;
    reqid: number;
  };
  let s = `Async event  (0x${hex(id.flags)}) `;
  if (id.flags & 16) s += ' replay update ';
  if (id.flags & 32) s += ' timer expired ';
  if (id.flags & 64) s += ' policy updated ';
  s += `\n\tsrc ${addrText(id.saId.family, id.saddr)} ${usersaText(id.saId, id.reqid)}\n`;
  return s;
}

function printMapping(m: XfrmMessage): string {
  const x = m.body as {
    id: { daddr: string; spi: number; family: number; proto: number };
    reqid: number;
    oldSaddr: string;
    newSaddr: string;
    oldSport: number;
    newSport: number;
  };
  const f = x.id.family;
  return `Mapping change ${addrText(f, x.oldSaddr)}:${x.oldSport} -> ${addrText(f, x.newSaddr)}:${x.newSport}\n\t${usersaText(x.id, x.reqid)}\n`;
}

function printReport(m: XfrmMessage, o: XfrmPrintOptions): string {
  const x = m.body as { proto: number; sel: XfrmSelector };
  const p = new Printer(o);
  p.w(`report proto ${XFRM_PROTO_NAMES[x.proto] ?? String(x.proto)} \n`);
  p.selector(x.sel, x.sel.family, '  sel ');
  p.xfrma(m.attrs, x.sel.family, '  ', false);
  return p.out;
}

// ---------------------------------------------------------------- client-side filters

/** xfrm_addr_match(): the first `bits` bits of two addresses are equal. */
function addrMatch(a: string, b: string, bits: number): boolean {
  const x = addressBytes(a);
  const y = addressBytes(b);
  const bytes = bits >> 3;
  for (let i = 0; i < bytes; i++) if (x[i] !== y[i]) return false;
  const rest = bits & 7;
  if (rest) {
    const mask = (0xff << (8 - rest)) & 0xff;
    if ((x[bytes]! & mask) !== (y[bytes]! & mask)) return false;
  }
  return true;
}

/** xfrm_state_filter_match() */
export function stateMatches(x: XfrmUsersaInfo, f: XfrmListFilter): boolean {
  if (f.saddr?.bitlen && !addrMatch(x.saddr, f.saddr.addr, f.saddr.bitlen)) return false;
  if (f.daddr?.bitlen && !addrMatch(x.id.daddr, f.daddr.addr, f.daddr.bitlen)) return false;
  if (f.proto !== undefined && x.id.proto !== f.proto) return false;
  if (f.spi !== undefined && x.id.spi >>> 0 !== f.spi >>> 0) return false;
  if (f.mode !== undefined && x.mode !== f.mode) return false;
  if (f.reqid !== undefined && x.reqid >>> 0 !== f.reqid >>> 0) return false;
  if (f.stateFlags !== undefined && (x.flags & f.stateFlags) === 0) return false;
  return true;
}

/** xfrm_policy_filter_match(); `ptype` from XFRMA_POLICY_TYPE (main when absent) */
export function policyMatches(p: XfrmUserpolicyInfo, ptype: number, f: XfrmListFilter): boolean {
  const sel = f.sel;
  if (sel?.family && sel.family !== p.sel.family) return false;
  if (f.dir !== undefined && p.dir !== f.dir) return false;
  if (f.ptype !== undefined && ptype !== f.ptype) return false;
  if (sel) {
    if (sel.prefixlenS && !addrMatch(p.sel.saddr, sel.saddr, sel.prefixlenS)) return false;
    if (sel.prefixlenD && !addrMatch(p.sel.daddr, sel.daddr, sel.prefixlenD)) return false;
    if (sel.ifindex && p.sel.ifindex !== sel.ifindex) return false;
    if (sel.proto && p.sel.proto !== sel.proto) return false;
    if (sel.sportMask && p.sel.sport !== sel.sport) return false;
    if (sel.dportMask && p.sel.dport !== sel.dport) return false;
  }
  if (f.index !== undefined && p.index >>> 0 !== f.index >>> 0) return false;
  if (f.action !== undefined && p.action !== f.action) return false;
  if (f.priority !== undefined && p.priority >>> 0 !== f.priority >>> 0) return false;
  return true;
}
