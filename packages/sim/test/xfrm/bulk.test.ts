/**
 * Bulk programming through the endpoint: several requests per datagram (XfrmClient.addPolicies),
 * notifications built only for listening sockets, and each request working on its own copy of its
 * bytes (a handler that writes into its request touches neither the sender's datagram nor the other
 * requests of the datagram).
 */
import { userTmpl, type XfrmPolicy, type XfrmUserTmpl } from '@xfrmkit/core';
import {
  DEFAULT_LFT,
  encodeXfrm,
  HOST_SELECTOR,
  XFRM_MSG,
  XFRMNLGRP,
  XfrmClient,
  ZERO_CUR,
} from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { SimClock } from '../../src/clock.ts';
import { SimMachine } from '../../src/machine.ts';
import { InProcTransport } from '../../src/transport/inproc.ts';
import { XfrmHandler } from '../../src/xfrm/handler.ts';

function tmpl(over: Partial<XfrmUserTmpl> = {}): XfrmUserTmpl {
  return userTmpl({
    id: { daddr: '192.0.2.2', spi: 0, proto: 50 },
    family: 2,
    saddr: '192.0.2.1',
    reqid: 1,
    mode: 1,
    ...over,
  });
}

function policy(i: number, t: XfrmUserTmpl = tmpl()): XfrmPolicy {
  return {
    info: {
      sel: HOST_SELECTOR(`10.1.${i >> 8}.${i & 255}`, `10.2.${i >> 8}.${i & 255}`),
      lft: DEFAULT_LFT(),
      curlft: ZERO_CUR(),
      priority: 0,
      index: 0,
      dir: 1,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [t],
  };
}

function machine() {
  const m = new SimMachine({ clock: new SimClock(1_700_000_000_000) });
  const h = XfrmHandler.attach(m, { esp: true });
  return { m, h };
}

function types(ds: Uint8Array[]): number[] {
  const out: number[] = [];
  for (const d of ds) {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let off = 0; off + 16 <= d.length; off += (dv.getUint32(off, true) + 3) & ~3)
      out.push(dv.getUint16(off + 4, true));
  }
  return out;
}

describe('bulk policy programming', () => {
  test('addPolicies: every policy stored; a listener gets one NEWPOLICY each, a non-member none', async () => {
    const { m, h } = machine();
    const c = XfrmClient.over(new InProcTransport(m, 6));
    const listener: Uint8Array[] = [];
    const ls = m.openSocket(6, (d) => listener.push(d.slice()));
    ls.groups.add(XFRMNLGRP.POLICY);
    const other: Uint8Array[] = [];
    const os = m.openSocket(6, (d) => other.push(d.slice()));
    os.groups.add(XFRMNLGRP.SA);
    const n = 300;
    await c.addPolicies(
      Array.from({ length: n }, (_, i) => policy(i)),
      { window: 64, perDatagram: 16 },
    );
    expect(h.netns('default').spd.size).toBe(n);
    expect(types(listener)).toEqual(Array(n).fill(XFRM_MSG.NEWPOLICY));
    expect(other).toEqual([]);
    // nobody listening: still programmed (the notification is simply not built)
    ls.groups.delete(XFRMNLGRP.POLICY);
    await c.addPolicies([policy(n)], {});
    expect(h.netns('default').spd.size).toBe(n + 1);
    expect(types(listener)).toHaveLength(n);
    // a duplicate is still refused with EEXIST
    await expect(c.addPolicies([policy(0)], {})).rejects.toThrow(/EEXIST|exists/i);
    expect(h.checkInvariants()).toEqual([]);
    c.close();
  });

  test('requests of one datagram work on their own copies of their bytes', () => {
    const { m, h } = machine();
    const got: Uint8Array[] = [];
    const sock = m.openSocket(6, (d) => got.push(d.slice()));
    sock.extAck = true;
    // template family 0 (the kernel writes the policy family into it) and a bad protocol (refused
    // after the write): the error echoes the rewritten request
    const bad = encodeXfrm({
      type: XFRM_MSG.NEWPOLICY,
      flags: 0x5,
      seq: 1,
      pid: 0,
      body: policy(1).info,
      attrs: [{ name: 'TMPL', value: [tmpl({ family: 0, id: { daddr: '192.0.2.2', spi: 0, proto: 17 } })] }],
    });
    const good = encodeXfrm({
      type: XFRM_MSG.NEWPOLICY,
      flags: 0x5,
      seq: 2,
      pid: 0,
      body: policy(2).info,
      attrs: [{ name: 'TMPL', value: [tmpl({ family: 0 })] }],
    });
    const dgram = new Uint8Array(bad.length + good.length + bad.length);
    dgram.set(bad, 0);
    dgram.set(good, bad.length);
    dgram.set(bad, bad.length + good.length);
    const sent = dgram.slice();
    m.send(sock, dgram);
    expect(dgram).toEqual(sent);
    expect(types(got)).toEqual([2, 2, 2]);
    const errno = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset).getInt32(16, true);
    expect(got.map(errno)).toEqual([-22, 0, -22]);
    // both errors echo the request with the template family rewritten to AF_INET, nothing else
    const famAt = 16 + 168 + 4 + 24;
    for (const e of [got[0]!, got[2]!]) {
      const echoed = e.subarray(20, 20 + bad.length);
      const expected = bad.slice();
      expected[famAt] = 2;
      expect(echoed).toEqual(expected);
    }
    expect(h.netns('default').spd.size).toBe(1);
  });
});
