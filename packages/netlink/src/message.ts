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
import { NetlinkEncodeError } from './wire/errors.ts';
import { ByteWriter } from './wire/nlattr.ts';
import {
  joinMessages,
  NLMSG,
  NLMSG_HDRLEN,
  type NlMsgHeader,
  splitDatagram,
  writeHeader,
} from './wire/nlmsg.ts';
import { decodeXfrm, encodeXfrm, type XfrmMessage } from './xfrm/codec.ts';

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

/** Decodes every message of a datagram. */
export function decodeDatagram(dgram: Uint8Array, proto: Protocol, genl?: GenlRegistry): NetlinkMessage[] {
  const raws = splitDatagram(dgram);
  const msgs = raws.map((r) => decodeMessage(r.header, r.payload, proto, r.offset, genl));
  const last = raws[raws.length - 1];
  if (last) {
    const end = last.offset + last.header.len;
    if (end < dgram.length) msgs[msgs.length - 1]!.tail = dgram.slice(end);
  }
  return msgs;
}

/** Encodes one message; `header.len` is recomputed from the content. */
export function encodeMessage(m: NetlinkMessage, genl?: GenlRegistry): Uint8Array {
  switch (m.kind) {
    case 'xfrm':
      return encodeXfrm({
        ...m.xfrm,
        type: m.header.type,
        flags: m.header.flags,
        seq: m.header.seq,
        pid: m.header.pid,
      });
    case 'genl': {
      const spec = genl?.get(m.header.type) ?? (m.header.type === GENL_ID_CTRL ? ctrlFamily : undefined);
      return encodeGenl(
        { ...m.genl, type: m.header.type, flags: m.header.flags, seq: m.header.seq, pid: m.header.pid },
        spec,
      );
    }
    case 'error':
    case 'done':
    case 'control': {
      const w = new ByteWriter(64);
      const at = w.alloc(NLMSG_HDRLEN);
      if (m.kind === 'error') encodeErrorBody(m.error, w);
      else if (m.kind === 'done') encodeDoneBody(m.done, w);
      else w.bytes(m.payload);
      writeHeader({ ...m.header, len: w.len }, w.buf, at);
      return w.finish();
    }
    default:
      throw new NetlinkEncodeError('unknown message kind');
  }
}

/** Encodes messages into one datagram: each padded to 4 bytes except the last, which gets its `tail`. */
export function encodeDatagram(msgs: NetlinkMessage[], genl?: GenlRegistry): Uint8Array {
  const last = msgs[msgs.length - 1];
  return joinMessages(
    msgs.map((m) => encodeMessage(m, genl)),
    last?.tail,
  );
}
