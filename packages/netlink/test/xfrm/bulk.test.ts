/**
 * XfrmClient.addPolicies against a fake kernel that answers as netlink does (messages of a
 * datagram in order; an error for every failure whatever its flags; an ack only when NLM_F_ACK is
 * set): one ack per datagram by default, one per request with `ackEach`, and a failure in the
 * middle of a datagram is still that request's error.
 */
import type { XfrmPolicy } from '@xfrmkit/core';
import { describe, expect, it } from 'vitest';
import {
  buildError,
  type DatagramInfo,
  DEFAULT_LFT,
  HOST_SELECTOR,
  NetlinkError,
  NLM_F,
  splitDatagram,
  type Transport,
  XfrmClient,
  xfrmRequest,
  ZERO_CUR,
} from '../../src/index.ts';

function policy(i: number): XfrmPolicy {
  return {
    info: {
      sel: HOST_SELECTOR('10.0.0.1', `10.9.${i >> 8}.${i & 255}`),
      lft: DEFAULT_LFT(),
      curlft: ZERO_CUR(),
      priority: i,
      index: 0,
      dir: 1,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [],
  };
}

/** A fake NETLINK_XFRM kernel: NEWPOLICY fails with EEXIST for the selectors in `fail`. */
function fakeKernel(fail: Set<string>) {
  let rx: ((d: Uint8Array, info: DatagramInfo) => void) | undefined;
  const sent: { flags: number[] }[] = [];
  let installed = 0;
  const t: Transport = {
    protocol: 6,
    portid: 77,
    send(d) {
      const flags: number[] = [];
      const replies: Uint8Array[] = [];
      for (const m of splitDatagram(d)) {
        flags.push(m.header.flags);
        const daddr = Array.from(m.payload.subarray(0, 4)).join('.');
        if (fail.has(daddr)) replies.push(buildError(m, 17, { portid: 77 }));
        else {
          installed++;
          if (m.header.flags & NLM_F.ACK) replies.push(buildError(m, 0, { portid: 77 }));
        }
      }
      sent.push({ flags });
      setImmediate(() => {
        for (const r of replies) rx?.(r, { port: 0, groups: 0 });
      });
    },
    onDatagram(cb) {
      rx = cb;
    },
    onClose() {},
    addMembership() {},
    dropMembership() {},
    close() {},
  };
  return { t, sent, installed: () => installed };
}

describe('XfrmClient.addPolicies acks', () => {
  const ps = Array.from({ length: 100 }, (_, i) => policy(i));

  it('asks for one ack per datagram: its last request', async () => {
    const k = fakeKernel(new Set());
    await XfrmClient.over(k.t).addPolicies(ps, { window: 64, perDatagram: 16 });
    expect(k.installed()).toBe(100);
    expect(k.sent.map((d) => d.flags.length)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    for (const d of k.sent) {
      expect(d.flags.slice(0, -1).every((f) => f === NLM_F.REQUEST)).toBe(true);
      expect(d.flags.at(-1)).toBe(NLM_F.REQUEST | NLM_F.ACK);
    }
  });

  it('ackEach: one ack per request, as iproute2', async () => {
    const k = fakeKernel(new Set());
    await XfrmClient.over(k.t).addPolicies(ps, { window: 64, perDatagram: 16, ackEach: true });
    expect(k.installed()).toBe(100);
    for (const d of k.sent) expect(d.flags.every((f) => f === (NLM_F.REQUEST | NLM_F.ACK))).toBe(true);
  });

  for (const ackEach of [false, true]) {
    for (const at of [0, 21, 31]) {
      it(`a failure at request ${at} (first, middle, last of a datagram) is that request's error (ackEach ${ackEach})`, async () => {
        const k = fakeKernel(new Set([`10.9.0.${at}`]));
        const err = await XfrmClient.over(k.t)
          .addPolicies(ps, { window: 32, perDatagram: 16, ackEach })
          .catch((e) => e);
        expect(err).toBeInstanceOf(NetlinkError);
        expect(err).toMatchObject({ errno: 17, errnoName: 'EEXIST', request: 'XFRM_MSG_NEWPOLICY' });
      });
    }
  }

  it('sendEach with ackLast: each request gets its own outcome', async () => {
    const k = fakeKernel(new Set(['10.9.0.3', '10.9.0.7']));
    const c = XfrmClient.over(k.t);
    const outcome: (string | undefined)[] = [];
    await new Promise<void>((resolve) => {
      let left = 8;
      const reqs = ps.slice(0, 8).map((p) => ({
        msg: xfrmRequest(0x13, NLM_F.REQUEST | NLM_F.ACK, p.info, []),
        what: 'XFRM_MSG_NEWPOLICY',
      }));
      c.channel.sendEach(
        reqs,
        (err, i) => {
          outcome[i] = err ? (err as NetlinkError).errnoName : 'ok';
          if (--left === 0) resolve();
        },
        { ackLast: true },
      );
    });
    expect(outcome).toEqual(['ok', 'ok', 'ok', 'EEXIST', 'ok', 'ok', 'ok', 'EEXIST']);
    expect(k.sent[0]!.flags).toEqual([1, 1, 1, 1, 1, 1, 1, 5]);
    c.close();
  });
});
