/**
 * `xfrmkit demo [--profile bf3] [--packets N] [--size S|imix] [--pcap FILE] [--modeled-crypto]`
 *
 * The two-BlueField scenario end to end. BFL and BFR are `createSimMachine(profile)` machines
 * (@xfrmkit/sim: mlx5 devices, devlink family, NETLINK_XFRM with the mlx5 offload hook) joined by
 * the simulated wire of @xfrmkit/sim's topology. They are configured the way an operator would:
 *   devlink (DevlinkClient over an in-process NETLINK_GENERIC socket): eswitch legacy →
 *     flow_steering_mode dmfs → eswitch switchdev;
 *   the four `ip xfrm` lines with `offload packet`, parsed by the iproute2-exact parser
 *     (`parseIpXfrm`, persona 6.15) and sent with XfrmClient over InProcTransport.
 * Then VXLAN traffic runs both ways through the hardware packet path (real AES-GCM unless
 * --modeled-crypto), and the output shows `ip -s xfrm state` (iproute2's printer), the counters,
 * the per-stage cycle table, the modeled throughput/latency and the Wireshark `esp_sa` lines for
 * the pcap of the wire.
 */
import {
  DEVLINK_ESWITCH_MODE,
  DEVLINK_PARAM_CMODE,
  type DeviceProfile,
  getProfile,
  type ProfileId,
} from '@xfrmkit/core';
import { DevlinkClient, NLM_F, XFRM_MSG, XfrmClient, xfrmRequest } from '@xfrmkit/netlink';
import {
  type DatapathResult,
  type Dpu,
  espSaLines,
  hostFrame,
  InProcTransport,
  ipXfrmLines,
  LINKTYPE_ETHERNET,
  type LoadAccumulator,
  NETLINK_GENERIC,
  NETLINK_XFRM,
  PcapWriter,
  type SeedConfig,
  STAGES,
  seedConfig,
  seedTopologyOptions,
  type ThroughputResult,
  TwoDpuTopology,
} from '@xfrmkit/sim';
import { printState } from '../iproute2/print-xfrm.ts';
import { parseIpXfrm } from '../iproute2/xfrm.ts';
import { CliUsageError } from '../usage.ts';

const PROFILES = ['bf3', 'bf2', 'cx7', 'cx6dx'] as const;
/** Simple IMIX frame sizes (IP 40/576/1500 → Ethernet 64/590/1514) in the 7:4:1 ratio. */
export const IMIX: ReadonlyArray<readonly [number, number]> = [
  [64, 7],
  [590, 4],
  [1514, 1],
];

export interface DemoOptions {
  profile: ProfileId;
  packets: number;
  size: number | 'imix';
  pcap?: string;
  modeledCrypto: boolean;
  esn?: boolean;
}

export function parseDemoArgs(
  argv: string[],
  allowed = ['--profile', '--packets', '--size', '--pcap', '--modeled-crypto'],
): DemoOptions {
  const o: DemoOptions = { profile: 'bf3', packets: 1000, size: 'imix', modeledCrypto: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^(--[a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !allowed.includes(m[1]!))
      throw new CliUsageError(`unknown argument "${a}" (accepted: ${allowed.join(' ')})`);
    const key = m[1]!;
    if (key === '--modeled-crypto') {
      o.modeledCrypto = true;
      continue;
    }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new CliUsageError(`${key} needs a value`);
    if (key === '--profile') {
      if (!(PROFILES as readonly string[]).includes(v))
        throw new CliUsageError(`--profile must be one of ${PROFILES.join(', ')}`);
      o.profile = v as ProfileId;
    } else if (key === '--packets') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new CliUsageError(`--packets must be a positive integer (got "${v}")`);
      o.packets = n;
    } else if (key === '--size') {
      if (v === 'imix') o.size = 'imix';
      else {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 64 || n > 9000)
          throw new CliUsageError(`--size must be 64..9000 or imix (got "${v}")`);
        o.size = n;
      }
    } else if (key === '--pcap') o.pcap = v;
  }
  return o;
}

export interface Out {
  out(s: string): void;
  err(s: string): void;
}

const stdio: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Builds BFL/BFR and configures them through devlink + `ip xfrm` (printed as it goes). */
export async function buildSeedTopology(
  o: Pick<DemoOptions, 'profile' | 'modeledCrypto' | 'esn'>,
  io: Out,
): Promise<{ topo: TwoDpuTopology; cfg: SeedConfig; profile: DeviceProfile }> {
  const profile = getProfile(o.profile);
  const cfg = seedConfig({ esn: o.esn ?? false });
  const topo = new TwoDpuTopology({
    profile: o.profile,
    ...seedTopologyOptions(cfg),
    modeledCrypto: o.modeledCrypto,
  });
  for (const w of topo.warnings) io.err(`warning: ${w}\n`);
  for (const [side, dpu] of [
    ['left', topo.bfl],
    ['right', topo.bfr],
  ] as const) {
    await configureDpu(dpu, cfg, side, profile, io);
  }
  return { topo, cfg, profile };
}

async function configureDpu(
  dpu: Dpu,
  cfg: SeedConfig,
  side: 'left' | 'right',
  profile: DeviceProfile,
  io: Out,
): Promise<void> {
  const dev = dpu.sim.devices[0]!;
  const handle = { bus: 'pci', dev: dev.pciAddr };
  const dl = await DevlinkClient.open(new InProcTransport(dpu.sim.machine, NETLINK_GENERIC));
  const say = (cmd: string) => io.out(`${dpu.name}# ${cmd}\n`);
  try {
    say(`devlink dev eswitch set pci/${dev.pciAddr} mode legacy`);
    await dl.eswitchSet(handle, { mode: DEVLINK_ESWITCH_MODE.LEGACY });
    say(`devlink dev param set pci/${dev.pciAddr} name flow_steering_mode value dmfs cmode runtime`);
    await dl.paramSet(handle, 'flow_steering_mode', 'dmfs', DEVLINK_PARAM_CMODE.RUNTIME);
    say(`devlink dev eswitch set pci/${dev.pciAddr} mode switchdev`);
    await dl.eswitchSet(handle, { mode: DEVLINK_ESWITCH_MODE.SWITCHDEV });
    const es = await dl.eswitchGet(handle);
    io.out(
      `  eswitch mode ${es.mode === DEVLINK_ESWITCH_MODE.SWITCHDEV ? 'switchdev' : 'legacy'} encap-mode ${es.encapMode ? 'basic' : 'none'}\n`,
    );
  } finally {
    dl.close();
  }
  // the simulator has no rtnetlink: link MTUs and addresses are set on its netdev model
  say(`ip link set p0 mtu ${dpu.p0.mtu}; ip addr add ${dpu.ip}/24 dev p0  (netdev model)`);
  say(
    `ovs-vsctl add-port br0 vxlan0 -- set interface vxlan0 type=vxlan options:remote_ip=${dpu.peerIp} options:key=${dpu.vni} options:dst_port=4789  (VXLAN MTU ${dpu.vxlanMtu})`,
  );
  const xc = XfrmClient.over(new InProcTransport(dpu.sim.machine, NETLINK_XFRM));
  try {
    for (const line of ipXfrmLines(cfg, side)) {
      const words =
        profile.packetOffloadKeyword === 'packet'
          ? line
          : line.map((w) => (w === 'packet' ? profile.packetOffloadKeyword : w));
      say(`ip xfrm ${words.map(shellQuote).join(' ')}`);
      const plan = parseIpXfrm(words, { persona: '6.15', ifindex: (n) => dpu.sim.ifindex(n) });
      if (plan.kind !== 'request') throw new Error(`ip xfrm ${words.join(' ')}: not a request`);
      await xc.request(plan.type, plan.flags, plan.body, plan.attrs);
    }
  } finally {
    xc.channel.close();
  }
}

function shellQuote(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** `ip -s xfrm state` of a DPU, printed by the iproute2 printer. */
export async function xfrmStateText(dpu: Dpu): Promise<string> {
  const xc = XfrmClient.over(new InProcTransport(dpu.sim.machine, NETLINK_XFRM));
  try {
    let s = '';
    const it = xc.channel.dump({
      msg: xfrmRequest(XFRM_MSG.GETSA, NLM_F.REQUEST | NLM_F.DUMP, undefined, []),
      what: 'state list dump',
    });
    for await (const m of it) {
      if (m.kind !== 'xfrm') continue;
      s += printState(m.xfrm, { stats: 1, persona: '6.15', ifname: (i) => dpu.sim.netdevs.get(i)?.name });
    }
    return s;
  } finally {
    xc.channel.close();
  }
}

function sizeAt(o: DemoOptions, i: number): number {
  if (o.size !== 'imix') return o.size;
  const total = IMIX.reduce((a, [, w]) => a + w, 0);
  let k = i % total;
  for (const [s, w] of IMIX) {
    if (k < w) return s;
    k -= w;
  }
  return IMIX[0]![0];
}

function fmt(n: number, d = 1): string {
  return n.toFixed(d);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The per-stage cycle table of one direction (TX datapath of one DPU + RX datapath of the other). */
export function stageTable(title: string, tx: LoadAccumulator, rx: LoadAccumulator): string {
  const lines = [
    `${title}`,
    `  ${pad('stage', 16)}${pad('cycles/pkt', 12, true)}${pad('units', 7, true)}${pad('capacity Mpps', 15, true)}`,
  ];
  const add = (acc: LoadAccumulator) => {
    const t = acc.throughput();
    if (!t) return;
    const order = new Map(STAGES.map((s, i) => [s, i]));
    for (const s of [...t.stages].sort((a, b) => order.get(a.stage)! - order.get(b.stage)!)) {
      const mark = s.stage === t.bottleneck ? '  ← bottleneck' : '';
      lines.push(
        `  ${pad(s.stage, 16)}${pad(fmt(s.cyclesPerPacket), 12, true)}${pad(String(s.units), 7, true)}${pad(fmt(s.capacityPps / 1e6, 2), 15, true)}${mark}`,
      );
    }
  };
  add(tx);
  add(rx);
  return `${lines.join('\n')}\n`;
}

function throughputLine(label: string, t: ThroughputResult | undefined): string {
  if (!t) return `  ${label}: no packets\n`;
  return `  ${label}: ${fmt(t.pps / 1e6, 2)} Mpps, ${fmt(t.gbps, 1)} Gb/s at ${fmt(t.frameBytes, 0)} B avg frame (bottleneck ${t.bottleneck}; wire allows ${fmt(t.wirePps / 1e6, 2)} Mpps)\n`;
}

function counterBlock(dpu: Dpu): string {
  const lines: string[] = [`${dpu.name}: ethtool -S p0 (non-zero)`];
  for (const [k, v] of Object.entries(dpu.datapath.ethtool())) if (v !== 0n) lines.push(`     ${k}: ${v}`);
  const mib = [...dpu.datapath.mib].filter(([, v]) => v !== 0);
  lines.push(`${dpu.name}: /proc/net/xfrm_stat, /proc/net/snmp (non-zero)${mib.length ? '' : ': none'}`);
  for (const [k, v] of mib) lines.push(`     ${k.padEnd(24)}${v}`);
  lines.push(`${dpu.name}: per-SA hardware counters`);
  for (const s of dpu.datapath.saCounters()) {
    const c = s.counters;
    lines.push(
      `     spi 0x${s.spi.toString(16).padStart(8, '0')} ${s.dir.padEnd(3)} packets ${c.packets} bytes ${c.bytes} auth ${c.auth} trailer ${c.trailer} replay ${c.replay} sa_sel ${c.selectorMiss}`,
    );
  }
  if (dpu.counters.size)
    lines.push(`${dpu.name}: OVS/VXLAN: ${[...dpu.counters].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export async function runDemo(o: DemoOptions, io: Out = stdio): Promise<number> {
  const t0 = Date.now();
  io.out(
    `== xfrmkit demo: two ${getProfile(o.profile).name} DPUs (BFL, BFR), VXLAN over IPsec packet offload\n`,
  );
  if (o.modeledCrypto)
    io.out(
      '** MODELED CRYPTO: AES-GCM is skipped; ESP on the wire carries the payload in clear with a zero ICV and does not decrypt **\n',
    );
  io.out('\n== configuration (devlink, ip xfrm)\n');
  const { topo, cfg } = await buildSeedTopology(o, io);
  const pcap = o.pcap ? new PcapWriter({ linktype: LINKTYPE_ETHERNET, nanos: true }) : undefined;
  const startNs = BigInt(Date.now()) * 1_000_000n;
  if (pcap) topo.wire.taps.push((f, ns) => pcap.add({ timeNs: startNs + BigInt(Math.round(ns)), data: f }));

  io.out(
    `\n== traffic: ${o.packets} UDP frames each way host L ⇄ host R (${o.size === 'imix' ? 'IMIX 64/590/1514 B 7:4:1' : `${o.size} B`})\n`,
  );
  const sent = { left: 0, right: 0 };
  const delivered = { left: 0, right: 0 };
  const mismatched = { left: 0, right: 0 };
  const drops = new Map<string, number>();
  const e2e = { left: 0, right: 0 };
  let lastProgress = Date.now();
  for (let i = 0; i < o.packets; i++) {
    for (const side of ['left', 'right'] as const) {
      const [src, dst] = side === 'left' ? [topo.hostL, topo.hostR] : [topo.hostR, topo.hostL];
      const f = hostFrame(src, dst, sizeAt(o, i), i);
      sent[side]++;
      const d = topo.send(side, f, i);
      if (d.delivered) {
        delivered[side]++;
        if (Buffer.compare(Buffer.from(d.delivered), Buffer.from(f)) !== 0) mismatched[side]++;
        e2e[side] +=
          (d.tx?.latencyCycles ?? 0) + d.rx!.reduce((a, r: DatapathResult) => a + r.latencyCycles, 0);
      } else if (d.drop) {
        const k = `${d.drop.where}: ${d.drop.reason} (${d.drop.counter})`;
        drops.set(k, (drops.get(k) ?? 0) + 1);
      }
    }
    if (Date.now() - lastProgress > 1000) {
      lastProgress = Date.now();
      io.err(`  … ${i + 1}/${o.packets} packet pairs (${fmt((100 * (i + 1)) / o.packets, 0)} %)\n`);
    }
  }
  io.out(
    `  BFL→BFR: sent ${sent.left}, delivered ${delivered.left}, payload mismatches ${mismatched.left}\n`,
  );
  io.out(
    `  BFR→BFL: sent ${sent.right}, delivered ${delivered.right}, payload mismatches ${mismatched.right}\n`,
  );
  for (const [k, v] of drops) io.out(`  dropped ${v}: ${k}\n`);

  for (const dpu of [topo.bfl, topo.bfr]) {
    io.out(`\n== ${dpu.name}# ip -s xfrm state\n`);
    io.out(await xfrmStateText(dpu));
  }
  io.out('\n== counters\n');
  io.out(counterBlock(topo.bfl));
  io.out(counterBlock(topo.bfr));

  const costs = topo.bfl.datapath.costs;
  io.out(
    `\n== per-stage cycles (${costs.name}, ${fmt(costs.clockHz / 1e9, 2)} GHz cycle clock; ${costs.notes.join('; ')})\n`,
  );
  io.out(stageTable('BFL TX → BFR RX', topo.bfl.datapath.txLoad, topo.bfr.datapath.rxLoad));
  io.out(stageTable('BFR TX → BFL RX', topo.bfr.datapath.txLoad, topo.bfl.datapath.rxLoad));

  io.out('\n== modeled throughput and latency (one p0 port per DPU)\n');
  io.out(throughputLine('BFL TX (encrypt)', topo.bfl.datapath.txLoad.throughput()));
  io.out(throughputLine('BFR RX (decrypt)', topo.bfr.datapath.rxLoad.throughput()));
  io.out(throughputLine('BFR TX (encrypt)', topo.bfr.datapath.txLoad.throughput()));
  io.out(throughputLine('BFL RX (decrypt)', topo.bfl.datapath.rxLoad.throughput()));
  const queues = topo.bfr.datapath.queuePackets.filter((n) => n > 0).length;
  io.out(
    `  RSS: ESP spread by SPI over ${topo.bfr.datapath.rss.queues} queues; ${queues} in use (one SA per direction ⇒ one queue; more SAs ⇒ more queues)\n`,
  );
  for (const side of ['left', 'right'] as const) {
    const n = delivered[side];
    const ns = n ? (e2e[side] / n / costs.clockHz) * 1e9 : 0;
    io.out(
      `  latency ${side === 'left' ? 'BFL→BFR' : 'BFR→BFL'} (NIC TX + wire + NIC RX, no queueing): ${fmt(ns, 0)} ns avg\n`,
    );
  }

  io.out(
    '\n== Wireshark esp_sa (Preferences › Protocols › ESP › ESP SAs; enable "Attempt to detect/decode encrypted ESP payloads")\n',
  );
  for (const l of espSaLines(cfg)) io.out(`${l}\n`);
  if (pcap && o.pcap) {
    pcap.writeFile(o.pcap);
    io.out(
      `\n== pcap: ${o.pcap} (${pcap.packets} frames, LINKTYPE_ETHERNET)${o.modeledCrypto ? ' — modeled crypto: ESP payloads are NOT encrypted' : ''}\n`,
    );
  }
  io.out(`\n== done in ${fmt((Date.now() - t0) / 1000, 2)} s\n`);
  topo.dispose();
  return mismatched.left + mismatched.right === 0 &&
    delivered.left === sent.left &&
    delivered.right === sent.right
    ? 0
    : 1;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(
      'usage: xfrmkit demo [--profile bf3|bf2|cx7|cx6dx] [--packets N] [--size S|imix] [--pcap FILE] [--modeled-crypto]\n',
    );
    return 0;
  }
  return runDemo(parseDemoArgs(argv));
}
