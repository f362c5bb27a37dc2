/**
 * Generic netlink (`include/uapi/linux/genetlink.h`): a 4-byte header after nlmsghdr, then the
 * attributes of the family the nlmsg_type (family id) names.
 *
 * | offset | size | field |
 * |--------|------|-------|
 * | 0      | 1    | cmd |
 * | 1      | 1    | version |
 * | 2      | 2    | reserved |
 */
import { type Attr, type AttrInput, type AttrSet, decodeAttrs, encodeAttrs } from '../schema/attrs.ts';
import type { CodecCtx } from '../schema/codec.ts';
import { NetlinkDecodeError } from '../wire/errors.ts';
import { ByteWriter } from '../wire/nlattr.ts';
import { NLMSG_HDRLEN, type NlMsgHeader, writeHeader } from '../wire/nlmsg.ts';

export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 0x10;

/** How to read one generic netlink family: its name, attribute set(s) and command names. */
export interface GenlFamilySpec {
  name: string;
  /** attribute set of a command (most families use one set for all commands) */
  attrsFor(cmd: number): AttrSet;
  cmdName(cmd: number): string;
  /**
   * Optional: walks the top-level attributes itself instead of `decodeAttrs(attrsFor(cmd), …)`. Lets a
   * family make an attribute that qualifies others visible to their codecs (devlink: PARAM_TYPE
   * decides how PARAM_VALUE_DATA is read, also when both sit at the top level of PARAM_SET).
   */
  decodeAttrs?(cmd: number, buf: Uint8Array, start: number, end: number, ctx: CodecCtx): Attr[];
  /** Optional counterpart of `decodeAttrs` for encoding. */
  encodeAttrs?(cmd: number, attrs: readonly AttrInput[], w: ByteWriter, path: string): void;
}

export interface GenlMessage {
  /** nlmsg_type = family id */
  type: number;
  flags: number;
  seq: number;
  pid: number;
  cmd: number;
  version: number;
  reserved: number;
  attrs: Attr[];
  leftover?: Uint8Array;
}

export function decodeGenl(
  header: NlMsgHeader,
  payload: Uint8Array,
  family: GenlFamilySpec | undefined,
  base = 0,
): GenlMessage {
  if (payload.length < GENL_HDRLEN) {
    throw new NetlinkDecodeError(
      `genlmsghdr needs 4 bytes, got ${payload.length}`,
      base + NLMSG_HDRLEN,
      'genlmsghdr',
    );
  }
  const cmd = payload[0]!;
  const msg: GenlMessage = {
    type: header.type,
    flags: header.flags,
    seq: header.seq,
    pid: header.pid,
    cmd,
    version: payload[1]!,
    reserved: payload[2]! | (payload[3]! << 8),
    attrs: [],
  };
  const path = family ? `${family.name} ${family.cmdName(cmd)}` : `genl family 0x${header.type.toString(16)}`;
  if (family) {
    const ctx: CodecCtx = { base: base + NLMSG_HDRLEN + GENL_HDRLEN, path, family: 0 };
    msg.attrs = family.decodeAttrs
      ? family.decodeAttrs(cmd, payload, GENL_HDRLEN, payload.length, ctx)
      : decodeAttrs(family.attrsFor(cmd), payload, GENL_HDRLEN, payload.length, ctx);
  } else {
    // unknown family: keep attributes as raw TLVs
    msg.attrs = decodeAttrs(EMPTY_SET, payload, GENL_HDRLEN, payload.length, {
      base: base + NLMSG_HDRLEN + GENL_HDRLEN,
      path,
      family: 0,
    });
  }
  let off = GENL_HDRLEN;
  while (payload.length - off >= 4) off += ((payload[off]! | (payload[off + 1]! << 8)) + 3) & ~3;
  if (off < payload.length) msg.leftover = payload.slice(off);
  return msg;
}

const EMPTY_SET: AttrSet = { name: 'unknown', byType: new Map(), byName: new Map() };

export function encodeGenl(
  msg: {
    type: number;
    flags: number;
    seq: number;
    pid: number;
    cmd: number;
    version: number;
    reserved?: number;
    attrs?: readonly AttrInput[];
    leftover?: Uint8Array;
  },
  family: GenlFamilySpec | undefined,
): Uint8Array {
  const w = new ByteWriter(256);
  const hdrAt = w.alloc(NLMSG_HDRLEN + GENL_HDRLEN);
  w.buf[hdrAt + NLMSG_HDRLEN] = msg.cmd;
  w.buf[hdrAt + NLMSG_HDRLEN + 1] = msg.version;
  w.dv.setUint16(hdrAt + NLMSG_HDRLEN + 2, msg.reserved ?? 0, true);
  if (msg.attrs) {
    if (family?.encodeAttrs) family.encodeAttrs(msg.cmd, msg.attrs, w, family.name);
    else encodeAttrs(family ? family.attrsFor(msg.cmd) : EMPTY_SET, msg.attrs, w, family?.name ?? 'genl');
  }
  if (msg.leftover) w.bytes(msg.leftover);
  writeHeader({ len: w.len, type: msg.type, flags: msg.flags, seq: msg.seq, pid: msg.pid }, w.buf, hdrAt);
  return w.finish();
}
