/**
 * SimMachine: one simulated host (kernel + NICs). It owns the network namespaces, the netlink
 * sockets opened against it, the simulated clock, and one protocol handler per netlink protocol
 * (NETLINK_XFRM, NETLINK_GENERIC). Transports (in-process, unix socket) open sockets on it.
 */
import { SimClock } from './clock.ts';
import { type EndpointHost, type ProtocolHandler, receiveDatagram } from './netlink/endpoint.ts';
import { type Deliver, SimSocket } from './netlink/socket.ts';

export const NETLINK_XFRM = 6;
export const NETLINK_GENERIC = 16;

export interface SimMachineOptions {
  clock?: SimClock;
  /** name used in messages ("BFL") */
  name?: string;
}

export class SimMachine implements EndpointHost {
  readonly clock: SimClock;
  readonly name: string;
  private readonly handlers = new Map<number, ProtocolHandler>();
  private readonly socks = new Map<number, Map<number, SimSocket>>();
  private nextPort = 0x4000_0000;

  constructor(opts: SimMachineOptions = {}) {
    this.clock = opts.clock ?? new SimClock();
    this.name = opts.name ?? 'sim';
  }

  /** Installs the handler that answers a netlink protocol. */
  setHandler(protocol: number, h: ProtocolHandler): void {
    this.handlers.set(protocol, h);
  }

  hasProtocol(protocol: number): boolean {
    return this.handlers.has(protocol);
  }

  /** Opens a socket; `port` 0 = autobind (the kernel picks a unique id). */
  openSocket(protocol: number, deliver: Deliver, opts: { netns?: string; port?: number } = {}): SimSocket {
    if (!this.handlers.has(protocol)) {
      const e = new Error(`protocol ${protocol} not supported by the simulator`) as Error & { code: string };
      e.code = 'EPROTONOSUPPORT';
      throw e;
    }
    let byPort = this.socks.get(protocol);
    if (!byPort) {
      byPort = new Map();
      this.socks.set(protocol, byPort);
    }
    let port = opts.port ?? 0;
    if (port === 0) {
      do port = this.nextPort++ >>> 0;
      while (byPort.has(port));
    } else if (byPort.has(port)) {
      const e = new Error(`netlink port ${port} in use`) as Error & { code: string };
      e.code = 'EADDRINUSE';
      throw e;
    }
    const s = new SimSocket(protocol, port, opts.netns ?? 'default', deliver);
    byPort.set(port, s);
    return s;
  }

  closeSocket(s: SimSocket): void {
    s.closed = true;
    this.socks.get(s.protocol)?.delete(s.portid);
  }

  *sockets(protocol: number, netns: string): Iterable<SimSocket> {
    for (const s of this.socks.get(protocol)?.values() ?? []) if (s.netns === netns) yield s;
  }

  hasListeners(protocol: number, netns: string, group: number): boolean {
    const byPort = this.socks.get(protocol);
    if (byPort === undefined) return false;
    for (const s of byPort.values()) if (s.netns === netns && !s.closed && s.groups.has(group)) return true;
    return false;
  }

  /** A datagram from a client socket to the (simulated) kernel. */
  send(sock: SimSocket, dgram: Uint8Array): void {
    if (sock.closed) return;
    const h = this.handlers.get(sock.protocol);
    if (!h) return;
    receiveDatagram(this, sock, dgram, h);
  }

  /** Sends a kernel-originated notification (expire, acquire…) to a group. */
  notify(protocol: number, netns: string, group: number, dgram: Uint8Array): void {
    for (const s of this.sockets(protocol, netns))
      if (!s.closed && s.groups.has(group)) s.deliver(dgram, { port: 0, group });
  }
}
