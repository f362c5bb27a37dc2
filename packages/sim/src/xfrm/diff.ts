/**
 * Comparing the netlink traffic of two endpoints (a kernel and the simulator) byte for byte. One
 * module for both differential suites (host kernel: packages/sim/test/xfrm, VM kernel:
 * packages/oracle): the endpoints that send a request and collect everything a socket receives, the
 * one normalisation (`normaliseDiff`), and the per-side filling of requests (`localise`).
 *
 *   kernel:    new TransportEndpoint(await KernelTransport.open({ protocol: 6, netns, groups }))
 *              new TransportEndpoint(await vm.open(6, { groups }))          (oracle VM kernel)
 *   simulator: new SimXfrmEndpoint({ esp: true })  or  new SimEndpoint(machine, 16, { netns, groups })
 */
import type { Transport } from '@xfrmkit/netlink';
import { SimClock } from '../clock.ts';
import { SimMachine } from '../machine.ts';
import type { SimSocket } from '../netlink/socket.ts';
import { XfrmHandler, type XfrmHandlerOptions } from './handler.ts';

export const NETLINK_XFRM_PROTO = 6;
export const NETLINK_GENERIC_PROTO = 16;
/** XFRM multicast groups 1..8 (SA, POLICY, EXPIRE, ACQUIRE, AEVENTS, REPORT, MIGRATE, MAPPING) */
export const XFRM_GROUPS = [1, 2, 3, 4, 5, 6, 7, 8];
export const PORT_MARK = 0x7e7e7e7e;
const SYNC_TYPE = 0x0f;
const GENL_ID_CTRL = 0x10;

// ---- names: what must differ between two machines, resolved per side ----------------------------

/**
 * Names of the things whose numbers a machine chooses: netdev ifindexes and generic netlink family
 * and multicast group ids. Cumulative (an ifindex is never reused while a kernel lives), filled by
 * whoever owns the side (the simulator's tables, `ip -o link` / CTRL_CMD_GETFAMILY in a VM).
 */
export class DiffNames {
  /** netdev name → ifindex (latest), ifindex → name (every one ever seen) */
  readonly ifindexOf = new Map<string, number>();
  readonly ifnameOf = new Map<number, string>();
  /** genl family name → id, id → name */
  readonly familyIdOf = new Map<string, number>();
  readonly familyOf = new Map<number, string>();
  /** genl multicast group id → "family/group" */
  readonly groupOf = new Map<number, string>();

  setNetdev(name: string, ifindex: number): void {
    this.ifindexOf.set(name, ifindex);
    this.ifnameOf.set(ifindex, name);
  }

  setFamily(name: string, id: number, groups: ReadonlyArray<readonly [string, number]> = []): void {
    this.familyIdOf.set(name, id);
    this.familyOf.set(id, name);
    for (const [g, gid] of groups) this.groupOf.set(gid, `${name}/${g}`);
  }
}

// ---- requests: one description, each side's bytes ------------------------------------------------

/** One step of a differential sequence. */
export interface DiffOp {
  /** a short label for failure reports */
  what: string;
  /** the request as sent (nlmsg_seq is stamped by the runner) */
  bytes: Uint8Array;
  /** netlink protocol of the socket it goes to (default NETLINK_XFRM) */
  protocol?: number;
  /** generic netlink: the family whose id this side gave it goes into nlmsg_type */
  family?: string;
  /** u32 ifindex fields to fill with this side's ifindex of a netdev: [byte offset, netdev name] */
  ifindexAt?: ReadonlyArray<readonly [number, string]>;
  /** ALLOCSPI range (the harness copies the kernel's SPI choice into the simulator) */
  spiRange?: [number, number];
  /** write the SPI the kernel picked at the last ALLOCSPI into usersa_info.id.spi before sending */
  useAllocatedSpi?: boolean;
  /** counts against the per-sequence limits that keep the kernel's hash tables at their initial size */
  addsPolicy?: boolean;
  addsSa?: boolean;
}

/** NO_SUCH_NETDEV: an ifindex no side has (requests naming a netdev that does not exist) */
export const NO_SUCH_IFINDEX = 0x7fff_fff0;

/**
 * The bytes of `op` for one side: genl family id in nlmsg_type, ifindexes of named netdevs (a name
 * the side does not know gets NO_SUCH_IFINDEX). Nothing else differs between the two sides' requests.
 */
export function localise(op: DiffOp, bytes: Uint8Array, names: DiffNames): Uint8Array {
  if (!op.family && !op.ifindexAt?.length) return bytes;
  const b = bytes.slice();
  const dv = new DataView(b.buffer);
  if (op.family) {
    const id = names.familyIdOf.get(op.family);
    if (id === undefined) throw new Error(`no generic netlink family "${op.family}" on this side`);
    dv.setUint16(4, id, true);
  }
  for (const [at, name] of op.ifindexAt ?? [])
    dv.setUint32(at, names.ifindexOf.get(name) ?? NO_SUCH_IFINDEX, true);
  return b;
}

// ---- the one normalisation -----------------------------------------------------------------------

/** What `normaliseDiff` needs to know about the socket that received the datagrams. */
export interface NormaliseContext {
  /** netlink protocol of the socket (6 XFRM, 16 generic) */
  protocol: number;
  /** the socket's own port id */
  portid: number;
  /** this side's names (ifindexes, genl ids); without it they are compared as numbers */
  names?: DiffNames;
  /**
   * for reports, never for comparing: key bytes of XFRMA_ALG_AUTH/CRYPT/COMP/AEAD/AUTH_TRUNC →
   * `[key:N]` (keys never appear in logs or errors)
   */
  redactKeys?: boolean;
}

/**
 * THE normalisation (the only place where kernel and simulator bytes may differ), applied to every
 * message of every datagram, and inside NLMSG_ERROR to the request it echoes:
 *
 * 1. header `nlmsg_pid` equal to the receiving socket's own port id → PORT_MARK: unicast replies,
 *    acks, errors and DONE are addressed to the requester, whose port id differs per socket.
 *    Notifications carry the request's nlmsg_pid field (what the test sent), left as is. The port id
 *    also cannot occur elsewhere (requests are generated with nlmsg_pid ∈ {0, 4242, 0xdeadbeef}).
 * 2. XFRM: every `curlft.add_time` (seconds of the wall clock at insertion: usersa_info /
 *    userpolicy_info bodies, XFRMA_SA / XFRMA_POLICY inside DEL notifications, XFRMA_LTIME_VAL of
 *    NEWAE) → 0, only when it lies within ±5 s of now (any other value stays and shows up as a
 *    difference).
 * 3. XFRM: the `seq` of ACQUIRE messages (the kernel's acquire counter is global to all namespaces
 *    and shared with other key managers, so its value depends on the machine's history) → 0.
 * 4. ifindexes (each machine numbers its netdevs): XFRMA_OFFLOAD_DEV.ifindex of SA/policy messages
 *    and DEVLINK_ATTR_PORT_NETDEV_IFINDEX → `[if:NAME]` by the side's own table. An ifindex the
 *    side does not know stays a number (and shows up as a difference).
 * 5. generic netlink family and multicast group ids (allocated at registration): nlmsg_type of genl
 *    messages, CTRL_ATTR_FAMILY_ID and CTRL_ATTR_MCAST_GRP_ID → `[family:NAME]`, `[group:FAMILY/NAME]`.
 *
 * Not normalised, made equal instead: ALLOCSPI's random SPI (the harness feeds the kernel's choice to
 * the simulator's random source, XfrmHandler.queueRandom), policy indexes (deterministic per
 * sequence), and requests (filled per side by `localise`). The result is one string per datagram:
 * hex, with the `[…]` tokens in place of the bytes they replace.
 */
export function normaliseDiff(dgrams: readonly Uint8Array[], ctx: NormaliseContext): string[] {
  const now = Date.now() / 1000;
  return dgrams.map((d0) => {
    const d = d0.slice();
    const dv = new DataView(d.buffer);
    const tokens: { at: number; len: number; text: string }[] = [];
    const token = (at: number, len: number, text: string) => tokens.push({ at, len, text });
    const zeroTime = (at: number) => {
      if (at + 8 > d.length) return;
      const t = Number(dv.getBigUint64(at, true));
      if (Math.abs(t - now) <= 5) dv.setBigUint64(at, 0n, true);
    };
    const attrs = (from: number, end: number, fn: (type: number, payload: number, len: number) => void) => {
      let off = from;
      while (off + 4 <= end) {
        const len = dv.getUint16(off, true);
        if (len < 4 || off + len > end) break;
        fn(dv.getUint16(off + 2, true) & 0x3fff, off + 4, len - 4);
        off += (len + 3) & ~3;
      }
    };
    const ifindex = (at: number) => {
      if (at + 4 > d.length) return;
      const name = ctx.names?.ifnameOf.get(dv.getUint32(at, true));
      if (name !== undefined) token(at, 4, `[if:${name}]`);
    };
    const familyId = (at: number, len: 2 | 4) => {
      const id = len === 2 ? dv.getUint16(at, true) : dv.getUint32(at, true);
      const name = ctx.names?.familyOf.get(id);
      if (name !== undefined) token(at, len, `[family:${name}]`);
    };
    /** key of struct xfrm_algo (key at +68) / xfrm_algo_aead, xfrm_algo_auth (+72) */
    const KEY_AT: Record<number, number> = { 1: 68, 2: 68, 3: 68, 18: 72, 20: 72 };
    const xfrmAttr = (t: number, p: number, l: number) => {
      if (t === 28) ifindex(p);
      const k = KEY_AT[t];
      if (ctx.redactKeys && k !== undefined && l > k) token(p + k, l - k, `[key:${l - k}]`);
    };
    const xfrmMessage = (off: number, len: number, type: number) => {
      const end = off + len;
      const b = off + 16;
      const saAttrs = (hdr: number) => attrs(b + hdr, end, xfrmAttr);
      if ((type === 0x10 || type === 0x1a) && len >= 16 + 224) {
        zeroTime(b + 176);
        saAttrs(224);
      } else if ((type === 0x13 || type === 0x19) && len >= 16 + 168) {
        zeroTime(b + 136);
        saAttrs(168);
      } else if (type === 0x18 && len >= 16 + 232) zeroTime(b + 176);
      else if (type === 0x1b && len >= 16 + 176) zeroTime(b + 136);
      else if (type === 0x11)
        attrs(b + 24, end, (t, p, l) => {
          if (t === 6) zeroTime(p + 176);
          xfrmAttr(t, p, l);
        });
      else if (type === 0x14)
        attrs(b + 64, end, (t, p) => {
          if (t === 7) zeroTime(p + 136);
          if (t === 28) ifindex(p);
        });
      else if (type === 0x1e) attrs(b + 48, end, (t, p) => t === 9 && zeroTime(p + 16));
      else if (type === 0x17 && len >= 16 + 280) dv.setUint32(b + 276, 0, true);
    };
    const genlMessage = (off: number, len: number, type: number, echoed: boolean) => {
      const end = off + len;
      const b = off + 20;
      if (type === GENL_ID_CTRL) {
        // CTRL_CMD_NEWFAMILY: FAMILY_ID, MCAST_GROUPS { n { MCAST_GRP_ID, NAME } }
        if (echoed || len < 20 || d[off + 16] !== 1) return;
        attrs(b, end, (t, p, l) => {
          if (t === 1 && l >= 2) familyId(p, 2);
          if (t === 7)
            attrs(p, p + l, (_n, gp, gl) =>
              attrs(gp, gp + gl, (gt, q) => {
                const name = gt === 2 ? ctx.names?.groupOf.get(dv.getUint32(q, true)) : undefined;
                if (name !== undefined) token(q, 4, `[group:${name}]`);
              }),
            );
        });
        return;
      }
      familyId(off + 4, 2);
      if (!echoed && ctx.names?.familyOf.get(type) === 'devlink' && len >= 20)
        attrs(b, end, (t, p) => t === 6 && ifindex(p));
    };
    const message = (off: number, avail: number, echoed: boolean) => {
      const len = dv.getUint32(off, true);
      const type = dv.getUint16(off + 4, true);
      if (!echoed && dv.getUint32(off + 12, true) === ctx.portid >>> 0)
        dv.setUint32(off + 12, PORT_MARK, true);
      if (type === 2) {
        // NLMSG_ERROR: s32 error + the request's header (and payload unless capped)
        if (!echoed && len >= 36) message(off + 20, Math.min(len, avail) - 20, true);
        return;
      }
      if (type < 0x10) return;
      // an echoed request inside an error may be capped to its header
      const body = Math.min(len, avail);
      if (ctx.protocol === NETLINK_GENERIC_PROTO) genlMessage(off, body, type, echoed);
      else if (ctx.protocol === NETLINK_XFRM_PROTO && (!echoed || body === len)) xfrmMessage(off, body, type);
    };
    let off = 0;
    while (off + 16 <= d.length) {
      const len = dv.getUint32(off, true);
      if (len < 16 || off + len > d.length) break;
      message(off, len, false);
      off += (len + 3) & ~3;
    }
    const hex = Buffer.from(d).toString('hex');
    if (!tokens.length) return hex;
    tokens.sort((a, b) => a.at - b.at);
    let out = '';
    let at = 0;
    for (const t of tokens) {
      if (t.at < at) continue;
      out += hex.slice(at * 2, t.at * 2) + t.text;
      at = t.at + t.len;
    }
    return out + hex.slice(at * 2);
  });
}

// ---- helpers of the XFRM suites ------------------------------------------------------------------

/** The SPI of an ALLOCSPI reply (NEWSA unicast), if the datagrams hold one. */
export function allocatedSpi(dgrams: readonly Uint8Array[]): number | undefined {
  for (const d of dgrams) {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (d.length >= 16 + 224 && dv.getUint16(4, true) === 0x10 && dv.getUint16(6, true) === 0) {
      return dv.getUint32(16 + 72, false);
    }
  }
  return undefined;
}

/** Writes `spi` into usersa_info.id.spi of a NEWSA/UPDSA request. */
export function withSpi(bytes: Uint8Array, spi: number): Uint8Array {
  const b = bytes.slice();
  if (b.length >= 16 + 76) new DataView(b.buffer).setUint32(16 + 72, spi >>> 0, false);
  return b;
}

function header(b: Uint8Array, off = 0) {
  const dv = new DataView(b.buffer, b.byteOffset + off);
  return {
    len: dv.getUint32(0, true),
    type: dv.getUint16(4, true),
    flags: dv.getUint16(6, true),
    seq: dv.getUint32(8, true),
  };
}

/**
 * True if `dgram` is a request answered by a dump (whose later parts the kernel may send after
 * the sync ack): XFRM GETSA/GETPOLICY with ROOT|MATCH, any generic netlink request with DUMP.
 */
export function isDump(dgram: Uint8Array, protocol = NETLINK_XFRM_PROTO): boolean {
  if (dgram.length < 16) return false;
  const h = header(dgram);
  if (h.len < 16 || h.len > dgram.length || (h.flags & 1) === 0 || (h.flags & 0x300) === 0) return false;
  if (protocol === NETLINK_XFRM_PROTO) return h.type === 0x12 || h.type === 0x15;
  return h.type >= 0x10;
}

/** The sync request: a control type acked with 0; its seq follows the request's (same on both sides). */
function syncMsg(after: Uint8Array | undefined, n: number): { bytes: Uint8Array; seq: number } {
  const seq = ((after && after.length >= 16 ? header(after).seq : n) + 0x40000000) >>> 0;
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 16, true);
  dv.setUint16(4, SYNC_TYPE, true);
  dv.setUint16(6, 0x5, true);
  dv.setUint32(8, seq, true);
  return { bytes: b, seq };
}

function holds(dgrams: Uint8Array[], pred: (type: number, seq: number) => boolean): boolean {
  for (const d of dgrams) {
    let off = 0;
    while (off + 16 <= d.length) {
      const h = header(d, off);
      if (h.len < 16) break;
      if (pred(h.type, h.seq)) return true;
      off += (h.len + 3) & ~3;
    }
  }
  return false;
}

// ---- endpoints: one socket of one side -------------------------------------------------------------

/** One netlink socket of a side of the comparison. */
export interface DiffEndpoint {
  readonly protocol: number;
  readonly portid: number;
  /**
   * Sends `dgram`, then a sync request, and returns every datagram the socket received since the
   * last call (replies, acks, errors, notifications), up to the sync's ack. Without `dgram`: only
   * the sync (collects notifications something else caused).
   */
  exchange(dgram?: Uint8Array): Promise<Uint8Array[]>;
  close(): void;
}

/**
 * A socket of a real kernel (the host's KernelTransport, the oracle VM's VmKernelTransport): the
 * datagrams arrive asynchronously, so a dump waits for its DONE and every exchange for the ack of
 * the sync request that follows it.
 */
export class TransportEndpoint implements DiffEndpoint {
  private got: Uint8Array[] = [];
  private waiter?: () => void;
  private failure?: Error;
  private syncs = 0;

  constructor(
    private readonly t: Transport,
    /** ms to wait for a DONE or the sync ack (a VM under TCG on a loaded machine is slow) */
    private readonly timeoutMs = 10_000,
  ) {
    t.onDatagram((d) => {
      this.got.push(d.slice());
      this.waiter?.();
    });
    t.onClose((err) => {
      this.failure = err ?? new Error('netlink socket closed');
      this.waiter?.();
    });
  }

  get protocol(): number {
    return this.t.protocol;
  }

  get portid(): number {
    return this.t.portid;
  }

  private async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!pred()) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`kernel: timed out waiting for ${what}`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, 50);
        this.waiter = () => {
          clearTimeout(timer);
          res();
        };
      });
      this.waiter = undefined;
    }
  }

  async exchange(dgram?: Uint8Array): Promise<Uint8Array[]> {
    if (dgram) {
      this.t.send(dgram);
      if (isDump(dgram, this.protocol)) {
        const seq = header(dgram).seq;
        await this.until(() => holds(this.got, (t, s) => (t === 3 || t === 2) && s === seq), 'dump DONE');
      }
    }
    const sync = syncMsg(dgram, this.syncs++);
    this.t.send(sync.bytes);
    await this.until(() => holds(this.got, (t, s) => t === 2 && s === sync.seq), 'sync ack');
    const out = this.got;
    this.got = [];
    return out;
  }

  close(): void {
    this.t.close();
  }
}

/** A socket on a simulated machine (answers synchronously). */
export class SimEndpoint implements DiffEndpoint {
  readonly sock: SimSocket;
  private got: Uint8Array[] = [];
  private syncs = 0;

  constructor(
    readonly machine: SimMachine,
    protocol: number,
    opts: { netns?: string; groups?: readonly number[] } = {},
  ) {
    this.sock = machine.openSocket(protocol, (d) => this.got.push(d.slice()), {
      netns: opts.netns ?? 'default',
    });
    this.sock.extAck = true;
    for (const g of opts.groups ?? []) this.sock.groups.add(g);
  }

  get protocol(): number {
    return this.sock.protocol;
  }

  get portid(): number {
    return this.sock.portid;
  }

  async exchange(dgram?: Uint8Array): Promise<Uint8Array[]> {
    if (dgram) this.machine.send(this.sock, dgram);
    this.machine.send(this.sock, syncMsg(dgram, this.syncs++).bytes);
    const out = this.got;
    this.got = [];
    return out;
  }

  close(): void {
    this.machine.closeSocket(this.sock);
  }
}

/**
 * A NETLINK_XFRM socket (groups 1..8) on a machine of its own with only the XFRM handler: the
 * personality of the host's kernel (`esp: false`, default) or of a kernel with ESP (`esp: true`).
 */
export class SimXfrmEndpoint extends SimEndpoint {
  readonly handler: XfrmHandler;

  constructor(opts: XfrmHandlerOptions & { netns?: string } = {}) {
    const { netns, ...xo } = opts;
    const machine = new SimMachine({ clock: new SimClock(Date.now(), true) });
    const handler = XfrmHandler.attach(machine, xo);
    super(machine, NETLINK_XFRM_PROTO, { netns: netns ?? 'diff', groups: XFRM_GROUPS });
    this.handler = handler;
  }
}

// ---- failure reports -------------------------------------------------------------------------------

/** One-line decoding of a datagram for failure reports: type/flags/len and errno of each message. */
export function describeDatagram(d: Uint8Array): string {
  const out: string[] = [];
  let off = 0;
  while (off + 16 <= d.length) {
    const h = header(d, off);
    if (h.len < 16) break;
    let s = `t=0x${h.type.toString(16)} f=0x${h.flags.toString(16)} len=${h.len}`;
    if (h.type === 2 && h.len >= 20)
      s += ` err=${new DataView(d.buffer, d.byteOffset + off).getInt32(16, true)}`;
    out.push(s);
    off += (h.len + 3) & ~3;
  }
  return out.join(' | ');
}

/**
 * errno and extack message of each NLMSG_ERROR, or the message types, of a list of datagrams (for
 * one-line reports: only the MSG attribute's text is quoted, never payload bytes)
 */
export function briefDatagrams(dgrams: readonly Uint8Array[]): string {
  return dgrams
    .map((d) => {
      const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
      let text = '';
      if (d.length >= 20 && dv.getUint16(4, true) === 2 && dv.getUint16(6, true) & 0x200) {
        const len = Math.min(d.length, dv.getUint32(0, true));
        const echoed = dv.getUint16(6, true) & 0x100 ? 16 : dv.getUint32(20, true);
        for (let a = 20 + ((echoed + 3) & ~3); a + 4 <= len; ) {
          const alen = dv.getUint16(a, true);
          if (alen < 4 || a + alen > len) break;
          if (dv.getUint16(a + 2, true) === 1)
            text = ` "${Buffer.from(d.subarray(a + 4, a + alen))
              .toString('latin1')
              .replace(/\0+$/, '')}"`;
          a += (alen + 3) & ~3;
        }
      }
      return describeDatagram(d) + text;
    })
    .join(' ; ');
}
