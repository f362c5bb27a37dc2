/**
 * Capture replay shared by the devlink and ip-xfrm fixture tests: loads the iproute2 fixtures of a
 * tool and answers our requests with the datagrams recorded after the real binary's matching request.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DatagramInfo, parseHexInput, type Transport } from '@xfrmkit/netlink';
import { expect } from 'vitest';

export const ROOT = join(import.meta.dirname, '../../../netlink/test/fixtures');

export interface Fixture {
  file: string;
  persona: '6.1' | '6.15';
  command: string;
  exit: number;
  stdout: string;
  stderr: string;
  dgrams: Array<{ dir: 'send' | 'recv'; bytes: Uint8Array }>;
}

export function lines(text: string, key: string): string {
  const l = text.split('\n').filter((x) => x.startsWith(`# ${key}: `) || x === `# ${key}:`);
  return l.map((x) => `${x.slice(key.length + 4)}\n`).join('');
}

export function load(persona: '6.1' | '6.15', tool: 'devlink' | 'ip-xfrm'): Fixture[] {
  const dir = join(ROOT, `iproute2-${persona}`, tool);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      return {
        file: `${persona}/${f}`,
        persona,
        command: /^# command: (.*)$/m.exec(text)![1]!,
        exit: Number(/^# exit: (\d+)$/m.exec(text)![1]),
        stdout: lines(text, 'stdout'),
        stderr: lines(text, 'stderr'),
        dgrams: parseHexInput(text).map((d) => ({ dir: d.dir as 'send' | 'recv', bytes: d.bytes })),
      };
    });
}

/** A transport that answers each request with the recorded datagrams that followed it. */
export class ReplayTransport implements Transport {
  readonly portid = 4242;
  private i = 0;
  private rx?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  readonly sent: Uint8Array[] = [];
  constructor(
    readonly protocol: number,
    private readonly dgrams: Array<{ dir: 'send' | 'recv'; bytes: Uint8Array }>,
  ) {}
  get exhausted(): boolean {
    return !this.dgrams.slice(this.i).some((d) => d.dir === 'send');
  }
  send(d: Uint8Array): void {
    this.sent.push(d);
    while (this.i < this.dgrams.length && this.dgrams[this.i]!.dir !== 'send') this.i++;
    if (this.i >= this.dgrams.length) {
      queueMicrotask(() => this.closeCb?.(new Error('request beyond the capture')));
      return;
    }
    const recorded = this.dgrams[this.i++]!.bytes;
    const seq = new DataView(d.buffer, d.byteOffset).getUint32(8, true);
    expect(new DataView(d.buffer, d.byteOffset).getUint16(4, true)).toBe(
      new DataView(recorded.buffer, recorded.byteOffset).getUint16(4, true),
    );
    const replies: Uint8Array[] = [];
    while (this.i < this.dgrams.length && this.dgrams[this.i]!.dir === 'recv')
      replies.push(this.dgrams[this.i++]!.bytes.slice());
    for (const r of replies) {
      const dv = new DataView(r.buffer);
      for (let off = 0; off + 16 <= r.length; ) {
        const len = dv.getUint32(off, true);
        dv.setUint32(off + 8, seq, true);
        dv.setUint32(off + 12, this.portid, true);
        if (len < 16) break;
        off += (len + 3) & ~3;
      }
    }
    queueMicrotask(() => {
      for (const r of replies) this.rx?.(r, { port: 0, groups: 0 });
    });
  }
  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.rx = cb;
  }
  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }
  addMembership(): void {}
  dropMembership(): void {}
  close(): void {}
}
