/**
 * Netlink message framing (`include/uapi/linux/netlink.h`).
 *
 * nlmsghdr, 16 bytes, host order (little-endian here):
 *
 * | offset | size | field      |
 * |--------|------|------------|
 * | 0      | 4    | nlmsg_len (header + payload, unpadded) |
 * | 4      | 2    | nlmsg_type |
 * | 6      | 2    | nlmsg_flags |
 * | 8      | 4    | nlmsg_seq  |
 * | 12     | 4    | nlmsg_pid  |
 *
 * Messages in one datagram are each padded to 4 bytes (NLMSG_ALIGN).
 */
import { NetlinkDecodeError } from './errors.ts';

export const NLMSG_HDRLEN = 16;
export const NLMSG_ALIGNTO = 4;
export const nlmsgAlign = (n: number): number => (n + 3) & ~3;

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4, MIN_TYPE: 0x10 } as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
  // GET modifiers
  ROOT: 0x100,
  MATCH: 0x200,
  ATOMIC: 0x400,
  DUMP: 0x300,
  // NEW modifiers
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // ack modifiers
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

/** Netlink protocols (socket(AF_NETLINK, SOCK_RAW, proto)). */
export const NETLINK_PROTO = { ROUTE: 0, XFRM: 6, GENERIC: 16 } as const;

/** SOL_NETLINK socket options. */
export const NETLINK_SOCKOPT = {
  ADD_MEMBERSHIP: 1,
  DROP_MEMBERSHIP: 2,
  CAP_ACK: 10,
  EXT_ACK: 11,
  GET_STRICT_CHK: 12,
} as const;
export const SOL_NETLINK = 270;

export interface NlMsgHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export function readHeader(buf: Uint8Array, off: number): NlMsgHeader {
  if (buf.length - off < NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(`truncated nlmsghdr: ${buf.length - off} of 16 bytes`, off);
  }
  return {
    len: (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0,
    type: buf[off + 4]! | (buf[off + 5]! << 8),
    flags: buf[off + 6]! | (buf[off + 7]! << 8),
    seq: (buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16) | (buf[off + 11]! << 24)) >>> 0,
    pid: (buf[off + 12]! | (buf[off + 13]! << 8) | (buf[off + 14]! << 16) | (buf[off + 15]! << 24)) >>> 0,
  };
}

export function writeHeader(h: NlMsgHeader, out: Uint8Array, off: number): void {
  writeHeaderFields(h.len, h.type, h.flags, h.seq, h.pid, out, off);
}

/** `writeHeader` from the five fields (no header object needed). */
export function writeHeaderFields(
  len: number,
  type: number,
  flags: number,
  seq: number,
  pid: number,
  out: Uint8Array,
  off: number,
): void {
  out[off] = len;
  out[off + 1] = len >>> 8;
  out[off + 2] = len >>> 16;
  out[off + 3] = len >>> 24;
  out[off + 4] = type;
  out[off + 5] = type >>> 8;
  out[off + 6] = flags;
  out[off + 7] = flags >>> 8;
  out[off + 8] = seq;
  out[off + 9] = seq >>> 8;
  out[off + 10] = seq >>> 16;
  out[off + 11] = seq >>> 24;
  out[off + 12] = pid;
  out[off + 13] = pid >>> 8;
  out[off + 14] = pid >>> 16;
  out[off + 15] = pid >>> 24;
}

/** One message of a datagram: header + payload view (payload excludes the header and the padding). */
export interface RawMessage {
  header: NlMsgHeader;
  /** the whole message (header + payload, `header.len` bytes) */
  bytes: Uint8Array;
  /** payload = bytes after the 16-byte header */
  payload: Uint8Array;
  /** offset of the message within the datagram */
  offset: number;
}

/**
 * Splits a datagram into its messages (NLMSG_OK / NLMSG_NEXT). A length shorter than the header or
 * running past the end is a NetlinkDecodeError. Trailing bytes shorter than a header after the last
 * aligned message are an error too (the kernel never sends them).
 */
export function splitDatagram(dgram: Uint8Array): RawMessage[] {
  const out: RawMessage[] = [];
  let off = 0;
  while (off < dgram.length) {
    const header = readHeader(dgram, off);
    if (header.len < NLMSG_HDRLEN) {
      throw new NetlinkDecodeError(`nlmsg_len ${header.len} is shorter than the 16-byte header`, off);
    }
    if (off + header.len > dgram.length) {
      throw new NetlinkDecodeError(
        `nlmsg_len ${header.len} runs past the end of the datagram (${dgram.length - off} bytes left)`,
        off,
      );
    }
    const bytes = dgram.subarray(off, off + header.len);
    out.push({ header, bytes, payload: bytes.subarray(NLMSG_HDRLEN), offset: off });
    off += nlmsgAlign(header.len);
  }
  return out;
}

/**
 * Concatenates messages into one datagram, padding each but the last to 4 bytes (as senders do:
 * a lone 17-byte message is sent as 17 bytes). `tail` is appended after the last message.
 */
export function joinMessages(msgs: Uint8Array[], tail?: Uint8Array): Uint8Array {
  let total = tail?.length ?? 0;
  msgs.forEach((m, i) => {
    total += i === msgs.length - 1 ? m.length : nlmsgAlign(m.length);
  });
  const out = new Uint8Array(total);
  let off = 0;
  msgs.forEach((m, i) => {
    out.set(m, off);
    off += i === msgs.length - 1 ? m.length : nlmsgAlign(m.length);
  });
  if (tail) out.set(tail, off);
  return out;
}

export function flagNames(flags: number, type: number): string[] {
  const names: string[] = [];
  const base: [number, string][] = [
    [NLM_F.REQUEST, 'REQUEST'],
    [NLM_F.MULTI, 'MULTI'],
    [NLM_F.ACK, 'ACK'],
    [NLM_F.ECHO, 'ECHO'],
    [NLM_F.DUMP_INTR, 'DUMP_INTR'],
    [NLM_F.DUMP_FILTERED, 'DUMP_FILTERED'],
  ];
  for (const [bit, name] of base) if (flags & bit) names.push(name);
  if (type === NLMSG.ERROR) {
    if (flags & NLM_F.CAPPED) names.push('CAPPED');
    if (flags & NLM_F.ACK_TLVS) names.push('ACK_TLVS');
  } else if ((flags & 0xf00) !== 0) {
    names.push(`0x${(flags & 0xf00).toString(16)}`);
  }
  const rest = flags & ~0xf3f;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names;
}
