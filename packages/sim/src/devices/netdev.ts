/**
 * Simulated network devices: ifindex, name, MTU, MAC and ethtool features. A NetdevTable is per
 * machine (one namespace): ifindexes are handed out like the kernel's `dev_index_reserve` (cyclic,
 * never reused while the machine lives, `lo` = 1), so representors re-created by a mode change or a
 * reload get new indexes, as on a real host.
 */

export type NetdevKind = 'loopback' | 'uplink' | 'pf-rep' | 'vf-rep';

/** ethtool -k names the simulator knows, with whether the user may change them. */
export const FEATURE_NAMES = [
  'rx-checksum',
  'tx-checksum-ip-generic',
  'scatter-gather',
  'tcp-segmentation-offload',
  'generic-segmentation-offload',
  'generic-receive-offload',
  'rx-vlan-offload',
  'tx-vlan-offload',
  'hw-tc-offload',
  'esp-hw-offload',
  'esp-tx-csum-hw-offload',
  'tx-esp-segmentation',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export interface SimNetdev {
  ifindex: number;
  name: string;
  kind: NetdevKind;
  mtu: number;
  mac: Uint8Array;
  /** operational state as `ip link` shows it */
  up: boolean;
  features: Record<FeatureName, boolean>;
  /** features ethtool reports as [fixed] */
  fixed: ReadonlySet<FeatureName>;
  /** PCI function this netdev belongs to (undefined for lo) */
  pci?: string;
}

export interface NetdevChange {
  action: 'new' | 'del';
  netdev: SimNetdev;
}

export class NetdevTable {
  private readonly byIndex = new Map<number, SimNetdev>();
  private nextIndex = 1;
  private readonly listeners = new Set<(c: NetdevChange) => void>();

  constructor() {
    this.add({
      name: 'lo',
      kind: 'loopback',
      mtu: 65536,
      mac: new Uint8Array(6),
      features: baseFeatures(false),
      fixed: new Set(FEATURE_NAMES),
    });
  }

  /** registers a netdev; the ifindex is the next unused one */
  add(nd: Omit<SimNetdev, 'ifindex' | 'up'> & { up?: boolean }): SimNetdev {
    if (this.byName(nd.name)) throw new Error(`netdev ${nd.name} exists`);
    while (this.byIndex.has(this.nextIndex)) this.nextIndex++;
    const dev: SimNetdev = { ...nd, ifindex: this.nextIndex++, up: nd.up ?? true };
    this.byIndex.set(dev.ifindex, dev);
    for (const l of this.listeners) l({ action: 'new', netdev: dev });
    return dev;
  }

  remove(ifindex: number): void {
    const dev = this.byIndex.get(ifindex);
    if (!dev) return;
    this.byIndex.delete(ifindex);
    for (const l of this.listeners) l({ action: 'del', netdev: dev });
  }

  get(ifindex: number): SimNetdev | undefined {
    return this.byIndex.get(ifindex);
  }

  byName(name: string): SimNetdev | undefined {
    for (const d of this.byIndex.values()) if (d.name === name) return d;
    return undefined;
  }

  /** every netdev in ifindex order */
  list(): SimNetdev[] {
    return [...this.byIndex.values()].sort((a, b) => a.ifindex - b.ifindex);
  }

  onChange(cb: (c: NetdevChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}

export function baseFeatures(on: boolean): Record<FeatureName, boolean> {
  return Object.fromEntries(FEATURE_NAMES.map((f) => [f, on])) as Record<FeatureName, boolean>;
}

/**
 * Features of an mlx5 netdev: the usual offloads on; `hw-tc-offload` on for representors (switchdev
 * turns it on) and off on a legacy PF; ESP offloads only where the netdev has an IPsec context
 * (`mlx5e_ipsec_build_netdev`: uplink / PF netdev of a device with IPsec caps), and not on VF reps.
 */
export function mlx5Features(
  kind: NetdevKind,
  opts: { switchdev: boolean; ipsec: boolean },
): Record<FeatureName, boolean> {
  const f = baseFeatures(true);
  f['hw-tc-offload'] = kind !== 'uplink' || opts.switchdev;
  const esp = kind === 'uplink' && opts.ipsec;
  f['esp-hw-offload'] = esp;
  f['esp-tx-csum-hw-offload'] = esp;
  f['tx-esp-segmentation'] = esp;
  if (kind !== 'uplink') {
    f['rx-vlan-offload'] = false;
    f['tx-vlan-offload'] = false;
  }
  return f;
}
