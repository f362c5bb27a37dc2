/**
 * Differential harness of the oracle: the same raw XFRM request bytes go to a netlink socket in the
 * oracle VM (a real 6.12 kernel with ESP and AES-GCM) and to a simulator socket (`XfrmHandler`
 * with `esp: true`). Every datagram each socket receives (replies, acks, errors with extack,
 * notifications of groups 1..8) is recorded and compared after `normaliseOracle`.
 */
import type { Transport } from '@xfrmkit/netlink';
import { ALGORITHMS, SimClock, SimMachine, type SimSocket, XfrmHandler } from '@xfrmkit/sim';
import { isDump } from '../../../sim/test/support/xfrm-diff.ts';
import type { OracleVm } from '../../src/vm.ts';

export const GROUPS = [1, 2, 3, 4, 5, 6, 7, 8];
const SYNC_TYPE = 0x0f;

function hdr(b: Uint8Array, off = 0) {
  const dv = new DataView(b.buffer, b.byteOffset + off);
  return {
    len: dv.getUint32(0, true),
    type: dv.getUint16(4, true),
    flags: dv.getUint16(6, true),
    seq: dv.getUint32(8, true),
  };
}

/** A control message acked with 0 (type < NLMSG_MIN_TYPE): everything before its ack has arrived. */
function syncMsg(dgram: Uint8Array): { bytes: Uint8Array; seq: number } {
  const seq = ((dgram.length >= 16 ? hdr(dgram).seq : 0) + 0x40000000) >>> 0;
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 16, true);
  dv.setUint16(4, SYNC_TYPE, true);
  dv.setUint16(6, 0x5, true);
  dv.setUint32(8, seq, true);
  return { bytes: b, seq };
}

function contains(dgrams: Uint8Array[], pred: (type: number, seq: number) => boolean): boolean {
  for (const d of dgrams) {
    let off = 0;
    while (off + 16 <= d.length) {
      const h = hdr(d, off);
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

/** A socket in the oracle VM. */
export class VmSide implements Side {
  private got: Uint8Array[] = [];
  private waiter?: () => void;
  private failure?: Error;

  private constructor(private readonly t: Transport) {
    t.onDatagram((d) => {
      this.got.push(d.slice());
      this.waiter?.();
    });
    t.onClose((err) => {
      this.failure = err ?? new Error('oracle socket closed');
      this.waiter?.();
    });
  }

  static async open(vm: OracleVm): Promise<VmSide> {
    return new VmSide(await vm.open(6, { groups: GROUPS }));
  }

  get portid(): number {
    return this.t.portid;
  }

  private async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!pred()) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`oracle: timed out waiting for ${what}`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, 100);
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
      const seq = hdr(dgram).seq;
      await this.until(() => contains(this.got, (t, s) => (t === 3 || t === 2) && s === seq), 'dump DONE');
    }
    const sync = syncMsg(dgram);
    this.t.send(sync.bytes);
    await this.until(() => contains(this.got, (t, s) => t === 2 && s === sync.seq), 'sync ack');
    return this.got;
  }

  close(): void {
    this.t.close();
  }
}

/**
 * Crypto API contents of the oracle guest: every §14 algorithm except the SM3/SM4 ones (Debian's
 * 6.12 builds neither; the guest cannot autoload modules, see guest/modules.txt) and the IPcomp
 * compressors LZS/LZJH (no Linux implementation). Verified against the VM by the "crypto API"
 * test of xfrm-esp.differential.test.ts.
 */
export const ORACLE_MISSING_CRYPTO = new Set(['hmac(sm3)', 'sm3', 'cbc(sm4)', 'sm4', 'lzs', 'lzjh']);
export const oracleCrypto = (name: string) => !ORACLE_MISSING_CRYPTO.has(name);
export const ALL_ALGORITHM_NAMES = [
  ...new Set(
    Object.values(ALGORITHMS).flatMap((l) => l.flatMap((e) => (e.compat ? [e.name, e.compat] : [e.name]))),
  ),
];

/** The simulator with ESP built (the oracle's personality): `XfrmHandler({ esp: true })`. */
export class SimEspSide implements Side {
  readonly machine: SimMachine;
  readonly handler: XfrmHandler;
  private readonly sock: SimSocket;
  private got: Uint8Array[] = [];

  constructor() {
    this.machine = new SimMachine({ clock: new SimClock(Date.now(), true) });
    this.handler = XfrmHandler.attach(this.machine, { esp: true, cryptoAvailable: oracleCrypto });
    this.sock = this.machine.openSocket(6, (d) => this.got.push(d.slice()), { netns: 'oracle' });
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

/**
 * The normalisation of the oracle's differential tests is the simulator's own
 * (`normaliseXfrmDiff`, packages/sim/src/xfrm/diff.ts): port ids of the receiving socket, add times
 * within ±5 s of now, the ACQUIRE seq. The guest's clock is set from the host's at each boot/restore,
 * so add times lie in that window. Not normalised (made equal instead): ALLOCSPI's SPI (the harness
 * feeds the kernel's choice to the simulator's random source), policy indexes (deterministic per
 * sequence), ifindexes and genl family ids (not in XFRM requests).
 */
export { allocatedSpi, normaliseXfrmDiff as normaliseOracle } from '@xfrmkit/sim';

/** Writes `spi` into usersa_info.id.spi of a NEWSA/UPDSA request. */
export function withSpi(bytes: Uint8Array, spi: number): Uint8Array {
  const b = bytes.slice();
  if (b.length >= 16 + 76) new DataView(b.buffer).setUint32(16 + 72, spi >>> 0, false);
  return b;
}

/** One-line decoding of a datagram for failure reports: type/flags/seq and errno of each message. */
export function describe(d: Uint8Array): string {
  const out: string[] = [];
  let off = 0;
  while (off + 16 <= d.length) {
    const h = hdr(d, off);
    if (h.len < 16) break;
    let s = `t=0x${h.type.toString(16)} f=0x${h.flags.toString(16)} len=${h.len}`;
    if (h.type === 2 && h.len >= 20)
      s += ` err=${new DataView(d.buffer, d.byteOffset + off).getInt32(16, true)}`;
    out.push(s);
    off += (h.len + 3) & ~3;
  }
  return out.join(' | ');
}
