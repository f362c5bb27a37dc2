/**
 * A Transport moves whole netlink datagrams between a client and a netlink endpoint: the kernel
 * (KernelTransport), the simulator (in-process or over a unix socket), or a VM kernel. Clients never
 * know which one they talk to.
 */

export interface DatagramInfo {
  /** sender port id (0 = the kernel or the simulator) */
  port: number;
  /** multicast group bitmask the datagram was sent to (0 = unicast) */
  groups: number;
}

export interface Transport {
  /** netlink protocol of this socket: NETLINK_XFRM (6) or NETLINK_GENERIC (16) */
  readonly protocol: number;
  /** the local port id (nl_pid) replies are addressed to */
  readonly portid: number;
  send(datagram: Uint8Array): void;
  /** registers the receiver of every datagram (unicast and multicast); one receiver per transport */
  onDatagram(cb: (datagram: Uint8Array, info: DatagramInfo) => void): void;
  /** called when the transport fails or is closed by the other side */
  onClose(cb: (err?: Error) => void): void;
  /** keep the process alive while requests are in flight or notifications are awaited */
  ref?(): void;
  /** let the process exit when idle */
  unref?(): void;
  addMembership(group: number): void;
  dropMembership(group: number): void;
  close(): void;
}
