/**
 * Test helpers: fixture readers (iproute2 capture fixtures and the kernel nlctrl captures) and a
 * replay Transport that checks what a client sends against a fixture and answers with the fixture's
 * replies (sequence numbers rewritten to the client's).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatagramInfo, Transport } from '../../src/client/transport.ts';
import { maskRequestPadding } from '../../src/devlink/requests.ts';

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

export interface FixtureLine {
  dir: 'send' | 'recv';
  bytes: Uint8Array;
}

export interface Iproute2Fixture {
  file: string;
  version: string;
  command: string;
  exit: number;
  stdout: string[];
  stderr: string[];
  lines: FixtureLine[];
}

/** `# key: value` headers, then `send <hex>` / `recv <hex>` lines, one datagram per line. */
export function parseIproute2Fixture(file: string, version: string): Iproute2Fixture {
  const f: Iproute2Fixture = { file, version, command: '', exit: 0, stdout: [], stderr: [], lines: [] };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const h = /^# ([\w-]+): ?(.*)$/.exec(line);
    if (h) {
      if (h[1] === 'command') f.command = h[2]!;
      else if (h[1] === 'exit') f.exit = Number(h[2]);
      else if (h[1] === 'stdout') f.stdout.push(h[2]!);
      else if (h[1] === 'stderr') f.stderr.push(h[2]!);
      continue;
    }
    const m = /^(send|recv) ([0-9a-f]+)$/.exec(line.trim());
    if (m) f.lines.push({ dir: m[1] as 'send' | 'recv', bytes: fromHex(m[2]!) });
  }
  return f;
}

export const FIXTURE_ROOT = join(import.meta.dirname, '..', 'fixtures');

/** Every `iproute2-<version>/devlink/*.txt` fixture present. */
export function loadIproute2DevlinkFixtures(): Iproute2Fixture[] {
  const out: Iproute2Fixture[] = [];
  let dirs: string[] = [];
  try {
    dirs = readdirSync(FIXTURE_ROOT).filter((d) => d.startsWith('iproute2-'));
  } catch {
    return out;
  }
  for (const d of dirs.sort()) {
    const dir = join(FIXTURE_ROOT, d, 'devlink');
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
    } catch {
      continue;
    }
    for (const f of files.sort()) out.push(parseIproute2Fixture(join(dir, f), d.slice('iproute2-'.length)));
  }
  return out;
}

export interface KernelCapture {
  file: string;
  title: string;
  request: Uint8Array;
  datagrams: Uint8Array[];
}

/** The hexdump format of /work/shared/reference/captures/kernel-genl-*.txt (copied to test/genl/fixtures). */
export function parseKernelCapture(file: string): KernelCapture {
  const text = readFileSync(file, 'utf8');
  const blocks: Array<{ kind: string; hex: string[] }> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('>>> request')) blocks.push({ kind: 'request', hex: [] });
    else if (line.startsWith('<<< datagram')) blocks.push({ kind: 'reply', hex: [] });
    else {
      const m = /^\s+[0-9a-f]{4}\s+((?:[0-9a-f]{2}\s?)+)$/.exec(line);
      if (m && blocks.length) blocks[blocks.length - 1]!.hex.push(m[1]!);
    }
  }
  const req = blocks.find((b) => b.kind === 'request');
  if (!req) throw new Error(`${file}: no request block`);
  return {
    file,
    title: text.split('\n')[0]!.replace(/^# /, ''),
    request: fromHex(req.hex.join('')),
    datagrams: blocks.filter((b) => b.kind === 'reply').map((b) => fromHex(b.hex.join(''))),
  };
}

export const GENL_FIXTURES = join(import.meta.dirname, '..', 'genl', 'fixtures');

export function loadKernelCaptures(): KernelCapture[] {
  return readdirSync(GENL_FIXTURES)
    .filter((f) => f.startsWith('kernel-genl-') && f.endsWith('.txt'))
    .sort()
    .map((f) => parseKernelCapture(join(GENL_FIXTURES, f)));
}

/** Rewrites the seq of every nlmsghdr of a datagram (and the echoed request header in NLMSG_ERROR). */
export function withSeq(dgram: Uint8Array, seq: number): Uint8Array {
  const out = dgram.slice();
  const dv = new DataView(out.buffer);
  let off = 0;
  while (off + 16 <= out.length) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > out.length) break;
    if (dv.getUint32(off + 8, true) !== 0) dv.setUint32(off + 8, seq, true);
    if (dv.getUint16(off + 4, true) === 2 && len >= 36) dv.setUint32(off + 28, seq, true);
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * A Transport that replays a fixture: each datagram the client sends is recorded (to compare with
 * the fixture's `send` lines afterwards) and answered with the `recv` lines that follow the matching
 * `send` in the fixture, their seq set to the client's.
 */
export class ReplayTransport implements Transport {
  readonly protocol = 16;
  readonly portid = 0x4242;
  readonly sent: Uint8Array[] = [];
  readonly memberships: number[] = [];
  private rx?: (d: Uint8Array, info: DatagramInfo) => void;
  private closeCb?: (err?: Error) => void;
  private next = 0;
  closed = false;

  constructor(private readonly lines: FixtureLine[]) {}

  send(d: Uint8Array): void {
    this.sent.push(d.slice());
    const seq = new DataView(d.buffer, d.byteOffset).getUint32(8, true);
    while (this.next < this.lines.length && this.lines[this.next]!.dir !== 'send') this.next++;
    this.next++;
    const replies: Uint8Array[] = [];
    while (this.next < this.lines.length && this.lines[this.next]!.dir === 'recv') {
      replies.push(withSeq(this.lines[this.next]!.bytes, seq));
      this.next++;
    }
    setImmediate(() => {
      for (const r of replies) this.rx?.(r, { port: 0, groups: 0 });
    });
  }

  /** delivers a multicast datagram */
  notify(d: Uint8Array, groups = 1): void {
    this.rx?.(d, { port: 0, groups });
  }

  expectedSends(): Uint8Array[] {
    return this.lines.filter((l) => l.dir === 'send').map((l) => l.bytes);
  }

  onDatagram(cb: (d: Uint8Array, info: DatagramInfo) => void): void {
    this.rx = cb;
  }
  onClose(cb: (err?: Error) => void): void {
    this.closeCb = cb;
  }
  addMembership(group: number): void {
    this.memberships.push(group);
  }
  dropMembership(group: number): void {
    const i = this.memberships.indexOf(group);
    if (i >= 0) this.memberships.splice(i, 1);
  }
  close(): void {
    this.closed = true;
    this.closeCb?.();
  }
}

/** Masked hex (seq + padding zeroed) of each datagram, for comparisons with captured requests. */
export const maskedHex = (ds: Uint8Array[]): string[] => ds.map((d) => toHex(maskRequestPadding(d)));
