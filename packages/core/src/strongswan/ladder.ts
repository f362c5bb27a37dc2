/**
 * strongSwan `hw_offload` ladder: what charon's kernel-netlink plugin tries for a CHILD_SA's SAs and
 * policies with a given setting, and where it ends up on a device (anchors.md §1.2):
 *
 * - `no`: no offload. `yes` = `crypto`: crypto offload enforced. `packet`: packet offload of SAs and
 *   policies (not FWD) enforced. `auto`: SA packet → on any kernel error crypto once → else fail;
 *   policy packet → on error resend without offload.
 * - device without the `esp-hw-offload` feature: `auto` installs without offload, the enforcing
 *   settings fail ("HW offload is not supported by device").
 * - NVIDIA's BlueField build 5.9.0bf knows `full` (OFED `XFRM_OFFLOAD_FULL`, SAs only; 5.x kernels
 *   have no policy offload) and not `crypto`/`packet`.
 *
 * The per-attempt kernel answer comes from `classify`, so crypto refusals that fall back silently in
 * the kernel show up as `software` even though charon believes it offloaded.
 */

import { classifyPolicy, classifyState, type OffloadVerdict } from '../offload/classify.ts';
import { type DeviceProfile, type DeviceState, deviceCaps } from '../offload/profiles.ts';
import { XfrmError } from '../sad/xfrm-error.ts';
import type { XfrmPolicy, XfrmState } from '../types/objects.ts';
import type { XfrmLifetimeCfg } from '../types/xfrm.ts';
import { XFRM_INF, XFRM_OFFLOAD_FLAG, XFRM_POLICY_DIR, XFRM_SA_DIR } from '../types/xfrm.ts';

export type HwOffloadSetting = 'no' | 'yes' | 'crypto' | 'packet' | 'auto' | 'full';
export type CharonFlavor = 'upstream' | '5.9.0bf';

/** Settings each charon flavour's config parser accepts. */
export const HW_OFFLOAD_VALUES: Readonly<Record<CharonFlavor, readonly HwOffloadSetting[]>> = {
  upstream: ['no', 'yes', 'crypto', 'packet', 'auto'],
  '5.9.0bf': ['no', 'yes', 'auto', 'full'],
};

/**
 * Lifetime options under packet/full offload, as given by the project seed (not derived from a
 * source read here): `rekey_bytes` makes the offloaded SA fail, `rekey_time`/`reauth_time` are
 * ignored, `rekey_packets` is used (HW packet counter).
 */
export const STRONGSWAN_PACKET_OFFLOAD_LIMITS = {
  fails: ['rekey_bytes'],
  ignored: ['rekey_time', 'reauth_time'],
  used: ['rekey_packets'],
} as const;

/** CHILD_SA lifetime options (swanctl.conf); 0/undefined = unset. */
export interface ChildLifetimes {
  rekeyTime?: number;
  lifeTime?: number;
  reauthTime?: number;
  rekeyBytes?: bigint;
  lifeBytes?: bigint;
  rekeyPackets?: bigint;
  lifePackets?: bigint;
}

export interface LadderStep {
  object: 'sa' | 'policy';
  /** policy direction or SA direction. */
  dir: 'in' | 'out' | 'fwd';
  attempt: 'packet' | 'crypto' | 'full' | 'none';
  verdict: OffloadVerdict;
}

export interface LadderResult {
  setting: HwOffloadSetting;
  flavor: CharonFlavor;
  /** where the SA ends up; `failed` = charon fails the CHILD_SA installation. */
  sa: 'packet' | 'crypto' | 'software' | 'failed';
  /** where the policies end up (`n/a` when none were given). */
  policies: 'packet' | 'software' | 'failed' | 'n/a';
  steps: LadderStep[];
  lifetimes: { used: string[]; ignored: string[]; failed: string[] };
  /** charon log lines / failure reasons. */
  log: string[];
}

export interface LadderInput {
  setting: HwOffloadSetting;
  flavor?: CharonFlavor;
  /** the SA charon installs (offload attribute is set by the ladder). */
  sa: XfrmState;
  /** inbound SA? (sets XFRM_OFFLOAD_INBOUND). Default: from `sa.dir`. */
  inbound?: boolean;
  policies?: XfrmPolicy[];
  lifetimes?: ChildLifetimes;
  profile: DeviceProfile;
  state: DeviceState;
}

function softHard(rekey: bigint | undefined, life: bigint | undefined): [bigint, bigint] {
  const soft = rekey !== undefined && rekey > 0n ? rekey : XFRM_INF;
  let hard = life !== undefined && life > 0n ? life : XFRM_INF;
  if (hard === XFRM_INF && soft !== XFRM_INF) hard = soft + soft / 10n;
  return [soft, hard];
}

/** The lifetime charon writes into the SA for these options, given what offload keeps. */
export function charonLifetime(l: ChildLifetimes, packetOffload: boolean): XfrmLifetimeCfg {
  const [sb, hb] = softHard(l.rekeyBytes, l.lifeBytes);
  const [sp, hp] = softHard(l.rekeyPackets, l.lifePackets);
  let sa = 0n;
  let ha = 0n;
  if (!packetOffload && l.rekeyTime !== undefined && l.rekeyTime > 0) {
    sa = BigInt(Math.floor(l.rekeyTime));
    ha = BigInt(Math.floor(l.lifeTime !== undefined && l.lifeTime > 0 ? l.lifeTime : l.rekeyTime * 1.1));
  }
  return {
    softByteLimit: sb,
    hardByteLimit: hb,
    softPacketLimit: sp,
    hardPacketLimit: hp,
    softAddExpiresSeconds: sa,
    hardAddExpiresSeconds: ha,
    softUseExpiresSeconds: 0n,
    hardUseExpiresSeconds: 0n,
  };
}

function withOffload(sa: XfrmState, st: DeviceState, flags: number, lft: XfrmLifetimeCfg): XfrmState {
  return { ...sa, info: { ...sa.info, lft }, offload: { ifindex: st.ifindex, flags } };
}

function policyDir(p: XfrmPolicy): 'in' | 'out' | 'fwd' {
  return p.info.dir === XFRM_POLICY_DIR.IN ? 'in' : p.info.dir === XFRM_POLICY_DIR.OUT ? 'out' : 'fwd';
}

/** Runs the ladder for one SA (+ its policies). Throws XfrmError EINVAL for a setting the flavour rejects. */
export function hwOffloadLadder(input: LadderInput): LadderResult {
  const flavor = input.flavor ?? (input.profile.era === 'ofed-5.x' ? '5.9.0bf' : 'upstream');
  const setting = input.setting;
  if (!HW_OFFLOAD_VALUES[flavor].includes(setting)) {
    throw new XfrmError('EINVAL', `hw_offload = ${String(setting)} is not accepted by strongSwan ${flavor}`);
  }
  const { profile, state } = input;
  const inbound = input.inbound ?? input.sa.dir === XFRM_SA_DIR.IN;
  const dirName: 'in' | 'out' = inbound ? 'in' : 'out';
  const baseFlags = inbound ? XFRM_OFFLOAD_FLAG.INBOUND : 0;
  const l = input.lifetimes ?? {};
  const res: LadderResult = {
    setting,
    flavor,
    sa: 'software',
    policies: (input.policies ?? []).length === 0 ? 'n/a' : 'software',
    steps: [],
    lifetimes: { used: [], ignored: [], failed: [] },
    log: [],
  };
  const feature = state.espHwOffloadFeature ?? deviceCaps(profile, state) !== 0;

  const trySa = (attempt: 'packet' | 'crypto' | 'full'): OffloadVerdict => {
    const packetLike = attempt !== 'crypto';
    const flags = baseFlags | (packetLike ? XFRM_OFFLOAD_FLAG.PACKET : 0);
    const sa = withOffload(input.sa, state, flags, charonLifetime(l, packetLike));
    let verdict = classifyState(sa, profile, state);
    if (packetLike && verdict.outcome !== 'refused' && (l.rekeyBytes ?? 0n) > 0n && attempt === 'packet') {
      verdict = {
        outcome: 'refused',
        requested: 'packet',
        errno: 'EINVAL',
        reason: 'rekey_bytes with packet offload (seed limit)',
      };
    }
    res.steps.push({ object: 'sa', dir: dirName, attempt, verdict });
    return verdict;
  };
  const noteLifetimes = (packetLike: boolean) => {
    const set = (k: string, v: number | bigint | undefined) => v !== undefined && v !== 0 && v !== 0n && k;
    const opts: [string, number | bigint | undefined][] = [
      ['rekey_time', l.rekeyTime],
      ['reauth_time', l.reauthTime],
      ['rekey_bytes', l.rekeyBytes],
      ['rekey_packets', l.rekeyPackets],
    ];
    for (const [k, v] of opts) {
      if (!set(k, v)) continue;
      if (packetLike && (STRONGSWAN_PACKET_OFFLOAD_LIMITS.ignored as readonly string[]).includes(k))
        res.lifetimes.ignored.push(k);
      else res.lifetimes.used.push(k);
    }
  };
  const finishSa = (v: OffloadVerdict, attempt: 'packet' | 'crypto' | 'full'): void => {
    if (v.outcome === 'refused') {
      res.sa = 'failed';
      const why = v.extack ?? v.dmesg ?? v.reason ?? '';
      res.log.push(
        `unable to add SAD entry with SPI ${input.sa.info.id.spi.toString(16).padStart(8, '0')}: ${v.errno}${why ? ` (${why})` : ''}`,
      );
      if (attempt !== 'crypto' && (l.rekeyBytes ?? 0n) > 0n) res.lifetimes.failed.push('rekey_bytes');
      return;
    }
    res.sa = v.outcome === 'packet' ? 'packet' : v.outcome === 'crypto' ? 'crypto' : 'software';
    if (v.outcome === 'software' && attempt !== undefined && v.requested !== 'none') {
      res.log.push(
        `kernel installed the SA without offload (${v.reason ?? 'fallback'}); charon assumes ${attempt} offload`,
      );
    }
    noteLifetimes(res.sa === 'packet');
  };

  // ---- SA
  if (setting === 'no') {
    res.sa = 'software';
    noteLifetimes(false);
  } else if (!feature) {
    if (setting === 'auto') {
      res.sa = 'software';
      noteLifetimes(false);
    } else {
      res.sa = 'failed';
      res.log.push('HW offload is not supported by device');
    }
  } else if (setting === 'yes' || setting === 'crypto') {
    finishSa(trySa('crypto'), 'crypto');
  } else if (setting === 'packet') {
    finishSa(trySa('packet'), 'packet');
  } else if (setting === 'full') {
    finishSa(trySa('full'), 'full');
  } else if (flavor === '5.9.0bf') {
    // auto before packet offload existed: crypto if the device has the feature
    finishSa(trySa('crypto'), 'crypto');
  } else {
    const p = trySa('packet');
    if (p.outcome === 'refused') {
      res.log.push('failed to install SA with packet HW offload, trying with crypto HW offload');
      finishSa(trySa('crypto'), 'crypto');
    } else {
      finishSa(p, 'packet');
    }
  }

  // ---- policies (upstream packet/auto only; 5.x kernels have no policy offload)
  const pols = input.policies ?? [];
  const offloadPolicies = flavor === 'upstream' && (setting === 'packet' || setting === 'auto') && feature;
  let anyPacket = false;
  let failed = false;
  for (const pol of pols) {
    const dir = policyDir(pol);
    if (!offloadPolicies || dir === 'fwd' || res.sa === 'failed') {
      res.steps.push({
        object: 'policy',
        dir,
        attempt: 'none',
        verdict: { outcome: 'software', requested: 'none', reason: 'not offloaded by charon' },
      });
      continue;
    }
    const v = classifyPolicy(
      { ...pol, offload: { ifindex: state.ifindex, flags: XFRM_OFFLOAD_FLAG.PACKET } },
      profile,
      state,
    );
    res.steps.push({ object: 'policy', dir, attempt: 'packet', verdict: v });
    if (v.outcome === 'packet') {
      anyPacket = true;
      continue;
    }
    if (setting === 'auto') {
      res.steps.push({
        object: 'policy',
        dir,
        attempt: 'none',
        verdict: { outcome: 'software', requested: 'none', reason: 'resent without offload' },
      });
    } else {
      failed = true;
      res.log.push(
        `unable to install policy with packet offload: ${v.errno}${v.extack ? ` (${v.extack})` : ''}`,
      );
    }
  }
  if (pols.length > 0) res.policies = failed ? 'failed' : anyPacket ? 'packet' : 'software';
  return res;
}
