/**
 * The kernel side of netlink in the simulator: `netlink_rcv_skb` (walk the messages of a datagram,
 * skip non-requests, ack control types, dispatch the rest), acks and errors with extended-ack TLVs
 * (honouring the socket's EXT_ACK / CAP_ACK), dump packing into datagrams, and multicast fan-out.
 */
import {
  type Attr,
  ByteWriter,
  buildError,
  type ExtAck,
  encodeAttrs,
  extackAttrs,
  NetlinkDecodeError,
  NLM_F,
  NLMSG,
  NLMSG_HDRLEN,
  type NlMsgHeader,
  nlmsgAlign,
  readHeader,
  writeHeader,
} from '@xfrmkit/netlink';
import type { SimSocket } from './socket.ts';

/** A request as a protocol family handler sees it. */
export interface SimRequest {
  sock: SimSocket;
  header: NlMsgHeader;
  /** payload after the 16-byte header */
  payload: Uint8Array;
  /** the whole message */
  bytes: Uint8Array;
}

/** What a handler answers. Replies and notifications it sent itself (via the context) come first. */
export type SimResult =
  | { kind: 'ok'; warning?: string }
  | { kind: 'error'; errno: number; extack?: ExtAck; policy?: Attr[] }
  | {
      kind: 'dump';
      /** the entries, each a whole netlink message */
      messages: Uint8Array[];
      /** NLMSG_DONE in a datagram of its own (XFRM) or appended to the last batch (devlink) */
      doneSeparate: boolean;
      /** errno for the DONE payload (0 normally, e.g. −EINVAL for a bad filter) */
      doneErrno?: number;
      /** extack the dump left (MSG/OFFS/POLICY TLVs on the DONE for EXT_ACK sockets, as `netlink_dump_done`) */
      doneExtack?: ExtAck;
      donePolicy?: Attr[];
      /** extra flags on every entry (e.g. NLM_F_DUMP_FILTERED) */
      flags?: number;
    };

export interface SimContext {
  /** sends a unicast datagram to the requester (before the ack) */
  unicast(datagram: Uint8Array): void;
  /** sends a datagram to every socket of this protocol and netns in `group` (requester included) */
  multicast(group: number, datagram: Uint8Array): void;
  /**
   * Whether a `multicast` to `group` would reach any socket now (like `netlink_has_listeners`): a
   * handler may skip building a notification nobody would receive.
   */
  listening(group: number): boolean;
}

export interface ProtocolHandler {
  handle(req: SimRequest, ctx: SimContext): SimResult;
}

export interface EndpointHost {
  /** sockets of a protocol in a netns, for multicast */
  sockets(protocol: number, netns: string): Iterable<SimSocket>;
  /** whether a socket of `protocol` in `netns` is in `group` (default: walks `sockets`) */
  hasListeners?(protocol: number, netns: string, group: number): boolean;
}

/**
 * The context of the requests of one datagram. A class rather than per-request closures: creating
 * closures for every message of a bulk datagram showed up in profiles.
 */
class DatagramContext implements SimContext {
  constructor(
    private readonly host: EndpointHost,
    private readonly sock: SimSocket,
  ) {}

  unicast(d: Uint8Array): void {
    this.sock.deliver(d, { port: 0, group: 0 });
  }

  multicast(group: number, d: Uint8Array): void {
    const { sock } = this;
    for (const s of this.host.sockets(sock.protocol, sock.netns)) {
      if (!s.closed && s.groups.has(group)) s.deliver(d, { port: 0, group });
    }
  }

  listening(group: number): boolean {
    const { sock, host } = this;
    if (host.hasListeners) return host.hasListeners(sock.protocol, sock.netns, group);
    for (const s of host.sockets(sock.protocol, sock.netns)) {
      if (!s.closed && s.groups.has(group)) return true;
    }
    return false;
  }
}

/** Max bytes of dump entries per datagram: the kernel sizes dump skbs from the reader's buffer. */
function dumpBudget(sock: SimSocket): number {
  return Math.max(4096 - 320, Math.min(sock.rcvLen, 32768) - 320);
}

/**
 * Processes one datagram from `sock` with `handler`, delivering replies, notifications and acks to
 * the sockets. Malformed framing is answered like the kernel: a too-short nlmsghdr or a length past
 * the end stops processing (the kernel drops the rest silently).
 */
export function receiveDatagram(
  host: EndpointHost,
  sock: SimSocket,
  dgram: Uint8Array,
  handler: ProtocolHandler,
): void {
  if (dgram.length < NLMSG_HDRLEN) return;
  // the kernel works on its own copy of the request (handlers may write into it, and errors echo
  // it): one copy of the datagram, each message a view of its own range of it
  const own = dgram.slice();
  const ctx = new DatagramContext(host, sock);
  let off = 0;
  while (own.length - off >= NLMSG_HDRLEN) {
    let header: NlMsgHeader;
    try {
      header = readHeader(own, off);
    } catch (e) {
      if (e instanceof NetlinkDecodeError) return;
      throw e;
    }
    if (header.len < NLMSG_HDRLEN || off + header.len > own.length) return;
    const bytes = own.subarray(off, off + header.len);
    const req: SimRequest = { sock, header, payload: bytes.subarray(NLMSG_HDRLEN), bytes };
    processOne(req, handler, ctx);
    off += nlmsgAlign(header.len);
  }
}

function processOne(req: SimRequest, handler: ProtocolHandler, ctx: SimContext): void {
  const { sock, header } = req;
  const ackWanted = (header.flags & NLM_F.ACK) !== 0;
  // not a request, or a control type: never dispatched
  if (!(header.flags & NLM_F.REQUEST) || header.type < NLMSG.MIN_TYPE) {
    if (ackWanted) sendAck(sock, req, 0);
    return;
  }
  let res: SimResult;
  try {
    res = handler.handle(req, ctx);
  } catch (e) {
    // a handler bug must not take the simulated kernel down: answer EINVAL, like a failed parse
    res = { kind: 'error', errno: 22, extack: { msg: `simulator: ${(e as Error).message}` } };
  }
  if (res.kind === 'error') {
    sendError(sock, req, res.errno, res.extack, res.policy);
    return;
  }
  if (res.kind === 'dump') {
    sendDump(sock, req, res);
    return;
  }
  if (ackWanted) sendAck(sock, req, 0, res.warning);
}

export function sendAck(sock: SimSocket, req: SimRequest, _errno: number, warning?: string): void {
  sock.deliver(
    buildError(req, 0, {
      portid: sock.portid,
      capAck: true,
      extAck: sock.extAck && warning !== undefined,
      extack: warning !== undefined ? { msg: warning } : undefined,
    }),
    { port: 0, group: 0 },
  );
}

export function sendError(
  sock: SimSocket,
  req: SimRequest,
  errno: number,
  extack?: ExtAck,
  policy?: Attr[],
): void {
  sock.deliver(
    buildError(req, errno, { portid: sock.portid, capAck: sock.capAck, extAck: sock.extAck, extack, policy }),
    { port: 0, group: 0 },
  );
}

function sendDump(sock: SimSocket, req: SimRequest, res: Extract<SimResult, { kind: 'dump' }>): void {
  const budget = dumpBudget(sock);
  const flags = NLM_F.MULTI | (res.flags ?? 0);
  const done = doneMessage(
    req.header.seq,
    sock.portid,
    flags,
    res.doneErrno ?? 0,
    sock.extAck ? res : undefined,
  );
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = (extra?: Uint8Array) => {
    if (!batch.length && !extra) return;
    const parts = extra ? [...batch, extra] : batch;
    sock.deliver(concat(parts), { port: 0, group: 0 });
    batch = [];
    size = 0;
  };
  for (const m of res.messages) {
    const patched = m.slice();
    const dv = new DataView(patched.buffer);
    dv.setUint16(6, dv.getUint16(6, true) | flags, true);
    dv.setUint32(8, req.header.seq, true);
    dv.setUint32(12, sock.portid, true);
    if (size + nlmsgAlign(patched.length) > budget && batch.length) flush();
    batch.push(patched);
    size += nlmsgAlign(patched.length);
  }
  if (res.doneSeparate || batch.length === 0) {
    flush();
    flush(done);
  } else {
    flush(done);
  }
}

function doneMessage(
  seq: number,
  portid: number,
  flags: number,
  errno: number,
  ext?: { doneExtack?: ExtAck; donePolicy?: Attr[] },
): Uint8Array {
  const tlvs: Attr[] = [];
  const e = ext?.doneExtack;
  if (e?.msg !== undefined) tlvs.push({ type: 1, name: 'MSG', value: e.msg });
  if (errno !== 0 && e?.offs !== undefined) tlvs.push({ type: 2, name: 'OFFS', value: e.offs });
  if (errno !== 0 && ext?.donePolicy)
    tlvs.push({ type: 4, name: 'POLICY', value: ext.donePolicy, flagBits: 0x8000 });
  const w = new ByteWriter(64);
  const at = w.alloc(20);
  w.dv.setInt32(at + 16, errno === 0 ? 0 : -Math.abs(errno), true);
  encodeAttrs(extackAttrs, tlvs, w);
  writeHeader(
    {
      len: w.len,
      type: NLMSG.DONE,
      flags: (flags & (NLM_F.MULTI | NLM_F.DUMP_FILTERED)) | (tlvs.length ? NLM_F.ACK_TLVS : 0),
      seq,
      pid: portid,
    },
    w.buf,
    at,
  );
  return w.finish();
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  parts.forEach((p, i) => {
    n += i === parts.length - 1 ? p.length : nlmsgAlign(p.length);
  });
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += nlmsgAlign(p.length);
  }
  return out;
}
