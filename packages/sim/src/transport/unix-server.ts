/**
 * `xfrmkit sim serve --socket PATH`: one simulated machine shared by many client processes over a
 * unix stream socket. One connection = one netlink socket (own port id, groups, socket options);
 * multicast fans out to every connection that joined the group. A connection may instead carry one
 * IOCTL exchange (no HELLO): SIOCETHTOOL / SIOCGIFINDEX / SIOCGIFNAME, answered from the simulated
 * host (ethtool.ts). With a host, NETLINK_ROUTE answers RTM_GETLINK for its netdevs (rtnl.ts).
 *
 * Bad clients: one that sends garbage framing or frames out of order is disconnected alone; a
 * malformed netlink message gets the kernel's answer (or none, like the kernel); one that closes
 * mid-dump just goes away. One that floods requests without reading its answers is throttled like
 * a full socket buffer: the server stops reading from it (its sends block) until its replies drain,
 * and multicast to it is dropped while its buffer is full (the kernel drops them too); the
 * machine and the other clients go on.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { SimHost } from '../create.ts';
import type { SimMachine } from '../machine.ts';
import type { SimSocket } from '../netlink/socket.ts';
import { answerIoctl, encodeIoctlAck } from './ethtool.ts';
import { encodeFrame, FRAME, type Frame, FrameError, FrameReader } from './frames.ts';
import { NETLINK_ROUTE, RtnlHandler } from './rtnl.ts';

const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_DROP_MEMBERSHIP = 2;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
/** bytes queued towards one client before it counts as "not reading" (a netlink rcvbuf is ~200 KiB) */
const BACKLOG_LIMIT = 1 << 20;
const ENODEV = 19;

export interface SimServerOptions {
  socketPath: string;
  /** network namespace name of the machine the connections live in */
  netns?: string;
  log?: (line: string) => void;
  /**
   * the simulated host behind `machine` (createSimMachine): enables the ioctl channel (ethtool,
   * ifindex ↔ name) and NETLINK_ROUTE RTM_GETLINK for its netdevs
   */
  host?: SimHost;
}

export class SimServer {
  private server?: Server;
  private readonly conns = new Set<Socket>();

  constructor(
    readonly machine: SimMachine,
    readonly opts: SimServerOptions,
  ) {
    if (opts.host && !machine.hasProtocol(NETLINK_ROUTE))
      machine.setHandler(NETLINK_ROUTE, new RtnlHandler(opts.host.netdevs));
  }

  async listen(): Promise<void> {
    if (existsSync(this.opts.socketPath)) unlinkSync(this.opts.socketPath);
    this.server = createServer((c) => this.accept(c));
    await new Promise<void>((res, rej) => {
      this.server!.once('error', rej);
      this.server!.listen(this.opts.socketPath, () => res());
    });
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
    if (existsSync(this.opts.socketPath)) unlinkSync(this.opts.socketPath);
  }

  private accept(conn: Socket): void {
    this.conns.add(conn);
    const reader = new FrameReader();
    let sock: SimSocket | undefined;
    const drop = (why: string) => {
      this.opts.log?.(`client dropped: ${why}`);
      conn.destroy();
    };
    // back-pressure: a client that does not read its answers stops being read
    const throttle = () => {
      if (conn.writableLength > BACKLOG_LIMIT && !conn.isPaused()) {
        conn.pause();
        conn.once('drain', () => {
          if (!conn.destroyed) conn.resume();
        });
      }
    };
    conn.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        drop(e instanceof FrameError ? e.message : String(e));
        return;
      }
      for (const f of frames) {
        if (conn.destroyed) return;
        if (f.kind === FRAME.HELLO) {
          if (sock || f.payload.length < 12) return drop('bad HELLO');
          const dv = Buffer.from(f.payload);
          const protocol = dv.readUInt32LE(0);
          const pid = dv.readUInt32LE(4);
          const ack = Buffer.alloc(8);
          try {
            // like the kernel's autobind: the first socket of a process gets its pid
            let port = 0;
            if (
              pid &&
              ![...this.machine.sockets(protocol, this.opts.netns ?? 'default')].some((s) => s.portid === pid)
            )
              port = pid;
            sock = this.machine.openSocket(
              protocol,
              (d, info) => {
                if (conn.destroyed) return;
                // a full receive buffer drops multicast (netlink_broadcast), never unicast answers
                if (info.group !== 0 && conn.writableLength > BACKLOG_LIMIT) return;
                conn.write(
                  encodeFrame({ kind: FRAME.DATA, group: info.group, portid: info.port, payload: d }),
                );
                throttle();
              },
              { netns: this.opts.netns, port },
            );
            ack.writeInt32LE(0, 0);
            ack.writeUInt32LE(sock.portid, 4);
          } catch (e) {
            const code = (e as { code?: string }).code;
            ack.writeInt32LE(code === 'EPROTONOSUPPORT' ? -93 : -22, 0);
          }
          conn.write(encodeFrame({ kind: FRAME.HELLO_ACK, group: 0, portid: 0, payload: ack }));
          continue;
        }
        if (f.kind === FRAME.IOCTL) {
          // one ioctl per connection, like the shim's: answered, then the client closes
          const a = this.opts.host
            ? answerIoctl(this.opts.host, f.group, f.payload)
            : { err: -ENODEV, data: new Uint8Array(0) };
          conn.write(encodeIoctlAck(a));
          continue;
        }
        if (!sock) return drop('frame before HELLO');
        const p = Buffer.from(f.payload);
        switch (f.kind) {
          case FRAME.DATA:
            this.machine.send(sock, f.payload);
            break;
          case FRAME.BIND: {
            if (p.length < 8) return drop('short BIND');
            const groups = p.readUInt32LE(4);
            for (let g = 1; g <= 32; g++) if (groups & (2 ** (g - 1))) sock.groups.add(g);
            break;
          }
          case FRAME.SETSOCKOPT: {
            if (p.length < 12) return drop('short SETSOCKOPT');
            const level = p.readInt32LE(0);
            const opt = p.readInt32LE(4);
            const val = p.readInt32LE(8);
            if (level !== SOL_NETLINK) break;
            if (opt === NETLINK_ADD_MEMBERSHIP) sock.groups.add(val);
            else if (opt === NETLINK_DROP_MEMBERSHIP) sock.groups.delete(val);
            else if (opt === NETLINK_EXT_ACK) sock.extAck = val !== 0;
            else if (opt === NETLINK_CAP_ACK) sock.capAck = val !== 0;
            break;
          }
          case FRAME.RCVLEN:
            if (p.length >= 4) sock.rcvLen = Math.min(32768, Math.max(p.readUInt32LE(0), 4096));
            break;
          default:
            return drop(`unknown frame kind ${f.kind}`);
        }
      }
    });
    const cleanup = () => {
      this.conns.delete(conn);
      if (sock) this.machine.closeSocket(sock);
    };
    conn.on('close', cleanup);
    conn.on('error', () => conn.destroy());
  }
}
