/**
 * Device profiles (data) for the NVIDIA NICs xfrmkit models, and the device state that the offload
 * decision depends on. Sources: mlx5-ipsec.md §2–§9 (caps, tables, interlocks), devlink-uapi.md §7
 * (eswitch, BlueField-2 `ipsec_mode`), anchors.md §4 (hardware anchors). Values the public sources do
 * not give are marked `assumed` in `notes` and are parameters, not facts.
 */

export type ProfileId = 'cx6dx' | 'cx7' | 'bf2' | 'bf3';

/** Driver generation the profile follows. */
export type DriverEra = 'upstream' | 'ofed-5.x';

/** HCA/firmware IPsec capabilities before the driver's gating (`mlx5_ipsec_device_caps`). */
export interface HwIpsecCaps {
  /** `ipsec_crypto_offload` (+ insert_trailer, swp). */
  crypto: boolean;
  /** `ipsec_esn`. */
  esn: boolean;
  /** `ipsec_full_offload` + transport reformat + RX decap. */
  fullOffload: boolean;
  /** L2↔L3 ESP tunnel reformat. */
  tunnel: boolean;
  /** ESP-over-UDP transport reformat. */
  espInUdp: boolean;
  /** ignore_flow_level on NIC TX/RX or FDB (policy priorities). */
  prio: boolean;
  roce: boolean;
}

export interface ProfileLimits {
  /** every IPsec flow table: `max_fte` = 2^15. */
  maxFtePerTable: number;
  /** SA rules per SA table (RX per family, TX shared): max_fte − 1 reserved. */
  saRulesPerTable: number;
  /** RX status table entries shared by 2 (crypto) / 3 (packet) / 4 (packet + selector proto) rules per RX SA. */
  rxStatusEntries: number;
  /** policy rules per policy table (per priority table with chains). */
  policyRulesPerTable: number;
  /** log2 of IPsec objects (`log_max_ipsec_offload`); the driver caps the object id at 24 bits. */
  logMaxIpsecOffload: number;
  /** log2 of DEKs (`log_max_dek`). */
  logMaxDek: number;
  /** inbound packet-offload replay windows accepted with `replay_esn` (bits). */
  replayWindows: readonly number[];
  /** port line rate, Gb/s, per port × ports. */
  lineRateGbps: number;
  ports: number;
}

export interface DeviceProfile {
  id: ProfileId;
  name: string;
  /** firmware major (`fw.version` %d.%d.%04d). */
  fwMajor: number;
  era: DriverEra;
  hw: HwIpsecCaps;
  limits: ProfileLimits;
  /** `ip xfrm … offload <kw>` keyword for packet offload on this generation. */
  packetOffloadKeyword: 'packet' | 'full_offload';
  /** eswitch mode the device boots in (BlueField ARM side: switchdev). */
  defaultEswitchMode: 'legacy' | 'switchdev';
  /** FW refuses tunnel-mode packet SAs on a VF (fastSwan CX7: "Device failed to offload this state (22)"). */
  vfPacketTunnelRefusedByFw: boolean;
  notes: readonly string[];
}

const TABLES = {
  maxFtePerTable: 32768,
  saRulesPerTable: 32767,
  rxStatusEntries: 32765,
  policyRulesPerTable: 32767,
} as const;

const REPLAY_WINDOWS = [32, 64, 128, 256] as const;

export const PROFILES: Readonly<Record<ProfileId, DeviceProfile>> = {
  cx6dx: {
    id: 'cx6dx',
    name: 'ConnectX-6 Dx (crypto-enabled)',
    fwMajor: 22,
    era: 'upstream',
    hw: { crypto: true, esn: true, fullOffload: true, tunnel: true, espInUdp: true, prio: true, roce: true },
    limits: {
      ...TABLES,
      logMaxIpsecOffload: 24,
      logMaxDek: 24,
      replayWindows: REPLAY_WINDOWS,
      lineRateGbps: 100,
      ports: 2,
    },
    packetOffloadKeyword: 'packet',
    defaultEswitchMode: 'legacy',
    vfPacketTunnelRefusedByFw: false,
    notes: [
      'NVIDIA: packet offload only in the "encrypted overlay" (hypervisor-controlled) deployment',
      'NVIDIA: potential bandwidth limitation when a substantial part of >= 100 Gb/s is IPsec',
      'assumed: log_max_ipsec_offload / log_max_dek = 24 (no published per-product SA count)',
      'assumed: tunnel and ESP-in-UDP reformat caps present (firmware dependent)',
    ],
  },
  cx7: {
    id: 'cx7',
    name: 'ConnectX-7',
    fwMajor: 28,
    era: 'upstream',
    hw: { crypto: true, esn: true, fullOffload: true, tunnel: true, espInUdp: true, prio: true, roce: true },
    limits: {
      ...TABLES,
      logMaxIpsecOffload: 24,
      logMaxDek: 24,
      replayWindows: REPLAY_WINDOWS,
      lineRateGbps: 200,
      ports: 2,
    },
    packetOffloadKeyword: 'packet',
    defaultEswitchMode: 'legacy',
    vfPacketTunnelRefusedByFw: true,
    notes: [
      'fastSwan CX7 (fw 28.48, kernel 7.0): ~97-98 Gb/s per port wire ceiling with packet offload',
      'fastSwan CX7: switchdev VF with ipsec_packet offloads transport; tunnel refused by firmware',
      'assumed: log_max_ipsec_offload / log_max_dek = 24',
    ],
  },
  bf2: {
    id: 'bf2',
    name: 'BlueField-2 DPU (MLNX_OFED / BSP era, kernel 5.4/5.15)',
    fwMajor: 24,
    era: 'ofed-5.x',
    hw: {
      crypto: true,
      esn: true,
      fullOffload: true,
      tunnel: true,
      espInUdp: false,
      prio: false,
      roce: true,
    },
    limits: {
      ...TABLES,
      logMaxIpsecOffload: 24,
      logMaxDek: 24,
      replayWindows: REPLAY_WINDOWS,
      lineRateGbps: 100,
      ports: 2,
    },
    packetOffloadKeyword: 'full_offload',
    defaultEswitchMode: 'switchdev',
    vfPacketTunnelRefusedByFw: false,
    notes: [
      'full offload needs IPSEC_FULL_OFFLOAD="yes" in /etc/mellanox/mlnx-bf.conf (sets devlink ipsec_mode full)',
      'OFED driver: full offload only with eswitch switchdev and ipsec_mode full; crypto-only refused when full',
      '5.x kernels pass no extack to the driver: refusals are EINVAL with a dmesg line only',
      '5.x kernels have no policy offload: the OFFLOAD_DEV attribute on a policy is ignored',
      'assumed: log_max_ipsec_offload / log_max_dek = 24',
    ],
  },
  bf3: {
    id: 'bf3',
    name: 'BlueField-3 DPU (upstream packet offload)',
    fwMajor: 32,
    era: 'upstream',
    hw: { crypto: true, esn: true, fullOffload: true, tunnel: true, espInUdp: true, prio: true, roce: true },
    limits: {
      ...TABLES,
      logMaxIpsecOffload: 24,
      logMaxDek: 24,
      replayWindows: REPLAY_WINDOWS,
      lineRateGbps: 200,
      ports: 2,
    },
    packetOffloadKeyword: 'packet',
    defaultEswitchMode: 'switchdev',
    vfPacketTunnelRefusedByFw: false,
    notes: [
      'switchdev packet offload needs flow_steering_mode dmfs (set while legacy) and Linux >= 6.6',
      'VF IPsec through devlink port function ipsec_crypto / ipsec_packet (mutually exclusive with PF IPsec)',
      'fastSwan BF3: 137.8 Gb/s @500 tunnels -> 97.9 Gb/s @8k tunnels (strongSwan + XDP)',
      'assumed: log_max_ipsec_offload / log_max_dek = 24',
    ],
  },
};

export function getProfile(id: string): DeviceProfile {
  const p = (PROFILES as Record<string, DeviceProfile | undefined>)[id];
  if (p === undefined)
    throw new RangeError(`unknown device profile "${id}" (known: ${Object.keys(PROFILES).join(', ')})`);
  return p;
}

/** Offloaded-object counters the driver keeps (what §2.3 / §7.1 limits are checked against). */
export interface OffloadCounts {
  rxSaV4: number;
  rxSaV6: number;
  /** RX status-table rules in use, per family. */
  rxStatusV4: number;
  rxStatusV6: number;
  txSa: number;
  rxPolicyV4: number;
  rxPolicyV6: number;
  txPolicy: number;
  /** IPsec general objects (= offloaded SAs). */
  ipsecObjects: number;
  /** TX packet-offload SA match keys in use (reqid + selector): duplicates collide in the SA table. */
  txPacketKeys: Set<string>;
}

export function emptyCounts(): OffloadCounts {
  return {
    rxSaV4: 0,
    rxSaV6: 0,
    rxStatusV4: 0,
    rxStatusV6: 0,
    txSa: 0,
    rxPolicyV4: 0,
    rxPolicyV6: 0,
    txPolicy: 0,
    ipsecObjects: 0,
    txPacketKeys: new Set(),
  };
}

/** What the offload decision depends on besides the SA/policy itself. */
export interface DeviceState {
  /** ifindex of this mlx5 netdev. */
  ifindex: number;
  /** other existing netdevs (no xfrmdev ops), e.g. lo = 1. */
  otherIfindexes?: readonly number[];
  /** route lookup result for an SA whose ifindex is not a device (default 'none'). */
  routeFor?: 'this' | 'other' | 'none';
  eswitchMode: 'legacy' | 'switchdev';
  encapMode: 'none' | 'basic';
  steeringMode: 'dmfs' | 'smfs' | 'hmfs';
  /** OFED-era devlink `ipsec_mode` (BlueField-2). */
  ipsecMode?: 'none' | 'full';
  /** netdev is a PF/uplink or a VF. */
  function: 'pf' | 'vf';
  /** VF caps set through `devlink port function set … ipsec_crypto|ipsec_packet enable`. */
  vfIpsecCrypto?: boolean;
  vfIpsecPacket?: boolean;
  /** PF side: VFs with IPsec enabled through devlink (`enabled_ipsec_vf_count`). */
  enabledIpsecVfCount?: number;
  /** eswitch mode change / operation in progress (`mlx5_esw_try_lock` → EBUSY). */
  eswitchBusy?: boolean;
  /** offloaded TC (FDB) flows holding the eswitch (`user_count`). */
  tcFdbFlows?: number;
  /** TC flower rules on this PF netdev (`num_block_ipsec`). */
  tcNicFlows?: number;
  /** driver IPsec init failed (`priv->ipsec == NULL` though caps != 0). */
  ipsecInitFailed?: boolean;
  /** CONFIG_MLX5_CLS_ACT (needed for the PRIO cap). Default true. */
  clsAct?: boolean;
  /** esp4/esp6 offload modules present (`x->type_offload`). Default true. */
  espOffloadModule?: boolean;
  /** ethtool `esp-hw-offload` feature; default: on when the device has IPsec caps. */
  espHwOffloadFeature?: boolean;
  counts?: OffloadCounts;
}

/** A PF device state with the profile's defaults. */
export function defaultDeviceState(profile: DeviceProfile, over: Partial<DeviceState> = {}): DeviceState {
  return {
    ifindex: 4,
    otherIfindexes: [1],
    routeFor: 'none',
    eswitchMode: profile.defaultEswitchMode,
    encapMode: profile.defaultEswitchMode === 'switchdev' ? 'basic' : 'none',
    steeringMode: 'dmfs',
    ipsecMode: profile.era === 'ofed-5.x' ? 'none' : undefined,
    function: 'pf',
    enabledIpsecVfCount: 0,
    tcFdbFlows: 0,
    tcNicFlows: 0,
    counts: emptyCounts(),
    ...over,
  };
}

/**
 * BlueField-2 BSP boot: `IPSEC_FULL_OFFLOAD="yes"` in /etc/mellanox/mlnx-bf.conf makes the driver
 * restart go legacy → `ipsec_mode full` → switchdev; "no" leaves `ipsec_mode none`.
 */
export function bf2BootState(ipsecFullOffloadConf: boolean, over: Partial<DeviceState> = {}): DeviceState {
  return defaultDeviceState(PROFILES.bf2, {
    eswitchMode: 'switchdev',
    ipsecMode: ipsecFullOffloadConf ? 'full' : 'none',
    ...over,
  });
}

/** mlx5 capability bits (`MLX5_IPSEC_CAP_*`). */
export const MLX5_IPSEC_CAP = {
  CRYPTO: 1 << 0,
  ESN: 1 << 1,
  PACKET_OFFLOAD: 1 << 2,
  ROCE: 1 << 3,
  PRIO: 1 << 4,
  TUNNEL: 1 << 5,
  ESPINUDP: 1 << 6,
} as const;

/**
 * `mlx5_ipsec_device_caps()` for this profile in this state. Upstream: the "full-offload block"
 * (packet, prio, tunnel, ESP-in-UDP) needs DMFS steering or legacy eswitch mode. A VF gets the
 * types its port function enabled. OFED era: PACKET_OFFLOAD stands for the device's full-offload cap.
 */
export function deviceCaps(profile: DeviceProfile, st: DeviceState): number {
  const hw = profile.hw;
  let crypto = hw.crypto;
  let full = hw.fullOffload;
  if (st.function === 'vf') {
    crypto = crypto && st.vfIpsecCrypto === true;
    full = full && st.vfIpsecPacket === true;
  }
  let caps = 0;
  if (crypto) caps |= MLX5_IPSEC_CAP.CRYPTO;
  const block =
    profile.era === 'ofed-5.x' ? full : full && (st.steeringMode === 'dmfs' || st.eswitchMode === 'legacy');
  if (block) {
    caps |= MLX5_IPSEC_CAP.PACKET_OFFLOAD;
    if (hw.prio && st.clsAct !== false) caps |= MLX5_IPSEC_CAP.PRIO;
    if (hw.tunnel) caps |= MLX5_IPSEC_CAP.TUNNEL;
    if (hw.espInUdp) caps |= MLX5_IPSEC_CAP.ESPINUDP;
  }
  if (hw.roce && caps !== 0) caps |= MLX5_IPSEC_CAP.ROCE;
  if (hw.esn && caps !== 0) caps |= MLX5_IPSEC_CAP.ESN;
  return caps;
}
