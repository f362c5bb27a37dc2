/**
 * The netdevsim comparison: devlink (generic netlink) and XFRM crypto offload on the oracle
 * guest's netdevsim device `netdevsim/netdevsim1` (one port, netdev eth0), against the simulator's
 * netdevsim profile (`createNetdevsimMachine`, packages/sim/src/devices/netdevsim.ts).
 *
 * Each side has a NETLINK_XFRM socket (groups 1..8) and a NETLINK_GENERIC socket (joined to
 * devlink's "config" group unless `notifications: false`); requests name netdevs and the devlink
 * family, each side fills in its own numbers (`localise`) and the answers are compared after
 * `normaliseDiff`. Sysfs writes (`sriov_numvfs`) are actions both sides perform.
 */
type DevlinkHandle = { bus: string; dev: string };

import { createHash } from 'node:crypto';
import {
  type AttrInput,
  buildDevGet,
  buildEswitchGet,
  buildEswitchSet,
  buildGetFamily,
  buildInfoGet,
  buildParamGet,
  buildParamSet,
  buildPortFunctionSet,
  buildPortGet,
  buildReload,
  decodeDatagram,
  decodeFamilyInfo,
  devlinkFamily,
  encodeMessage,
  encodeXfrm,
  GenlRegistry,
  type NetlinkMessage,
} from '@xfrmkit/netlink';
import {
  createNetdevsimMachine,
  type DiffEndpoint,
  DiffNames,
  NETLINK_GENERIC_PROTO,
  NETLINK_XFRM_PROTO,
  type NetdevsimHost,
  nsimIpsecDebugfs,
  SimClock,
  SimEndpoint,
  TransportEndpoint,
  usersaInfo,
  XFRM_GROUPS,
} from '@xfrmkit/sim';
import fc from 'fast-check';
import type { OracleVm } from '../vm.ts';
import { excluded, type OracleKernel } from './allowed.ts';
import { KERNEL_TIMEOUT_MS, kernelSeriesOf } from './esp.ts';
import {
  type DiffAction,
  DiffRunner,
  type DiffSide,
  flushXfrm,
  type OracleOp,
  type SimDiffSide,
} from './runner.ts';

export const NSIM: DevlinkHandle = { bus: 'netdevsim', dev: 'netdevsim1' };
const SYSFS = '/sys/bus/netdevsim/devices/netdevsim1';

/** the family id requests are built with before `localise` writes each side's */
const PLACEHOLDER_FAMILY = 0xfff0;
const registry = new GenlRegistry().define(devlinkFamily);
registry.bind(PLACEHOLDER_FAMILY, 'devlink');

const ERRNO_NAMES: Record<number, string> = {
  2: 'ENOENT',
  12: 'ENOMEM',
  16: 'EBUSY',
  22: 'EINVAL',
  95: 'EOPNOTSUPP',
};
/** strerror texts busy-box's `sh` prints for a failed write */
const STRERROR: Record<string, string> = {
  'Device or resource busy': 'EBUSY',
  'Cannot allocate memory': 'ENOMEM',
  'Invalid argument': 'EINVAL',
  'No such file or directory': 'ENOENT',
  'Operation not supported': 'EOPNOTSUPP',
};

// ---- requests ---------------------------------------------------------------------------------------

/** A devlink request op (nlmsg_type filled per side). */
function dl(what: string, m: NetlinkMessage, extra: Partial<OracleOp> = {}): OracleOp {
  return {
    what,
    bytes: encodeMessage(m, registry),
    protocol: NETLINK_GENERIC_PROTO,
    family: 'devlink',
    ...extra,
  };
}

function dlReq(build: (id: number) => NetlinkMessage): NetlinkMessage {
  return build(PLACEHOLDER_FAMILY);
}

export const devlinkOps = {
  getFamily: (): OracleOp => ({
    what: 'CTRL_CMD_GETFAMILY devlink',
    bytes: encodeMessage(buildGetFamily('devlink')),
    protocol: NETLINK_GENERIC_PROTO,
  }),
  devGet: (dump = false) =>
    dl(
      `dev ${dump ? 'dump' : 'get'}`,
      dlReq((id) => buildDevGet(id, dump ? undefined : NSIM)),
    ),
  portGet: (index?: number, filtered = false) =>
    dl(
      index === undefined ? `port dump${filtered ? ' netdevsim1' : ''}` : `port get ${index}`,
      dlReq((id) => buildPortGet(id, index === undefined && !filtered ? undefined : NSIM, index)),
    ),
  eswitchGet: (h: DevlinkHandle = NSIM) =>
    dl(
      `eswitch get ${h.dev}`,
      dlReq((id) => buildEswitchGet(id, h)),
    ),
  eswitchMode: (mode: number) =>
    dl(
      `eswitch set mode ${mode}`,
      dlReq((id) => buildEswitchSet(id, NSIM, { mode })),
      { netdevs: true },
    ),
  eswitchInline: (inlineMode: number) =>
    dl(
      `eswitch set inline-mode ${inlineMode}`,
      dlReq((id) => buildEswitchSet(id, NSIM, { inlineMode })),
    ),
  eswitchEncap: (encapMode: number) =>
    dl(
      `eswitch set encap-mode ${encapMode}`,
      dlReq((id) => buildEswitchSet(id, NSIM, { encapMode })),
    ),
  paramGet: (name?: string) =>
    dl(
      name ? `param get ${name}` : 'param dump',
      dlReq((id) => buildParamGet(id, name ? NSIM : undefined, name)),
    ),
  paramSet: (name: string, type: number, value: number | boolean, cmode: number) =>
    dl(
      `param set ${name} ${String(value)} cmode ${cmode}`,
      dlReq((id) => buildParamSet(id, NSIM, name, type, value, cmode)),
    ),
  infoGet: (dump = false) =>
    dl(
      `info ${dump ? 'dump' : 'get'}`,
      dlReq((id) => buildInfoGet(id, dump ? undefined : NSIM)),
    ),
  portFnHwAddr: (index: number) =>
    dl(
      `port function set ${index} hw_addr`,
      dlReq((id) => buildPortFunctionSet(id, NSIM, index, { hwAddr: Uint8Array.of(2, 0, 0, 0, 0, 9) })),
    ),
  reload: (action?: number, limit?: number) => {
    const o: { action?: number; limit?: number } = {};
    if (action !== undefined) o.action = action;
    if (limit !== undefined) o.limit = limit;
    return dl(
      `reload${action ? ` action ${action}` : ''}${limit !== undefined ? ` limit ${limit}` : ''}`,
      dlReq((id) => buildReload(id, NSIM, o)),
      {
        netdevs: true,
      },
    );
  },
  unknownDev: () =>
    dl(
      'eswitch get netdevsim9',
      dlReq((id) => buildEswitchGet(id, { bus: 'netdevsim', dev: 'netdevsim9' })),
    ),
  debugfsIpsec: (port = 0): OracleOp => ({
    what: `cat ports/${port}/ipsec (debugfs)`,
    bytes: new Uint8Array(0),
    action: { kind: 'debugfs_ipsec', port },
  }),
  numVfs: (value: number): OracleOp => ({
    what: `echo ${value} > sriov_numvfs`,
    bytes: new Uint8Array(0),
    action: { kind: 'sriov_numvfs', value },
    netdevs: true,
  }),
};

const key = (bytes: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 5 + 3) & 0xff);

export interface OffloadSa {
  spi: number;
  /** netdev named in XFRMA_OFFLOAD_DEV ('nosuch': an ifindex no side has) */
  dev: string;
  /** XFRM_OFFLOAD_* flags: 2 inbound, 4 packet, 8 unknown */
  flags: number;
  alg: 'rfc4106(gcm(aes))' | 'rfc4543(gcm(aes))' | 'cbc+hmac' | 'ah';
  keyBits: number;
  icv: number;
  esn: boolean;
  v6: boolean;
  /** XFRMA_SA_DIR (1 in, 2 out) */
  dir?: number;
}

/** NEWSA with XFRMA_OFFLOAD_DEV (iproute2's `offload [crypto|packet] dev D dir in|out`). */
export function offloadSa(o: OffloadSa): OracleOp {
  const v6 = o.v6;
  const daddr = v6 ? 'fd02::2' : '10.2.0.2';
  const saddr = v6 ? 'fd02::1' : '10.2.0.1';
  const proto = o.alg === 'ah' ? 51 : 50;
  const info = usersaInfo({
    daddr,
    saddr,
    spi: o.spi,
    proto,
    family: v6 ? 10 : 2,
    replayWindow: o.esn ? 0 : 32,
    flags: o.esn ? 128 : 0,
  });
  const attrs: AttrInput[] = [];
  if (o.alg === 'cbc+hmac') {
    attrs.push(
      { name: 'ALG_AUTH_TRUNC', value: { name: 'hmac(sha256)', keyLen: 256, truncLen: 128, key: key(32) } },
      { name: 'ALG_CRYPT', value: { name: 'cbc(aes)', keyLen: 128, key: key(16) } },
    );
  } else if (o.alg === 'ah') {
    attrs.push({
      name: 'ALG_AUTH_TRUNC',
      value: { name: 'hmac(sha256)', keyLen: 256, truncLen: 128, key: key(32) },
    });
  } else {
    attrs.push({
      name: 'ALG_AEAD',
      value: { name: o.alg, keyLen: o.keyBits, key: key(o.keyBits >> 3), icvLen: o.icv },
    });
  }
  if (o.esn)
    attrs.push({
      name: 'REPLAY_ESN_VAL',
      value: { bmpLen: 4, oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: 128, bmp: [0, 0, 0, 0] },
    });
  attrs.push({ name: 'OFFLOAD_DEV', value: { ifindex: 0, flags: o.flags } });
  if (o.dir !== undefined) attrs.push({ name: 'SA_DIR', value: o.dir });
  const bytes = encodeXfrm({ type: 0x10, flags: 5, seq: 0, pid: 0, body: info, attrs }).slice();
  // the OFFLOAD_DEV attribute: find it to fill its ifindex per side
  const dv = new DataView(bytes.buffer);
  let at = -1;
  for (let off = 16 + 224; off + 4 <= bytes.length; ) {
    const len = dv.getUint16(off, true);
    if (len < 4) break;
    if ((dv.getUint16(off + 2, true) & 0x3fff) === 28) at = off + 4;
    off += (len + 3) & ~3;
  }
  const what = `NEWSA ${o.alg}/${o.keyBits}/${o.icv}${o.esn ? ' esn' : ''}${o.v6 ? ' v6' : ''} spi ${o.spi.toString(16)} offload dev ${o.dev} flags ${o.flags}${o.dir ? ` sa_dir ${o.dir}` : ''}`;
  if (at < 0) throw new Error('offloadSa: no XFRMA_OFFLOAD_DEV in the request');
  return { what, bytes, ifindexAt: [[at, o.dev]], addsSa: true };
}

/** GETSA / DELSA of one of the offload SAs. */
export function saOp(kind: 'get' | 'del', spi: number, v6 = false, alg: 'esp' | 'ah' = 'esp'): OracleOp {
  const body = {
    daddr: v6 ? 'fd02::2' : '10.2.0.2',
    spi,
    family: v6 ? 10 : 2,
    proto: alg === 'ah' ? 51 : 50,
  };
  return {
    what: `${kind === 'get' ? 'GET' : 'DEL'}SA ${spi.toString(16)}${v6 ? ' v6' : ''}`,
    bytes: encodeXfrm({ type: kind === 'get' ? 0x12 : 0x11, flags: 5, seq: 0, pid: 0, body, attrs: [] }),
  };
}

export const dumpSa: OracleOp = {
  what: 'dump SA',
  bytes: encodeXfrm({ type: 0x12, flags: 0x301, seq: 0, pid: 0, attrs: [] }),
};

// ---- random sequences ------------------------------------------------------------------------------

const SPIS = [0x4000, 0x4001, 0x4002];

const arbOffloadSa: fc.Arbitrary<OracleOp> = fc
  .record({
    spi: fc.constantFrom(...SPIS),
    dev: fc.constantFrom('eth0', 'eth0', 'eth0', 'eth0', 'eth1', 'lo', 'nosuch'),
    flags: fc.constantFrom(0, 0, 2, 2, 4, 6, 8, 1),
    alg: fc.constantFrom<OffloadSa['alg']>(
      'rfc4106(gcm(aes))',
      'rfc4106(gcm(aes))',
      'rfc4106(gcm(aes))',
      'rfc4543(gcm(aes))',
      'cbc+hmac',
      'ah',
    ),
    keyBits: fc.constantFrom(160, 160, 160, 224, 288),
    icv: fc.constantFrom(128, 128, 128, 96, 64),
    esn: fc.constantFrom(false, false, false, true),
    v6: fc.constantFrom(false, false, true),
    dir: fc.constantFrom(undefined, undefined, undefined, 1, 2),
  })
  .map((o) => {
    const sa: OffloadSa = {
      spi: o.spi,
      dev: o.dev,
      flags: o.flags,
      alg: o.alg,
      keyBits: o.keyBits,
      icv: o.icv,
      esn: o.esn,
      v6: o.v6,
    };
    if (o.dir !== undefined) sa.dir = o.dir;
    return offloadSa(sa);
  });

const arbDevlinkOp: fc.Arbitrary<OracleOp> = fc.oneof(
  fc.constant(devlinkOps.getFamily()),
  fc.boolean().map((d) => devlinkOps.devGet(d)),
  fc
    .constantFrom<[number | undefined, boolean]>(
      [undefined, false],
      [undefined, true],
      [0, false],
      [128, false],
      [129, false],
      [7, false],
    )
    .map(([i, f]) => devlinkOps.portGet(i, f)),
  fc.constant(devlinkOps.eswitchGet()),
  fc.constantFrom(0, 1, 1, 2).map((m) => devlinkOps.eswitchMode(m)),
  fc.constantFrom(0, 2).map((m) => devlinkOps.eswitchInline(m)),
  fc.constantFrom(0, 1).map((m) => devlinkOps.eswitchEncap(m)),
  fc.constantFrom(undefined, 'max_macs', 'test1', 'nosuch').map((n) => devlinkOps.paramGet(n)),
  fc
    .constantFrom<[string, number, number | boolean, number]>(
      ['max_macs', 3, 16, 1],
      ['max_macs', 3, 32, 1],
      ['test1', 6, false, 1],
      ['test1', 6, true, 1],
      ['max_macs', 3, 16, 0],
      ['max_macs', 1, 16, 1],
    )
    .map(([n, t, v, c]) => devlinkOps.paramSet(n, t, v, c)),
  fc.boolean().map((d) => devlinkOps.infoGet(d)),
  fc.constantFrom(0, 128).map((i) => devlinkOps.portFnHwAddr(i)),
  fc.constant(devlinkOps.unknownDev()),
  fc.constantFrom(0, 2, 2, 3, 5).map((n) => devlinkOps.numVfs(n)),
);

const arbXfrmOp: fc.Arbitrary<OracleOp> = fc.oneof(
  { arbitrary: arbOffloadSa, weight: 5 },
  {
    arbitrary: fc
      .record({ del: fc.boolean(), spi: fc.constantFrom(...SPIS), v6: fc.boolean() })
      .map((o) => saOp(o.del ? 'del' : 'get', o.spi, o.v6)),
    weight: 2,
  },
  { arbitrary: fc.constant(dumpSa), weight: 1 },
);

/**
 * Random netdevsim sequences for `kernel`: devlink requests, sysfs VF changes, offloaded SAs (no
 * reload: traps), without the requests `kernel` is too old for (./allowed.ts EXCLUDED_REQUESTS).
 */
export function arbNetdevsimSequence(kernel: OracleKernel): fc.Arbitrary<OracleOp[]> {
  return fc
    .array(fc.oneof({ arbitrary: arbDevlinkOp, weight: 3 }, { arbitrary: arbXfrmOp, weight: 2 }), {
      minLength: 1,
      maxLength: 12,
    })
    .map((ops) => ops.filter((o) => !excluded(kernel, o)));
}

// ---- the two sides ---------------------------------------------------------------------------------

export interface NetdevsimOptions {
  /**
   * join devlink's "config" group (default: yes, except on 6.1, see EXCLUDED_REQUESTS
   * 'devlink-core-6.1'); off to compare reloads (traps are not modelled)
   */
  notifications?: boolean;
}

/** debugfs `ipsec` text with each key line replaced by a digest (keys never go to logs) */
export function redactDebugfsKeys(text: string): string {
  return text.replace(
    /^(sa\[\d+\]\s+key=)(.*)$/gm,
    (_m, head: string, key: string) =>
      `${head}[redacted, sha256 ${createHash('sha256').update(key).digest('hex').slice(0, 12)}]`,
  );
}

function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

/** Resets a side between sequences: empty XFRM tables, no VFs, legacy, default params. */
async function resetNsim(side: DiffSide): Promise<void> {
  await flushXfrm(side);
  await side.act?.({ kind: 'sriov_numvfs', value: 0 });
  const g = side.endpoints.get(NETLINK_GENERIC_PROTO)!;
  const id = side.names.familyIdOf.get('devlink')!;
  const send = async (m: NetlinkMessage) => {
    const b = encodeMessage(m, registry).slice();
    new DataView(b.buffer).setUint16(4, id, true);
    await g.exchange(b);
  };
  await send(buildEswitchSet(PLACEHOLDER_FAMILY, NSIM, { mode: 0 }));
  await send(buildParamSet(PLACEHOLDER_FAMILY, NSIM, 'max_macs', 3, 32, 1));
  await send(buildParamSet(PLACEHOLDER_FAMILY, NSIM, 'test1', 6, true, 1));
  await side.refreshNames?.();
  await g.exchange();
}

/** The guest's netdevs: `ip -o link` (busybox) → name and ifindex. */
async function readNetdevs(vm: OracleVm, names: DiffNames): Promise<void> {
  const out = await vm.sh('ip -o link');
  for (const line of out.split('\n')) {
    const m = /^(\d+): ([^:@]+)[:@]/.exec(line);
    if (m) names.setNetdev(m[2]!, Number(m[1]));
  }
}

async function kernelSide(vm: OracleVm, opts: NetdevsimOptions): Promise<DiffSide> {
  const names = new DiffNames();
  // resolve devlink on a socket of its own (the comparison's socket then starts clean)
  const probe = await vm.open(NETLINK_GENERIC_PROTO);
  const got: Uint8Array[] = [];
  probe.onDatagram((d) => got.push(d.slice()));
  probe.send(encodeMessage(buildGetFamily('devlink')));
  await vm.exec('true');
  probe.close();
  for (const d of got)
    for (const m of decodeDatagram(d, 'genl')) {
      if (m.kind !== 'genl') continue;
      const f = decodeFamilyInfo(m.genl.attrs);
      names.setFamily(
        f.name,
        f.id,
        f.mcastGroups.map((g) => [g.name, g.id] as const),
      );
    }
  const devlinkId = names.familyIdOf.get('devlink');
  if (devlinkId === undefined) throw new Error('oracle: the guest kernel has no devlink family');
  const config = [...names.groupOf].find(([, n]) => n === 'devlink/config')?.[0];
  const x = new TransportEndpoint(
    await vm.open(NETLINK_XFRM_PROTO, { groups: XFRM_GROUPS }),
    KERNEL_TIMEOUT_MS,
  );
  const gt = await vm.open(NETLINK_GENERIC_PROTO, {
    groups: opts.notifications === false || config === undefined ? [] : [config],
  });
  const g = new TransportEndpoint(gt, KERNEL_TIMEOUT_MS);
  await readNetdevs(vm, names);
  return {
    label: 'kernel',
    endpoints: new Map<number, DiffEndpoint>([
      [NETLINK_XFRM_PROTO, x],
      [NETLINK_GENERIC_PROTO, g],
    ]),
    names,
    refreshNames: () => readNetdevs(vm, names),
    async act(a: DiffAction) {
      if (a.kind === 'debugfs_ipsec')
        return redactDebugfsKeys(
          await vm.sh(`cat /sys/kernel/debug/netdevsim/netdevsim1/ports/${a.port}/ipsec`),
        );
      const r = await vm.exec(`echo ${a.value} > ${SYSFS}/sriov_numvfs`);
      if (r.status === 0) return 'ok';
      const text = /write error: (.*)/.exec(r.output)?.[1]?.trim() ?? r.output.trim();
      return STRERROR[text] ?? `failed: ${text}`;
    },
    close() {
      x.close();
      g.close();
    },
  };
}

function simSide(host: NetdevsimHost, opts: NetdevsimOptions): SimDiffSide {
  const names = new DiffNames();
  names.setFamily('nlctrl', 0x10, [['notify', 0x10]]);
  names.setFamily('devlink', host.devlink.id, [['config', host.devlink.configGroup]]);
  const refresh = async () => {
    for (const nd of host.netdevs.list()) names.setNetdev(nd.name, nd.ifindex);
  };
  void refresh();
  const x = new SimEndpoint(host.machine, NETLINK_XFRM_PROTO, { netns: 'default', groups: XFRM_GROUPS });
  const g = new SimEndpoint(host.machine, NETLINK_GENERIC_PROTO, {
    netns: 'default',
    groups: opts.notifications === false ? [] : [host.devlink.configGroup],
  });
  return {
    label: 'simulator',
    endpoints: new Map<number, DiffEndpoint>([
      [NETLINK_XFRM_PROTO, x],
      [NETLINK_GENERIC_PROTO, g],
    ]),
    names,
    xfrm: host.xfrm,
    refreshNames: refresh,
    async act(a: DiffAction) {
      if (a.kind === 'debugfs_ipsec') {
        const t = host.devices[0]!.portIpsec(a.port);
        return t ? redactDebugfsKeys(nsimIpsecDebugfs(t)) : 'ENOENT';
      }
      const e = host.devices[0]!.setNumVfs(a.value);
      return e ? errnoName(e.errno) : 'ok';
    },
    close() {
      x.close();
      g.close();
    },
  };
}

/**
 * A runner comparing the guest's netdevsim1 with the simulator's netdevsim profile. The guest must
 * have netdevsim (prepare.sh builds it; `vm.artifacts.netdevsim`).
 */
export async function openNetdevsimRunner(
  vm: OracleVm,
  opts: NetdevsimOptions = {},
): Promise<{ runner: DiffRunner; host: NetdevsimHost }> {
  if (!vm.artifacts.netdevsim) throw new Error('oracle: the prepared kernel has no netdevsim module');
  const series = kernelSeriesOf(vm);
  if (opts.notifications === undefined) opts = { ...opts, notifications: series !== '6.1' };
  const kernel = await kernelSide(vm, opts);
  // the simulator's wall clock is the host's (add times are compared within ±5 s of now)
  const host = createNetdevsimMachine({ clock: new SimClock(Date.now(), true) });
  return { runner: new DiffRunner(kernel, simSide(host, opts), series, resetNsim), host };
}
