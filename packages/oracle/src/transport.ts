/**
 * VmKernelTransport: a netlink socket inside the oracle VM, as a `Transport` (the same interface as
 * the host kernel's KernelTransport and the simulator's transports). Datagrams cross the
 * virtio-serial channel whole; the guest agent reports the sender's port id and multicast groups.
 */
import type { DatagramInfo, Transport } from '@xfrmkit/netlink';
import { OP, u32s } from './frame.ts';
import type { OracleVm } from './vm.ts';

export class VmKernelTransport implements Transport {
  private receiver?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  private closed = false;

  /** @internal created by OracleVm.open */
  constructor(
    private readonly vm: OracleVm,
    readonly chan: number,
    readonly protocol: number,
    readonly portid: number,
  ) {}

  /** @internal */
  deliver(payload: Uint8Array): void {
    const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    this.receiver?.(payload.subarray(8), { port: dv.getUint32(0, true), groups: dv.getUint32(4, true) });
  }

  /** @internal an asynchronous socket error in the guest (ENOBUFS: notifications were lost) */
  error(negErrno: number): void {
    this.closeCb?.(new Error(`netlink socket in the oracle VM: errno ${-negErrno}`));
  }

  /** @internal */
  closedByVm(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCb?.(err);
  }

  send(datagram: Uint8Array): void {
    if (this.closed) throw new Error('oracle transport is closed');
    this.vm.post(this.chan, OP.SEND, datagram);
  }

  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }

  /** Joins a multicast group and waits for the guest's answer. */
  async join(group: number): Promise<void> {
    const r = await this.vm.control(this.chan, OP.JOIN, u32s(group));
    const err = new DataView(r.payload.buffer, r.payload.byteOffset).getInt32(0, true);
    if (err < 0) throw new Error(`oracle: NETLINK_ADD_MEMBERSHIP ${group} failed: errno ${-err}`);
  }

  addMembership(group: number): void {
    this.membership(OP.JOIN, group);
  }

  dropMembership(group: number): void {
    this.membership(OP.LEAVE, group);
  }

  /** the agent handles frames in order: a request sent after this call sees the new membership */
  private membership(op: number, group: number): void {
    this.vm.control(this.chan, op, u32s(group)).then(
      (r) => {
        const err = new DataView(r.payload.buffer, r.payload.byteOffset).getInt32(0, true);
        if (err < 0)
          this.closeCb?.(new Error(`oracle: membership change of group ${group} failed: errno ${-err}`));
      },
      (e: Error) => this.closedByVm(e),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.vm.forget(this.chan);
    this.vm.control(this.chan, OP.CLOSE).catch(() => {});
  }
}
