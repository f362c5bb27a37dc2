/**
 * Real nlctrl exchanges of kernel 6.18.44 (copied from /work/shared/reference/captures/kernel-genl-*
 * into test/genl/fixtures/ with their provenance headers): requests and replies decode to typed
 * objects and re-encode to the same bytes; errors carry errno and extack; resolveFamily/getPolicy
 * give the expected typed results when the kernel's replies are replayed to them.
 */
import { describe, expect, it } from 'vitest';
import { NetlinkChannel } from '../../src/client/channel.ts';
import {
  buildGetFamily,
  buildGetPolicy,
  decodeFamilyInfo,
  dumpSelectorSupported,
  foldPolicyMessages,
  getPolicy,
  resolveFamily,
} from '../../src/genl/resolve.ts';
import { decodeDatagram, encodeDatagram, encodeMessage, GenlRegistry } from '../../src/message.ts';
import { extackOf } from '../../src/wire/control.ts';
import { NetlinkDecodeError, NetlinkError } from '../../src/wire/errors.ts';
import {
  type KernelCapture,
  loadKernelCaptures,
  maskedHex,
  ReplayTransport,
  toHex,
} from '../devlink/helpers.ts';

const caps = loadKernelCaptures();
const byName = (n: string): KernelCapture => {
  const c = caps.find((x) => x.file.endsWith(`kernel-genl-${n}.txt`));
  if (!c) throw new Error(`missing capture ${n}`);
  return c;
};

function replay(c: KernelCapture): ReplayTransport {
  return new ReplayTransport([
    { dir: 'send', bytes: c.request },
    ...c.datagrams.map((bytes) => ({ dir: 'recv' as const, bytes })),
  ]);
}

describe('kernel nlctrl captures', () => {
  it('all nine captures are present and parsed', () => {
    expect(caps.length).toBe(9);
    for (const c of caps) {
      expect(c.request.length).toBeGreaterThanOrEqual(20);
      expect(c.datagrams.length).toBeGreaterThanOrEqual(1);
    }
  });

  it.each(caps.map((c) => [c.file.split('/').pop()!, c] as const))(
    '%s: every datagram decodes and re-encodes byte-exact',
    (_n, c) => {
      for (const d of [c.request, ...c.datagrams]) {
        if (d === c.request && c.file.includes('badlen')) {
          // the request is malformed on purpose (1-byte FAMILY_ID): a typed decode error, as for the kernel
          expect(() => decodeDatagram(d, 'genl')).toThrow(NetlinkDecodeError);
          continue;
        }
        const msgs = decodeDatagram(d, 'genl', new GenlRegistry());
        expect(toHex(encodeDatagram(msgs))).toBe(toHex(d));
      }
    },
  );

  it('GETFAMILY nlctrl: typed family info, request bytes identical to ours', () => {
    const c = byName('getfamily-nlctrl');
    const [reply] = decodeDatagram(c.datagrams[0]!, 'genl');
    expect(reply!.kind).toBe('genl');
    if (reply!.kind !== 'genl') return;
    expect(reply!.genl.cmd).toBe(1);
    expect(reply!.genl.version).toBe(2);
    expect(decodeFamilyInfo(reply!.genl.attrs)).toEqual({
      id: 0x10,
      name: 'nlctrl',
      version: 2,
      hdrsize: 0,
      maxattr: 0,
      ops: [
        { id: 3, flags: 0x0e },
        { id: 10, flags: 0x0c },
      ],
      mcastGroups: [{ name: 'notify', id: 0x10 }],
    });
    // our GETFAMILY "nlctrl" request equals the captured one with the capture's seq
    const m = buildGetFamily('nlctrl');
    m.header.seq = new DataView(c.request.buffer).getUint32(8, true);
    expect(toHex(encodeMessage(m))).toBe(toHex(c.request));
    // and the devlink one has the exact bytes of devlink-uapi.md §2.2
    const d = buildGetFamily('devlink');
    expect(toHex(encodeMessage(d))).toBe(
      '2000000010000500000000000000000003010000' + '0c0002006465766c696e6b00',
    );
  });

  it('GETFAMILY netdev: ops (index-typed entries), groups with id before name', () => {
    const [reply] = decodeDatagram(byName('getfamily-netdev').datagrams[0]!, 'genl');
    if (reply?.kind !== 'genl') throw new Error('no genl reply');
    const info = decodeFamilyInfo(reply.genl.attrs);
    expect(info.name).toBe('netdev');
    expect(info.id).toBe(0x14);
    expect(info.ops.map((o) => o.id)).toEqual([1, 5, 10, 11, 12, 13, 14, 15]);
    expect(info.mcastGroups).toEqual([
      { name: 'mgmt', id: 4 },
      { name: 'page-pool', id: 5 },
    ]);
  });

  it('errors decode into ErrorBody with errno and extack (policy nest with TYPE last)', () => {
    const [e] = decodeDatagram(byName('getfamily-badlen-extack').datagrams[0]!, 'genl');
    if (e?.kind !== 'error') throw new Error('not an error');
    // the bytes say -34 (ERANGE), although devlink-uapi.md §2.4 lists EINVAL for this case
    expect(e.error.error).toBe(-34);
    expect(e.header.flags).toBe(0x300);
    const ext = extackOf(e.error.tlvs);
    expect(ext.msg).toBe('Attribute failed policy validation');
    expect(ext.offs).toBe(20);
    const pol = e.error.tlvs.find((t) => t.name === 'POLICY')!.value as Array<{
      name: string;
      value: unknown;
    }>;
    expect(pol.map((a) => a.name)).toEqual(['MIN_VALUE_U', 'MAX_VALUE_U', 'TYPE']);
    expect(pol[2]!.value).toBe(3);
    const err = new NetlinkError(-e.error.error, ext, 'CTRL_CMD_GETFAMILY');
    expect(err.errnoName).toBe('ERANGE');
    expect(err.message).toContain('Attribute failed policy validation');
    for (const [n, errno] of [
      ['getfamily-devlink-enoent', -2],
      ['getfamily-noattr-einval', -22],
      ['badcmd-eopnotsupp', -95],
      ['unknown-family-id', -2],
    ] as const) {
      const [m] = decodeDatagram(byName(n).datagrams[0]!, 'genl');
      if (m?.kind !== 'error') throw new Error(`${n}: not an error`);
      expect(m.error.error).toBe(errno);
      expect(m.error.tlvs).toEqual([]);
    }
  });

  it('resolveFamily over a replaying transport: typed result, ENOENT as NetlinkError', async () => {
    const t = replay(byName('getfamily-nlctrl'));
    const ch = new NetlinkChannel(t, { genl: new GenlRegistry(), timeoutMs: 2000 });
    const info = await resolveFamily(ch, 'nlctrl');
    expect(info.mcastGroups).toEqual([{ name: 'notify', id: 16 }]);
    expect(maskedHex(t.sent)).toEqual(maskedHex([byName('getfamily-nlctrl').request]));

    const t2 = replay(byName('getfamily-devlink-enoent'));
    const ch2 = new NetlinkChannel(t2, { timeoutMs: 2000 });
    const err = await resolveFamily(ch2, 'devlink').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect((err as NetlinkError).errnoName).toBe('ENOENT');
    expect(maskedHex(t2.sent)).toEqual(maskedHex([byName('getfamily-devlink-enoent').request]));
  });

  it('getPolicy: the real nlctrl policy dump folds into op and attribute policies', async () => {
    const c = byName('getpolicy-dump-nlctrl');
    const m = buildGetPolicy(0x10);
    m.header.seq = new DataView(c.request.buffer).getUint32(8, true);
    expect(toHex(encodeMessage(m))).toBe(toHex(c.request));

    const t = replay(c);
    const ch = new NetlinkChannel(t, { timeoutMs: 2000 });
    const pol = await getPolicy(ch, 0x10);
    // as the kernel sent it: GETFAMILY (3) do+dump policy 0, and the GETPOLICY op's entry under key 0
    expect([...pol.ops.entries()]).toEqual([
      [3, { do: 0, dump: 0 }],
      [0, { dump: 1 }],
    ]);
    expect(pol.policies.get(0)!.get(1)).toEqual({
      type: 3,
      typeName: 'U16',
      minValue: 0n,
      maxValue: 0xffffn,
    });
    expect(pol.policies.get(0)!.get(2)).toEqual({ type: 12, typeName: 'NUL_STRING', maxLength: 15 });
    expect(pol.policies.get(1)!.get(10)).toEqual({
      type: 4,
      typeName: 'U32',
      minValue: 0n,
      maxValue: 0xffffffffn,
    });
    // nlctrl GETFAMILY uses one policy for do and dump: no dump selectors (iproute2's test)
    expect(dumpSelectorSupported(pol, 3)).toBe(false);
    expect(dumpSelectorSupported(foldPolicyMessages([]), 3)).toBe(false);
  });
});
