/**
 * A libpcap file writer (the classic format Wireshark and tcpdump read): global header with
 * magic 0xa1b2c3d4 (microsecond timestamps) or 0xa1b23c4d (nanosecond), version 2.4, snaplen and
 * link type, then one record per packet. LINKTYPE_ETHERNET (1) carries whole frames,
 * LINKTYPE_RAW (101) bare IPv4/IPv6 datagrams.
 */
import { writeFileSync } from 'node:fs';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;

export interface PcapOptions {
  linktype?: number;
  snaplen?: number;
  /** nanosecond-resolution timestamps */
  nanos?: boolean;
}

export interface PcapRecord {
  /** capture time in nanoseconds since the epoch */
  timeNs: bigint;
  data: Uint8Array;
  /** original length (default data.length) */
  origLen?: number;
}

export class PcapWriter {
  readonly linktype: number;
  readonly snaplen: number;
  readonly nanos: boolean;
  private readonly chunks: Uint8Array[] = [];
  private count = 0;

  constructor(opts: PcapOptions = {}) {
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.snaplen = opts.snaplen ?? 262144;
    this.nanos = opts.nanos ?? false;
    const h = Buffer.alloc(24);
    h.writeUInt32LE(this.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(this.snaplen, 16);
    h.writeUInt32LE(this.linktype, 20);
    this.chunks.push(h);
  }

  get packets(): number {
    return this.count;
  }

  add(r: PcapRecord): void {
    const cap = Math.min(r.data.length, this.snaplen);
    const h = Buffer.alloc(16);
    const sec = r.timeNs / 1_000_000_000n;
    const frac = r.timeNs % 1_000_000_000n;
    h.writeUInt32LE(Number(sec & 0xffff_ffffn), 0);
    h.writeUInt32LE(Number(this.nanos ? frac : frac / 1000n), 4);
    h.writeUInt32LE(cap, 8);
    h.writeUInt32LE(r.origLen ?? r.data.length, 12);
    this.chunks.push(h, r.data.subarray(0, cap));
    this.count++;
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }

  writeFile(path: string): void {
    writeFileSync(path, this.bytes());
  }
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  nanos: boolean;
  records: PcapRecord[];
}

/** Reads a classic pcap file (either byte order, µs or ns timestamps). */
export function readPcap(buf: Uint8Array): PcapFile {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 24) throw new Error(`pcap: ${b.length} bytes is shorter than the global header`);
  const m = b.readUInt32LE(0);
  let le: boolean;
  let nanos: boolean;
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) {
    le = true;
    nanos = m === 0xa1b23c4d;
  } else if (m === 0xd4c3b2a1 || m === 0x4d3cb2a1) {
    le = false;
    nanos = m === 0x4d3cb2a1;
  } else throw new Error(`pcap: bad magic 0x${m.toString(16)}`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out: PcapFile = { linktype: u32(20), snaplen: u32(16), nanos, records: [] };
  let o = 24;
  while (o < b.length) {
    if (o + 16 > b.length) throw new Error(`pcap: truncated record header at byte ${o}`);
    const sec = BigInt(u32(o));
    const frac = BigInt(u32(o + 4));
    const incl = u32(o + 8);
    const orig = u32(o + 12);
    if (o + 16 + incl > b.length)
      throw new Error(`pcap: record at byte ${o} claims ${incl} bytes past the end`);
    out.records.push({
      timeNs: sec * 1_000_000_000n + (nanos ? frac : frac * 1000n),
      data: new Uint8Array(b.subarray(o + 16, o + 16 + incl)),
      origLen: orig,
    });
    o += 16 + incl;
  }
  return out;
}
