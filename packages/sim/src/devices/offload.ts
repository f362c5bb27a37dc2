/**
 * The mlx5 xfrmdev_ops of the simulated machine: implements the XFRM handler's `XfrmOffloadHook`.
 * Every decision is @xfrmkit/core's `classify()` against the owning device's live state (eswitch
 * mode, encap, steering mode, OFED ipsec_mode, VF IPsec caps, TC flows, table occupancy); accepted
 * objects then occupy the device's IPsec tables (which is what blocks eswitch mode/encap changes,
 * VF IPsec enabling and TC, mlx5-ipsec.md §9) until the XFRM side deletes them.
 *
 * Fault injection (device.faults) is consulted at the driver stage: an injected failure or an
 * exhausted object budget only hits requests that would otherwise have reached the hardware.
 */
import {
  AF_INET6,
  classifyPolicy,
  classifyState,
  ERRNO,
  type OffloadVerdict,
  txPacketKey,
  XFRM_OFFLOAD_FLAG,
  XFRM_POLICY_DIR,
  type XfrmPolicy,
  type XfrmState,
  type XfrmUserOffload,
} from '@xfrmkit/core';
import type { XfrmOffloadHook, XfrmOffloadResult } from '../xfrm/offload.ts';
import type { SimDevice } from './device.ts';
import { takeOffloadFault } from './faults.ts';
import type { IpsecTableId, OffloadedObject } from './ipsec.ts';
import type { NetdevTable } from './netdev.ts';

const MOD = 'mlx5_core: ';

/** SA identity in the SAD: (daddr, spi, proto, family) — what XFRM_MSG_DELSA names. */
export function stateKey(sa: XfrmState): string {
  const i = sa.info;
  return `sa|${i.family}|${i.id.daddr}|${i.id.spi}|${i.id.proto}`;
}

/** Policy identity in the SPD for insert/delete by selector: (dir, type, selector, mark, if_id). */
export function policyKey(p: XfrmPolicy): string {
  const s = p.info.sel;
  const m = p.mark ?? { v: 0, m: 0 };
  return `pol|${p.info.dir}|${p.ptype ?? 0}|${s.family}|${s.saddr}/${s.prefixlenS}|${s.daddr}/${s.prefixlenD}|${s.proto}|${s.sport}/${s.sportMask}|${s.dport}/${s.dportMask}|${s.ifindex}|${m.v}/${m.m}|${p.ifId ?? 0}`;
}

export interface OffloadEvent {
  kind: 'state' | 'policy';
  action: 'add' | 'del';
  device?: SimDevice;
  verdict?: OffloadVerdict;
  key: string;
}

export class Mlx5OffloadHook implements XfrmOffloadHook {
  /** object key → the device holding it */
  private readonly owners = new Map<string, SimDevice>();
  private readonly listeners = new Set<(e: OffloadEvent) => void>();

  constructor(
    private readonly devices: readonly SimDevice[],
    private readonly netdevs: NetdevTable,
    private readonly netns = 'default',
  ) {}

  onEvent(cb: (e: OffloadEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private emit(e: OffloadEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** The device whose uplink is `ifindex`, else the first device (then classify sees "other"/"none"). */
  private deviceFor(ifindex: number, netns: string): { dev: SimDevice; others: number[] } | undefined {
    const first = this.devices[0];
    if (!first) return undefined;
    const visible = netns === this.netns ? this.netdevs.list().map((d) => d.ifindex) : [];
    const dev =
      netns === this.netns ? (this.devices.find((d) => d.uplink.ifindex === ifindex) ?? first) : first;
    return { dev, others: visible.filter((i) => i !== dev.uplink.ifindex) };
  }

  stateAdd(sa: XfrmState, offload: XfrmUserOffload, netns: string): XfrmOffloadResult {
    const target = this.deviceFor(offload.ifindex, netns);
    if (!target)
      return offload.flags & XFRM_OFFLOAD_FLAG.PACKET
        ? { ok: false, errno: ERRNO.EINVAL }
        : { ok: true, mode: 'none' };
    const { dev, others } = target;
    const st = dev.deviceState(others);
    if (netns !== this.netns) st.ifindex = 0;
    const probe: XfrmState = { ...sa, offload };
    const verdict = classifyState(probe, dev.effectiveProfile(), st);
    return this.finish('state', stateKey(sa), probe, offload, verdict, dev);
  }

  policyAdd(policy: XfrmPolicy, offload: XfrmUserOffload, netns: string): XfrmOffloadResult {
    const target = this.deviceFor(offload.ifindex, netns);
    if (!target) return { ok: false, errno: ERRNO.EINVAL };
    const { dev, others } = target;
    const st = dev.deviceState(others);
    if (netns !== this.netns) st.ifindex = 0;
    const probe: XfrmPolicy = { ...policy, offload };
    const verdict = classifyPolicy(probe, dev.effectiveProfile(), st);
    return this.finish('policy', policyKey(policy), probe, offload, verdict, dev);
  }

  private finish(
    kind: 'state' | 'policy',
    key: string,
    probe: XfrmState | XfrmPolicy,
    offload: XfrmUserOffload,
    verdict: OffloadVerdict,
    dev: SimDevice,
  ): XfrmOffloadResult {
    if (verdict.outcome === 'refused') {
      dev.ipsec.stats.refused++;
      if (verdict.dmesg !== undefined)
        dev.dmesg.push(`mlx5_core ${dev.pciAddr} ${dev.uplink.name}: ${verdict.dmesg}`);
      this.emit({ kind, action: 'add', device: dev, verdict, key });
      const r: XfrmOffloadResult = { ok: false, errno: ERRNO[verdict.errno ?? 'EINVAL'] };
      if (verdict.extack !== undefined) r.extack = verdict.extack;
      return r;
    }
    if (verdict.outcome === 'software') {
      if (verdict.requested !== 'none') dev.ipsec.stats.softwareFallback++;
      this.emit({ kind, action: 'add', device: dev, verdict, key });
      return { ok: true, mode: 'none' };
    }
    const type = verdict.outcome;
    // driver stage: injected failures and the object budget
    const what = kind === 'state' ? 'state' : 'policy';
    const weak = `${MOD}Device failed to offload this ${what}`;
    const fault = takeOffloadFault(dev.faults, kind);
    let failure: { errno: number; extack?: string } | undefined;
    if (fault) {
      dev.ipsec.stats.injectedFailures++;
      failure = { errno: fault.errno, extack: fault.msg ?? weak };
    } else if (
      kind === 'state' &&
      dev.faults.limits.maxIpsecObjects !== undefined &&
      dev.ipsec.counts.ipsecObjects >= dev.faults.limits.maxIpsecObjects
    ) {
      failure = { errno: ERRNO.ENOSPC, extack: weak };
    } else if (this.owners.has(key)) {
      // the same SA/policy identity is already offloaded (the XFRM side refuses duplicates first)
      failure = { errno: ERRNO.EEXIST, extack: weak };
    }
    if (failure) {
      // crypto offload refused with EOPNOTSUPP by the driver falls back to software silently
      if (kind === 'state' && type === 'crypto' && failure.errno === ERRNO.EOPNOTSUPP) {
        dev.ipsec.stats.softwareFallback++;
        return { ok: true, mode: 'none' };
      }
      dev.ipsec.stats.refused++;
      this.emit({ kind, action: 'add', device: dev, key, verdict: { ...verdict, outcome: 'refused' } });
      return { ok: false, ...failure };
    }
    dev.ipsec.add(this.objectOf(kind, key, probe, type, offload, dev), this.tunnelForNewTable(dev, type));
    this.owners.set(key, dev);
    this.emit({ kind, action: 'add', device: dev, verdict, key });
    return { ok: true, mode: type };
  }

  /** `mlx5_eswitch_block_encap`: tables get tunnel reformat in legacy, or for NIC tables with encap none */
  private tunnelForNewTable(dev: SimDevice, type: 'crypto' | 'packet'): boolean {
    const st = dev.eswitch;
    if (st.mode === 0) return true;
    return type === 'crypto' && st.encapMode === 0;
  }

  private objectOf(
    kind: 'state' | 'policy',
    key: string,
    obj: XfrmState | XfrmPolicy,
    type: 'crypto' | 'packet',
    offload: XfrmUserOffload,
    dev: SimDevice,
  ): OffloadedObject {
    const switchdev = dev.eswitch.mode !== 0;
    const fdb = switchdev && type === 'packet';
    if (kind === 'policy') {
      const p = obj as XfrmPolicy;
      const dir = p.info.dir === XFRM_POLICY_DIR.OUT ? 'out' : 'in';
      const family = p.info.sel.family === AF_INET6 ? 'v6' : 'v4';
      const table: IpsecTableId =
        dir === 'out' ? (fdb ? 'tx-esw' : 'tx') : fdb ? 'rx-esw' : family === 'v6' ? 'rx-v6' : 'rx-v4';
      return {
        key,
        kind,
        type,
        dir,
        family,
        table,
        statusRules: 0,
        ifindex: offload.ifindex,
        object: structuredClone(p),
      };
    }
    const sa = obj as XfrmState;
    const dir = offload.flags & XFRM_OFFLOAD_FLAG.INBOUND ? 'in' : 'out';
    const family = sa.info.family === AF_INET6 ? 'v6' : 'v4';
    const table: IpsecTableId =
      dir === 'out' ? (fdb ? 'tx-esw' : 'tx') : fdb ? 'rx-esw' : family === 'v6' ? 'rx-v6' : 'rx-v4';
    const statusRules = dir === 'in' ? (type === 'crypto' ? 2 : sa.info.sel.proto !== 0 ? 4 : 3) : 0;
    const o: OffloadedObject = {
      key,
      kind,
      type,
      dir,
      family,
      table,
      statusRules,
      ifindex: offload.ifindex,
      object: structuredClone(sa),
    };
    if (dir === 'out' && type === 'packet') o.txKey = txPacketKey(sa);
    return o;
  }

  stateDel(sa: XfrmState, _netns: string): void {
    this.release('state', stateKey(sa));
  }

  policyDel(policy: XfrmPolicy, _netns: string): void {
    this.release('policy', policyKey(policy));
  }

  private release(kind: 'state' | 'policy', key: string): void {
    const dev = this.owners.get(key);
    if (!dev) return;
    this.owners.delete(key);
    dev.ipsec.remove(key);
    this.emit({ kind, action: 'del', device: dev, key });
  }

  /** offloaded objects per device (inspection) */
  offloaded(): Array<{ device: SimDevice; object: OffloadedObject }> {
    const out: Array<{ device: SimDevice; object: OffloadedObject }> = [];
    for (const d of this.devices)
      for (const o of d.ipsec.objects.values()) out.push({ device: d, object: o });
    return out;
  }
}
