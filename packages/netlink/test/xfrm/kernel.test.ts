/**
 * XfrmClient over KernelTransport against this machine's kernel, inside a private netns. The kernel
 * here has XFRM netlink but no ESP: policies and larval (ALLOCSPI) SAs work, ESP states are refused
 * with a real error.
 */

import { AF_INET, userTmpl, type XfrmPolicy } from '@xfrmkit/core';
import { native, nativeLoadError } from '@xfrmkit/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_LFT,
  decodeDatagram,
  encodeDatagram,
  KernelTransport,
  NetlinkError,
  type Transport,
  XFRMNLGRP,
  XfrmClient,
  type XfrmNotification,
  ZERO_CUR,
} from '../../src/index.ts';
import { createNetns, deleteNetns, inNetns, kernelTestSkipReason } from '../support/netns.ts';

const skip = kernelTestSkipReason() ?? (native ? undefined : `native addon unavailable: ${nativeLoadError}`);

/** Records every datagram the kernel sends so the test can check decode → encode identity. */
function recording(t: Transport, log: Uint8Array[]): Transport {
  const orig = t.onDatagram.bind(t);
  t.onDatagram = (cb) =>
    orig((d, info) => {
      log.push(d.slice());
      cb(d, info);
    });
  return t;
}

function policy(dst: string, dir: number, priority: number, reqid: number): XfrmPolicy {
  return {
    info: {
      sel: {
        daddr: dst,
        saddr: '10.0.0.1',
        dport: 0,
        dportMask: 0,
        sport: 0,
        sportMask: 0,
        family: AF_INET,
        prefixlenD: 32,
        prefixlenS: 32,
        proto: 0,
        ifindex: 0,
        user: 0,
      },
      lft: DEFAULT_LFT(),
      curlft: ZERO_CUR(),
      priority,
      index: 0,
      dir,
      action: 0,
      flags: 0,
      share: 0,
    },
    tmpls: [
      userTmpl({ id: { daddr: dst, spi: 0, proto: 50 }, family: AF_INET, saddr: '10.0.0.1', reqid, mode: 1 }),
    ],
  };
}

describe.skipIf(skip)(`real kernel in a private netns${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ns: string;
  let client: XfrmClient;
  let monitor: XfrmClient;
  const received: Uint8Array[] = [];
  const notes: XfrmNotification[] = [];

  beforeAll(async () => {
    ns = createNetns();
    client = XfrmClient.over(recording(await KernelTransport.open({ protocol: 6, netns: ns }), received));
    monitor = XfrmClient.over(recording(await KernelTransport.open({ protocol: 6, netns: ns }), received));
    monitor.subscribe([XFRMNLGRP.SA, XFRMNLGRP.POLICY], (n) => notes.push(n));
  });

  afterAll(() => {
    client?.close();
    monitor?.close();
    if (ns) deleteNetns(ns);
  });

  it('adds, gets, updates, dumps, deletes and flushes policies', async () => {
    const p = policy('10.0.0.2', 1, 100, 1);
    await client.addPolicy(p);
    const got = await client.getPolicy({ sel: p.info.sel, dir: 1 });
    expect(got.info.priority).toBe(100);
    expect(got.info.index & 7).toBe(1);
    expect(got.tmpls[0]).toMatchObject({ reqid: 1, id: { daddr: '10.0.0.2', proto: 50 } });
    // the same selector again: EEXIST, no extack
    await expect(client.addPolicy(p)).rejects.toMatchObject({ errnoName: 'EEXIST' });
    // update keeps the index
    await client.addPolicy(policy('10.0.0.2', 1, 200, 2), { update: true });
    const upd = await client.getPolicy({ sel: p.info.sel, dir: 1 });
    expect(upd.info.priority).toBe(200);
    expect(upd.info.index).toBe(got.info.index);
    await client.addPolicy(policy('10.0.0.3', 0, 10, 3));
    const all = await client.listPolicies();
    expect(all.map((x) => x.info.sel.daddr)).toEqual(['10.0.0.3', '10.0.0.2']); // newest first
    const info = await client.spdInfo();
    expect(info.counts).toMatchObject({ incnt: 1, outcnt: 1, fwdcnt: 0 });
    expect(info.v4).toEqual([32, 32]);
    // iproute2 sees what we added
    expect(inNetns(ns, ['ip', 'xfrm', 'policy', 'list'])).toContain('dst 10.0.0.2/32');
    await client.deletePolicy({ sel: p.info.sel, dir: 1 });
    await expect(client.getPolicy({ sel: p.info.sel, dir: 1 })).rejects.toMatchObject({
      errnoName: 'ENOENT',
    });
    await client.flushPolicies();
    expect(await client.listPolicies()).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(notes.map((n) => n.name)).toEqual([
      'NEWPOLICY',
      'UPDPOLICY',
      'NEWPOLICY',
      'DELPOLICY',
      'FLUSHPOLICY',
    ]);
  });

  it('pipelines many requests in one datagram', async () => {
    const ps = Array.from({ length: 300 }, (_, i) => policy(`10.1.${i >> 8}.${i & 255}`, 1, i, i + 1));
    await client.addPolicies(ps, { window: 64, perDatagram: 16 });
    expect((await client.spdInfo()).counts.outcnt).toBe(300);
    await client.flushPolicies();
  });

  it('bulk adds ack once per datagram and still report a failure in the middle of one', async () => {
    const ps = Array.from({ length: 100 }, (_, i) => policy(`10.2.0.${i}`, 1, i, i + 1));
    // index 37 repeats index 5 (EEXIST) in the middle of the third 16-request datagram
    ps[37] = policy('10.2.0.5', 1, 5, 6);
    for (const ackEach of [false, true]) {
      const err = await client.addPolicies(ps, { window: 64, perDatagram: 16, ackEach }).catch((e) => e);
      expect(err).toBeInstanceOf(NetlinkError);
      expect(err).toMatchObject({ errnoName: 'EEXIST', request: 'XFRM_MSG_NEWPOLICY' });
      // the kernel went on with the rest of that datagram; nothing is sent after the failure
      const n = (await client.spdInfo()).counts.outcnt;
      expect(n).toBeGreaterThanOrEqual(47);
      expect(n).toBeLessThan(100);
      await client.flushPolicies();
    }
    await client.addPolicies(
      ps.filter((_, i) => i !== 37),
      { window: 64, perDatagram: 16 },
    );
    expect((await client.spdInfo()).counts.outcnt).toBe(99);
    await client.flushPolicies();
  });

  it('ALLOCSPI creates a larval SA with an SPI from the range; SAD info and dump see it', async () => {
    const sa = await client.allocSpi(
      {
        sel: {
          daddr: '0.0.0.0',
          saddr: '0.0.0.0',
          dport: 0,
          dportMask: 0,
          sport: 0,
          sportMask: 0,
          family: 0,
          prefixlenD: 0,
          prefixlenS: 0,
          proto: 0,
          ifindex: 0,
          user: 0,
        },
        id: { daddr: '10.0.0.2', spi: 0, proto: 50 },
        saddr: '10.0.0.1',
        lft: DEFAULT_LFT(),
        curlft: ZERO_CUR(),
        stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
        seq: 0,
        reqid: 7,
        family: AF_INET,
        mode: 1,
        replayWindow: 0,
        flags: 0,
      },
      0x4000,
      0x4fff,
    );
    expect(sa.info.id.spi).toBeGreaterThanOrEqual(0x4000);
    expect(sa.info.id.spi).toBeLessThanOrEqual(0x4fff);
    expect(sa.info.lft.hardAddExpiresSeconds).toBe(30n);
    expect((await client.sadInfo()).count).toBe(1);
    const states = await client.listStates();
    expect(states).toHaveLength(1);
    const got = await client.getState({
      daddr: '10.0.0.2',
      spi: sa.info.id.spi,
      proto: 50,
      saddr: '10.0.0.1',
    });
    expect(got.info.reqid).toBe(7);
    await client.deleteState({ daddr: '10.0.0.2', spi: sa.info.id.spi, proto: 50, saddr: '10.0.0.1' });
    await expect(
      client.getState({ daddr: '10.0.0.2', spi: sa.info.id.spi, proto: 50 }),
    ).rejects.toMatchObject({ errnoName: 'ESRCH' });
  });

  it('an ESP state is refused with the errno name and the extack message', async () => {
    const err = await client
      .addState({
        info: {
          sel: {
            daddr: '192.168.1.65',
            saddr: '192.168.1.64',
            dport: 0,
            dportMask: 0,
            sport: 0,
            sportMask: 0,
            family: AF_INET,
            prefixlenD: 32,
            prefixlenS: 32,
            proto: 0,
            ifindex: 0,
            user: 0,
          },
          id: { daddr: '192.168.1.65', spi: 0x4834535d, proto: 50 },
          saddr: '192.168.1.64',
          lft: DEFAULT_LFT(),
          curlft: ZERO_CUR(),
          stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
          seq: 0,
          reqid: 0x4834535d,
          family: AF_INET,
          mode: 0,
          replayWindow: 0,
          flags: 0,
        },
        aead: { name: 'rfc4106(gcm(aes))', keyLen: 160, icvLen: 128, key: new Uint8Array(20).fill(0x5a) },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    const ne = err as NetlinkError;
    expect(ne.errnoName).toBe('ENOSYS');
    expect(ne.extack.msg).toBe('Requested AEAD algorithm not found');
    expect(ne.message).toContain('ENOSYS');
    expect(ne.message).toContain('Requested AEAD algorithm not found');
    expect(ne.message).not.toMatch(/5a5a/i);
  });

  it('default policies: set and read back, notification on group 4', async () => {
    await client.setDefault({ in: 2, fwd: 2, out: 1 });
    expect(await client.getDefault()).toEqual({ in: 2, fwd: 2, out: 1 });
    await client.setDefault({ in: 2, fwd: 2, out: 2 });
  });

  it('every datagram the kernel sent decodes and re-encodes to the same bytes', () => {
    expect(received.length).toBeGreaterThan(20);
    for (const d of received) {
      expect(Buffer.from(encodeDatagram(decodeDatagram(d, 'xfrm'))).equals(Buffer.from(d))).toBe(true);
    }
  });
});
