/**
 * VmKernelTransport / OracleVm against the real guest kernel: datagram boundaries (a multi-part
 * dump arrives as the kernel's datagrams, each whole), errors with extack, multicast notifications
 * on other sockets (joined and left at run time), several sockets multiplexed on one channel,
 * genl through NetlinkChannel, exec ordering, and the snapshot being pristine.
 */

import { usersaInfo } from '@xfrmkit/sim';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OracleVm, type VmKernelTransport } from '../src/index.ts';

const skip = OracleVm.skipReason();

function nlmsg(
  type: number,
  flags: number,
  seq: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const b = new Uint8Array(16 + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  b.set(payload, 16);
  return b;
}

function messages(d: Uint8Array): { type: number; seq: number; len: number; err?: number }[] {
  const out: { type: number; seq: number; len: number; err?: number }[] = [];
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  for (let off = 0; off + 16 <= d.length; ) {
    const len = dv.getUint32(off, true);
    const type = dv.getUint16(off + 4, true);
    out.push({
      type,
      seq: dv.getUint32(off + 8, true),
      len,
      ...(type === 2 ? { err: dv.getInt32(off + 16, true) } : {}),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

function collect(t: VmKernelTransport) {
  const got: { d: Uint8Array; groups: number; port: number }[] = [];
  t.onDatagram((d, info) => got.push({ d: d.slice(), ...info }));
  return got;
}

/** xfrm_userspi_info: usersa_info (224) + min + max, for 10.7.0.1 ESP */
function allocspi(spi: number): Uint8Array {
  const b = new Uint8Array(232);
  const dv = new DataView(b.buffer);
  b.set([10, 7, 0, 1], 56); // id.daddr
  b[76] = 50; // id.proto
  dv.setUint16(212, 2, true); // family
  dv.setUint32(224, spi, true);
  dv.setUint32(228, spi, true);
  return b;
}

const settle = async (vm: OracleVm) => {
  await vm.exec('true'); // the agent forwards everything caused by earlier frames before answering
};

describe.skipIf(skip !== undefined)(`oracle VM transport${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let vm: OracleVm;
  beforeAll(async () => {
    vm = await OracleVm.shared();
  }, 300_000);
  afterAll(async () => {
    await vm?.shutdown();
  });

  test('a restored snapshot starts with empty XFRM tables and netdevsim present', async () => {
    expect(await vm.sh('ip -o link show | grep -c eth0 || true')).toMatch(/^1/);
    const t = await vm.open(6);
    const got = collect(t);
    t.send(nlmsg(0x12, 0x301, 1));
    await settle(vm);
    expect(got.map((g) => messages(g.d).map((m) => m.type))).toEqual([[3]]);
    t.close();
  });

  test('dump of 300 SAs: whole datagrams, many messages each, DONE last; error with extack', async () => {
    const t = await vm.open(6);
    const got = collect(t);
    // add SAs through raw netlink: XFRM_MSG_NEWSA, ESP, rfc4106(gcm(aes)) (the oracle's ESP works)
    const { encodeXfrm } = await import('@xfrmkit/netlink');
    for (let i = 0; i < 300; i++) {
      t.send(
        encodeXfrm({
          type: 0x10,
          flags: 1,
          seq: 10 + i,
          pid: 0,
          body: usersaInfo({ daddr: '192.0.2.1', saddr: '192.0.2.2', spi: 0x1000 + i }),
          attrs: [
            {
              name: 'ALG_AEAD',
              value: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: new Uint8Array(20).fill(1), icvLen: 128 },
            },
          ],
        }),
      );
    }
    await settle(vm);
    expect(got).toEqual([]); // no ACK flag, no error: silence
    t.send(nlmsg(0x12, 0x301, 999));
    await settle(vm);
    const msgs = got.flatMap((g) => messages(g.d));
    expect(msgs.filter((m) => m.type === 0x10)).toHaveLength(300);
    expect(msgs.at(-1)).toMatchObject({ type: 3, seq: 999 });
    expect(got.length).toBeGreaterThan(1); // a 100 KB dump: several datagrams, boundaries kept
    expect(got.every((g) => messages(g.d).reduce((n, m) => n + ((m.len + 3) & ~3), 0) === g.d.length)).toBe(
      true,
    );
    expect(got.every((g) => g.port === 0 && g.groups === 0)).toBe(true);
    got.length = 0;
    // the same SA again, with ACK: EEXIST (-17)
    t.send(nlmsg(0x1c, 5, 1000, new Uint8Array([50, 0, 0, 0])));
    const id = new Uint8Array(24); // xfrm_usersa_id 192.0.2.1 spi 0x9999 family 2 proto 50: no such SA
    id.set([192, 0, 2, 1], 0);
    id.set([0, 0, 0x99, 0x99, 2, 0, 50], 16);
    t.send(nlmsg(0x12, 5, 1001, id));
    await settle(vm);
    expect(got.flatMap((g) => messages(g.d)).map((m) => [m.seq, m.err])).toEqual([
      [1000, 0],
      [1001, -3],
    ]);
    t.close();
  });

  test('multicast: a second socket sees NEWSA notifications after joining XFRMNLGRP_SA, not after leaving', async () => {
    const a = await vm.open(6);
    const b = await vm.open(6, { groups: [3] });
    expect(b.portid).not.toBe(a.portid);
    const got = collect(b);
    collect(a);
    const addFlush = async (seq: number) => {
      a.send(nlmsg(0x16, 1, seq, allocspi(0x4000 + seq))); // ALLOCSPI: a larval SA, no notification
      a.send(nlmsg(0x1c, 1, seq, new Uint8Array([0, 0, 0, 0]))); // FLUSHSA: notifies XFRMNLGRP_SA
      await settle(vm);
    };
    await addFlush(77);
    expect(got.map((g) => [g.groups, messages(g.d)[0]?.type, messages(g.d)[0]?.seq])).toEqual([
      [1 << 2, 0x1c, 77],
    ]);
    got.length = 0;
    b.dropMembership(3);
    await addFlush(78);
    expect(got).toEqual([]);
    b.addMembership(3);
    await addFlush(79);
    expect(got.map((g) => messages(g.d)[0]?.seq)).toEqual([79]);
    a.close();
    b.close();
  });

  test('genl: nlctrl describes devlink; netdevsim1 exists', async () => {
    const t = await vm.open(16);
    // CTRL_CMD_GETFAMILY "devlink" (CTRL_ATTR_FAMILY_NAME)
    const name = new TextEncoder().encode('devlink\0');
    const attr = new Uint8Array(4 + 8);
    new DataView(attr.buffer).setUint16(0, 12, true);
    new DataView(attr.buffer).setUint16(2, 2, true);
    attr.set(name, 4);
    const got = collect(t);
    t.send(nlmsg(0x10, 5, 5, new Uint8Array([3, 2, 0, 0, ...attr])));
    await settle(vm);
    const m = messages(got[0]!.d);
    expect(m[0]!.type).toBe(0x10); // GENL_ID_CTRL: the family's description, not an error
    expect(new TextDecoder().decode(got[0]!.d)).toContain('devlink');
    const out = await vm.exec('ls /sys/bus/netdevsim/devices/');
    expect(out.output).toContain('netdevsim1');
    t.close();
  });

  test('exec reports exit status and output; errors are clear', async () => {
    expect(await vm.exec('echo hi; exit 3')).toEqual({ status: 3, output: 'hi\n' });
    await expect(vm.sh('false')).rejects.toThrow(/`false` exited 1/);
    await expect(vm.open(99)).rejects.toThrow(/socket\(AF_NETLINK, 99\) in the guest failed: errno 93/);
  });
});
