/**
 * In-process transport: a netlink socket on a SimMachine in the same process. Datagrams are handed
 * over without copying the simulator's state; delivery to the client is asynchronous (a microtask),
 * like a socket read, so request pipelining and ordering behave as with the kernel.
 */
import type { DatagramInfo, Transport } from '@xfrmkit/netlink';
import type { SimMachine } from '../machine.ts';
import type { SimSocket } from '../netlink/socket.ts';

export class InProcTransport implements Transport {
  readonly protocol: number;
  readonly portid: number;
  private readonly sock: SimSocket;
  private receiver?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  private queue: Array<[Uint8Array, DatagramInfo]> = [];
  private scheduled = false;

  constructor(
    readonly machine: SimMachine,
    protocol: number,
    opts: { netns?: string; extAck?: boolean; capAck?: boolean } = {},
  ) {
    this.protocol = protocol;
    this.sock = machine.openSocket(protocol, (d, info) => this.enqueue(d, info), { netns: opts.netns });
    this.sock.extAck = opts.extAck ?? true;
    this.sock.capAck = opts.capAck ?? false;
    this.portid = this.sock.portid;
  }

  private enqueue(d: Uint8Array, info: { port: number; group: number }): void {
    this.queue.push([d, { port: info.port, groups: info.group ? 2 ** (info.group - 1) : 0 }]);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const q = this.queue;
      this.queue = [];
      for (const [dd, ii] of q) this.receiver?.(dd, ii);
    });
  }

  send(datagram: Uint8Array): void {
    this.machine.send(this.sock, datagram);
  }

  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }

  addMembership(group: number): void {
    this.sock.groups.add(group);
  }

  dropMembership(group: number): void {
    this.sock.groups.delete(group);
  }

  close(): void {
    this.machine.closeSocket(this.sock);
    this.closeCb?.(new Error('closed'));
  }
}
