/**
 * Control messages common to every netlink family: NLMSG_ERROR (acks and errors with extended-ack
 * TLVs), NLMSG_DONE (end of a dump, with its errno), NLMSG_NOOP, NLMSG_OVERRUN.
 *
 * NLMSG_ERROR payload (`struct nlmsgerr`):
 *
 * | offset | size | field |
 * |--------|------|-------|
 * | 0      | 4    | error (0 = ack, else −errno) |
 * | 4      | 16   | nlmsghdr of the request |
 * | 20     | n    | the request's payload (absent when CAPPED) |
 * | 20+n   | …    | extack TLVs (NLMSGERR_ATTR_*) when flags has ACK_TLVS |
 */

import { type Attr, attrSet, decodeAttrs, encodeAttrs, getAttr, nested } from '../schema/attrs.ts';
import { binary, string, u32 } from '../schema/codec.ts';
import { errnoName } from './errno.ts';
import { type ExtAck, NetlinkDecodeError } from './errors.ts';
import { ByteWriter } from './nlattr.ts';
import { NLM_F, NLMSG, NLMSG_HDRLEN, type NlMsgHeader, readHeader, writeHeader } from './nlmsg.ts';

export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4, MISS_TYPE: 5, MISS_NEST: 6 } as const;

/** NL_POLICY_TYPE_ATTR_* (the content of NLMSGERR_ATTR_POLICY and of genl policy dumps). */
export const policyTypeAttrs = attrSet('policy-type-attrs', [
  [1, 'TYPE', u32],
  [2, 'MIN_VALUE_S', binary],
  [3, 'MAX_VALUE_S', binary],
  [4, 'MIN_VALUE_U', binary],
  [5, 'MAX_VALUE_U', binary],
  [6, 'MIN_LENGTH', u32],
  [7, 'MAX_LENGTH', u32],
  [8, 'POLICY_IDX', u32],
  [9, 'POLICY_MAXTYPE', u32],
  [10, 'BITFIELD32_MASK', u32],
  [11, 'PAD', binary],
  [12, 'MASK', binary],
]);

export const extackAttrs = attrSet('nlmsgerr-attrs', [
  [NLMSGERR_ATTR.MSG, 'MSG', string],
  [NLMSGERR_ATTR.OFFS, 'OFFS', u32],
  [NLMSGERR_ATTR.COOKIE, 'COOKIE', binary],
  [NLMSGERR_ATTR.POLICY, 'POLICY', nested(() => policyTypeAttrs), { nestedFlag: true }],
  [NLMSGERR_ATTR.MISS_TYPE, 'MISS_TYPE', u32],
  [NLMSGERR_ATTR.MISS_NEST, 'MISS_NEST', u32],
]);

export interface ErrorBody {
  /** 0 for an ack, else −errno (as on the wire) */
  error: number;
  /** header of the request this answers */
  request: NlMsgHeader;
  /** echoed request payload (absent when the ack was CAPPED) */
  requestPayload?: Uint8Array;
  /** extended-ack TLVs as decoded attributes (exact order kept) */
  tlvs: Attr[];
}

export interface DoneBody {
  error: number;
  tlvs: Attr[];
}

export function extackOf(tlvs: readonly Attr[]): ExtAck {
  const e: ExtAck = {};
  const msg = getAttr<string>(tlvs, 'MSG');
  if (msg !== undefined) e.msg = msg;
  const offs = getAttr<number>(tlvs, 'OFFS');
  if (offs !== undefined) e.offs = offs;
  const cookie = getAttr<Uint8Array>(tlvs, 'COOKIE');
  if (cookie !== undefined) e.cookie = cookie;
  const pol = tlvs.find((a) => a.name === 'POLICY');
  if (pol) e.policy = pol.raw ?? undefined;
  const mt = getAttr<number>(tlvs, 'MISS_TYPE');
  if (mt !== undefined) e.missType = mt;
  const mn = getAttr<number>(tlvs, 'MISS_NEST');
  if (mn !== undefined) e.missNest = mn;
  return e;
}

export function decodeErrorBody(header: NlMsgHeader, payload: Uint8Array, base: number): ErrorBody {
  if (payload.length < 4 + NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(
      `NLMSG_ERROR payload is ${payload.length} bytes, needs at least 20`,
      base,
      'NLMSG_ERROR',
    );
  }
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const error = dv.getInt32(0, true);
  const request = readHeader(payload, 4);
  let off = 4 + NLMSG_HDRLEN;
  const body: ErrorBody = { error, request, tlvs: [] };
  if (!(header.flags & NLM_F.CAPPED) && error !== 0) {
    const n = request.len - NLMSG_HDRLEN;
    if (n < 0 || off + n > payload.length) {
      throw new NetlinkDecodeError(
        `NLMSG_ERROR echoes a ${request.len}-byte request but only ${payload.length - off + NLMSG_HDRLEN} bytes follow`,
        base + 4,
        'NLMSG_ERROR',
      );
    }
    body.requestPayload = payload.slice(off, off + n);
    off += (n + 3) & ~3;
  } else if (!(header.flags & NLM_F.CAPPED) && request.len > NLMSG_HDRLEN && payload.length > off) {
    // success ack from an old kernel that echoed the payload
    const n = Math.min(request.len - NLMSG_HDRLEN, payload.length - off);
    body.requestPayload = payload.slice(off, off + n);
    off += (n + 3) & ~3;
  }
  if (header.flags & NLM_F.ACK_TLVS && off < payload.length) {
    body.tlvs = decodeAttrs(extackAttrs, payload, off, payload.length, {
      base: base + off,
      path: 'NLMSG_ERROR',
      family: 0,
    });
  }
  return body;
}

export function encodeErrorBody(b: ErrorBody, w: ByteWriter): void {
  const at = w.alloc(4 + NLMSG_HDRLEN);
  w.dv.setInt32(at, b.error, true);
  writeHeader(b.request, w.buf, at + 4);
  if (b.requestPayload) {
    w.bytes(b.requestPayload);
    w.align();
  }
  encodeAttrs(extackAttrs, b.tlvs, w);
}

export function decodeDoneBody(header: NlMsgHeader, payload: Uint8Array, base: number): DoneBody {
  if (payload.length < 4) {
    // NLMSG_DONE with no errno is legal from some families; treat as 0
    return { error: 0, tlvs: [] };
  }
  const error = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getInt32(0, true);
  const tlvs =
    header.flags & NLM_F.ACK_TLVS && payload.length > 4
      ? decodeAttrs(extackAttrs, payload, 4, payload.length, {
          base: base + 4,
          path: 'NLMSG_DONE',
          family: 0,
        })
      : [];
  return { error, tlvs };
}

export function encodeDoneBody(b: DoneBody, w: ByteWriter): void {
  const at = w.alloc(4);
  w.dv.setInt32(at, b.error, true);
  encodeAttrs(extackAttrs, b.tlvs, w);
}

/** Builds a whole NLMSG_ERROR message answering `request` (used by the simulator and tests). */
export function buildError(
  request: { header: NlMsgHeader; payload: Uint8Array },
  errno: number,
  opts: { portid: number; capAck?: boolean; extAck?: boolean; extack?: ExtAck; policy?: Attr[] } = {
    portid: 0,
  },
): Uint8Array {
  const w = new ByteWriter(64 + request.payload.length);
  const hdrAt = w.alloc(NLMSG_HDRLEN);
  const tlvs: Attr[] = [];
  if (opts.extAck && opts.extack) {
    if (opts.extack.msg !== undefined) tlvs.push({ type: 1, name: 'MSG', value: opts.extack.msg });
    if (opts.extack.offs !== undefined) tlvs.push({ type: 2, name: 'OFFS', value: opts.extack.offs });
    if (opts.extack.cookie !== undefined) tlvs.push({ type: 3, name: 'COOKIE', value: opts.extack.cookie });
    if (opts.policy) tlvs.push({ type: 4, name: 'POLICY', value: opts.policy, flagBits: 0x8000 });
    if (opts.extack.missType !== undefined)
      tlvs.push({ type: 5, name: 'MISS_TYPE', value: opts.extack.missType });
    if (opts.extack.missNest !== undefined)
      tlvs.push({ type: 6, name: 'MISS_NEST', value: opts.extack.missNest });
  }
  const capped = errno === 0 || !!opts.capAck;
  encodeErrorBody(
    {
      error: -Math.abs(errno),
      request: request.header,
      requestPayload: capped ? undefined : request.payload,
      tlvs,
    },
    w,
  );
  const flags = (capped ? NLM_F.CAPPED : 0) | (tlvs.length ? NLM_F.ACK_TLVS : 0);
  writeHeader(
    { len: w.len, type: NLMSG.ERROR, flags, seq: request.header.seq, pid: opts.portid },
    w.buf,
    hdrAt,
  );
  return w.finish();
}

export function describeErrno(error: number): string {
  return error === 0 ? 'ok' : errnoName(-error);
}
