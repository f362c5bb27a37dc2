/**
 * The ioctl side channel of `xfrmkit sim serve` (frames IOCTL / IOCTL_ACK, one exchange per
 * connection, no HELLO): SIOCETHTOOL, SIOCGIFINDEX and SIOCGIFNAME answered from the simulated
 * host, as the kernel's `dev_ethtool` / `dev_ifsioc_locked` would for those netdevs.
 *
 * IOCTL frame: header `group` = ioctl request number (0 = SIOCETHTOOL); payload = char
 * ifname[16] + request data. IOCTL_ACK payload = i32 err (0 / −errno; −ENODEV = "no such simulated
 * netdev", the shim then does the real ioctl) + data out.
 *
 * SIOCETHTOOL commands: GDRVINFO, GSSET_INFO, GSTRINGS, GSTATS, GFEATURES (others: EOPNOTSUPP).
 * ETH_SS_FEATURES is the simulator's FEATURE_NAMES table for every netdev (lo included), so
 * charon's probe — learn the `esp-hw-offload` bit on `lo`, test it on the SA's interface — sees one
 * consistent table. ETH_SS_STATS is the device's ethtool -S IPsec groups (uplink only).
 */
import { connect } from 'node:net';
import type { SimHost } from '../create.ts';
import { FEATURE_NAMES, type SimNetdev } from '../devices/netdev.ts';
import { encodeFrame, FRAME, FrameReader } from './frames.ts';

export const SIOCGIFNAME = 0x8910;
export const SIOCGIFINDEX = 0x8933;
export const SIOCETHTOOL = 0x8946;
export const ETHTOOL = {
  GDRVINFO: 0x03,
  GSTRINGS: 0x1b,
  GSTATS: 0x1d,
  GSSET_INFO: 0x37,
  GFEATURES: 0x3a,
} as const;
export const ETH_SS = { TEST: 0, STATS: 1, PRIV_FLAGS: 2, FEATURES: 4 } as const;
export const ETH_GSTRING_LEN = 32;
const IFNAMSIZ = 16;
const ENODEV = 19;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const DRVINFO_LEN = 196;

export interface IoctlAnswer {
  /** 0 or −errno */
  err: number;
  data: Uint8Array;
}

const fail = (errno: number): IoctlAnswer => ({ err: -errno, data: new Uint8Array(0) });

function cstr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return Buffer.from(b.subarray(0, nul < 0 ? b.length : nul)).toString('latin1');
}

function putStr(b: Buffer, off: number, size: number, s: string): void {
  b.write(s.slice(0, size - 1), off, 'latin1');
}

/** What ethtool reports for one simulated netdev. */
export interface EthtoolView {
  driver: string;
  version: string;
  fwVersion: string;
  busInfo: string;
  stats: Record<string, bigint> | undefined;
}

function viewOf(host: SimHost, nd: SimNetdev): EthtoolView | undefined {
  if (nd.kind === 'loopback') return undefined; // lo: no get_drvinfo / get_sset_count(STATS)
  const dev = host.deviceOf(nd.name);
  return {
    driver: nd.kind === 'uplink' ? 'mlx5_core' : 'mlx5e_rep',
    version: '6.1.0-xfrmkit-sim',
    fwVersion: dev ? dev.firmware.running : '',
    busInfo: nd.pci ?? '',
    stats: dev ? dev.ethtoolStats(nd.ifindex) : {},
  };
}

function ethtool(host: SimHost, nd: SimNetdev, data: Buffer): IoctlAnswer {
  if (data.length < 4) return fail(EINVAL);
  const cmd = data.readUInt32LE(0);
  const view = viewOf(host, nd);
  const statNames = Object.keys(view?.stats ?? {});
  const setCount = (set: number): number | undefined => {
    if (set === ETH_SS.FEATURES) return FEATURE_NAMES.length;
    if (set === ETH_SS.STATS && view) return statNames.length;
    return undefined;
  };
  const setStrings = (set: number): readonly string[] =>
    set === ETH_SS.FEATURES ? FEATURE_NAMES : set === ETH_SS.STATS ? statNames : [];
  switch (cmd) {
    case ETHTOOL.GDRVINFO: {
      if (!view) return fail(EOPNOTSUPP);
      const b = Buffer.alloc(DRVINFO_LEN);
      b.writeUInt32LE(cmd, 0);
      putStr(b, 4, 32, view.driver);
      putStr(b, 36, 32, view.version);
      putStr(b, 68, 32, view.fwVersion);
      putStr(b, 100, 32, view.busInfo);
      // erom_version[32] @132, reserved2[12] @164, n_priv_flags @176, n_stats @180, testinfo_len,
      // eedump_len, regdump_len
      b.writeUInt32LE(statNames.length, 180);
      return { err: 0, data: b };
    }
    case ETHTOOL.GSSET_INFO: {
      if (data.length < 16) return fail(EINVAL);
      const mask = data.readBigUInt64LE(8);
      let outMask = 0n;
      const counts: number[] = [];
      for (let i = 0; i < 64; i++) {
        if (!(mask & (1n << BigInt(i)))) continue;
        const n = setCount(i);
        if (n === undefined) continue;
        outMask |= 1n << BigInt(i);
        counts.push(n);
      }
      const b = Buffer.alloc(16 + 4 * counts.length);
      b.writeUInt32LE(cmd, 0);
      b.writeBigUInt64LE(outMask, 8);
      for (const [i, n] of counts.entries()) b.writeUInt32LE(n, 16 + 4 * i);
      return { err: 0, data: b };
    }
    case ETHTOOL.GSTRINGS: {
      if (data.length < 12) return fail(EINVAL);
      const set = data.readUInt32LE(4);
      if (setCount(set) === undefined) return fail(EOPNOTSUPP);
      const names = setStrings(set);
      // like ethtool_get_strings: `len` is overwritten with the set's size, len*32 bytes follow
      const b = Buffer.alloc(12 + ETH_GSTRING_LEN * names.length);
      b.writeUInt32LE(cmd, 0);
      b.writeUInt32LE(set, 4);
      b.writeUInt32LE(names.length, 8);
      for (const [i, n] of names.entries()) putStr(b, 12 + ETH_GSTRING_LEN * i, ETH_GSTRING_LEN, n);
      return { err: 0, data: b };
    }
    case ETHTOOL.GSTATS: {
      if (!view) return fail(EOPNOTSUPP);
      const values = Object.values(view.stats ?? {});
      const b = Buffer.alloc(8 + 8 * values.length);
      b.writeUInt32LE(cmd, 0);
      b.writeUInt32LE(values.length, 4);
      for (const [i, v] of values.entries()) b.writeBigUInt64LE(BigInt.asUintN(64, v), 8 + 8 * i);
      return { err: 0, data: b };
    }
    case ETHTOOL.GFEATURES: {
      if (data.length < 8) return fail(EINVAL);
      const words = Math.ceil(FEATURE_NAMES.length / 32);
      const copy = Math.min(data.readUInt32LE(4), words);
      const b = Buffer.alloc(8 + 16 * copy);
      b.writeUInt32LE(cmd, 0);
      b.writeUInt32LE(words, 4); // the size the kernel needs, whatever the caller passed
      for (let w = 0; w < copy; w++) {
        let available = 0;
        let active = 0;
        let fixed = 0;
        for (let bit = 0; bit < 32; bit++) {
          const name = FEATURE_NAMES[w * 32 + bit];
          if (!name) break;
          const m = 2 ** bit;
          if (nd.features[name]) active += m;
          if (nd.fixed.has(name)) fixed += m;
          else available += m;
        }
        b.writeUInt32LE(available >>> 0, 8 + 16 * w);
        b.writeUInt32LE(active >>> 0, 12 + 16 * w); // requested
        b.writeUInt32LE(active >>> 0, 16 + 16 * w);
        b.writeUInt32LE(fixed >>> 0, 20 + 16 * w); // never_changed
      }
      return { err: 0, data: b };
    }
    default:
      return fail(EOPNOTSUPP);
  }
}

/** Answers one IOCTL frame for `host`; −ENODEV when the name/index is not a simulated netdev. */
export function answerIoctl(host: SimHost, request: number, payload: Uint8Array): IoctlAnswer {
  if (payload.length < IFNAMSIZ) return fail(EINVAL);
  const name = cstr(payload.subarray(0, IFNAMSIZ));
  const data = Buffer.from(payload.subarray(IFNAMSIZ));
  switch (request || SIOCETHTOOL) {
    case SIOCGIFINDEX: {
      const nd = host.netdevs.byName(name);
      if (!nd) return fail(ENODEV);
      const b = Buffer.alloc(4);
      b.writeInt32LE(nd.ifindex, 0);
      return { err: 0, data: b };
    }
    case SIOCGIFNAME: {
      if (data.length < 4) return fail(EINVAL);
      const nd = host.netdevs.get(data.readInt32LE(0));
      if (!nd) return fail(ENODEV);
      const b = Buffer.alloc(IFNAMSIZ);
      putStr(b, 0, IFNAMSIZ, nd.name);
      return { err: 0, data: b };
    }
    case SIOCETHTOOL: {
      const nd = host.netdevs.byName(name);
      if (!nd) return fail(ENODEV);
      return ethtool(host, nd, data);
    }
    default:
      return fail(EOPNOTSUPP);
  }
}

export function encodeIoctlAck(a: IoctlAnswer): Buffer {
  const p = Buffer.alloc(4 + a.data.length);
  p.writeInt32LE(a.err, 0);
  p.set(a.data, 4);
  return encodeFrame({ kind: FRAME.IOCTL_ACK, group: 0, portid: 0, payload: p });
}

/** An ioctl answerer: over a `sim serve` socket (ioctlOverUnix) or in process (answerIoctl). */
export type IoctlFn = (request: number, ifname: string, data: Uint8Array) => Promise<IoctlAnswer>;

/** One IOCTL exchange with `xfrmkit sim serve` on its own connection (what the shim does). */
export function ioctlOverUnix(path: string): IoctlFn {
  return (request, ifname, data) =>
    new Promise((resolve, reject) => {
      const conn = connect(path);
      const reader = new FrameReader();
      const name = Buffer.alloc(IFNAMSIZ);
      putStr(name, 0, IFNAMSIZ, ifname);
      conn.once('error', reject);
      conn.once('connect', () =>
        conn.write(
          encodeFrame({ kind: FRAME.IOCTL, group: request, portid: 0, payload: Buffer.concat([name, data]) }),
        ),
      );
      conn.on('data', (chunk: Buffer) => {
        let ack: { payload: Uint8Array } | undefined;
        try {
          ack = reader.push(chunk).find((f) => f.kind === FRAME.IOCTL_ACK);
        } catch (e) {
          conn.destroy();
          reject(e);
          return;
        }
        if (!ack) return;
        conn.destroy();
        const p = Buffer.from(ack.payload);
        if (p.length < 4) return reject(new Error('short IOCTL_ACK'));
        resolve({ err: p.readInt32LE(0), data: new Uint8Array(p.subarray(4)) });
      });
      conn.once('close', () => reject(new Error('simulator closed the ioctl connection without an answer')));
    });
}

export class EthtoolError extends Error {
  override readonly name = 'EthtoolError';
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

async function call(io: IoctlFn, ifname: string, data: Buffer, what: string): Promise<Buffer> {
  const a = await io(SIOCETHTOOL, ifname, data);
  if (a.err !== 0) throw new EthtoolError(`${what} on ${ifname}: errno ${-a.err}`, -a.err);
  return Buffer.from(a.data);
}

/** `ethtool -S IF` the way ethtool(8) does it: GSSET_INFO(STATS), GSTRINGS(STATS), GSTATS. */
export async function ethtoolStats(io: IoctlFn, ifname: string): Promise<[string, bigint][]> {
  const q = Buffer.alloc(16);
  q.writeUInt32LE(ETHTOOL.GSSET_INFO, 0);
  q.writeBigUInt64LE(1n << BigInt(ETH_SS.STATS), 8);
  const info = await call(io, ifname, q, 'ETHTOOL_GSSET_INFO');
  if (!(info.readBigUInt64LE(8) & (1n << BigInt(ETH_SS.STATS))))
    throw new EthtoolError(`no stats available on ${ifname}`, EOPNOTSUPP);
  const n = info.readUInt32LE(16);
  const gs = Buffer.alloc(12);
  gs.writeUInt32LE(ETHTOOL.GSTRINGS, 0);
  gs.writeUInt32LE(ETH_SS.STATS, 4);
  gs.writeUInt32LE(n, 8);
  const strings = await call(io, ifname, gs, 'ETHTOOL_GSTRINGS');
  const st = Buffer.alloc(8);
  st.writeUInt32LE(ETHTOOL.GSTATS, 0);
  st.writeUInt32LE(n, 4);
  const stats = await call(io, ifname, st, 'ETHTOOL_GSTATS');
  const count = Math.min(n, strings.readUInt32LE(8), stats.readUInt32LE(4));
  const out: [string, bigint][] = [];
  for (let i = 0; i < count; i++) {
    const raw = strings.subarray(12 + ETH_GSTRING_LEN * i, 12 + ETH_GSTRING_LEN * (i + 1));
    out.push([cstr(raw), stats.readBigUInt64LE(8 + 8 * i)]);
  }
  return out;
}

/** ethtool(8)'s `-S` output format. */
export function formatEthtoolStats(stats: [string, bigint][]): string {
  return `NIC statistics:\n${stats.map(([n, v]) => `     ${n}: ${v}\n`).join('')}`;
}
