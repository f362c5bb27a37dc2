/**
 * Test support for the NETLINK_GENERIC simulator: a raw socket that collects every datagram the
 * simulated kernel delivers (synchronously), and `normaliseGenlIds`, the one place that defines how
 * replies are compared when the dynamic generic netlink ids differ between two "kernels".
 */
import { GENL_ID_CTRL } from '@xfrmkit/netlink';
import type { SimMachine } from '../../src/machine.ts';
import { NETLINK_GENERIC } from '../../src/machine.ts';
import type { SimSocket } from '../../src/netlink/socket.ts';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export interface RawSock {
  sock: SimSocket;
  /** datagrams received since the last `take()` */
  rx: Uint8Array[];
  send(d: Uint8Array): Uint8Array[];
  take(): Uint8Array[];
}

/** Opens a NETLINK_GENERIC socket like iproute2's (CAP_ACK + EXT_ACK, 4 KiB reads) on a fixed port. */
export function rawGenlSocket(
  machine: SimMachine,
  opts: { port?: number; capAck?: boolean; extAck?: boolean; netns?: string; rcvLen?: number } = {},
): RawSock {
  const rx: Uint8Array[] = [];
  const o: { port?: number; netns?: string } = {};
  if (opts.port !== undefined) o.port = opts.port;
  if (opts.netns !== undefined) o.netns = opts.netns;
  const sock = machine.openSocket(NETLINK_GENERIC, (d) => rx.push(d.slice()), o);
  sock.capAck = opts.capAck ?? true;
  sock.extAck = opts.extAck ?? true;
  sock.rcvLen = opts.rcvLen ?? 4096;
  const take = () => rx.splice(0, rx.length);
  return {
    sock,
    rx,
    take,
    send(d) {
      machine.send(sock, d);
      return take();
    },
  };
}

export interface IdMap {
  /** family id as the other side numbers it → canonical id */
  family: Map<number, number>;
  /** multicast group id → canonical id */
  group: Map<number, number>;
}

/**
 * Rewrites the dynamic generic-netlink numbers of a datagram to canonical ones, so replies of two
 * kernels (or of a kernel and the simulator) that allocated different ids compare byte for byte:
 *
 *  - nlmsg_type of every message whose type is a mapped family id (and of the request header
 *    echoed in NLMSG_ERROR),
 *  - CTRL_ATTR_FAMILY_ID (u16) at the top level of nlctrl messages,
 *  - MCAST_GRP_ID (u32) inside CTRL_ATTR_MCAST_GROUPS of nlctrl NEWFAMILY messages.
 *
 * Nothing else is touched: seq and portid must already agree (the tests open their sockets with
 * the captured portid and send the captured seq).
 */
export function normaliseGenlIds(dgram: Uint8Array, ids: IdMap): Uint8Array {
  const out = dgram.slice();
  const dv = new DataView(out.buffer);
  const fam = (at: number) => {
    const t = dv.getUint16(at, true);
    const m = ids.family.get(t);
    if (m !== undefined) dv.setUint16(at, m, true);
  };
  let off = 0;
  while (off + 16 <= out.length) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > out.length) break;
    const type = dv.getUint16(off + 4, true);
    if (type === 2 && len >= 36) fam(off + 20);
    else if (type === GENL_ID_CTRL && len >= 20) {
      let a = off + 20;
      while (a + 4 <= off + len) {
        const alen = dv.getUint16(a, true);
        const atype = dv.getUint16(a + 2, true) & 0x3fff;
        if (alen < 4) break;
        if (atype === 1 && alen >= 6) fam(a + 4);
        if (atype === 7) {
          let g = a + 4;
          while (g + 4 <= a + alen) {
            const glen = dv.getUint16(g, true);
            if (glen < 4) break;
            let i = g + 4;
            while (i + 4 <= g + glen) {
              const ilen = dv.getUint16(i, true);
              if (ilen < 4) break;
              if ((dv.getUint16(i + 2, true) & 0x3fff) === 2 && ilen >= 8) {
                const m = ids.group.get(dv.getUint32(i + 4, true));
                if (m !== undefined) dv.setUint32(i + 4, m, true);
              }
              i += (ilen + 3) & ~3;
            }
            g += (glen + 3) & ~3;
          }
        }
        a += (alen + 3) & ~3;
      }
    } else fam(off + 4);
    off += (len + 3) & ~3;
  }
  return out;
}
