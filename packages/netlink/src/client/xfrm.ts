/**
 * XfrmClient: typed XFRM operations over a NetlinkChannel (kernel, simulator or VM — the transport
 * decides). Flags follow iproute2 (`ip xfrm …`) so the kernel sees the same requests; the one
 * exception is the bulk `addPolicies`, which asks for one ack per datagram (see there; `ackEach`
 * gives iproute2's one per request).
 */
import {
  type Address,
  AF_INET,
  XFRM_INF,
  type XfrmMark,
  type XfrmPolicy,
  type XfrmSelector,
  type XfrmState,
  type XfrmUserpolicyDefault,
  type XfrmuSpdinfo,
} from '@xfrmkit/core';
import type { NetlinkMessage } from '../message.ts';
import { type AttrInput, getAttr } from '../schema/attrs.ts';
import { NLM_F } from '../wire/nlmsg.ts';
import type { XfrmMessage } from '../xfrm/codec.ts';
import { XFRM_MSG, xfrmMsgName } from '../xfrm/messages.ts';
import { policyAttrs, policyFromMessage, stateAttrs, stateFromMessage } from '../xfrm/objects.ts';
import { type ChannelOptions, NetlinkChannel, type RequestResult } from './channel.ts';
import type { DatagramInfo, Transport } from './transport.ts';

export interface SaId {
  daddr: Address;
  spi: number;
  proto: number;
  family?: number;
  /** XFRMA_SRCADDR (needed for non-SPI protocols; iproute2 always sends it) */
  saddr?: Address;
  mark?: XfrmMark;
}

export interface PolicyId {
  /** by selector (index 0) … */
  sel?: XfrmSelector;
  /** … or by index */
  index?: number;
  dir: number;
  ptype?: number;
  mark?: XfrmMark;
  ifId?: number;
}

export interface XfrmNotification {
  type: number;
  name: string;
  msg: XfrmMessage;
  info: DatagramInfo;
}

export const ZERO_SELECTOR = (family = AF_INET): XfrmSelector => ({
  daddr: family === AF_INET ? '0.0.0.0' : '::',
  saddr: family === AF_INET ? '0.0.0.0' : '::',
  dport: 0,
  dportMask: 0,
  sport: 0,
  sportMask: 0,
  family,
  prefixlenD: 0,
  prefixlenS: 0,
  proto: 0,
  ifindex: 0,
  user: 0,
});

/** A host-to-host selector (`src/32 dst/32`, or /128 for AF_INET6), every other field 0. */
export const HOST_SELECTOR = (saddr: string, daddr: string, family = AF_INET): XfrmSelector => {
  const bits = family === AF_INET ? 32 : 128;
  return { ...ZERO_SELECTOR(family), daddr, saddr, prefixlenD: bits, prefixlenS: bits };
};

/** iproute2's default lifetime config: byte/packet limits infinite, time limits 0 (none). */
export const DEFAULT_LFT = () => ({
  softByteLimit: XFRM_INF,
  hardByteLimit: XFRM_INF,
  softPacketLimit: XFRM_INF,
  hardPacketLimit: XFRM_INF,
  softAddExpiresSeconds: 0n,
  hardAddExpiresSeconds: 0n,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: 0n,
});

export const ZERO_CUR = () => ({ bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n });

/** Builds an XFRM request message (seq is assigned by the channel). */
export function xfrmRequest(
  type: number,
  flags: number,
  body: unknown,
  attrs: AttrInput[] = [],
): NetlinkMessage {
  const xfrm = { type, flags, seq: 0, pid: 0, body, attrs: attrs as XfrmMessage['attrs'] };
  return { kind: 'xfrm', header: { len: 0, type, flags, seq: 0, pid: 0 }, xfrm };
}

const REQ_ACK = NLM_F.REQUEST | NLM_F.ACK;

function saIdBody(id: SaId) {
  return { daddr: id.daddr, spi: id.spi, family: id.family ?? AF_INET, proto: id.proto };
}

function saIdAttrs(id: SaId): AttrInput[] {
  const a: AttrInput[] = [];
  if (id.saddr !== undefined) a.push({ name: 'SRCADDR', value: id.saddr });
  if (id.mark) a.push({ name: 'MARK', value: id.mark });
  return a;
}

function policyIdBody(id: PolicyId) {
  return { sel: id.sel ?? ZERO_SELECTOR(), index: id.index ?? 0, dir: id.dir };
}

function policyIdAttrs(id: PolicyId): AttrInput[] {
  const a: AttrInput[] = [];
  if (id.ptype !== undefined)
    a.push({ name: 'POLICY_TYPE', value: { type: id.ptype, reserved1: 0, reserved2: 0 } });
  if (id.mark) a.push({ name: 'MARK', value: id.mark });
  if (id.ifId !== undefined) a.push({ name: 'IF_ID', value: id.ifId });
  return a;
}

export class XfrmClient {
  constructor(readonly channel: NetlinkChannel) {}

  static over(transport: Transport, opts?: ChannelOptions): XfrmClient {
    return new XfrmClient(new NetlinkChannel(transport, opts));
  }

  /** Sends any XFRM request; resolves with its replies (and the ack's warning if any). */
  request(type: number, flags: number, body: unknown, attrs: AttrInput[] = []): Promise<RequestResult> {
    return this.channel.request({
      msg: xfrmRequest(type, flags, body, attrs),
      what: `XFRM_MSG_${xfrmMsgName(type)}`,
    });
  }

  private async one(type: number, body: unknown, attrs: AttrInput[]): Promise<XfrmMessage> {
    const r = await this.request(type, NLM_F.REQUEST, body, attrs);
    const m = r.replies[0];
    if (m?.kind !== 'xfrm') throw new Error(`XFRM_MSG_${xfrmMsgName(type)}: no reply message`);
    return m.xfrm;
  }

  private async *dumpMsgs(type: number, attrs: AttrInput[] = []): AsyncGenerator<XfrmMessage> {
    const it = this.channel.dump({
      msg: xfrmRequest(type, NLM_F.REQUEST | NLM_F.DUMP, undefined, attrs),
      what: `XFRM_MSG_${xfrmMsgName(type)} dump`,
    });
    for await (const m of it) if (m.kind === 'xfrm') yield m.xfrm;
  }

  // ---- SAs ----

  /** NEWSA (or UPDSA with `update`). */
  addState(s: XfrmState, opts: { update?: boolean; attrs?: AttrInput[] } = {}): Promise<RequestResult> {
    const type = opts.update ? XFRM_MSG.UPDSA : XFRM_MSG.NEWSA;
    return this.request(type, REQ_ACK, s.info, opts.attrs ?? stateAttrs(s));
  }

  async getState(id: SaId): Promise<XfrmState> {
    return stateFromMessage(await this.one(XFRM_MSG.GETSA, saIdBody(id), saIdAttrs(id)));
  }

  deleteState(id: SaId): Promise<RequestResult> {
    return this.request(XFRM_MSG.DELSA, REQ_ACK, saIdBody(id), saIdAttrs(id));
  }

  /** GETSA dump; with iproute2's all-zero address filter when `filter` is true (as `ip xfrm state list`). */
  async *dumpStates(opts: { proto?: number; addressFilter?: boolean } = {}): AsyncGenerator<XfrmState> {
    const attrs: AttrInput[] = [];
    if (opts.proto !== undefined) attrs.push({ name: 'PROTO', value: opts.proto });
    if (opts.addressFilter) {
      attrs.push({
        name: 'ADDRESS_FILTER',
        value: { saddr: '0.0.0.0', daddr: '0.0.0.0', family: 0, splen: 0, dplen: 0 },
      });
    }
    for await (const m of this.dumpMsgs(XFRM_MSG.GETSA, attrs)) yield stateFromMessage(m);
  }

  async listStates(opts: { proto?: number } = {}): Promise<XfrmState[]> {
    const out: XfrmState[] = [];
    for await (const s of this.dumpStates(opts)) out.push(s);
    return out;
  }

  /** FLUSHSA: proto 0 = all, 255 = ESP/AH/COMP (iproute2's default). */
  flushStates(proto = 255): Promise<RequestResult> {
    return this.request(XFRM_MSG.FLUSHSA, REQ_ACK, { proto });
  }

  /** ALLOCSPI: returns the larval SA with the SPI the kernel picked. */
  async allocSpi(
    info: XfrmState['info'],
    min: number,
    max: number,
    attrs: AttrInput[] = [],
  ): Promise<XfrmState> {
    return stateFromMessage(await this.one(XFRM_MSG.ALLOCSPI, { info, min, max }, attrs));
  }

  /** EXPIRE a state (soft or hard). */
  expireState(s: XfrmState, hard: boolean): Promise<RequestResult> {
    return this.request(
      XFRM_MSG.EXPIRE,
      REQ_ACK,
      { state: s.info, hard: hard ? 1 : 0 },
      s.mark ? [{ name: 'MARK', value: s.mark }] : [],
    );
  }

  /** GETAE: replay and lifetime counters of an SA. */
  async getAe(id: SaId, saddr: Address, reqid: number, flags = 0): Promise<XfrmMessage> {
    const body = { saId: saIdBody(id), saddr, flags, reqid };
    return this.one(XFRM_MSG.GETAE, body, id.mark ? [{ name: 'MARK', value: id.mark }] : []);
  }

  /** NEWAE (needs NLM_F_REPLACE). */
  setAe(id: SaId, saddr: Address, reqid: number, flags: number, attrs: AttrInput[]): Promise<RequestResult> {
    const body = { saId: saIdBody(id), saddr, flags, reqid };
    return this.request(XFRM_MSG.NEWAE, REQ_ACK | NLM_F.REPLACE, body, attrs);
  }

  async sadInfo(): Promise<{ count: number; hashSize: number; hashMax: number }> {
    const m = await this.one(XFRM_MSG.GETSADINFO, 0xffffffff, []);
    const h = getAttr<{ sadhcnt: number; sadhmcnt: number }>(m.attrs, 'SAD_HINFO');
    return {
      count: getAttr<number>(m.attrs, 'SAD_CNT') ?? 0,
      hashSize: h?.sadhcnt ?? 0,
      hashMax: h?.sadhmcnt ?? 0,
    };
  }

  // ---- policies ----

  /** NEWPOLICY (or UPDPOLICY with `update`). */
  addPolicy(p: XfrmPolicy, opts: { update?: boolean; attrs?: AttrInput[] } = {}): Promise<RequestResult> {
    const type = opts.update ? XFRM_MSG.UPDPOLICY : XFRM_MSG.NEWPOLICY;
    return this.request(type, REQ_ACK, p.info, opts.attrs ?? policyAttrs(p));
  }

  /**
   * Adds many policies pipelined: up to `window` requests in flight, `perDatagram` per sendmsg.
   * Resolves when all are done; rejects with the first error. Only the last request of each
   * datagram carries NLM_F_ACK (the kernel answers every failure regardless, in order, so that
   * ack completes its datagram) unless `ackEach` asks for one ack per request, as iproute2 does.
   */
  async addPolicies(
    ps: readonly XfrmPolicy[],
    opts: { window?: number; perDatagram?: number; update?: boolean; ackEach?: boolean } = {},
  ): Promise<void> {
    const window = opts.window ?? 256;
    const per = opts.perDatagram ?? 32;
    const type = opts.update ? XFRM_MSG.UPDPOLICY : XFRM_MSG.NEWPOLICY;
    const what = `XFRM_MSG_${xfrmMsgName(type)}`;
    let next = 0;
    let inflight = 0;
    let firstError: unknown;
    let wake: (() => void) | undefined;
    const settled = (e?: unknown) => {
      inflight--;
      if (e !== undefined && firstError === undefined) firstError = e;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const onDone = (e: Error | undefined) => settled(e);
    while (next < ps.length && firstError === undefined) {
      while (next < ps.length && inflight + per <= window) {
        const end = Math.min(ps.length, next + per);
        const reqs = [];
        for (let i = next; i < end; i++) {
          const p = ps[i]!;
          reqs.push({ msg: xfrmRequest(type, REQ_ACK, p.info, policyAttrs(p)), what });
        }
        inflight += end - next;
        next = end;
        this.channel.sendEach(reqs, onDone, { ackLast: !opts.ackEach });
      }
      if (next < ps.length) await new Promise<void>((r) => (wake = r));
    }
    while (inflight > 0) await new Promise<void>((r) => (wake = r));
    if (firstError !== undefined) throw firstError;
  }

  async getPolicy(id: PolicyId): Promise<XfrmPolicy> {
    return policyFromMessage(await this.one(XFRM_MSG.GETPOLICY, policyIdBody(id), policyIdAttrs(id)));
  }

  deletePolicy(id: PolicyId): Promise<RequestResult> {
    return this.request(XFRM_MSG.DELPOLICY, REQ_ACK, policyIdBody(id), policyIdAttrs(id));
  }

  async *dumpPolicies(): AsyncGenerator<XfrmPolicy> {
    for await (const m of this.dumpMsgs(XFRM_MSG.GETPOLICY)) yield policyFromMessage(m);
  }

  async listPolicies(): Promise<XfrmPolicy[]> {
    const out: XfrmPolicy[] = [];
    for await (const m of this.dumpMsgs(XFRM_MSG.GETPOLICY)) out.push(policyFromMessage(m));
    return out;
  }

  /** FLUSHPOLICY of one policy type (main unless `ptype` given). */
  flushPolicies(ptype?: number): Promise<RequestResult> {
    const attrs: AttrInput[] =
      ptype === undefined
        ? []
        : [{ name: 'POLICY_TYPE', value: { type: ptype, reserved1: 0, reserved2: 0 } }];
    return this.request(XFRM_MSG.FLUSHPOLICY, REQ_ACK, undefined, attrs);
  }

  expirePolicy(p: XfrmPolicy, hard: boolean): Promise<RequestResult> {
    return this.request(XFRM_MSG.POLEXPIRE, REQ_ACK, { pol: p.info, hard: hard ? 1 : 0 }, policyAttrs(p));
  }

  async spdInfo(): Promise<{
    counts: XfrmuSpdinfo;
    hashCount: number;
    hashMax: number;
    v4: [number, number];
    v6: [number, number];
  }> {
    const m = await this.one(XFRM_MSG.GETSPDINFO, 0xffffffff, []);
    const h = getAttr<{ spdhcnt: number; spdhmcnt: number }>(m.attrs, 'SPD_HINFO');
    const t4 = getAttr<{ lbits: number; rbits: number }>(m.attrs, 'SPD_IPV4_HTHRESH');
    const t6 = getAttr<{ lbits: number; rbits: number }>(m.attrs, 'SPD_IPV6_HTHRESH');
    return {
      counts: getAttr<XfrmuSpdinfo>(m.attrs, 'SPD_INFO') ?? {
        incnt: 0,
        outcnt: 0,
        fwdcnt: 0,
        inscnt: 0,
        outscnt: 0,
        fwdscnt: 0,
      },
      hashCount: h?.spdhcnt ?? 0,
      hashMax: h?.spdhmcnt ?? 0,
      v4: [t4?.lbits ?? 0, t4?.rbits ?? 0],
      v6: [t6?.lbits ?? 0, t6?.rbits ?? 0],
    };
  }

  setDefault(d: XfrmUserpolicyDefault): Promise<RequestResult> {
    return this.request(XFRM_MSG.SETDEFAULT, REQ_ACK, d);
  }

  async getDefault(): Promise<XfrmUserpolicyDefault> {
    return (await this.one(XFRM_MSG.GETDEFAULT, { in: 0, fwd: 0, out: 0 }, [])).body as XfrmUserpolicyDefault;
  }

  // ---- notifications ----

  /** Joins XFRMNLGRP_* groups and calls `cb` for each notification. Returns an unsubscribe function. */
  subscribe(groups: number[], cb: (n: XfrmNotification) => void): () => void {
    for (const g of groups) this.channel.transport.addMembership(g);
    const off = this.channel.subscribe((m, info) => {
      if (m.kind === 'xfrm') cb({ type: m.xfrm.type, name: xfrmMsgName(m.xfrm.type), msg: m.xfrm, info });
    });
    return () => {
      off();
      for (const g of groups) this.channel.transport.dropMembership(g);
    };
  }

  close(): void {
    this.channel.close();
  }
}
