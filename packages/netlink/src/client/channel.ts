/**
 * NetlinkChannel: requests and replies over a Transport. Assigns sequence numbers, keeps many
 * requests in flight (pipelined, optionally several per datagram), matches replies by sequence
 * number, turns dumps into async iterators, errors into NetlinkError, and hands multicast
 * notifications to subscribers.
 */
import {
  type BatchLast,
  decodeMessages,
  encodeBatch,
  encodeMessage,
  type GenlRegistry,
  type NetlinkMessage,
  type Protocol,
} from '../message.ts';
import { extackOf } from '../wire/control.ts';
import { type ExtAck, NetlinkDecodeError, NetlinkError } from '../wire/errors.ts';
import { joinMessages, NLM_F, NLMSG } from '../wire/nlmsg.ts';
import type { DatagramInfo, Transport } from './transport.ts';

export interface RequestResult {
  /** data messages answering the request (a GET reply, a genl reply…) */
  replies: NetlinkMessage[];
  /** extack warning attached to a successful ack ("bytes leftover after parsing attributes"…) */
  warning?: string;
}

interface Pending {
  seq: number;
  what: string;
  wantAck: boolean;
  dump: boolean;
  replies: NetlinkMessage[];
  resolve(r: RequestResult): void;
  reject(e: Error): void;
  /** dump mode: push each message to the iterator */
  push?: (m: NetlinkMessage | Error | null) => void;
  /**
   * the requests sent before this one in the same datagram without NLM_F_ACK (`sendEach` with
   * `ackLast`): when this one completes, those that got no error reply have succeeded
   */
  batch?: Pending[];
  /** ms timestamp after which the request fails (0 = never) */
  deadline: number;
}

export type NotificationHandler = (m: NetlinkMessage, info: DatagramInfo) => void;

export interface ChannelOptions {
  /** reject a request when no answer arrived after this many ms (default 30 s; 0 = never) */
  timeoutMs?: number;
  /** genl family ids (for NETLINK_GENERIC) */
  genl?: GenlRegistry;
  /** first sequence number (default: seconds since the epoch, as iproute2) */
  firstSeq?: number;
}

/** A request to send: a message whose `header.seq` the channel fills in (unless `keepSeq`). */
export interface OutgoingRequest {
  msg: NetlinkMessage;
  /** name for error messages, e.g. "XFRM_MSG_NEWSA" */
  what: string;
  keepSeq?: boolean;
}

export class NetlinkChannel {
  readonly proto: Protocol;
  private seq: number;
  private readonly pending = new Map<number, Pending>();
  private readonly subscribers = new Set<NotificationHandler>();
  private readonly unmatched = new Set<(m: NetlinkMessage, info: DatagramInfo, err?: Error) => void>();
  private closed: Error | undefined;
  private readonly timeoutMs: number;
  readonly genl?: GenlRegistry;

  constructor(
    readonly transport: Transport,
    opts: ChannelOptions = {},
  ) {
    this.proto = transport.protocol === 6 ? 'xfrm' : 'genl';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.genl = opts.genl;
    this.seq = opts.firstSeq ?? Math.floor(Date.now() / 1000);
    transport.onDatagram((d, info) => this.receive(d, info));
    transport.onClose((err) => this.fail(err ?? new Error('netlink transport closed')));
    this.updateRef();
  }

  get portid(): number {
    return this.transport.portid;
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  /** Sends one request and resolves when it is complete (ack, reply or error). */
  request(req: OutgoingRequest): Promise<RequestResult> {
    return this.requestMany([req])[0]!;
  }

  /**
   * Sends several requests in one datagram (the kernel processes them in order) and returns one
   * promise per request.
   */
  requestMany(reqs: OutgoingRequest[]): Promise<RequestResult>[] {
    const promises: Promise<RequestResult>[] = [];
    const bytes: Uint8Array[] = [];
    for (const r of reqs) {
      const { pending, promise } = this.register(r, false);
      promises.push(promise);
      try {
        bytes.push(encodeMessage(r.msg, this.genl));
      } catch (e) {
        this.settle(pending, e as Error);
      }
      void pending;
    }
    if (bytes.length) this.sendRaw(joinMessages(bytes));
    return promises;
  }

  /**
   * Sends requests in one datagram without creating a promise per request (for bulk programming):
   * `done(err)` is called once per request, with a NetlinkError/Error or undefined on success.
   */
  sendEach(
    reqs: OutgoingRequest[],
    done: (err: Error | undefined, index: number) => void,
    opts: { ackLast?: boolean } = {},
  ): void {
    if (this.closed) {
      const err = this.closed;
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        if (!r.keepSeq) setMsgSeq(r.msg, this.nextSeq());
        done(err, i);
      }
      return;
    }
    const deadline = this.timeoutMs > 0 ? Date.now() + this.timeoutMs : 0;
    const pendings: Pending[] = new Array(reqs.length);
    const msgs: NetlinkMessage[] = new Array(reqs.length);
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const h = r.msg.header;
      if (!r.keepSeq) setMsgSeq(r.msg, this.nextSeq());
      const cb = (res: RequestResult | Error) => done(res instanceof Error ? res : undefined, i);
      const p: Pending = {
        seq: h.seq,
        what: r.what,
        wantAck: (h.flags & NLM_F.ACK) !== 0,
        dump: false,
        replies: [],
        resolve: cb,
        reject: cb,
        deadline,
      };
      this.pending.set(h.seq, p);
      pendings[i] = p;
      msgs[i] = r.msg;
    }
    // ackLast (when every request asks for an ack): only the last request sent carries
    // NLM_F_ACK. The kernel handles a datagram's messages in order and answers every failure
    // whatever its flags, so that ack (or error) arriving means the others that got no error reply
    // have succeeded.
    let ackLast = !!opts.ackLast && msgs.length > 1;
    for (let i = 0; ackLast && i < msgs.length; i++)
      if (!(msgs[i]!.header.flags & NLM_F.ACK)) ackLast = false;
    if (ackLast) for (const m of msgs) setMsgFlags(m, m.header.flags & ~NLM_F.ACK);
    this.updateRef();
    this.armSweep();
    // one datagram, encoded in place; a request that cannot be encoded fails alone
    const last: BatchLast = { index: -1, offset: 0 };
    const d = encodeBatch(msgs, this.genl, (i, e) => this.settle(pendings[i]!, e), last);
    if (ackLast && d) {
      const m = msgs[last.index]!;
      setMsgFlags(m, m.header.flags | NLM_F.ACK);
      d[last.offset + 6]! |= NLM_F.ACK;
      const batch: Pending[] = [];
      for (let i = 0; i < pendings.length; i++) {
        if (i === last.index) continue;
        pendings[i]!.wantAck = false;
        batch.push(pendings[i]!);
      }
      pendings[last.index]!.batch = batch;
    }
    if (d) this.sendRaw(d);
  }

  /** Sends a dump request; yields each entry until NLMSG_DONE. */
  dump(req: OutgoingRequest): AsyncIterableIterator<NetlinkMessage> {
    const queue: Array<NetlinkMessage | Error | null> = [];
    let wake: (() => void) | undefined;
    const { pending } = this.register(req, true, (m) => {
      queue.push(m);
      wake?.();
    });
    try {
      this.sendRaw(encodeMessage(req.msg, this.genl));
    } catch (e) {
      queue.push(e as Error);
    }
    const self = this;
    const it: AsyncIterableIterator<NetlinkMessage> = {
      [Symbol.asyncIterator]() {
        return it;
      },
      async next(): Promise<IteratorResult<NetlinkMessage>> {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const m = queue.shift()!;
        if (m === null) return { done: true, value: undefined };
        if (m instanceof Error) throw m;
        return { done: false, value: m };
      },
      async return(): Promise<IteratorResult<NetlinkMessage>> {
        // the rest of the dump still arrives; drop it when it does
        pending.push = () => {};
        self.pending.get(pending.seq);
        return { done: true, value: undefined };
      },
    };
    return it;
  }

  /** Subscribes to multicast notifications (join the groups on the transport separately). */
  subscribe(handler: NotificationHandler): () => void {
    this.subscribers.add(handler);
    this.updateRef();
    return () => {
      this.subscribers.delete(handler);
      this.updateRef();
    };
  }

  private sweep?: ReturnType<typeof setInterval>;

  /** One timer for all requests: fails those past their deadline (no timer per request). */
  private armSweep(): void {
    if (this.sweep || this.timeoutMs <= 0) return;
    const every = Math.max(10, Math.min(1000, this.timeoutMs / 4));
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const p of [...this.pending.values()]) {
        if (p.deadline && p.deadline <= now) {
          this.settle(p, new Error(`${p.what}: no answer within ${this.timeoutMs} ms (seq ${p.seq})`));
        }
      }
      if (this.pending.size === 0 && this.sweep) {
        clearInterval(this.sweep);
        this.sweep = undefined;
      }
    }, every);
    this.sweep.unref?.();
  }

  private refd = true;
  /** Holds the event loop open while something waits on the transport. */
  private updateRef(): void {
    const want = !this.closed && (this.pending.size > 0 || this.subscribers.size > 0);
    if (want === this.refd) return;
    this.refd = want;
    if (want) this.transport.ref?.();
    else this.transport.unref?.();
  }

  /** Observes unicast messages that matched no request (and datagrams that failed to decode). */
  onUnmatched(cb: (m: NetlinkMessage, info: DatagramInfo, err?: Error) => void): () => void {
    this.unmatched.add(cb);
    return () => this.unmatched.delete(cb);
  }

  close(): void {
    this.transport.close();
    this.fail(new Error('netlink channel closed'));
  }

  private sendRaw(d: Uint8Array): void {
    if (this.closed) throw this.closed;
    this.transport.send(d);
  }

  private register(
    r: OutgoingRequest,
    dump: boolean,
    push?: (m: NetlinkMessage | Error | null) => void,
  ): { pending: Pending; promise: Promise<RequestResult> } {
    const h = r.msg.header;
    if (!r.keepSeq) {
      h.seq = this.nextSeq();
      setMsgSeq(r.msg, h.seq);
    }
    let resolve!: (x: RequestResult) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<RequestResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = {
      seq: h.seq,
      what: r.what,
      wantAck: (h.flags & NLM_F.ACK) !== 0,
      dump,
      replies: [],
      resolve,
      reject,
      push,
      deadline: this.timeoutMs > 0 ? Date.now() + this.timeoutMs : 0,
    };
    if (this.closed) {
      reject(this.closed);
      push?.(this.closed);
      return { pending, promise };
    }
    this.pending.set(h.seq, pending);
    this.updateRef();
    this.armSweep();
    // keep unhandled-rejection noise away for dumps (errors are delivered through the iterator)
    if (dump) promise.catch(() => {});
    return { pending, promise };
  }

  private settle(p: Pending, result: RequestResult | Error): void {
    if (this.pending.get(p.seq) !== p) return;
    this.pending.delete(p.seq);
    const batch = p.batch;
    if (batch) {
      // the requests before it in its datagram that are still waiting got no error: done (or, if
      // this one failed without an answer from the other side — timeout, closed transport — the
      // same failure applies to them)
      const res = result instanceof Error && !(result instanceof NetlinkError) ? result : undefined;
      for (const q of batch) if (this.pending.get(q.seq) === q) this.settle(q, res ?? { replies: q.replies });
    }
    this.updateRef();
    if (result instanceof Error) {
      p.reject(result);
      p.push?.(result);
    } else {
      p.resolve(result);
      p.push?.(null);
    }
  }

  private receive(dgram: Uint8Array, info: DatagramInfo): void {
    let msgs: NetlinkMessage[];
    try {
      msgs = decodeMessages(dgram, this.proto, this.genl, false);
    } catch (e) {
      const err = e instanceof NetlinkDecodeError ? e : new NetlinkDecodeError(String(e), 0);
      // a reply we cannot decode fails the request it belongs to (seq of the first header)
      const seq = dgram.length >= 12 ? new DataView(dgram.buffer, dgram.byteOffset).getUint32(8, true) : -1;
      const p = info.groups === 0 ? this.pending.get(seq) : undefined;
      if (p) this.settle(p, err);
      else
        for (const cb of this.unmatched)
          cb(
            { kind: 'control', header: { len: 0, type: 0, flags: 0, seq, pid: 0 }, payload: dgram },
            info,
            err,
          );
      return;
    }
    for (const m of msgs) this.dispatch(m, info);
  }

  private dispatch(m: NetlinkMessage, info: DatagramInfo): void {
    if (info.groups !== 0) {
      for (const s of this.subscribers) s(m, info);
      return;
    }
    const p = this.pending.get(m.header.seq);
    if (!p) {
      for (const cb of this.unmatched) cb(m, info);
      return;
    }
    if (m.kind === 'error') {
      const err = m.error.error;
      if (err !== 0) {
        this.settle(p, new NetlinkError(-err, extackOf(m.error.tlvs), p.what));
        return;
      }
      const warning = m.error.tlvs.length === 0 ? undefined : extackOf(m.error.tlvs).msg;
      this.settle(p, warning === undefined ? { replies: p.replies } : { replies: p.replies, warning });
      return;
    }
    if (m.kind === 'done') {
      if (m.done.error < 0) {
        this.settle(p, new NetlinkError(-m.done.error, extackOf(m.done.tlvs), p.what));
      } else {
        this.settle(p, { replies: p.replies });
      }
      return;
    }
    if (p.dump) {
      p.push?.(m);
      return;
    }
    p.replies.push(m);
    // a request without NLM_F_ACK completes with its (single) reply
    if (!p.wantAck && !(m.header.flags & NLM_F.MULTI)) this.settle(p, { replies: p.replies });
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    for (const p of [...this.pending.values()]) this.settle(p, err);
  }
}

function setMsgFlags(m: NetlinkMessage, flags: number): void {
  m.header.flags = flags;
  if (m.kind === 'xfrm') m.xfrm.flags = flags;
  else if (m.kind === 'genl') m.genl.flags = flags;
}

function setMsgSeq(m: NetlinkMessage, seq: number): void {
  m.header.seq = seq;
  if (m.kind === 'xfrm') m.xfrm.seq = seq;
  else if (m.kind === 'genl') m.genl.seq = seq;
}

/** The ExtAck of a NetlinkError, for callers that want to print it. */
export function extackOfError(e: unknown): ExtAck | undefined {
  return e instanceof NetlinkError ? e.extack : undefined;
}

export { NLMSG };
