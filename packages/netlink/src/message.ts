/**
 * One decoded netlink message of any family we know, and datagram-level decode/encode.
 */

import { ctrlFamily } from './genl/ctrl.ts';
import { decodeGenl, encodeGenl, GENL_ID_CTRL, type GenlFamilySpec, type GenlMessage } from './genl/genl.ts';
import {
  type DoneBody,
  decodeDoneBody,
  decodeErrorBody,
  type ErrorBody,
  encodeDoneBody,
  encodeErrorBody,
} from './wire/control.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from './wire/errors.ts';
import { type ByteWriter, releaseScratchWriter, takeScratchWriter } from './wire/nlattr.ts';
import { NLMSG, NLMSG_HDRLEN, type NlMsgHeader, nlmsgAlign, readHeader, writeHeader } from './wire/nlmsg.ts';
import { decodeXfrm, decodeXfrmAt, encodeXfrmInto, type XfrmMessage } from './xfrm/codec.ts';

export type NetlinkMessage = (
  | { kind: 'error'; header: NlMsgHeader; error: ErrorBody }
  | { kind: 'done'; header: NlMsgHeader; done: DoneBody }
  | { kind: 'control'; header: NlMsgHeader; payload: Uint8Array }
  | { kind: 'xfrm'; header: NlMsgHeader; xfrm: XfrmMessage }
  | { kind: 'genl'; header: NlMsgHeader; genl: GenlMessage; family?: string }
) & {
  /** bytes after the last message of a datagram beyond its nlmsg_len (alignment padding), kept for exactness */
  tail?: Uint8Array;
};

/** Which codec reads the non-control messages of a socket. */
export type Protocol = 'xfrm' | 'genl';

/** Generic netlink family ids known to a decoder (nlctrl is always 0x10). */
export class GenlRegistry {
  private readonly byId = new Map<number, GenlFamilySpec>([[GENL_ID_CTRL, ctrlFamily]]);
  private readonly specsByName = new Map<string, GenlFamilySpec>([['nlctrl', ctrlFamily]]);

  /** Makes a family spec available; it is used once its id is known (`bind` or a GETFAMILY reply). */
  define(spec: GenlFamilySpec): this {
    this.specsByName.set(spec.name, spec);
    return this;
  }

  bind(id: number, name: string): void {
    const spec = this.specsByName.get(name);
    if (spec) this.byId.set(id, spec);
  }

  get(id: number): GenlFamilySpec | undefined {
    return this.byId.get(id);
  }

  idOf(name: string): number | undefined {
    for (const [id, s] of this.byId) if (s.name === name) return id;
    return undefined;
  }

  /** Learns family ids from nlctrl NEWFAMILY replies as they pass by. */
  learn(m: NetlinkMessage): void {
    if (m.kind !== 'genl' || m.genl.type !== GENL_ID_CTRL || m.genl.cmd !== 1) return;
    let id: number | undefined;
    let name: string | undefined;
    for (const a of m.genl.attrs) {
      if (a.name === 'FAMILY_ID') id = a.value as number;
      if (a.name === 'FAMILY_NAME') name = a.value as string;
    }
    if (id !== undefined && name !== undefined) this.bind(id, name);
  }
}

export function decodeMessage(
  header: NlMsgHeader,
  payload: Uint8Array,
  proto: Protocol,
  base = 0,
  genl?: GenlRegistry,
): NetlinkMessage {
  if (proto === 'xfrm' && header.type >= NLMSG.MIN_TYPE) {
    return { kind: 'xfrm', header, xfrm: decodeXfrmAt(header, payload, 0, payload.length, base) };
  }
  return decodeOther(header, payload, proto, base, genl);
}

function decodeOther(
  header: NlMsgHeader,
  payload: Uint8Array,
  proto: Protocol,
  base: number,
  genl: GenlRegistry | undefined,
): NetlinkMessage {
  switch (header.type) {
    case NLMSG.ERROR:
      return { kind: 'error', header, error: decodeErrorBody(header, payload, base + NLMSG_HDRLEN) };
    case NLMSG.DONE:
      return { kind: 'done', header, done: decodeDoneBody(header, payload, base + NLMSG_HDRLEN) };
    case NLMSG.NOOP:
    case NLMSG.OVERRUN:
      return { kind: 'control', header, payload: payload.slice() };
  }
  if (header.type < NLMSG.MIN_TYPE) return { kind: 'control', header, payload: payload.slice() };
  if (proto === 'xfrm') return { kind: 'xfrm', header, xfrm: decodeXfrm(header, payload, base) };
  const spec = genl?.get(header.type) ?? (header.type === GENL_ID_CTRL ? ctrlFamily : undefined);
  const m: NetlinkMessage = {
    kind: 'genl',
    header,
    genl: decodeGenl(header, payload, spec, base),
    family: spec?.name,
  };
  genl?.learn(m);
  return m;
}

/**
 * Decodes every message of a datagram (NLMSG_OK / NLMSG_NEXT as `splitDatagram`, with the same
 * errors; XFRM payloads are decoded in place, without a view per message).
 */
export function decodeDatagram(dgram: Uint8Array, proto: Protocol, genl?: GenlRegistry): NetlinkMessage[] {
  return decodeMessages(dgram, proto, genl, true);
}

/**
 * The messages of a datagram as `splitDatagram` + `decodeMessage` give them; with `keepTail`, bytes
 * after the last message's `nlmsg_len` are kept as its `tail` (as `decodeDatagram`).
 */
export function decodeMessages(
  dgram: Uint8Array,
  proto: Protocol,
  genl: GenlRegistry | undefined,
  keepTail: boolean,
): NetlinkMessage[] {
  const n = dgram.length;
  // framing first (errors in the same order as splitDatagram), then the messages
  let off = 0;
  while (off < n) {
    if (n - off < NLMSG_HDRLEN) {
      throw new NetlinkDecodeError(`truncated nlmsghdr: ${n - off} of 16 bytes`, off);
    }
    const len =
      (dgram[off]! | (dgram[off + 1]! << 8) | (dgram[off + 2]! << 16) | (dgram[off + 3]! << 24)) >>> 0;
    if (len < NLMSG_HDRLEN) {
      throw new NetlinkDecodeError(`nlmsg_len ${len} is shorter than the 16-byte header`, off);
    }
    if (off + len > n) {
      throw new NetlinkDecodeError(
        `nlmsg_len ${len} runs past the end of the datagram (${n - off} bytes left)`,
        off,
      );
    }
    off += nlmsgAlign(len);
  }
  const msgs: NetlinkMessage[] = [];
  let end = 0;
  off = 0;
  while (off < n) {
    const header = readHeader(dgram, off);
    end = off + header.len;
    if (proto === 'xfrm' && header.type >= NLMSG.MIN_TYPE) {
      msgs.push({ kind: 'xfrm', header, xfrm: decodeXfrmAt(header, dgram, off + NLMSG_HDRLEN, end, off) });
    } else {
      msgs.push(decodeOther(header, dgram.subarray(off + NLMSG_HDRLEN, end), proto, off, genl));
    }
    off += nlmsgAlign(header.len);
  }
  if (keepTail && msgs.length > 0 && end < n) msgs[msgs.length - 1]!.tail = dgram.slice(end);
  return msgs;
}

/** Appends one message to `w` (`header.len` recomputed from the content). */
function encodeMessageInto(w: ByteWriter, m: NetlinkMessage, genl: GenlRegistry | undefined): void {
  const h = m.header;
  switch (m.kind) {
    case 'xfrm':
      encodeXfrmInto(w, m.xfrm, h.type, h.flags, h.seq, h.pid);
      return;
    case 'genl': {
      const spec = genl?.get(h.type) ?? (h.type === GENL_ID_CTRL ? ctrlFamily : undefined);
      w.bytes(encodeGenl({ ...m.genl, type: h.type, flags: h.flags, seq: h.seq, pid: h.pid }, spec));
      return;
    }
    case 'error':
    case 'done':
    case 'control': {
      const at = w.alloc(NLMSG_HDRLEN);
      if (m.kind === 'error') encodeErrorBody(m.error, w);
      else if (m.kind === 'done') encodeDoneBody(m.done, w);
      else w.bytes(m.payload);
      writeHeader({ ...h, len: w.len - at }, w.buf, at);
      return;
    }
    default:
      throw new NetlinkEncodeError('unknown message kind');
  }
}

/** Encodes one message; `header.len` is recomputed from the content. */
export function encodeMessage(m: NetlinkMessage, genl?: GenlRegistry): Uint8Array {
  return encodeMessages([m], genl, false);
}

/** Encodes messages into one datagram: each padded to 4 bytes except the last, which gets its `tail`. */
export function encodeDatagram(msgs: NetlinkMessage[], genl?: GenlRegistry): Uint8Array {
  return encodeMessages(msgs, genl, true);
}

function encodeMessages(
  msgs: readonly NetlinkMessage[],
  genl: GenlRegistry | undefined,
  tail: boolean,
): Uint8Array {
  // one writer for the whole datagram (re-entrant calls get their own), no copy out
  const w = takeScratchWriter();
  try {
    for (let i = 0; i < msgs.length; i++) {
      if (i > 0) w.align();
      encodeMessageInto(w, msgs[i]!, genl);
    }
    const last = msgs[msgs.length - 1];
    if (tail && last?.tail) w.bytes(last.tail);
    return w.finish();
  } finally {
    releaseScratchWriter(w);
  }
}

/** Where `encodeBatch` put the last message it encoded. */
export interface BatchLast {
  /** index in the input of the last message encoded (-1: none) */
  index: number;
  /** its offset in the datagram */
  offset: number;
}

/**
 * Encodes requests into one datagram (each padded to 4 bytes but the last), straight into the
 * encoders' slab: no copy per message. A message that fails to encode is left out and reported to
 * `failed` with its index; returns undefined when none was encoded. `last` (if given) receives the
 * index and datagram offset of the last message encoded.
 */
export function encodeBatch(
  msgs: readonly NetlinkMessage[],
  genl: GenlRegistry | undefined,
  failed: (index: number, err: Error) => void,
  last?: BatchLast,
): Uint8Array | undefined {
  const w = takeScratchWriter();
  try {
    const start = w.len;
    let lastIndex = -1;
    let lastAt = 0;
    for (let i = 0; i < msgs.length; i++) {
      const at = w.len;
      try {
        if (lastIndex >= 0) w.align();
        const msgAt = w.len;
        encodeMessageInto(w, msgs[i]!, genl);
        lastIndex = i;
        lastAt = msgAt - start;
      } catch (e) {
        w.len = at;
        failed(i, e as Error);
      }
    }
    if (last) {
      last.index = lastIndex;
      last.offset = lastAt;
    }
    if (lastIndex < 0) {
      w.len = start;
      return undefined;
    }
    return w.finish();
  } finally {
    releaseScratchWriter(w);
  }
}
