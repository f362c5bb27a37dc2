/**
 * XFRM message codec: nlmsghdr + fixed body + attributes, driven by the tables in messages.ts and
 * attrs.ts. Decoding then encoding any message the kernel or iproute2 produces gives the same bytes.
 */
import { type Attr, type AttrInput, decodeAttrs, encodeAttrs } from '../schema/attrs.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { withScratchWriter } from '../wire/nlattr.ts';
import { NLM_F, NLMSG_HDRLEN, type NlMsgHeader, writeHeader } from '../wire/nlmsg.ts';
import { XFRM_MSG, XFRM_MSG_SPECS, type XfrmMsgSpec, xfrmMsgName } from './messages.ts';

export interface XfrmMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** decoded fixed body (a struct object, or a number for the u32 bodies); absent for dump requests */
  body?: unknown;
  /** bytes between the end of the body and the first attribute (alignment padding), when present */
  bodyPad?: Uint8Array;
  attrs: Attr[];
  /** trailing bytes after the last attribute that are too short to be one */
  leftover?: Uint8Array;
}

/** A GETSA/GETPOLICY request with a dump flag carries no body: attributes follow the header. */
export function isDumpRequest(type: number, flags: number): boolean {
  return (
    (type === XFRM_MSG.GETSA || type === XFRM_MSG.GETPOLICY) &&
    (flags & NLM_F.REQUEST) !== 0 &&
    (flags & NLM_F.DUMP) !== 0
  );
}

function familyAt(spec: XfrmMsgSpec, payload: Uint8Array): number {
  if (spec.familyOffset === undefined || payload.length < spec.familyOffset + 2) return 0;
  return payload[spec.familyOffset]! | (payload[spec.familyOffset + 1]! << 8);
}

/**
 * Decodes one XFRM message (header + payload). `base` is the message's offset in its datagram, for
 * error positions. Unknown message types throw a NetlinkDecodeError.
 */
export function decodeXfrm(header: NlMsgHeader, payload: Uint8Array, base = 0): XfrmMessage {
  const spec = XFRM_MSG_SPECS.get(header.type);
  if (!spec) {
    throw new NetlinkDecodeError(
      `unknown XFRM message type 0x${header.type.toString(16)}`,
      base + 4,
      'nlmsghdr',
    );
  }
  const msg: XfrmMessage = {
    type: header.type,
    flags: header.flags,
    seq: header.seq,
    pid: header.pid,
    attrs: [],
  };
  const path = spec.name;
  let attrStart = 0;
  let family = 0;
  if (!isDumpRequest(header.type, header.flags) && spec.body) {
    if (payload.length < spec.min) {
      throw new NetlinkDecodeError(
        `${spec.name} body is ${payload.length} bytes, ${spec.body.desc} needs ${spec.min}`,
        base + NLMSG_HDRLEN,
        path,
      );
    }
    family = familyAt(spec, payload);
    msg.body = spec.body.decode(payload, 0, spec.min, { base: base + NLMSG_HDRLEN, path, family });
    attrStart = Math.min((spec.min + 3) & ~3, payload.length);
    if (attrStart > spec.min) msg.bodyPad = payload.slice(spec.min, attrStart);
  }
  const attrEnd = payload.length;
  const attrs = decodeAttrs(spec.attrs, payload, attrStart, attrEnd, {
    base: base + NLMSG_HDRLEN + attrStart,
    path,
    family,
  });
  msg.attrs = attrs;
  // parseAttrs stops when fewer than 4 bytes remain: keep them
  const used = consumedLength(payload, attrStart, attrEnd);
  if (used < attrEnd) msg.leftover = payload.slice(used, attrEnd);
  return msg;
}

/** Offset where attribute walking stopped (start of the leftover bytes). */
function consumedLength(b: Uint8Array, start: number, end: number): number {
  let off = start;
  while (end - off >= 4) {
    const len = b[off]! | (b[off + 1]! << 8);
    off += (len + 3) & ~3;
  }
  return Math.min(off, end);
}

/** Encodes an XFRM message. Attributes are given in wire order (by name, or decoded `Attr`s). */
export function encodeXfrm(msg: {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  body?: unknown;
  bodyPad?: Uint8Array;
  attrs?: readonly AttrInput[];
  leftover?: Uint8Array;
}): Uint8Array {
  const spec = XFRM_MSG_SPECS.get(msg.type);
  if (!spec) throw new NetlinkEncodeError(`unknown XFRM message type 0x${msg.type.toString(16)}`, 'nlmsghdr');
  return withScratchWriter((w) => {
    const hdrAt = w.alloc(NLMSG_HDRLEN);
    if (!isDumpRequest(msg.type, msg.flags) && spec.body) {
      if (msg.body === undefined) throw new NetlinkEncodeError(`${spec.name} needs a body`, spec.name);
      const at = w.alloc(spec.min);
      spec.body.encode(msg.body as never, w.buf, at, spec.name);
      if (msg.bodyPad) w.bytes(msg.bodyPad);
      else if (msg.attrs && msg.attrs.length > 0) w.align();
    }
    if (msg.attrs) encodeAttrs(spec.attrs, msg.attrs, w, spec.name);
    if (msg.leftover) w.bytes(msg.leftover);
    writeHeader({ len: w.len, type: msg.type, flags: msg.flags, seq: msg.seq, pid: msg.pid }, w.buf, hdrAt);
  });
}

export { xfrmMsgName };
