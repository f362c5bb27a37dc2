/**
 * A simulated netlink socket: what the kernel keeps per socket (portid, protocol, joined multicast
 * groups, NETLINK_EXT_ACK / NETLINK_CAP_ACK, the last receive buffer size) and where its datagrams go.
 */
export interface DeliveryInfo {
  /** sender port (0 = kernel) */
  port: number;
  /** multicast group number the datagram was sent to (0 = unicast) */
  group: number;
}

export type Deliver = (datagram: Uint8Array, info: DeliveryInfo) => void;

export class SimSocket {
  readonly groups = new Set<number>();
  extAck = false;
  capAck = false;
  /** largest receive buffer the client used (dump datagrams are sized from it, like the kernel) */
  rcvLen = 32768;
  closed = false;

  constructor(
    readonly protocol: number,
    readonly portid: number,
    readonly netns: string,
    readonly deliver: Deliver,
  ) {}
}
