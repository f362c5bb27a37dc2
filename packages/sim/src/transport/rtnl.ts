/**
 * A minimal NETLINK_ROUTE for the simulator: RTM_GETLINK (by index, by IFLA_IFNAME /
 * IFLA_ALT_IFNAME, and dumps) answered from the machine's NetdevTable, as `rtnl_getlink` /
 * `rtnl_dump_ifinfo` do. It exists so that clients under the LD_PRELOAD shim can resolve netdevs
 * that live only in the simulator (`ip xfrm state add … offload dev p0`, and `ip xfrm state`
 * printing `dev p0` for an offload ifindex). The shim asks it only RTM_GETLINK (see the top of
 * packages/sim/preload/nlsim.c); every other NETLINK_ROUTE message is EOPNOTSUPP here.
 */
import { NLM_F } from '@xfrmkit/netlink';
import type { NetdevTable, SimNetdev } from '../devices/netdev.ts';
import type { ProtocolHandler, SimContext, SimRequest, SimResult } from '../netlink/endpoint.ts';

export const NETLINK_ROUTE = 0;
export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  TXQLEN: 13,
  OPERSTATE: 16,
  ALT_IFNAME: 53,
} as const;

const ENODEV = 19;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_MULTICAST = 0x1000;
const IFF_LOWER_UP = 0x10000;
const IF_OPER_DOWN = 2;
const IF_OPER_UP = 6;
const IF_OPER_UNKNOWN = 0;
const IFINFOMSG_LEN = 16;

function attr(type: number, value: Uint8Array): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  b.set(value, 4);
  return b;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};

/** RTM_NEWLINK for a netdev (seq/portid filled by the caller or the dump machinery). */
export function linkMessage(nd: SimNetdev, seq: number, portid: number, flags = 0): Uint8Array {
  const lo = nd.kind === 'loopback';
  const ifi = Buffer.alloc(IFINFOMSG_LEN);
  ifi.writeUInt8(0, 0); // AF_UNSPEC
  ifi.writeUInt16LE(lo ? ARPHRD_LOOPBACK : ARPHRD_ETHER, 2);
  ifi.writeInt32LE(nd.ifindex, 4);
  const up = nd.up ? IFF_UP | IFF_RUNNING | IFF_LOWER_UP : 0;
  ifi.writeUInt32LE(up | (lo ? IFF_LOOPBACK : IFF_BROADCAST | IFF_MULTICAST), 8);
  const attrs = [
    attr(IFLA.IFNAME, Buffer.from(`${nd.name}\0`)),
    attr(IFLA.TXQLEN, u32(lo ? 1000 : 1000)),
    attr(IFLA.OPERSTATE, Buffer.from([lo ? IF_OPER_UNKNOWN : nd.up ? IF_OPER_UP : IF_OPER_DOWN])),
    attr(IFLA.MTU, u32(nd.mtu)),
    attr(IFLA.ADDRESS, nd.mac),
    attr(IFLA.BROADCAST, lo ? new Uint8Array(6) : new Uint8Array(6).fill(0xff)),
  ];
  const body = Buffer.concat([ifi, ...attrs]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(RTM_NEWLINK, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq >>> 0, 8);
  h.writeUInt32LE(portid >>> 0, 12);
  return new Uint8Array(Buffer.concat([h, body]));
}

/** IFLA_IFNAME / IFLA_ALT_IFNAME of a request, if any (NUL-terminated or not, like nla_strscpy). */
function requestedName(payload: Uint8Array): string | undefined {
  let off = IFINFOMSG_LEN;
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > b.length) break;
    if (type === IFLA.IFNAME || type === IFLA.ALT_IFNAME) {
      const raw = b.subarray(off + 4, off + len);
      const nul = raw.indexOf(0);
      return raw.subarray(0, nul < 0 ? raw.length : nul).toString('latin1');
    }
    off += (len + 3) & ~3;
  }
  return undefined;
}

export class RtnlHandler implements ProtocolHandler {
  constructor(private readonly netdevs: NetdevTable) {}

  handle(req: SimRequest, ctx: SimContext): SimResult {
    const { header, payload } = req;
    if (header.type !== RTM_GETLINK) {
      return {
        kind: 'error',
        errno: EOPNOTSUPP,
        extack: { msg: 'simulator: only RTM_GETLINK is answered on NETLINK_ROUTE' },
      };
    }
    if (payload.length < IFINFOMSG_LEN) return { kind: 'error', errno: EINVAL };
    if (header.flags & NLM_F.DUMP) {
      return {
        kind: 'dump',
        messages: this.netdevs.list().map((nd) => linkMessage(nd, header.seq, req.sock.portid)),
        doneSeparate: false,
      };
    }
    const index = Buffer.from(payload.buffer, payload.byteOffset, payload.length).readInt32LE(4);
    const name = requestedName(payload);
    let nd: SimNetdev | undefined;
    if (index > 0) nd = this.netdevs.get(index);
    else if (name !== undefined) nd = this.netdevs.byName(name);
    else return { kind: 'error', errno: EINVAL };
    if (!nd) return { kind: 'error', errno: ENODEV };
    ctx.unicast(linkMessage(nd, header.seq, req.sock.portid));
    return { kind: 'ok' };
  }
}
