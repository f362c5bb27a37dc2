/**
 * `xfrmkit swanctl plan`: what charon's kernel-netlink plugin would install for each CHILD_SA of a
 * swanctl.conf, and where the hw_offload ladder (`hwOffloadLadder`, @xfrmkit/core) ends up on a
 * device profile.
 *
 * Per CHILD_SA (one local/remote traffic-selector pair each, as charon installs them):
 *   - two SAs: outbound (local → remote, SPI chosen by the peer) and inbound (remote → local, SPI
 *     from ALLOCSPI); AEAD/cipher from the first ESP proposal; XFRM_STATE_ESN when it says `esn`;
 *     transport mode puts the traffic selectors' addresses on the SA selector (charon 5.9.8 leaves
 *     proto/ports off it — observed with two real charons against the simulator); the outbound SA
 *     of an ESN CHILD_SA gets replay window 1, the inbound 32;
 *   - policies: out and in, plus fwd for tunnel mode (charon adds no FWD policy in transport mode);
 *   - lifetimes as charon writes them, with the seed's packet-offload limits: `rekey_bytes` makes
 *     the offloaded SA fail, `rekey_time`/`reauth_time` are ignored, `rekey_packets` is used.
 */
import {
  AF_INET,
  AF_INET6,
  type ChildLifetimes,
  charonLifetime,
  type DeviceProfile,
  defaultDeviceState,
  getProfile,
  type HwOffloadSetting,
  hwOffloadLadder,
  IPPROTO,
  infiniteLifetime,
  type LadderResult,
  userTmpl,
  XFRM_MODE,
  XFRM_POLICY_DIR,
  XFRM_SA_DIR,
  XFRM_STATE_FLAG,
  type XfrmPolicy,
  type XfrmSelector,
  type XfrmState,
} from '@xfrmkit/core';
import type { SettingsSection } from './settings.ts';

export class PlanError extends Error {
  override readonly name = 'PlanError';
}

// ---- values -----------------------------------------------------------------------------------------

/** swanctl time values: plain seconds or with s/m/h/d. */
export function parseTime(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d+)\s*([smhd]?)$/.exec(v.trim());
  if (!m) throw new PlanError(`bad time value "${v}"`);
  const mul = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mul;
}

/** swanctl byte/packet counts: plain or with k/m/g (binary multiples, as strongSwan's settings). */
export function parseCount(v: string | undefined): bigint | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d+)\s*([kKmMgG]?)$/.exec(v.trim());
  if (!m) throw new PlanError(`bad count value "${v}"`);
  const mul = { '': 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n }[
    (m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'
  ];
  return BigInt(m[1]!) * mul;
}

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

// ---- ESP proposals ----------------------------------------------------------------------------------

export interface EspTransform {
  aead?: { name: string; keyBits: number; icvBits: number };
  crypt?: { name: string; keyBits: number };
  auth?: { name: string; keyBits: number; truncBits: number };
  esn: boolean;
  /** DH group for PFS on rekeying (not part of the SAs) */
  dh?: string;
  proposal: string;
}

const INTEG: Record<string, { name: string; keyBits: number; truncBits: number }> = {
  sha1: { name: 'hmac(sha1)', keyBits: 160, truncBits: 96 },
  sha256: { name: 'hmac(sha256)', keyBits: 256, truncBits: 128 },
  sha384: { name: 'hmac(sha384)', keyBits: 384, truncBits: 192 },
  sha512: { name: 'hmac(sha512)', keyBits: 512, truncBits: 256 },
};
const DH = /^(modp\d+|ecp\d+|ecp\d+bp|x25519|x448|curve25519|curve448)$/;

/** The first proposal of an esp_proposals list, as the kernel algorithms charon would use. */
export function parseEspProposal(value: string | undefined): EspTransform {
  const first = list(value ?? 'default')[0] ?? 'default';
  // strongSwan's default ESP proposal starts with AES-GCM-16 (AEAD) without ESN
  const p = first === 'default' ? 'aes128gcm16' : first;
  const t: EspTransform = { esn: false, proposal: p };
  let esnSeen = false;
  for (const tok of p.split('-')) {
    const gcm = /^aes(128|192|256)gcm(8|12|16|64|96|128)?$/.exec(tok);
    const ccm = /^aes(128|192|256)ccm(8|12|16|64|96|128)?$/.exec(tok);
    const cbc = /^aes(128|192|256)?$/.exec(tok);
    if (gcm || ccm) {
      const m = (gcm ?? ccm)!;
      const icvRaw = Number(m[2] ?? 16);
      const icvBits = icvRaw <= 16 ? icvRaw * 8 : icvRaw;
      // key material = key + 4-byte salt (GCM) / 3-byte salt (CCM)
      t.aead = gcm
        ? { name: 'rfc4106(gcm(aes))', keyBits: Number(m[1]) + 32, icvBits }
        : { name: 'rfc4309(ccm(aes))', keyBits: Number(m[1]) + 24, icvBits };
    } else if (tok === 'chacha20poly1305') {
      t.aead = { name: 'rfc7539esp(chacha20,poly1305)', keyBits: 288, icvBits: 128 };
    } else if (cbc) {
      t.crypt = { name: 'cbc(aes)', keyBits: Number(cbc[1] ?? 128) };
    } else if (INTEG[tok]) {
      t.auth = INTEG[tok];
    } else if (tok === 'esn' || tok === 'noesn') {
      if (!esnSeen) t.esn = tok === 'esn';
      esnSeen = true;
    } else if (DH.test(tok)) {
      t.dh ??= tok;
    } else {
      throw new PlanError(`unsupported ESP algorithm "${tok}" in "${p}"`);
    }
  }
  if (!t.aead && !t.crypt) throw new PlanError(`ESP proposal "${p}" has no encryption algorithm`);
  if (t.crypt && !t.auth) throw new PlanError(`ESP proposal "${p}" needs an integrity algorithm`);
  return t;
}

// ---- traffic selectors --------------------------------------------------------------------------------

export interface TrafficSelector {
  family: number;
  addr: string;
  prefix: number;
  proto: number;
  /** single port or 0 (any); ranges are reported as their start with a mask of 0 */
  port: number;
  text: string;
}

const PROTOS: Record<string, number> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  sctp: 132,
  gre: 47,
  esp: 50,
  ipv6icmp: 58,
};

function familyOf(addr: string): number {
  return addr.includes(':') ? AF_INET6 : AF_INET;
}

export function parseTs(text: string, dynamicAddr: string): TrafficSelector {
  const m = /^([^[\]]+)(?:\[([^\]]*)\])?$/.exec(text.trim());
  if (!m) throw new PlanError(`bad traffic selector "${text}"`);
  let net = m[1]!.trim();
  if (net === 'dynamic')
    net = dynamicAddr.includes('/')
      ? dynamicAddr
      : `${dynamicAddr}/${familyOf(dynamicAddr) === AF_INET ? 32 : 128}`;
  if (net.includes('-') && !net.includes('/'))
    throw new PlanError(`address ranges are not supported ("${net}")`);
  const [addr, pfx] = net.split('/');
  const family = familyOf(addr!);
  const prefix = pfx === undefined ? (family === AF_INET ? 32 : 128) : Number(pfx);
  let proto = 0;
  let port = 0;
  if (m[2] !== undefined) {
    const [p, prt] = m[2].split('/');
    if (p && p !== '%any') {
      const n = /^\d+$/.test(p) ? Number(p) : PROTOS[p.toLowerCase()];
      if (n === undefined) throw new PlanError(`unknown protocol "${p}" in "${text}"`);
      proto = n;
    }
    if (prt && prt !== '%any') {
      const r = /^(\d+)(?:-(\d+))?$/.exec(prt);
      if (!r) throw new PlanError(`bad port "${prt}" in "${text}"`);
      port = Number(r[1]);
    }
  }
  return { family, addr: addr!, prefix, proto, port, text: text.trim() };
}

function selector(src: TrafficSelector, dst: TrafficSelector): XfrmSelector {
  const proto = src.proto || dst.proto;
  return {
    daddr: dst.addr,
    saddr: src.addr,
    dport: dst.port,
    dportMask: dst.port ? 0xffff : 0,
    sport: src.port,
    sportMask: src.port ? 0xffff : 0,
    family: src.family,
    prefixlenD: dst.prefix,
    prefixlenS: src.prefix,
    proto,
    ifindex: 0,
    user: 0,
  };
}

// ---- plan ---------------------------------------------------------------------------------------------

export interface PlannedSa {
  dir: 'in' | 'out';
  state: XfrmState;
  ladder: LadderResult;
}

export interface PlannedPolicy {
  dir: 'in' | 'out' | 'fwd';
  policy: XfrmPolicy;
  /** where the ladder put this policy */
  outcome: string;
}

export interface ChildPlan {
  connection: string;
  child: string;
  local: string;
  remote: string;
  mode: 'transport' | 'tunnel';
  hwOffload: HwOffloadSetting;
  esp: EspTransform;
  localTs: TrafficSelector;
  remoteTs: TrafficSelector;
  lifetimes: ChildLifetimes;
  sas: PlannedSa[];
  policies: PlannedPolicy[];
  notes: string[];
}

export interface Plan {
  profile: DeviceProfile;
  children: ChildPlan[];
  /** ids of the IKE secrets found (values never shown) */
  secrets: { name: string; type: string; ids: string[] }[];
  warnings: string[];
}

const SETTINGS: HwOffloadSetting[] = ['no', 'yes', 'crypto', 'packet', 'auto', 'full'];

function policy(
  dir: number,
  sel: XfrmSelector,
  tmplSrc: string,
  tmplDst: string,
  reqid: number,
  mode: number,
): XfrmPolicy {
  const tunnel = mode !== XFRM_MODE.TRANSPORT;
  const any = sel.family === AF_INET ? '0.0.0.0' : '::';
  return {
    info: {
      sel,
      lft: infiniteLifetime(),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      priority: 0,
      index: 0,
      dir,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [
      userTmpl({
        // charon puts the tunnel endpoints into the template only for tunnel/BEET mode
        id: { daddr: tunnel ? tmplDst : any, spi: 0, proto: IPPROTO.ESP },
        family: sel.family,
        saddr: tunnel ? tmplSrc : any,
        reqid,
        mode,
      }),
    ],
  };
}

function sa(
  dir: 'in' | 'out',
  src: string,
  dst: string,
  reqid: number,
  mode: number,
  esp: EspTransform,
  sel: XfrmSelector | undefined,
  lft: ChildLifetimes,
): XfrmState {
  const family = familyOf(src);
  const any = family === AF_INET ? '0.0.0.0' : '::';
  const st: XfrmState = {
    info: {
      sel: sel ?? {
        daddr: any,
        saddr: any,
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
      },
      id: { daddr: dst, spi: 0, proto: IPPROTO.ESP },
      saddr: src,
      lft: charonLifetime(lft, false),
      curlft: { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n },
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      seq: 0,
      reqid,
      family,
      mode,
      replayWindow: 0,
      flags: esp.esn ? XFRM_STATE_FLAG.ESN : 0,
    },
    dir: dir === 'in' ? XFRM_SA_DIR.IN : XFRM_SA_DIR.OUT,
  };
  if (esp.aead)
    st.aead = {
      name: esp.aead.name,
      keyLen: esp.aead.keyBits,
      key: new Uint8Array(esp.aead.keyBits / 8),
      icvLen: esp.aead.icvBits,
    };
  if (esp.crypt)
    st.crypt = {
      name: esp.crypt.name,
      keyLen: esp.crypt.keyBits,
      key: new Uint8Array(esp.crypt.keyBits / 8),
    };
  if (esp.auth)
    st.authTrunc = {
      name: esp.auth.name,
      keyLen: esp.auth.keyBits,
      truncLen: esp.auth.truncBits,
      key: new Uint8Array(esp.auth.keyBits / 8),
    };
  if (esp.esn)
    st.replayEsn = {
      bmpLen: 1,
      oseq: 0,
      seq: 0,
      oseqHi: 0,
      seqHi: 0,
      replayWindow: dir === 'out' ? 1 : 32,
      bmp: [0],
    };
  return st;
}

export interface PlanOptions {
  profile?: string;
  /** ifindex of the offload netdev (default: the simulator's p0 on that profile, 2) */
  ifindex?: number;
}

export function planSwanctl(root: SettingsSection, opts: PlanOptions = {}): Plan {
  const profile = getProfile(opts.profile ?? 'bf3');
  const state = defaultDeviceState(profile, { ifindex: opts.ifindex ?? 2 });
  const plan: Plan = { profile, children: [], secrets: [], warnings: [] };
  const conns = root.sections.get('connections');
  if (!conns || conns.sections.size === 0) plan.warnings.push('no connections { } section');
  let nextReqid = 1;
  for (const [cname, conn] of conns?.sections ?? []) {
    const local = list(conn.settings.get('local_addrs'))[0];
    const remote = list(conn.settings.get('remote_addrs'))[0];
    if (!local || !remote || local === '%any' || remote === '%any')
      throw new PlanError(
        `connection ${cname}: local_addrs and remote_addrs must name addresses to plan SAs`,
      );
    for (const side of ['local', 'remote']) {
      const auth = [...conn.sections.entries()].filter(([n]) => n === side || n.startsWith(`${side}-`));
      if (auth.length === 0) plan.warnings.push(`connection ${cname}: no ${side} { auth = … } section`);
    }
    const children = conn.sections.get('children');
    if (!children || children.sections.size === 0) plan.warnings.push(`connection ${cname}: no children`);
    for (const [chname, ch] of children?.sections ?? []) {
      const g = (k: string) => ch.settings.get(k);
      const modeName = g('mode') ?? 'tunnel';
      if (modeName !== 'transport' && modeName !== 'tunnel')
        throw new PlanError(`${cname}.${chname}: mode = ${modeName} is not planned (transport or tunnel)`);
      const mode = modeName === 'transport' ? XFRM_MODE.TRANSPORT : XFRM_MODE.TUNNEL;
      const hw = (g('hw_offload') ?? 'no') as HwOffloadSetting;
      if (!SETTINGS.includes(hw)) throw new PlanError(`${cname}.${chname}: hw_offload = ${hw} is unknown`);
      const esp = parseEspProposal(g('esp_proposals'));
      const lts = list(g('local_ts') ?? 'dynamic');
      const rts = list(g('remote_ts') ?? 'dynamic');
      const notes: string[] = [];
      if (lts.length > 1 || rts.length > 1)
        notes.push(`several traffic selectors: planned for the first pair (${lts[0]} === ${rts[0]})`);
      const localTs = parseTs(lts[0]!, local);
      const remoteTs = parseTs(rts[0]!, remote);
      const lifetimes: ChildLifetimes = {};
      const rekeyTime = parseTime(g('rekey_time')) ?? 3600;
      if (rekeyTime) lifetimes.rekeyTime = rekeyTime;
      const lifeTime = parseTime(g('life_time'));
      if (lifeTime) lifetimes.lifeTime = lifeTime;
      const reauth = parseTime(conn.settings.get('reauth_time'));
      if (reauth) lifetimes.reauthTime = reauth;
      const rb = parseCount(g('rekey_bytes'));
      if (rb) lifetimes.rekeyBytes = rb;
      const lb = parseCount(g('life_bytes'));
      if (lb) lifetimes.lifeBytes = lb;
      const rp = parseCount(g('rekey_packets'));
      if (rp) lifetimes.rekeyPackets = rp;
      const lp = parseCount(g('life_packets'));
      if (lp) lifetimes.lifePackets = lp;
      const reqid = g('reqid') && g('reqid') !== '0' ? Number(g('reqid')) : nextReqid++;
      if (!g('reqid')) notes.push(`reqid ${reqid} assumes charon allocates reqids in this order`);

      const addrOnly = (a: TrafficSelector): TrafficSelector => ({ ...a, proto: 0, port: 0 });
      const outSel =
        mode === XFRM_MODE.TRANSPORT ? selector(addrOnly(localTs), addrOnly(remoteTs)) : undefined;
      const inSel =
        mode === XFRM_MODE.TRANSPORT ? selector(addrOnly(remoteTs), addrOnly(localTs)) : undefined;
      const pols: XfrmPolicy[] = [
        policy(XFRM_POLICY_DIR.OUT, selector(localTs, remoteTs), local, remote, reqid, mode),
        policy(XFRM_POLICY_DIR.IN, selector(remoteTs, localTs), remote, local, reqid, mode),
      ];
      if (mode !== XFRM_MODE.TRANSPORT)
        pols.push(policy(XFRM_POLICY_DIR.FWD, selector(remoteTs, localTs), remote, local, reqid, mode));
      const outSa = sa('out', local, remote, reqid, mode, esp, outSel, lifetimes);
      const inSa = sa('in', remote, local, reqid, mode, esp, inSel, lifetimes);
      const outL = hwOffloadLadder({
        setting: hw,
        sa: outSa,
        inbound: false,
        policies: pols,
        lifetimes,
        profile,
        state,
      });
      const inL = hwOffloadLadder({ setting: hw, sa: inSa, inbound: true, lifetimes, profile, state });
      const polOutcome = (dir: 'in' | 'out' | 'fwd'): string => {
        const steps = outL.steps.filter((s) => s.object === 'policy' && s.dir === dir);
        const last = steps[steps.length - 1];
        if (!last) return 'software';
        if (last.verdict.outcome === 'refused') return `failed (${last.verdict.errno ?? 'error'})`;
        return last.verdict.outcome === 'packet' ? 'packet' : 'software';
      };
      const dirName = (d: number) =>
        d === XFRM_POLICY_DIR.IN ? 'in' : d === XFRM_POLICY_DIR.OUT ? 'out' : 'fwd';
      plan.children.push({
        connection: cname,
        child: chname,
        local,
        remote,
        mode: modeName,
        hwOffload: hw,
        esp,
        localTs,
        remoteTs,
        lifetimes,
        sas: [
          { dir: 'out', state: withLft(outSa, outL, lifetimes), ladder: outL },
          { dir: 'in', state: withLft(inSa, inL, lifetimes), ladder: inL },
        ],
        policies: pols.map((p) => {
          const d = dirName(p.info.dir);
          return { dir: d, policy: p, outcome: polOutcome(d) };
        }),
        notes,
      });
    }
  }
  for (const [name, sec] of root.sections.get('secrets')?.sections ?? []) {
    const type =
      /^(ike|eap|xauth|ntlm|rsa|ecdsa|pkcs8|pkcs12|token|ppk|private)/.exec(name)?.[1] ?? 'unknown';
    const ids = [...sec.settings.entries()]
      .filter(([k]) => k === 'id' || k.startsWith('id-'))
      .map(([, v]) => v);
    plan.secrets.push({ name, type, ids });
  }
  return plan;
}

function withLft(st: XfrmState, l: LadderResult, lft: ChildLifetimes): XfrmState {
  return { ...st, info: { ...st.info, lft: charonLifetime(lft, l.sa === 'packet') } };
}

// ---- text -----------------------------------------------------------------------------------------------

const PROTO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PROTOS).map(([k, v]) => [v, k]),
);

function selText(s: XfrmSelector): string {
  let t = `src ${s.saddr}/${s.prefixlenS} dst ${s.daddr}/${s.prefixlenD}`;
  if (s.proto) t += ` proto ${PROTO_NAMES[s.proto] ?? s.proto}`;
  if (s.sport) t += ` sport ${s.sport}`;
  if (s.dport) t += ` dport ${s.dport}`;
  return t;
}

const inf = (v: bigint) => (v === 0xffff_ffff_ffff_ffffn ? 'inf' : String(v));

export function formatPlan(plan: Plan): string {
  const out: string[] = [];
  out.push(`profile ${plan.profile.id}`);
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  for (const c of plan.children) {
    out.push('');
    out.push(
      `${c.connection}.${c.child}: ${c.local} <-> ${c.remote}, mode ${c.mode}, hw_offload = ${c.hwOffload}`,
    );
    out.push(`  esp ${c.esp.proposal}${c.esp.dh ? ` (${c.esp.dh}: PFS on rekeying only)` : ''}`);
    for (const s of c.sas) {
      const i = s.state.info;
      out.push(
        `  SA ${s.dir.padEnd(3)} src ${i.saddr} dst ${i.id.daddr} proto esp spi ${s.dir === 'in' ? '<ALLOCSPI>' : '<peer>'} reqid ${i.reqid} mode ${c.mode}`,
      );
      if (s.state.aead)
        out.push(`         aead ${s.state.aead.name} ${s.state.aead.keyLen} icv ${s.state.aead.icvLen}`);
      if (s.state.crypt) out.push(`         enc ${s.state.crypt.name} ${s.state.crypt.keyLen}`);
      if (s.state.authTrunc)
        out.push(
          `         auth-trunc ${s.state.authTrunc.name} ${s.state.authTrunc.keyLen} ${s.state.authTrunc.truncLen}`,
        );
      if (i.flags & XFRM_STATE_FLAG.ESN)
        out.push(`         flag esn, replay-window ${s.state.replayEsn?.replayWindow ?? 0}`);
      if (i.sel.family) out.push(`         sel ${selText(i.sel)}`);
      const l = i.lft;
      out.push(
        `         lifetime: packets ${inf(l.softPacketLimit)}(soft)/${inf(l.hardPacketLimit)}(hard) bytes ${inf(l.softByteLimit)}(soft)/${inf(l.hardByteLimit)}(hard) add ${l.softAddExpiresSeconds}s(soft)/${l.hardAddExpiresSeconds}s(hard)`,
      );
      const attempts = s.ladder.steps
        .filter((x) => x.object === 'sa')
        .map((x) => `${x.attempt}→${x.verdict.outcome}${x.verdict.errno ? ` ${x.verdict.errno}` : ''}`);
      out.push(`         offload: ${s.ladder.sa}${attempts.length ? ` (${attempts.join(', ')})` : ''}`);
    }
    for (const p of c.policies) {
      const t = p.policy.tmpls[0]!;
      const spi = p.dir === 'out' ? ' spi <peer>' : '';
      out.push(
        `  policy ${p.dir.padEnd(3)} ${selText(p.policy.info.sel)} tmpl src ${t.saddr} dst ${t.id.daddr} proto esp${spi} reqid ${t.reqid} mode ${c.mode} — offload: ${p.outcome}`,
      );
    }
    const lt = c.sas[0]!.ladder.lifetimes;
    const failed = [...new Set([...lt.failed, ...c.sas[1]!.ladder.lifetimes.failed])];
    out.push(
      `  lifetimes: used ${lt.used.join(', ') || '-'}; ignored ${lt.ignored.join(', ') || '-'}; failed ${failed.join(', ') || '-'}`,
    );
    const ok =
      c.sas.every((s) => s.ladder.sa !== 'failed') &&
      c.policies.every((p) => !p.outcome.startsWith('failed'));
    out.push(
      `  outcome: ${ok ? `SAs ${c.sas.map((s) => `${s.dir} ${s.ladder.sa}`).join(', ')}; policies ${c.policies.map((p) => `${p.dir} ${p.outcome}`).join(', ')}` : 'CHILD_SA installation fails'}`,
    );
    for (const line of [...new Set([...c.sas[0]!.ladder.log, ...c.sas[1]!.ladder.log])])
      out.push(`  charon: ${line}`);
    for (const n of c.notes) out.push(`  note: ${n}`);
  }
  if (plan.secrets.length) {
    out.push('');
    for (const s of plan.secrets)
      out.push(`secret ${s.name} (${s.type})${s.ids.length ? ` ids ${s.ids.join(', ')}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}
