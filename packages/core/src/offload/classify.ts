/**
 * Offload classification: what the xfrm core + mlx5 driver do with an SA or policy that carries
 * XFRMA_OFFLOAD_DEV on a given device profile and state. Every check follows mlx5-ipsec.md §1.1–§3
 * and §9 (and xfrm-uapi.md §10) in kernel order; the first failing check wins.
 *
 * Outcomes: `packet` / `crypto` (offloaded), `software` (installed without offload — no request, or
 * a silent fallback), `refused` (the whole NEWSA/NEWPOLICY fails with errno + extack).
 */

import type { ErrnoName } from '../sad/xfrm-error.ts';
import { XfrmError } from '../sad/xfrm-error.ts';
import type { XfrmPolicy, XfrmState } from '../types/objects.ts';
import {
  AF_INET,
  AF_INET6,
  IPPROTO,
  XFRM_INF,
  XFRM_MODE,
  XFRM_OFFLOAD_FLAG,
  XFRM_POLICY_DIR,
  XFRM_POLICY_TYPE,
  XFRM_SA_DIR,
  XFRM_STATE_FLAG,
} from '../types/xfrm.ts';
import { type DeviceProfile, type DeviceState, deviceCaps, emptyCounts, MLX5_IPSEC_CAP } from './profiles.ts';

export type OffloadOutcome = 'packet' | 'crypto' | 'software' | 'refused';
export type OffloadStage = 'xfrm-core' | 'mlx5-validate' | 'mlx5-add' | 'mlx5-steering' | 'firmware';

export interface OffloadVerdict {
  outcome: OffloadOutcome;
  /** what was asked for. */
  requested: 'crypto' | 'packet' | 'none';
  /** refused: errno name. */
  errno?: ErrnoName;
  /** refused: the exact extack text, undefined when the kernel sets none. */
  extack?: string;
  /** OFED-era driver message (dmesg `netdev_info`), when the kernel passes no extack. */
  dmesg?: string;
  stage?: OffloadStage;
  /** id of the rule that decided (see RULES). */
  rule?: string;
  /** software: why the object is not offloaded. */
  reason?: string;
}

const MOD = 'mlx5_core: ';
const ESP_UDP = 2; // UDP_ENCAP_ESPINUDP
const AES_GCM_ICV16 = 'rfc4106(gcm(aes))';

/** Every decision rule, id → description (the table tests cover each one). */
export const RULES = {
  'core.state.flags': 'unknown bits in xfrm_user_offload.flags',
  'core.state.dir': 'INBOUND flag disagrees with XFRMA_SA_DIR',
  'core.state.ifid': 'inbound offload with if_id',
  'core.state.tfcpad': 'TFC padding',
  'core.state.noroute': 'ifindex unknown and no route to a device',
  'core.state.noops': 'device without xdo_dev_state_add',
  'core.state.type': 'no ESP offload type (not ESP or esp offload module missing)',
  'mlx5.state.noctx': 'netdev without IPsec context',
  'mlx5.state.auth': 'authentication algorithm present',
  'mlx5.state.ealgo': 'not AES-GCM ICV16',
  'mlx5.state.calgo': 'compression',
  'mlx5.state.esn': 'ESN without CAP_ESN',
  'mlx5.state.family': 'family not IPv4/IPv6',
  'mlx5.state.proto': 'not ESP',
  'mlx5.state.encap-cap': 'UDP encap without CAP_ESPINUDP',
  'mlx5.state.encap-type': 'encap type other than ESPINUDP',
  'mlx5.state.encap-packet': 'encap with crypto offload',
  'mlx5.state.encap-mode': 'encap in tunnel mode',
  'mlx5.state.aead': 'no AEAD',
  'mlx5.state.icv': 'ICV not 128 bits',
  'mlx5.state.key': 'key not 128/256 (+32 salt) bits',
  'mlx5.state.tfc': 'TFC padding (driver check)',
  'mlx5.state.geniv-null': 'no IV generator',
  'mlx5.state.geniv': 'IV generator not seqiv',
  'mlx5.state.sel-proto': 'selector upper protocol not TCP/UDP/any',
  'mlx5.state.mode': 'mode not transport/tunnel',
  'mlx5.state.crypto-cap': 'crypto offload without CAP_CRYPTO',
  'mlx5.state.packet-cap': 'packet offload without CAP_PACKET_OFFLOAD',
  'mlx5.state.tunnel-cap': 'packet tunnel without CAP_TUNNEL',
  'mlx5.state.replay': 'inbound packet replay window not 32/64/128/256',
  'mlx5.state.reqid': 'packet offload with reqid 0',
  'mlx5.state.bytes-order': 'soft byte limit >= hard',
  'mlx5.state.bytes-zero': 'zero byte limit',
  'mlx5.state.packets-order': 'soft packet limit >= hard',
  'mlx5.state.packets-zero': 'zero packet limit',
  'mlx5.state.block-ipsec': 'VF IPsec enabled through devlink',
  'mlx5.state.block-mode': 'eswitch busy / TC FDB flows',
  'mlx5.state.tunnel-encap': 'packet tunnel refused by eswitch encap settings',
  'mlx5.state.objects': 'IPsec objects / DEKs exhausted',
  'mlx5.state.tc': 'TC flower rules on the PF block IPsec',
  'mlx5.state.table-full': 'SA or status flow table full',
  'mlx5.state.duplicate': 'duplicate TX packet SA (same reqid + selector)',
  'fw.state.vf-tunnel': 'firmware refuses packet tunnel SA on a VF',
  'ofed.state.full-cap': 'full offload without device cap',
  'ofed.state.full-switchdev': 'full offload outside switchdev',
  'ofed.state.full-mode': 'full offload without devlink ipsec_mode full',
  'ofed.state.crypto-in-full': 'crypto offload while ipsec_mode full',
  'ofed.state.full-bytes': 'full offload with byte limits',
  'ofed.state.encap': 'encap or TFC padding (5.x core)',
  'core.policy.flags': 'policy offload flags not exactly PACKET',
  'core.policy.ifindex': 'policy offload device unknown',
  'core.policy.noops': 'device without xdo_dev_policy_add',
  'core.policy.dir': 'policy direction not in/out/fwd',
  'mlx5.policy.noctx': 'netdev without IPsec context',
  'mlx5.policy.type': 'non-main policy type',
  'mlx5.policy.tmpls': 'more than one template',
  'mlx5.policy.fwd': 'forward policy',
  'mlx5.policy.reqid0': 'reqid 0 wildcard policy',
  'mlx5.policy.sel-proto': 'selector upper protocol not TCP/UDP/any',
  'mlx5.policy.prio-cap': 'priority without CAP_PRIO',
  'mlx5.policy.prio-max': 'priority 0xffffffff',
  'mlx5.policy.packet-cap': 'no CAP_PACKET_OFFLOAD',
  'mlx5.policy.block-ipsec': 'VF IPsec enabled through devlink',
  'mlx5.policy.steering': 'flow steering refused (eswitch busy, TC, table full)',
} as const;

export type RuleId = keyof typeof RULES;

function refuse(
  rule: RuleId,
  errno: ErrnoName,
  stage: OffloadStage,
  extack?: string,
  requested: OffloadVerdict['requested'] = 'packet',
): OffloadVerdict {
  const v: OffloadVerdict = { outcome: 'refused', requested, errno, stage, rule };
  if (extack !== undefined) v.extack = extack;
  return v;
}

function software(requested: OffloadVerdict['requested'], reason: string, rule?: RuleId): OffloadVerdict {
  const v: OffloadVerdict = { outcome: 'software', requested, reason };
  if (rule !== undefined) v.rule = rule;
  return v;
}

/** Result of a driver step: undefined = pass. */
type DriverFail = { rule: RuleId; errno: ErrnoName; extack?: string; dmesg?: string; stage: OffloadStage };

// ------------------------------------------------------------------ state helpers

/** IV generator the kernel picks for the SA's algorithm (`x->geniv`). */
export function genivOf(sa: XfrmState): string | undefined {
  if (sa.aead !== undefined) {
    const n = sa.aead.name;
    if (
      n.startsWith('rfc4106(') ||
      n.startsWith('rfc4309(') ||
      n.startsWith('rfc4543(') ||
      n.startsWith('rfc7539esp(')
    )
      return 'seqiv';
    return undefined;
  }
  if (sa.crypt !== undefined) return sa.crypt.name.startsWith('rfc3686(') ? 'seqiv' : 'echainiv';
  return undefined;
}

/** SADB ealgo id is AES-GCM-ICV16 (rfc4106(gcm(aes)) with a 128-bit ICV). */
function isGcmIcv16(sa: XfrmState): boolean {
  return sa.aead !== undefined && sa.aead.name === AES_GCM_ICV16 && sa.aead.icvLen === 128;
}

function counts(st: DeviceState) {
  return st.counts ?? emptyCounts();
}

/** The TX packet-offload SA table key: SAs with the same reqid + selector collide. */
export function txPacketKey(sa: XfrmState): string {
  const s = sa.info.sel;
  return `${sa.info.reqid}|${s.family}|${s.daddr}/${s.prefixlenD}|${s.saddr}/${s.prefixlenS}|${s.proto}|${s.dport}/${s.dportMask}|${s.sport}/${s.sportMask}`;
}

/** `mlx5e_xfrm_validate_state` (upstream, mlx5-ipsec.md §2.2) — exported for direct row tests. */
export function mlx5ValidateState(
  sa: XfrmState,
  type: 'crypto' | 'packet',
  inbound: boolean,
  caps: number,
): DriverFail | undefined {
  const f = (rule: RuleId, text: string): DriverFail => ({
    rule,
    errno: 'EINVAL',
    extack: MOD + text,
    stage: 'mlx5-validate',
  });
  const info = sa.info;
  if (sa.auth !== undefined || sa.authTrunc !== undefined)
    return f('mlx5.state.auth', 'Cannot offload authenticated xfrm states');
  if (!isGcmIcv16(sa)) return f('mlx5.state.ealgo', 'Only AES-GCM-ICV16 xfrm state may be offloaded');
  if (sa.comp !== undefined) return f('mlx5.state.calgo', 'Cannot offload compressed xfrm states');
  if ((info.flags & XFRM_STATE_FLAG.ESN) !== 0 && (caps & MLX5_IPSEC_CAP.ESN) === 0)
    return f('mlx5.state.esn', 'Cannot offload ESN xfrm states');
  if (info.family !== AF_INET && info.family !== AF_INET6)
    return f('mlx5.state.family', 'Only IPv4/6 xfrm states may be offloaded');
  if (info.id.proto !== IPPROTO.ESP) return f('mlx5.state.proto', 'Only ESP xfrm state may be offloaded');
  if (sa.encap !== undefined) {
    if ((caps & MLX5_IPSEC_CAP.ESPINUDP) === 0)
      return f('mlx5.state.encap-cap', 'Encapsulation is not supported');
    if (sa.encap.encapType !== ESP_UDP)
      return f('mlx5.state.encap-type', 'Encapsulation other than UDP is not supported');
    if (type !== 'packet')
      return f('mlx5.state.encap-packet', 'Encapsulation is supported in packet offload mode only');
    if (info.mode !== XFRM_MODE.TRANSPORT)
      return f('mlx5.state.encap-mode', 'Encapsulation is supported in transport mode only');
  }
  if (sa.aead === undefined) return f('mlx5.state.aead', 'Cannot offload xfrm states without aead');
  if (sa.aead.icvLen !== 128)
    return f('mlx5.state.icv', 'Cannot offload xfrm states with AEAD ICV length other than 128bit');
  if (sa.aead.keyLen !== 128 + 32 && sa.aead.keyLen !== 256 + 32)
    return f('mlx5.state.key', 'Cannot offload xfrm states with AEAD key length other than 128/256 bit');
  if ((sa.tfcpad ?? 0) !== 0) return f('mlx5.state.tfc', 'Cannot offload xfrm states with tfc padding');
  const geniv = genivOf(sa);
  if (geniv === undefined) return f('mlx5.state.geniv-null', 'Cannot offload xfrm states without geniv');
  if (geniv !== 'seqiv')
    return f('mlx5.state.geniv', 'Cannot offload xfrm states with geniv other than seqiv');
  const sp = info.sel.proto;
  if (sp !== 0 && sp !== IPPROTO.UDP && sp !== IPPROTO.TCP)
    return f('mlx5.state.sel-proto', 'Device does not support upper protocol other than TCP/UDP');
  if (info.mode !== XFRM_MODE.TRANSPORT && info.mode !== XFRM_MODE.TUNNEL)
    return f('mlx5.state.mode', 'Only transport and tunnel xfrm states may be offloaded');
  if (type === 'crypto') {
    if ((caps & MLX5_IPSEC_CAP.CRYPTO) === 0)
      return f('mlx5.state.crypto-cap', 'Crypto offload is not supported');
    return undefined;
  }
  if ((caps & MLX5_IPSEC_CAP.PACKET_OFFLOAD) === 0)
    return f('mlx5.state.packet-cap', 'Packet offload is not supported');
  if (info.mode === XFRM_MODE.TUNNEL && (caps & MLX5_IPSEC_CAP.TUNNEL) === 0)
    return f('mlx5.state.tunnel-cap', 'Packet offload is not supported for tunnel mode');
  if (sa.replayEsn !== undefined && inbound && ![32, 64, 128, 256].includes(sa.replayEsn.replayWindow))
    return f('mlx5.state.replay', 'Unsupported replay window size');
  if (info.reqid === 0) return f('mlx5.state.reqid', 'Cannot offload without reqid');
  const l = info.lft;
  if (l.softByteLimit >= l.hardByteLimit && l.hardByteLimit !== XFRM_INF)
    return f('mlx5.state.bytes-order', 'Hard byte limit must be greater than soft one');
  if (l.softByteLimit === 0n || l.hardByteLimit === 0n)
    return f('mlx5.state.bytes-zero', "Soft/hard byte limits can't be 0");
  if (l.softPacketLimit >= l.hardPacketLimit && l.hardPacketLimit !== XFRM_INF)
    return f('mlx5.state.packets-order', 'Hard packet limit must be greater than soft one');
  if (l.softPacketLimit === 0n || l.hardPacketLimit === 0n)
    return f('mlx5.state.packets-zero', "Soft/hard packet limits can't be 0");
  return undefined;
}

/** OFED-era `mlx5e_xfrm_validate_state` (BlueField-2 BSP driver): EINVAL, message to dmesg only. */
export function ofedValidateState(
  sa: XfrmState,
  full: boolean,
  caps: number,
  st: DeviceState,
): DriverFail | undefined {
  const f = (rule: RuleId, text: string): DriverFail => ({
    rule,
    errno: 'EINVAL',
    dmesg: text,
    stage: 'mlx5-validate',
  });
  const info = sa.info;
  if (sa.auth !== undefined || sa.authTrunc !== undefined)
    return f('mlx5.state.auth', 'Cannot offload authenticated xfrm states');
  if (!isGcmIcv16(sa)) return f('mlx5.state.ealgo', 'Only AES-GCM-ICV16 xfrm state may be offloaded');
  if (sa.comp !== undefined) return f('mlx5.state.calgo', 'Cannot offload compressed xfrm states');
  if ((info.flags & XFRM_STATE_FLAG.ESN) !== 0 && (caps & MLX5_IPSEC_CAP.ESN) === 0)
    return f('mlx5.state.esn', 'Cannot offload ESN xfrm states');
  if (info.family !== AF_INET && info.family !== AF_INET6)
    return f('mlx5.state.family', 'Only IPv4/6 xfrm states may be offloaded');
  if (info.mode !== XFRM_MODE.TRANSPORT && info.mode !== XFRM_MODE.TUNNEL)
    return f('mlx5.state.mode', 'Only transport and tunnel xfrm states may be offloaded');
  if (info.id.proto !== IPPROTO.ESP) return f('mlx5.state.proto', 'Only ESP xfrm state may be offloaded');
  if (sa.encap !== undefined) return f('ofed.state.encap', 'Encapsulated xfrm state may not be offloaded');
  if (sa.aead === undefined) return f('mlx5.state.aead', 'Cannot offload xfrm states without aead');
  if (sa.aead.icvLen !== 128)
    return f('mlx5.state.icv', 'Cannot offload xfrm states with AEAD ICV length other than 128bit');
  if (sa.aead.keyLen !== 128 + 32 && sa.aead.keyLen !== 256 + 32)
    return f('mlx5.state.key', 'Cannot offload xfrm states with AEAD key length other than 128/256 bit');
  if ((sa.tfcpad ?? 0) !== 0) return f('mlx5.state.tfc', 'Cannot offload xfrm states with tfc padding');
  const geniv = genivOf(sa);
  if (geniv === undefined) return f('mlx5.state.geniv-null', 'Cannot offload xfrm states without geniv');
  if (geniv !== 'seqiv')
    return f('mlx5.state.geniv', 'Cannot offload xfrm states with geniv other than seqiv');
  if (full) {
    if ((caps & MLX5_IPSEC_CAP.PACKET_OFFLOAD) === 0)
      return f('ofed.state.full-cap', 'IPsec full offload is not supported by this device.');
    if (st.eswitchMode !== 'switchdev')
      return f('ofed.state.full-switchdev', 'IPsec full offload allowed only in switchdev mode.');
    if (st.ipsecMode !== 'full')
      return f(
        'ofed.state.full-mode',
        'IPsec full offload allowed only in when devlink full ipsec mode is set.',
      );
  } else if (st.ipsecMode === 'full') {
    return f(
      'ofed.state.crypto-in-full',
      'IPsec crypto only offload is not allowed when devlink ipsec mode is full.',
    );
  }
  const l = info.lft;
  if (full && (l.hardByteLimit !== XFRM_INF || l.softByteLimit !== XFRM_INF)) {
    const hex = (v: bigint) => v.toString(16);
    return f(
      'ofed.state.full-bytes',
      `full offload state does not support:\n\t\t\t\tx->lft.hard_byte_limit=0x${hex(l.hardByteLimit)},\n\t\t\t\tx->lft.soft_byte_limit=0x${hex(l.softByteLimit)},\n`,
    );
  }
  return undefined;
}

/** Tunnel reformat allowed for the tables this SA lands in (`mlx5_eswitch_block_encap`). */
function tunnelAllowed(st: DeviceState): boolean {
  if (st.function === 'vf') return true; // not an eswitch manager
  if (st.eswitchMode === 'legacy') return true;
  // switchdev: packet offload on the uplink representor uses FDB tables, which never get tunnel reformat
  return false;
}

/** mlx5e_xfrm_add_state after validation (§2.3) and steering/resource limits (§7.1). */
function mlx5AddStateSteps(
  sa: XfrmState,
  type: 'crypto' | 'packet',
  inbound: boolean,
  profile: DeviceProfile,
  st: DeviceState,
): DriverFail | undefined {
  const weak = (rule: RuleId, errno: ErrnoName, stage: OffloadStage): DriverFail => ({
    rule,
    errno,
    extack: `${MOD}Device failed to offload this state`,
    stage,
  });
  if (st.function === 'pf' && (st.enabledIpsecVfCount ?? 0) > 0)
    return weak('mlx5.state.block-ipsec', 'EBUSY', 'mlx5-add');
  if (st.eswitchBusy === true || (st.tcFdbFlows ?? 0) > 0)
    return weak('mlx5.state.block-mode', 'EBUSY', 'mlx5-add');
  if (type === 'packet' && sa.info.mode === XFRM_MODE.TUNNEL && !tunnelAllowed(st)) {
    return {
      rule: 'mlx5.state.tunnel-encap',
      errno: 'EINVAL',
      extack: `${MOD}Packet offload tunnel mode is disabled due to encap settings`,
      stage: 'mlx5-add',
    };
  }
  const c = counts(st);
  const maxObjects = 2 ** Math.min(profile.limits.logMaxIpsecOffload, 24, profile.limits.logMaxDek);
  if (c.ipsecObjects >= maxObjects) return weak('mlx5.state.objects', 'ENOSPC', 'firmware');
  if ((st.tcNicFlows ?? 0) > 0) return weak('mlx5.state.tc', 'EBUSY', 'mlx5-steering');
  const v6 = sa.info.family === AF_INET6;
  if (inbound) {
    const rules = type === 'crypto' ? 2 : sa.info.sel.proto !== 0 ? 4 : 3;
    const used = v6 ? c.rxStatusV6 : c.rxStatusV4;
    const sas = v6 ? c.rxSaV6 : c.rxSaV4;
    if (sas >= profile.limits.saRulesPerTable || used + rules > profile.limits.rxStatusEntries)
      return weak('mlx5.state.table-full', 'ENOSPC', 'mlx5-steering');
  } else {
    if (c.txSa >= profile.limits.saRulesPerTable)
      return weak('mlx5.state.table-full', 'ENOSPC', 'mlx5-steering');
    if (type === 'packet' && c.txPacketKeys.has(txPacketKey(sa)))
      return weak('mlx5.state.duplicate', 'EEXIST', 'mlx5-steering');
  }
  if (
    type === 'packet' &&
    st.function === 'vf' &&
    sa.info.mode === XFRM_MODE.TUNNEL &&
    profile.vfPacketTunnelRefusedByFw
  )
    return weak('fw.state.vf-tunnel', 'EINVAL', 'firmware');
  return undefined;
}

type DeviceResolution = 'this' | 'other' | 'none';

function resolveDevice(ifindex: number, st: DeviceState): DeviceResolution {
  if (ifindex === st.ifindex) return 'this';
  if ((st.otherIfindexes ?? []).includes(ifindex)) return 'other';
  return st.routeFor ?? 'none';
}

// ------------------------------------------------------------------ SA

/** The xfrm core's extack when the SA's type has no offload implementation (`!x->type_offload`). */
export const TYPE_NO_OFFLOAD = "Type doesn't support offload";

/**
 * `x->type_offload` of `xfrm_dev_state_add`: only ESP registers an xfrm_type_offload (esp4_offload /
 * esp6_offload, when that module is present); AH and IPcomp have none. Where the check stands: after
 * the device resolution and the ESN check in the kernels the simulator models (6.15+: "xfrm: delay
 * initialization of offload path till its actually requested"), first of all in 6.12 and older.
 * Every offload hook (mlx5 through `classifyState`, netdevsim's) refuses with EINVAL +
 * TYPE_NO_OFFLOAD when this is false.
 */
export function typeHasOffload(sa: XfrmState, espOffloadModule = true): boolean {
  return sa.info.id.proto === IPPROTO.ESP && espOffloadModule;
}

/** Classifies an SA's offload request (`xfrm_dev_state_add` + mlx5). */
export function classifyState(sa: XfrmState, profile: DeviceProfile, st: DeviceState): OffloadVerdict {
  if (sa === null || typeof sa !== 'object' || sa.info === null || typeof sa.info !== 'object')
    throw new XfrmError('EINVAL', 'state must be an object with info');
  const xuo = sa.offload;
  if (xuo === undefined) return software('none', 'no offload requested');
  if (profile.era === 'ofed-5.x') return classifyStateOfed(sa, profile, st);
  const type: 'crypto' | 'packet' = (xuo.flags & XFRM_OFFLOAD_FLAG.PACKET) !== 0 ? 'packet' : 'crypto';
  const inbound = (xuo.flags & XFRM_OFFLOAD_FLAG.INBOUND) !== 0;
  const core = (rule: RuleId, extack?: string) => refuse(rule, 'EINVAL', 'xfrm-core', extack, type);
  // xfrm core gates (§1.1)
  if ((xuo.flags & ~(XFRM_OFFLOAD_FLAG.IPV6 | XFRM_OFFLOAD_FLAG.INBOUND | XFRM_OFFLOAD_FLAG.PACKET)) !== 0)
    return core('core.state.flags', 'Unrecognized flags in offload request');
  const dir = sa.dir ?? 0;
  if ((inbound && dir === XFRM_SA_DIR.OUT) || (!inbound && dir === XFRM_SA_DIR.IN))
    return core('core.state.dir', 'Mismatched SA and offload direction');
  if (inbound && (sa.ifId ?? 0) !== 0)
    return core('core.state.ifid', 'XFRM if_id is not supported in RX path');
  if ((sa.tfcpad ?? 0) !== 0) return core('core.state.tfcpad', "TFC padding can't be offloaded");
  const caps = deviceCaps(profile, st);
  const dev = resolveDevice(xuo.ifindex, st);
  if (dev === 'none') {
    return type === 'packet'
      ? core('core.state.noroute')
      : software(type, 'no route to an offload device', 'core.state.noroute');
  }
  if (dev === 'other' || caps === 0) {
    return type === 'packet'
      ? core('core.state.noops')
      : software(type, 'device has no IPsec offload ops', 'core.state.noops');
  }
  // mlx5 implements xdo_dev_state_advance_esn, so core.state.esn never fires for it
  if (!typeHasOffload(sa, st.espOffloadModule)) return core('core.state.type', TYPE_NO_OFFLOAD);
  // driver
  if (st.ipsecInitFailed === true) {
    return type === 'crypto'
      ? software(type, 'driver returned EOPNOTSUPP (no IPsec context): software fallback', 'mlx5.state.noctx')
      : refuse('mlx5.state.noctx', 'EOPNOTSUPP', 'mlx5-add', 'Device failed to offload this state', type);
  }
  const fail =
    mlx5ValidateState(sa, type, inbound, caps) ?? mlx5AddStateSteps(sa, type, inbound, profile, st);
  if (fail !== undefined) {
    if (type === 'crypto' && fail.errno === 'EOPNOTSUPP')
      return software(type, 'driver EOPNOTSUPP: software fallback', fail.rule);
    return refuse(fail.rule, fail.errno, fail.stage, fail.extack, type);
  }
  return { outcome: type, requested: type };
}

function classifyStateOfed(sa: XfrmState, profile: DeviceProfile, st: DeviceState): OffloadVerdict {
  const xuo = sa.offload!;
  // OFED kernels reused bit 4 (XFRM_OFFLOAD_FULL) for "full_offload"
  const full = (xuo.flags & XFRM_OFFLOAD_FLAG.PACKET) !== 0;
  const type = full ? 'packet' : 'crypto';
  const core = (rule: RuleId) => refuse(rule, 'EINVAL', 'xfrm-core', undefined, type);
  if ((xuo.flags & ~(XFRM_OFFLOAD_FLAG.IPV6 | XFRM_OFFLOAD_FLAG.INBOUND | XFRM_OFFLOAD_FLAG.PACKET)) !== 0)
    return core('core.state.flags');
  if (sa.encap !== undefined || (sa.tfcpad ?? 0) !== 0) return core('ofed.state.encap');
  const caps = deviceCaps(profile, st);
  const dev = resolveDevice(xuo.ifindex, st);
  if (dev === 'none')
    return software(
      type,
      'no route to an offload device (5.x: installed without offload)',
      'core.state.noroute',
    );
  if (dev === 'other' || caps === 0)
    return software(type, 'device has no IPsec offload ops', 'core.state.noops');
  if (!typeHasOffload(sa, st.espOffloadModule)) return core('core.state.type');
  if (st.ipsecInitFailed === true)
    return software(type, 'driver returned EOPNOTSUPP: software fallback', 'mlx5.state.noctx');
  const fail = ofedValidateState(sa, full, caps, st);
  if (fail !== undefined) {
    const v = refuse(fail.rule, fail.errno, fail.stage, undefined, type);
    if (fail.dmesg !== undefined) v.dmesg = fail.dmesg;
    return v;
  }
  return { outcome: type, requested: type };
}

// ------------------------------------------------------------------ policy

function allZero(addr: string): boolean {
  return /^[0.:]*$/.test(addr);
}

/** Classifies a policy's offload request (`xfrm_dev_policy_add` + `mlx5e_xfrm_add_policy`). */
export function classifyPolicy(pol: XfrmPolicy, profile: DeviceProfile, st: DeviceState): OffloadVerdict {
  if (pol === null || typeof pol !== 'object' || pol.info === null || typeof pol.info !== 'object')
    throw new XfrmError('EINVAL', 'policy must be an object with info');
  const xuo = pol.offload;
  if (xuo === undefined) return software('none', 'no offload requested');
  if (profile.era === 'ofed-5.x')
    return software('packet', 'kernel without policy offload: OFFLOAD_DEV ignored');
  const core = (rule: RuleId, errno: ErrnoName, extack?: string) => refuse(rule, errno, 'xfrm-core', extack);
  if (xuo.flags !== XFRM_OFFLOAD_FLAG.PACKET)
    return core('core.policy.flags', 'EINVAL', 'Unrecognized flags in offload request');
  const dev =
    xuo.ifindex === st.ifindex ? 'this' : (st.otherIfindexes ?? []).includes(xuo.ifindex) ? 'other' : 'none';
  if (dev === 'none') return core('core.policy.ifindex', 'EINVAL');
  const caps = deviceCaps(profile, st);
  if (dev === 'other' || caps === 0)
    return core('core.policy.noops', 'EINVAL', 'Policy offload is not supported');
  const dir = pol.info.dir;
  if (dir !== XFRM_POLICY_DIR.IN && dir !== XFRM_POLICY_DIR.OUT && dir !== XFRM_POLICY_DIR.FWD)
    return core('core.policy.dir', 'EINVAL', 'Unrecognized offload direction');
  const drv = (rule: RuleId, text: string, errno: ErrnoName = 'EINVAL') =>
    refuse(
      rule,
      errno,
      rule === 'mlx5.policy.steering' || rule === 'mlx5.policy.block-ipsec'
        ? 'mlx5-steering'
        : 'mlx5-validate',
      MOD + text,
    );
  if (st.ipsecInitFailed === true)
    return drv('mlx5.policy.noctx', "Device doesn't support IPsec packet offload", 'EOPNOTSUPP');
  if ((pol.ptype ?? XFRM_POLICY_TYPE.MAIN) !== XFRM_POLICY_TYPE.MAIN)
    return drv('mlx5.policy.type', 'Cannot offload non-main policy types');
  const tmpls = pol.tmpls ?? [];
  if (tmpls.length > 1) return drv('mlx5.policy.tmpls', 'Cannot offload more than one template');
  if (dir !== XFRM_POLICY_DIR.IN && dir !== XFRM_POLICY_DIR.OUT)
    return drv('mlx5.policy.fwd', 'Cannot offload forward policy');
  const sel = pol.info.sel;
  const reqid = tmpls[0]?.reqid ?? 0;
  if (reqid === 0 && sel.proto === 0 && allZero(sel.saddr) && allZero(sel.daddr))
    return drv(
      'mlx5.policy.reqid0',
      'Unsupported policy with reqid 0 without at least one of upper protocol or ip addr(s) different than 0',
    );
  if (sel.proto !== 0 && sel.proto !== IPPROTO.UDP && sel.proto !== IPPROTO.TCP)
    return drv('mlx5.policy.sel-proto', 'Device does not support upper protocol other than TCP/UDP');
  if (pol.info.priority !== 0 && (caps & MLX5_IPSEC_CAP.PRIO) === 0)
    return drv('mlx5.policy.prio-cap', 'Device does not support policy priority');
  if (pol.info.priority === 0xffffffff)
    return drv('mlx5.policy.prio-max', 'Device does not support requested policy priority');
  if ((caps & MLX5_IPSEC_CAP.PACKET_OFFLOAD) === 0)
    return drv('mlx5.policy.packet-cap', 'Packet offload is not supported');
  if (st.function === 'pf' && (st.enabledIpsecVfCount ?? 0) > 0)
    return drv('mlx5.policy.block-ipsec', 'Device failed to offload this policy', 'EBUSY');
  const c = counts(st);
  if (st.eswitchBusy === true || (st.tcFdbFlows ?? 0) > 0 || (st.tcNicFlows ?? 0) > 0)
    return drv('mlx5.policy.steering', 'Device failed to offload this policy', 'EBUSY');
  const v6 = sel.family === AF_INET6;
  const used = dir === XFRM_POLICY_DIR.OUT ? c.txPolicy : v6 ? c.rxPolicyV6 : c.rxPolicyV4;
  if (used >= profile.limits.policyRulesPerTable)
    return drv('mlx5.policy.steering', 'Device failed to offload this policy', 'ENOSPC');
  return { outcome: 'packet', requested: 'packet' };
}

/** Classifies an SA or a policy. */
export function classify(
  obj: XfrmState | XfrmPolicy,
  profile: DeviceProfile,
  st: DeviceState,
): OffloadVerdict {
  if (obj !== null && typeof obj === 'object' && 'tmpls' in obj)
    return classifyPolicy(obj as XfrmPolicy, profile, st);
  return classifyState(obj as XfrmState, profile, st);
}

/** Books an accepted offload into the device counters (so later classifications see the usage). */
export function recordOffload(obj: XfrmState | XfrmPolicy, verdict: OffloadVerdict, st: DeviceState): void {
  if (verdict.outcome !== 'packet' && verdict.outcome !== 'crypto') return;
  st.counts ??= emptyCounts();
  const c = st.counts;
  if ('tmpls' in obj) {
    const p = obj as XfrmPolicy;
    if (p.info.dir === XFRM_POLICY_DIR.OUT) c.txPolicy++;
    else if (p.info.sel.family === AF_INET6) c.rxPolicyV6++;
    else c.rxPolicyV4++;
    return;
  }
  const sa = obj as XfrmState;
  const inbound = ((sa.offload?.flags ?? 0) & XFRM_OFFLOAD_FLAG.INBOUND) !== 0;
  const v6 = sa.info.family === AF_INET6;
  c.ipsecObjects++;
  if (inbound) {
    const rules = verdict.outcome === 'crypto' ? 2 : sa.info.sel.proto !== 0 ? 4 : 3;
    if (v6) {
      c.rxSaV6++;
      c.rxStatusV6 += rules;
    } else {
      c.rxSaV4++;
      c.rxStatusV4 += rules;
    }
  } else {
    c.txSa++;
    if (verdict.outcome === 'packet') c.txPacketKeys.add(txPacketKey(sa));
  }
}
