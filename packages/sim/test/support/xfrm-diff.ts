/**
 * Differential harness: the same raw XFRM request bytes go to a real kernel socket (in a private
 * netns) and to a simulator socket; every datagram each side receives (replies, errors, acks,
 * notifications — both sockets join groups 1..8) is recorded, then compared after `normalise`.
 */
import { KernelTransport } from '@xfrmkit/netlink';
import { SimClock } from '../../src/clock.ts';
import { SimMachine } from '../../src/machine.ts';
import type { SimSocket } from '../../src/netlink/socket.ts';
import { XfrmHandler } from '../../src/xfrm/handler.ts';

export const GROUPS = [1, 2, 3, 4, 5, 6, 7, 8];
const SYNC_TYPE = 0x0f;

function header(b: Uint8Array, off = 0) {
  const dv = new DataView(b.buffer, b.byteOffset + off);
  return {
    len: dv.getUint32(0, true),
    type: dv.getUint16(4, true),
    flags: dv.getUint16(6, true),
    seq: dv.getUint32(8, true),
  };
}

/** The sync request: a control type acked with 0; its seq follows the request's (same on both sides). */
function syncMsg(dgram: Uint8Array): { bytes: Uint8Array; seq: number } {
  const seq = ((dgram.length >= 16 ? header(dgram).seq : 0) + 0x40000000) >>> 0;
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 16, true);
  dv.setUint16(4, SYNC_TYPE, true);
  dv.setUint16(6, 0x5, true);
  dv.setUint32(8, seq, true);
  return { bytes: b, seq };
}

/** True if `dgram` is a request the kernel answers with a dump (GETSA/GETPOLICY with ROOT|MATCH). */
export function isDump(dgram: Uint8Array): boolean {
  if (dgram.length < 16) return false;
  const h = header(dgram);
  return (
    h.len >= 16 &&
    h.len <= dgram.length &&
    (h.flags & 1) !== 0 &&
    (h.type === 0x12 || h.type === 0x15) &&
    (h.flags & 0x300) !== 0
  );
}

function endsWith(dgrams: Uint8Array[], pred: (t: number, seq: number) => boolean): boolean {
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

export interface Side {
  readonly portid: number;
  exchange(dgram: Uint8Array): Promise<Uint8Array[]>;
  close(): void;
}

export class KernelSide implements Side {
  private got: Uint8Array[] = [];
  private waiter?: () => void;
  private constructor(private readonly t: KernelTransport) {
    t.onDatagram((d) => {
      this.got.push(d.slice());
      this.waiter?.();
    });
    t.onClose(() => {});
  }

  static async open(netns: string): Promise<KernelSide> {
    const t = await KernelTransport.open({ protocol: 6, netns, groups: GROUPS });
    if (!t.extAck) throw new Error('kernel socket without NETLINK_EXT_ACK: extack cannot be compared');
    return new KernelSide(t);
  }

  get portid(): number {
    return this.t.portid;
  }

  private async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!pred()) {
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

  async exchange(dgram: Uint8Array): Promise<Uint8Array[]> {
    this.got = [];
    this.t.send(dgram);
    if (isDump(dgram)) {
      const seq = header(dgram).seq;
      await this.until(() => endsWith(this.got, (t, s) => (t === 3 || t === 2) && s === seq), 'dump DONE');
    }
    const sync = syncMsg(dgram);
    this.t.send(sync.bytes);
    await this.until(() => endsWith(this.got, (t, s) => t === 2 && s === sync.seq), 'sync ack');
    return this.got;
  }

  close(): void {
    this.t.close();
  }
}

export class SimSide implements Side {
  readonly machine: SimMachine;
  readonly handler: XfrmHandler;
  private readonly sock: SimSocket;
  private got: Uint8Array[] = [];

  constructor() {
    this.machine = new SimMachine({ clock: new SimClock(Date.now(), true) });
    this.handler = XfrmHandler.attach(this.machine, { esp: false });
    this.sock = this.machine.openSocket(6, (d) => this.got.push(d.slice()), { netns: 'diff' });
    this.sock.extAck = true;
    for (const g of GROUPS) this.sock.groups.add(g);
  }

  get portid(): number {
    return this.sock.portid;
  }

  async exchange(dgram: Uint8Array): Promise<Uint8Array[]> {
    this.got = [];
    this.machine.send(this.sock, dgram);
    this.machine.send(this.sock, syncMsg(dgram).bytes);
    return this.got;
  }

  close(): void {
    this.machine.closeSocket(this.sock);
  }
}

const PORT_MARK = 0x7e7e7e7e;

/**
 * THE normalisation (the only place where kernel and simulator bytes may differ), applied to every
 * message of every datagram:
 *
 * 1. header `nlmsg_pid` equal to the receiving socket's own port id → PORT_MARK: unicast replies,
 *    acks, errors and DONE are addressed to the requester, whose port id differs per socket.
 *    Notifications carry the request's nlmsg_pid field (what the test sent), left as is. The port id
 *    also cannot occur elsewhere (requests are generated with nlmsg_pid ∈ {0, 4242, 0xdeadbeef}).
 * 2. every `curlft.add_time` (seconds of the wall clock at insertion: usersa_info / userpolicy_info
 *    bodies, XFRMA_SA / XFRMA_POLICY inside DEL notifications, XFRMA_LTIME_VAL of NEWAE) → 0, only
 *    when it lies within ±5 s of now (any other value stays and shows up as a difference).
 * 3. the `seq` of ACQUIRE messages (the kernel's acquire counter is global to all namespaces and
 *    shared with other key managers, so its value depends on the machine's history) → 0.
 *
 * ALLOCSPI's random SPI choice is not normalised: the harness feeds the kernel's choice to the
 * simulator's random source (XfrmHandler.queueRandom), so both tables stay identical.
 */
export function normalise(dgrams: readonly Uint8Array[], portid: number): string[] {
  const now = Date.now() / 1000;
  return dgrams.map((d0) => {
    const d = d0.slice();
    const dv = new DataView(d.buffer);
    const zeroTime = (at: number) => {
      if (at + 8 > d.length) return;
      const t = Number(dv.getBigUint64(at, true));
      if (Math.abs(t - now) <= 5) dv.setBigUint64(at, 0n, true);
    };
    const attrs = (from: number, end: number, fn: (type: number, payload: number) => void) => {
      let off = from;
      while (off + 4 <= end) {
        const len = dv.getUint16(off, true);
        if (len < 4 || off + len > end) break;
        fn(dv.getUint16(off + 2, true) & 0x3fff, off + 4);
        off += (len + 3) & ~3;
      }
    };
    let off = 0;
    while (off + 16 <= d.length) {
      const len = dv.getUint32(off, true);
      if (len < 16 || off + len > d.length) break;
      const type = dv.getUint16(off + 4, true);
      if (dv.getUint32(off + 12, true) === portid >>> 0) dv.setUint32(off + 12, PORT_MARK, true);
      const end = off + len;
      const b = off + 16;
      if ((type === 0x10 || type === 0x1a) && len >= 16 + 224) zeroTime(b + 176);
      else if ((type === 0x13 || type === 0x19) && len >= 16 + 168) zeroTime(b + 136);
      else if (type === 0x18 && len >= 16 + 232) zeroTime(b + 176);
      else if (type === 0x1b && len >= 16 + 176) zeroTime(b + 136);
      else if (type === 0x11) attrs(b + 24, end, (t, p) => t === 6 && zeroTime(p + 176));
      else if (type === 0x14) attrs(b + 64, end, (t, p) => t === 7 && zeroTime(p + 136));
      else if (type === 0x1e) attrs(b + 48, end, (t, p) => t === 9 && zeroTime(p + 16));
      else if (type === 0x17 && len >= 16 + 280) dv.setUint32(b + 276, 0, true);
      off += (len + 3) & ~3;
    }
    return Buffer.from(d).toString('hex');
  });
}

/** The SPI of an ALLOCSPI reply (NEWSA unicast), if the datagrams hold one. */
export function allocatedSpi(dgrams: readonly Uint8Array[]): number | undefined {
  for (const d of dgrams) {
    if (d.length >= 16 + 224 && header(d).type === 0x10 && header(d).flags === 0) {
      return new DataView(d.buffer, d.byteOffset).getUint32(16 + 72, false);
    }
  }
  return undefined;
}
