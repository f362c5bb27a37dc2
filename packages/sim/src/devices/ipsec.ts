/**
 * The IPsec hardware state of one mlx5 PF (mlx5-ipsec.md §5, §7.1, §8, §9): offloaded objects, the
 * flow tables they live in (created lazily, reference counted), the reservation counters that make
 * up the devlink/TC interlocks, table occupancy against the profile's capacity, and the ethtool
 * counters (`ipsec_hw` / `ipsec_sw` groups).
 */
import { emptyCounts, type OffloadCounts, txPacketKey, type XfrmPolicy, type XfrmState } from '@xfrmkit/core';

/** ethtool -S names, group ipsec_hw (present when the netdev has an IPsec context). */
export const IPSEC_HW_COUNTERS = [
  'ipsec_rx_pkts',
  'ipsec_rx_bytes',
  'ipsec_rx_drop_pkts',
  'ipsec_rx_drop_bytes',
  'ipsec_rx_drop_mismatch_sa_sel',
  'ipsec_tx_pkts',
  'ipsec_tx_bytes',
  'ipsec_tx_drop_pkts',
  'ipsec_tx_drop_bytes',
] as const;
/** ethtool -S names, group ipsec_sw (driver atomics). */
export const IPSEC_SW_COUNTERS = [
  'ipsec_rx_drop_sp_alloc',
  'ipsec_rx_drop_sadb_miss',
  'ipsec_tx_drop_bundle',
  'ipsec_tx_drop_no_state',
  'ipsec_tx_drop_not_ip',
  'ipsec_tx_drop_trailer',
] as const;
export type IpsecCounterName = (typeof IPSEC_HW_COUNTERS)[number] | (typeof IPSEC_SW_COUNTERS)[number];

/** Table sets: NIC RX per family, NIC TX (shared), FDB RX/TX (packet offload on the switchdev uplink). */
export type IpsecTableId = 'rx-v4' | 'rx-v6' | 'tx' | 'rx-esw' | 'tx-esw';

export interface IpsecTable {
  id: IpsecTableId;
  refs: number;
  /** created with tunnel reformat (`mlx5_eswitch_block_encap` allowed it): counts in num_block_encap */
  tunnel: boolean;
}

export interface OffloadedObject {
  /** stable key the XFRM side uses to name the object */
  key: string;
  kind: 'state' | 'policy';
  type: 'crypto' | 'packet';
  dir: 'in' | 'out';
  family: 'v4' | 'v6';
  table: IpsecTableId;
  /** RX status-table rules an RX SA holds (2 crypto, 3 packet, 4 packet with selector proto) */
  statusRules: number;
  /** TX packet SA match key (reqid + selector) */
  txKey?: string;
  /** ifindex of the netdev it is offloaded to */
  ifindex: number;
  /** a copy of what was offloaded (for inspection) */
  object: XfrmState | XfrmPolicy;
}

/** Offload bookkeeping counters (not ethtool): what the driver accepted and refused. */
export interface OffloadStats {
  statesAdded: number;
  statesDeleted: number;
  policiesAdded: number;
  policiesDeleted: number;
  refused: number;
  softwareFallback: number;
  injectedFailures: number;
}

export class IpsecHw {
  readonly objects = new Map<string, OffloadedObject>();
  readonly tables = new Map<IpsecTableId, IpsecTable>();
  /** core's OffloadCounts, kept in sync for `classify()` */
  readonly counts: OffloadCounts = emptyCounts();
  readonly counters = new Map<IpsecCounterName, bigint>();
  readonly stats: OffloadStats = {
    statesAdded: 0,
    statesDeleted: 0,
    policiesAdded: 0,
    policiesDeleted: 0,
    refused: 0,
    softwareFallback: 0,
    injectedFailures: 0,
  };

  constructor() {
    for (const n of [...IPSEC_HW_COUNTERS, ...IPSEC_SW_COUNTERS]) this.counters.set(n, 0n);
  }

  /** `mdev->num_ipsec_offloads`: every offloaded SA and policy (blocks enabling VF IPsec) */
  get numIpsecOffloads(): number {
    return this.objects.size;
  }

  /** `esw->offloads.num_block_mode`: IPsec table sets in existence (block eswitch mode changes) */
  get numBlockMode(): number {
    return this.tables.size;
  }

  /** `esw->offloads.num_block_encap`: table sets created with tunnel reformat */
  get numBlockEncap(): number {
    let n = 0;
    for (const t of this.tables.values()) if (t.tunnel) n++;
    return n;
  }

  /** `mdev->num_block_tc`: packet SAs, all RX SAs, all policies (block TC flower on the PF) */
  get numBlockTc(): number {
    let n = 0;
    for (const o of this.objects.values())
      if (o.kind === 'policy' || o.type === 'packet' || o.dir === 'in') n++;
    return n;
  }

  /** Books an accepted object: table reference (created with `tunnel` when new), counters. */
  add(o: OffloadedObject, tunnelIfNew: boolean): void {
    if (this.objects.has(o.key)) throw new Error(`IPsec object ${o.key} already offloaded`);
    const t = this.tables.get(o.table);
    if (t) t.refs++;
    else this.tables.set(o.table, { id: o.table, refs: 1, tunnel: tunnelIfNew });
    this.objects.set(o.key, o);
    const c = this.counts;
    if (o.kind === 'policy') {
      if (o.dir === 'out') c.txPolicy++;
      else if (o.family === 'v6') c.rxPolicyV6++;
      else c.rxPolicyV4++;
      this.stats.policiesAdded++;
      return;
    }
    c.ipsecObjects++;
    if (o.dir === 'in') {
      if (o.family === 'v6') {
        c.rxSaV6++;
        c.rxStatusV6 += o.statusRules;
      } else {
        c.rxSaV4++;
        c.rxStatusV4 += o.statusRules;
      }
    } else {
      c.txSa++;
      if (o.txKey !== undefined) c.txPacketKeys.add(o.txKey);
    }
    this.stats.statesAdded++;
  }

  /** Frees an object: counters down, table destroyed with its last reference. */
  remove(key: string): OffloadedObject | undefined {
    const o = this.objects.get(key);
    if (!o) return undefined;
    this.objects.delete(key);
    const t = this.tables.get(o.table);
    if (t && --t.refs <= 0) this.tables.delete(o.table);
    const c = this.counts;
    if (o.kind === 'policy') {
      if (o.dir === 'out') c.txPolicy--;
      else if (o.family === 'v6') c.rxPolicyV6--;
      else c.rxPolicyV4--;
      this.stats.policiesDeleted++;
      return o;
    }
    c.ipsecObjects--;
    if (o.dir === 'in') {
      if (o.family === 'v6') {
        c.rxSaV6--;
        c.rxStatusV6 -= o.statusRules;
      } else {
        c.rxSaV4--;
        c.rxStatusV4 -= o.statusRules;
      }
    } else {
      c.txSa--;
      if (o.txKey !== undefined) c.txPacketKeys.delete(o.txKey);
    }
    this.stats.statesDeleted++;
    return o;
  }

  /** Adds to ethtool counters (the datapath model calls this; tests may too). */
  count(name: IpsecCounterName, delta: number | bigint = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0n) + BigInt(delta));
  }

  /** Table occupancy in flow-table entries (for `devices[i].ipsecTables()`). */
  occupancy(): Record<string, number> {
    const c = this.counts;
    return {
      rxSaV4: c.rxSaV4,
      rxSaV6: c.rxSaV6,
      rxStatusV4: c.rxStatusV4,
      rxStatusV6: c.rxStatusV6,
      txSa: c.txSa,
      rxPolicyV4: c.rxPolicyV4,
      rxPolicyV6: c.rxPolicyV6,
      txPolicy: c.txPolicy,
      ipsecObjects: c.ipsecObjects,
    };
  }
}

export { txPacketKey };
