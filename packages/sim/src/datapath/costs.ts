/**
 * Per-stage costs of the mlx5 IPsec packet path, per device profile (data, not code).
 *
 * The structure — which flow tables a packet visits, in which order, and what each hop does — is
 * source-backed (mlx5-ipsec.md §7.3). The costs are not: NVIDIA publishes no crypto-engine clock, no
 * per-table lookup latency and no ASO latency (mlx5-ipsec.md §11, "Not found in any corpus"). They
 * are therefore calibration parameters: every number below is either fitted to a published
 * throughput figure (anchors.md §4; the fit is written next to it and checked by
 * test/datapath/calibration.test.ts) or an assumption, labelled as such.
 *
 * Cost of one stage visit, in cycles of the profile clock:
 *   hops × fixed + perByte × frameBytes + (saCache ? missFraction(activeSaContexts) × missCycles : 0)
 * A stage has `units` identical engines working in parallel; its capacity is units × clock / cycles.
 * The wire is a stage too: (frameBytes + 20 B preamble/IFG) × 8 / lineRate, one unit per port.
 */

export const STAGES = [
  'tx.sq',
  'tx.root',
  'tx.policy',
  'tx.sa',
  'tx.aso',
  'tx.reformat',
  'tx.encrypt',
  'tx.status',
  'tx.wire',
  'rx.wire',
  'rx.ttc',
  'rx.sa',
  'rx.decrypt',
  'rx.aso',
  'rx.reformat',
  'rx.status',
  'rx.sasel',
  'rx.policy',
  'rx.policy_miss',
  'rx.deliver',
  'rx.rq',
] as const;
export type StageName = (typeof STAGES)[number];

export interface StageCost {
  /** cycles per visit (per table hop for lookup stages) */
  fixed: number;
  /** cycles per frame byte */
  perByte: number;
  /** parallel engines (for `rx.rq`: per queue; the queue count comes from RSS) */
  units: number;
  /** the stage needs the SA context (DEK + IPsec object + ASO): pays the context-cache miss term */
  saCache?: boolean;
  /** what the stage is, for the trace table */
  what: string;
}

export interface CalibrationPoint {
  /** what is reproduced */
  figure: string;
  source: string;
  /** frame size on the wire (bytes, L2 without FCS/preamble) */
  frameBytes: number;
  /** active SA contexts on the device */
  saContexts: number;
  /** ports carrying traffic (aggregate figures) */
  ports: number;
  /** distinct SPIs spread over the RSS queues (many tunnels ⇒ even spread) */
  spis: number;
  /** published value */
  published: { gbps?: number; mpps?: number };
}

export interface DatapathProfile {
  id: string;
  name: string;
  /** clock the cycle counts are in */
  clockHz: number;
  /** per-port line rate and port count */
  lineRateGbps: number;
  ports: number;
  stages: Record<Exclude<StageName, 'tx.wire' | 'rx.wire'>, StageCost>;
  /** SA context cache: contexts held on chip, extra cycles per context miss */
  saCache: { contexts: number; missCycles: number };
  /** receive queues (assumed 8 channels) and RSS indirection table entries (mlx5e: 128) */
  rss: { queues: number; indirectionEntries: number };
  calibration: readonly CalibrationPoint[];
  notes: readonly string[];
}

/** Steering lookup: one flow-table hop (assumed: 12 cycles per hop, 8 lookups in flight). */
const HOP: Omit<StageCost, 'what'> = { fixed: 12, perByte: 0, units: 8 };
/** ASO access, TX and RX alike (assumed). */
const ASO: Omit<StageCost, 'what'> = { fixed: 30, perByte: 0, units: 4 };
/** Packet reformat, TX (insert) and RX (strip) alike (assumed). */
const REFORMAT: Omit<StageCost, 'what'> = { fixed: 8, perByte: 0, units: 8 };
/** One CX7 AES-GCM engine pass, encrypt or decrypt (fitted, see below: 4 engines per port). */
const CX7_CRYPTO: Omit<StageCost, 'what'> = { fixed: 8, perByte: 0.3175, units: 4, saCache: true };

/**
 * ConnectX-7 generation (also inside BlueField-3 — DPDK BlueField guide: "BlueField-3 … ConnectX-7
 * inside").
 *
 * Crypto engine (tx.encrypt / rx.decrypt), fitted:
 *   fastSwan CX7 reaches 19.35 Mpps per port with an iMIX whose average frame is 627 B
 *   (19.35 Mpps × 627 B × 8 = 97.1 Gb/s), and ≈ 98 Gb/s at 875 B (14 Mpps) and 1091 B (11.25 Mpps):
 *   throughput is flat in bytes ⇒ the engine is byte-bound. With 4 engines per port at 1 GHz:
 *     cycles(627) = 4 × 1e9 / 19.35e6 = 206.7  ⇒  fixed 8 + perByte × 627 = 206.7  ⇒  perByte 0.3175
 *   giving 96.9 Gb/s @627 B, 98.5 Gb/s @1091 B, 99.1 Gb/s @1518 B per port (asymptote 100.8 Gb/s).
 * SA-context cache, fitted to the fastSwan CX7 tunnel-count curve (2 SAs per tunnel):
 *   aggregate is flat up to ≈ 1.0k tunnels (190.5 Gb/s) ⇒ 2 × 1050 = 2100 contexts on chip;
 *   at 1.6k tunnels (3200 contexts) the miss fraction is 1 − 2100/3200 = 0.34375 and 100.4 Gb/s
 *   means cycles grew by 193.8/100.4 = 1.930× ⇒ 0.34375 × missCycles = 0.930 × 206.7 ⇒ missCycles 560.
 * Everything else (SQ/DMA, hops, ASO, reformat, RQ) is assumed, sized so it is not the bottleneck at
 * the anchor points but becomes one for small frames (no public figure exists for any of them).
 */
function cx7Stages(): DatapathProfile['stages'] {
  return {
    'tx.sq': { fixed: 16, perByte: 0.02, units: 4, what: 'SQ/WQE fetch + packet DMA read (assumed)' },
    'tx.root': { ...HOP, what: 'egress root → EGRESS_IPSEC / FDB_CRYPTO_EGRESS' },
    'tx.policy': { ...HOP, what: 'TX policy table(s), 1 hop per priority table visited; reg_c_4 := reqid' },
    'tx.sa': { ...HOP, what: 'TX SA table: match reqid + upper proto/ports' },
    'tx.aso': { ...ASO, what: 'ASO: sequence number increment + packet lifetime (assumed)' },
    'tx.reformat': { ...REFORMAT, what: 'packet reformat: insert ESP header, IV, trailer room (assumed)' },
    'tx.encrypt': { ...CX7_CRYPTO, what: 'AES-GCM encrypt + ICV (fitted)' },
    'tx.status': { ...HOP, what: 'TX status/counter table: ipsec_tx_pkts/bytes' },
    'rx.ttc': { ...HOP, what: 'root/VLAN/TTC (or FDB ingress): ESP traffic type → SA table' },
    'rx.sa': { ...HOP, what: 'RX SA table: exact match outer addresses + SPI' },
    'rx.decrypt': { ...CX7_CRYPTO, what: 'AES-GCM decrypt + ICV check (fitted)' },
    'rx.aso': { ...ASO, what: 'ASO: replay window (ESN SAs) + packet lifetime (assumed)' },
    'rx.reformat': { ...REFORMAT, what: 'packet reformat: strip ESP header/trailer/ICV (assumed)' },
    'rx.status': { ...HOP, what: 'RX status table: syndrome / ASO verdict → drop or pass' },
    'rx.sasel': { ...HOP, what: 'RX SA-selector table (SA selector with upper protocol)' },
    'rx.policy': { ...HOP, what: 'RX policy table(s), 1 hop per priority table visited' },
    'rx.policy_miss': { ...HOP, what: 'policy-miss table → TTC / TC root chain' },
    'rx.deliver': { ...HOP, what: 'TTC re-classification / TC root (OVS rules) → TIR' },
    'rx.rq': {
      fixed: 40,
      perByte: 0.02,
      units: 1,
      what: 'RQ: WQE fetch, packet DMA write, CQE (per queue, assumed)',
    },
  };
}

/**
 * ConnectX-6 Dx generation (BlueField-2, CX-6 Dx): no public IPsec throughput figure exists (NVIDIA
 * only warns of "a potential bandwidth limitation" at ≥ 100 Gb/s, details under NDA). Assumed: the
 * same structure with half the crypto engines (2 per port) and a 1024-context cache; nothing here is
 * calibrated and the output says so.
 */
function cx6dxStages(): DatapathProfile['stages'] {
  const s = cx7Stages();
  s['tx.encrypt'] = { ...s['tx.encrypt'], units: 2, what: 'AES-GCM encrypt + ICV (assumed: 2 engines/port)' };
  s['rx.decrypt'] = {
    ...s['rx.decrypt'],
    units: 2,
    what: 'AES-GCM decrypt + ICV check (assumed: 2 engines/port)',
  };
  return s;
}

const CX7_CURVE: Array<[number, number]> = [
  [1000, 190.5],
  [1100, 176.2],
  [1200, 153.3],
  [1300, 139.4],
  [1400, 124.2],
  [1500, 110.3],
  [1600, 100.4],
];

const CX7_CALIBRATION: CalibrationPoint[] = [
  {
    figure: 'CX7 packet offload, one port, iMIX (avg 627 B)',
    source: 'fastSwan "Nvidia ConnectX-7 by numbers" (anchors.md §4)',
    frameBytes: 627,
    saContexts: 2,
    ports: 1,
    spis: 1024,
    published: { gbps: 97.5, mpps: 19.35 },
  },
  {
    figure: 'CX7 packet offload, one port, MNO iMIX (avg 1091 B)',
    source: 'fastSwan CX7 (anchors.md §4: 11.25 Mpps / 98.2 Gb/s)',
    frameBytes: 1091,
    saContexts: 2,
    ports: 1,
    spis: 1024,
    published: { gbps: 98.2, mpps: 11.25 },
  },
  ...CX7_CURVE.map(
    ([tunnels, gbps]): CalibrationPoint => ({
      figure: `CX7 aggregate, 2 ports, ${tunnels} tunnels (2 SAs each), iMIX 627 B`,
      source: 'fastSwan CX7 XDP hairpin curve (anchors.md §4)',
      frameBytes: 627,
      saContexts: 2 * tunnels,
      ports: 2,
      spis: 2 * tunnels,
      published: { gbps },
    }),
  ),
];

/** What a ConnectX-7 (also inside BlueField-3) is, whatever card it sits on: 2×200G, its stages. */
function cx7Engine(): Omit<DatapathProfile, 'id' | 'name' | 'calibration' | 'notes'> {
  return {
    clockHz: 1e9,
    lineRateGbps: 200,
    ports: 2,
    stages: cx7Stages(),
    saCache: { contexts: 2100, missCycles: 560 },
    rss: { queues: 8, indirectionEntries: 128 },
  };
}

/** The same for ConnectX-6 Dx (also inside BlueField-2): 2×100G, half the crypto engines. */
function cx6dxEngine(): Omit<DatapathProfile, 'id' | 'name' | 'calibration' | 'notes'> {
  return {
    ...cx7Engine(),
    lineRateGbps: 100,
    stages: cx6dxStages(),
    saCache: { contexts: 1024, missCycles: 560 },
  };
}

export const DATAPATH_PROFILES: Readonly<Record<string, DatapathProfile>> = {
  cx7: {
    id: 'cx7',
    name: 'ConnectX-7 (2×200G)',
    ...cx7Engine(),
    calibration: CX7_CALIBRATION,
    notes: [
      'assumed: 1 GHz cycle clock (normalisation; no public figure) — cycles are ns',
      'fitted: crypto engine and SA-context cache (see costs.ts); other stages assumed',
    ],
  },
  bf3: {
    id: 'bf3',
    name: 'BlueField-3 (ConnectX-7 inside, 2×200G)',
    ...cx7Engine(),
    calibration: [
      {
        figure: 'BF3 400G strongSwan packet offload, two servers, 1518-B frames (assumed MTU 1500)',
        source: 'Amodo, "The quest for 400G IPsec" (anchors.md §4: 193 Gb/s IPsec vs 390 raw)',
        frameBytes: 1518,
        saContexts: 4,
        ports: 2,
        spis: 1024,
        published: { gbps: 193 },
      },
      ...CX7_CALIBRATION.slice(0, 1).map((p) => ({ ...p, figure: `${p.figure} — same ConnectX-7 engine` })),
    ],
    notes: [
      'assumed: 1 GHz cycle clock (normalisation; no public figure) — cycles are ns',
      'crypto engine and SA-context cache from the ConnectX-7 fit (BlueField-3 embeds a ConnectX-7)',
    ],
  },
  bf2: {
    id: 'bf2',
    name: 'BlueField-2 (ConnectX-6 Dx inside, 2×100G)',
    ...cx6dxEngine(),
    calibration: [],
    notes: [
      'uncalibrated: no public BlueField-2 / CX-6 Dx IPsec throughput figure (NVIDIA release notes are not public)',
    ],
  },
  cx6dx: {
    id: 'cx6dx',
    name: 'ConnectX-6 Dx (2×100G)',
    ...cx6dxEngine(),
    calibration: [],
    notes: ['uncalibrated: no public CX-6 Dx IPsec throughput figure'],
  },
};

export function datapathProfile(id: string): DatapathProfile {
  const p = DATAPATH_PROFILES[id];
  if (!p)
    throw new RangeError(
      `no datapath cost profile "${id}" (known: ${Object.keys(DATAPATH_PROFILES).join(', ')})`,
    );
  return p;
}
