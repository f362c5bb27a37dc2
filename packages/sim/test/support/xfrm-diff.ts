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

/** The normalisation lives in the simulator package so the oracle suite applies the same one. */
export { allocatedSpi, normaliseXfrmDiff as normalise } from '../../src/xfrm/diff.ts';
