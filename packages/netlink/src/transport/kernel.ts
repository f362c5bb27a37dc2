/**
 * KernelTransport: a real AF_NETLINK socket (the `netlink` npm package's native socket), the
 * production backend on the DPU. Sets NETLINK_EXT_ACK so errors carry the kernel's message, and can
 * open the socket inside a named network namespace (`ip netns add NAME`).
 */
import { createRequire } from 'node:module';
import type { DatagramInfo, Transport } from '../client/transport.ts';
import { NETLINK_SOCKOPT, SOL_NETLINK } from '../wire/nlmsg.ts';

interface RawSocket {
  on(ev: 'message', cb: (msg: Buffer, rinfo: { port: number; groups: number }) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  on(ev: 'close', cb: () => void): void;
  send(msg: Uint8Array, options?: { port?: number; groups?: number }, cb?: (err?: Error) => void): void;
  close(): void;
  address(): { port: number; groups: number };
  ref(): void;
  unref(): void;
  addMembership(group: number): void;
  dropMembership(group: number): void;
}

type NetlinkPkg = { RawNetlinkSocket: new (protocol: number, opts?: Record<string, unknown>) => RawSocket };

let pkg: NetlinkPkg | undefined;
function netlinkPkg(): NetlinkPkg {
  pkg ??= createRequire(import.meta.url)('netlink') as NetlinkPkg;
  return pkg;
}

type NativeMod = typeof import('@xfrmkit/native');
let nativeMod: NativeMod | undefined;
async function loadNative(): Promise<NativeMod> {
  nativeMod ??= await import('@xfrmkit/native');
  return nativeMod;
}

export interface KernelTransportOptions {
  /** NETLINK_XFRM (6) or NETLINK_GENERIC (16) */
  protocol: number;
  /** open the socket inside this named network namespace (/run/netns/NAME) */
  netns?: string;
  /** multicast groups to join right away */
  groups?: number[];
  /** SO_RCVBUF (default 1 MiB, as iproute2) */
  recvBufferSize?: number;
}

let warnedExtAck = false;

export class KernelTransport implements Transport {
  readonly protocol: number;
  readonly portid: number;
  /** false when NETLINK_EXT_ACK could not be set (no native addon): errors then lack the kernel's text */
  readonly extAck: boolean;
  private receiver?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  private closed = false;

  private constructor(
    private readonly sock: RawSocket,
    protocol: number,
    extAck: boolean,
  ) {
    this.protocol = protocol;
    this.portid = sock.address().port;
    this.extAck = extAck;
    sock.on('message', (msg, rinfo) => {
      this.receiver?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), {
        port: rinfo.port,
        groups: rinfo.groups,
      });
    });
    sock.on('error', (err) => this.closeCb?.(err));
    sock.on('close', () => {
      if (!this.closed) this.closeCb?.(new Error('netlink socket closed'));
    });
  }

  static async open(opts: KernelTransportOptions): Promise<KernelTransport> {
    const { native, nativeLoadError } = await loadNative();
    const { RawNetlinkSocket } = netlinkPkg();
    const make = () =>
      new RawNetlinkSocket(opts.protocol, {
        recvBufferSize: opts.recvBufferSize ?? 1 << 20,
        sendBufferSize: 32768,
      });
    let sock: RawSocket;
    if (opts.netns) {
      if (!native) {
        throw new Error(
          `cannot open a netlink socket in netns "${opts.netns}": the native addon is unavailable (${nativeLoadError})`,
        );
      }
      const home = native.currentNetnsFd();
      let target = -1;
      try {
        target = native.openNetnsFd(opts.netns);
        native.setns(target, native.constants.CLONE_NEWNET);
        try {
          sock = make();
        } finally {
          native.setns(home, native.constants.CLONE_NEWNET);
        }
      } finally {
        if (target >= 0) native.closeFd(target);
        native.closeFd(home);
      }
    } else {
      sock = make();
    }
    let extAck = false;
    if (native) {
      const fd = native.netlinkSocketFd(sock.address().port, opts.protocol);
      if (fd >= 0) {
        native.setsockoptInt(fd, SOL_NETLINK, NETLINK_SOCKOPT.EXT_ACK, 1);
        extAck = true;
      }
    }
    if (!extAck && !warnedExtAck) {
      warnedExtAck = true;
      process.stderr.write(
        `xfrmkit: warning: NETLINK_EXT_ACK not enabled (${nativeLoadError ?? 'socket fd not found'}); kernel errors will lack their message\n`,
      );
    }
    const t = new KernelTransport(sock, opts.protocol, extAck);
    for (const g of opts.groups ?? []) t.addMembership(g);
    return t;
  }

  send(datagram: Uint8Array): void {
    this.sock.send(datagram, { port: 0 }, (err) => {
      if (err) this.closeCb?.(err);
    });
  }

  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }

  addMembership(group: number): void {
    this.sock.addMembership(group);
  }

  dropMembership(group: number): void {
    this.sock.dropMembership(group);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
