/**
 * UnixTransport: a netlink socket on a simulator served by `xfrmkit sim serve` in another process.
 */
import { connect, type Socket } from 'node:net';
import type { DatagramInfo, Transport } from '@xfrmkit/netlink';
import { encodeFrame, FRAME, type Frame, FrameReader } from './frames.ts';

export class UnixTransport implements Transport {
  private receiver?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  private closing = false;

  private constructor(
    private readonly conn: Socket,
    readonly protocol: number,
    readonly portid: number,
    reader: FrameReader,
  ) {
    conn.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        this.closeCb?.(e as Error);
        conn.destroy();
        return;
      }
      for (const f of frames) {
        if (f.kind === FRAME.DATA)
          this.receiver?.(f.payload, { port: f.portid, groups: f.group ? 2 ** (f.group - 1) : 0 });
      }
    });
    conn.on('close', () => {
      if (!this.closing) this.closeCb?.(new Error('simulator connection closed'));
    });
    conn.on('error', (e) => this.closeCb?.(e));
  }

  static open(path: string, protocol: number, opts: { extAck?: boolean } = {}): Promise<UnixTransport> {
    return new Promise((resolve, reject) => {
      const conn = connect(path);
      const reader = new FrameReader();
      conn.once('error', reject);
      conn.once('connect', () => {
        const hello = Buffer.alloc(12);
        hello.writeUInt32LE(protocol, 0);
        hello.writeUInt32LE(0, 4);
        hello.writeUInt32LE(3, 8);
        conn.write(encodeFrame({ kind: FRAME.HELLO, group: 0, portid: 0, payload: hello }));
      });
      const onData = (chunk: Buffer) => {
        const frames = reader.push(chunk);
        const ack = frames.find((f) => f.kind === FRAME.HELLO_ACK);
        if (!ack) return;
        conn.off('data', onData);
        conn.off('error', reject);
        const p = Buffer.from(ack.payload);
        const err = p.readInt32LE(0);
        if (err !== 0) {
          conn.destroy();
          reject(new Error(`simulator refused the socket: errno ${-err}`));
          return;
        }
        const t = new UnixTransport(conn, protocol, p.readUInt32LE(4), reader);
        if (opts.extAck ?? true) t.setsockopt(270, 11, 1);
        resolve(t);
      };
      conn.on('data', onData);
    });
  }

  private setsockopt(level: number, opt: number, value: number): void {
    const p = Buffer.alloc(12);
    p.writeInt32LE(level, 0);
    p.writeInt32LE(opt, 4);
    p.writeInt32LE(value, 8);
    this.conn.write(encodeFrame({ kind: FRAME.SETSOCKOPT, group: 0, portid: 0, payload: p }));
  }

  send(datagram: Uint8Array): void {
    this.conn.write(encodeFrame({ kind: FRAME.DATA, group: 0, portid: 0, payload: datagram }));
  }

  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }

  ref(): void {
    this.conn.ref();
  }

  unref(): void {
    this.conn.unref();
  }

  addMembership(group: number): void {
    this.setsockopt(270, 1, group);
  }

  dropMembership(group: number): void {
    this.setsockopt(270, 2, group);
  }

  close(): void {
    this.closing = true;
    this.conn.end();
  }
}
