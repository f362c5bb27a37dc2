/** A minimal QMP (qemu machine protocol) client: one command at a time, events ignored. */
import { connect, type Socket } from 'node:net';

export class Qmp {
  private buf = '';
  private waiting?: { resolve(v: unknown): void; reject(e: Error): void };
  private greeted?: () => void;
  private closedErr?: Error;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => {
      this.buf += s;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line) this.line(line);
      }
    });
    const gone = (err?: Error) => {
      this.closedErr = err ?? new Error('QMP connection closed');
      this.waiting?.reject(this.closedErr);
      this.waiting = undefined;
    };
    sock.on('error', gone);
    sock.on('close', () => gone());
  }

  private line(line: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('QMP' in m) {
      this.greeted?.();
      return;
    }
    if ('event' in m) return;
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    if ('error' in m) {
      const e = m.error as { class?: string; desc?: string };
      w.reject(new Error(`QMP: ${e.class ?? 'error'}: ${e.desc ?? line}`));
    } else w.resolve(m.return);
  }

  static async connect(path: string): Promise<Qmp> {
    const sock = connect(path);
    await new Promise<void>((res, rej) => {
      sock.once('connect', res);
      sock.once('error', rej);
    });
    const q = new Qmp(sock);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('QMP: no greeting within 10 s')), 10_000);
      q.greeted = () => {
        clearTimeout(t);
        res();
      };
    });
    await q.execute('qmp_capabilities');
    return q;
  }

  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (this.waiting) return Promise.reject(new Error('QMP: one command at a time'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sock.write(`${JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd })}\n`);
    });
  }

  unref(): void {
    this.sock.unref();
  }

  close(): void {
    this.sock.destroy();
  }
}
