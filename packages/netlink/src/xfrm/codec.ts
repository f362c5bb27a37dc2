/**
 * XFRM message codec: nlmsghdr + fixed body + attributes, driven by the tables in messages.ts and
 * attrs.ts. Decoding then encoding any message the kernel or iproute2 produces gives the same bytes.
 */
import { type Attr, type AttrInput, decodeAttrs, encodeAttrs } from '../schema/attrs.ts';
import { type CompiledStruct, compiledOf } from '../schema/compile.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';
import { type ByteWriter, releaseScratchWriter, takeScratchWriter } from '../wire/nlattr.ts';
import { NLM_F, NLMSG_HDRLEN, type NlMsgHeader } from '../wire/nlmsg.ts';
import { XFRM_MSG, XFRM_MSG_SPECS, type XfrmMsgSpec, xfrmMsgName } from './messages.ts';

/** The message table indexed by type (an array lookup per message instead of a hash). */
const SPEC_BY_TYPE: (XfrmMsgSpec | undefined)[] = [];
for (const [type, spec] of XFRM_MSG_SPECS) SPEC_BY_TYPE[type] = spec;
for (let i = 0; i < SPEC_BY_TYPE.length; i++) SPEC_BY_TYPE[i] ??= undefined;
/** The body's compiled encoder by type (struct bodies), which writes through the writer's DataView. */
const BODY_ENCODE_DV: (CompiledStruct['encodeDv'] | undefined)[] = SPEC_BY_TYPE.map((s) =>
  s?.body ? compiledOf(s.body)?.encodeDv : undefined,
);
const specOf = (type: number): XfrmMsgSpec | undefined =>
  type < SPEC_BY_TYPE.length ? SPEC_BY_TYPE[type] : undefined;

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

/**
 * Decodes one XFRM message (header + payload). `base` is the message's offset in its datagram, for
 * error positions. Unknown message types throw a NetlinkDecodeError.
 */
export function decodeXfrm(header: NlMsgHeader, payload: Uint8Array, base = 0): XfrmMessage {
  return decodeXfrmAt(header, payload, 0, payload.length, base);
}

/** `decodeXfrm` of the payload `buf[start, end)` (no view of it is made). */
export function decodeXfrmAt(
  header: NlMsgHeader,
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
): XfrmMessage {
  const spec = specOf(header.type);
  if (!spec) {
    throw new NetlinkDecodeError(
      `unknown XFRM message type 0x${header.type.toString(16)}`,
      base + 4,
      'nlmsghdr',
    );
  }
  const path = spec.name;
  const plen = end - start;
  let body: unknown;
  let bodyPad: Uint8Array | undefined;
  let attrStart = start;
  let family = 0;
  if (spec.body && !isDumpRequest(header.type, header.flags)) {
    if (plen < spec.min) {
      throw new NetlinkDecodeError(
        `${spec.name} body is ${plen} bytes, ${spec.body.desc} needs ${spec.min}`,
        base + NLMSG_HDRLEN,
        path,
      );
    }
    const fo = spec.familyOffset;
    if (fo !== undefined && plen >= fo + 2) family = buf[start + fo]! | (buf[start + fo + 1]! << 8);
    const fast = spec.body.decodeUnchecked;
    body = fast
      ? fast(buf, start, spec.min, family)
      : spec.body.decode(buf, start, spec.min, { base: base + NLMSG_HDRLEN - start, path, family });
    const a = start + Math.min((spec.min + 3) & ~3, plen);
    if (a > start + spec.min) bodyPad = buf.slice(start + spec.min, a);
    attrStart = a;
  }
  const attrs = decodeAttrs(spec.attrs, buf, attrStart, end, {
    base: base + NLMSG_HDRLEN + attrStart - start,
    path,
    family,
  });
  // one literal per shape (adding `body` to the object afterwards would move it to a new map and
  // a property store of its own)
  const msg: XfrmMessage =
    body !== undefined
      ? { type: header.type, flags: header.flags, seq: header.seq, pid: header.pid, attrs, body }
      : { type: header.type, flags: header.flags, seq: header.seq, pid: header.pid, attrs };
  if (bodyPad) msg.bodyPad = bodyPad;
  // the attribute walk stops when fewer than 4 bytes remain: keep them
  const used = consumedLength(buf, attrStart, end);
  if (used < end) msg.leftover = buf.slice(used, end);
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

/** What `encodeXfrm` encodes (attributes in wire order, by name or as decoded `Attr`s). */
export interface XfrmMessageInput {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  body?: unknown;
  bodyPad?: Uint8Array;
  attrs?: readonly AttrInput[];
  leftover?: Uint8Array;
}

/** Encodes an XFRM message. Attributes are given in wire order (by name, or decoded `Attr`s). */
export function encodeXfrm(msg: XfrmMessageInput): Uint8Array {
  const w = takeScratchWriter();
  try {
    encodeXfrmInto(w, msg, msg.type, msg.flags, msg.seq, msg.pid);
    return w.finish();
  } finally {
    releaseScratchWriter(w);
  }
}

/**
 * Appends one XFRM message to `w` (nlmsghdr from `type`/`flags`/`seq`/`pid`, which override the
 * message's own; `nlmsg_len` from the content). Returns the message's offset in `w`.
 */
export function encodeXfrmInto(
  w: ByteWriter,
  msg: XfrmMessageInput,
  type: number,
  flags: number,
  seq: number,
  pid: number,
): number {
  const spec = specOf(type);
  if (!spec) throw new NetlinkEncodeError(`unknown XFRM message type 0x${type.toString(16)}`, 'nlmsghdr');
  const hdrAt = w.alloc(NLMSG_HDRLEN);
  const attrs = msg.attrs;
  if (spec.body && !isDumpRequest(type, flags)) {
    if (msg.body === undefined) throw new NetlinkEncodeError(`${spec.name} needs a body`, spec.name);
    const at = w.alloc(spec.min);
    const encDv = BODY_ENCODE_DV[type];
    if (encDv !== undefined) encDv(msg.body, w.buf, w.dv, at, spec.name);
    else spec.body.encode(msg.body as never, w.buf, at, spec.name);
    if (msg.bodyPad) w.bytes(msg.bodyPad);
    else if (attrs && attrs.length > 0) w.align();
  }
  if (attrs) encodeAttrs(spec.attrs, attrs, w, spec.name);
  if (msg.leftover) w.bytes(msg.leftover);
  const dv = w.dv;
  dv.setUint32(hdrAt, w.len - hdrAt, true);
  dv.setUint16(hdrAt + 4, type, true);
  dv.setUint16(hdrAt + 6, flags, true);
  dv.setUint32(hdrAt + 8, seq, true);
  dv.setUint32(hdrAt + 12, pid, true);
  return hdrAt;
}

export { xfrmMsgName };
