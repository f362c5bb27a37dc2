/**
 * The one normalisation of the differential suites (`normaliseDiff`) and the per-side filling of
 * requests (`localise`), on messages built here and by two simulated machines whose numbers differ
 * (genl family and group ids, ifindexes): what must differ becomes a named token, nothing else.
 */
import {
  buildGetFamily,
  buildPortGet,
  devlinkFamily,
  encodeMessage,
  encodeXfrm,
  GenlRegistry,
} from '@xfrmkit/netlink';
import { describe, expect, test } from 'vitest';
import { createNetdevsimMachine } from '../../src/create.ts';
import { baseFeatures, FEATURE_NAMES } from '../../src/devices/netdev.ts';
import {
  DiffNames,
  localise,
  NETLINK_GENERIC_PROTO,
  NETLINK_XFRM_PROTO,
  NO_SUCH_IFINDEX,
  normaliseDiff,
  PORT_MARK,
  SimEndpoint,
} from '../../src/xfrm/diff.ts';
import { usersaInfo } from '../../src/xfrm/usersa.ts';

const KEY = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);

function newSa(opts: { pid: number; addTime: bigint; ifindex: number }): Uint8Array {
  return encodeXfrm({
    type: 0x10,
    flags: 0,
    seq: 7,
    pid: opts.pid,
    body: usersaInfo({
      daddr: '10.0.0.2',
      saddr: '10.0.0.1',
      spi: 0x1000,
      curlft: { bytes: 0n, packets: 0n, addTime: opts.addTime, useTime: 0n },
      replayWindow: 32,
    }),
    attrs: [
      { name: 'ALG_AEAD', value: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: KEY, icvLen: 128 } },
      { name: 'OFFLOAD_DEV', value: { ifindex: opts.ifindex, flags: 2 } },
    ],
  }).slice();
}

describe('normaliseDiff', () => {
  test('XFRM: own port id, add time near now, the offload ifindex by name', () => {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const a = new DiffNames();
    a.setNetdev('eth0', 3);
    const b = new DiffNames();
    b.setNetdev('eth0', 2);
    const ka = normaliseDiff([newSa({ pid: 77, addTime: now, ifindex: 3 })], {
      protocol: 6,
      portid: 77,
      names: a,
    });
    const kb = normaliseDiff([newSa({ pid: 0x4000_0001, addTime: now - 2n, ifindex: 2 })], {
      protocol: 6,
      portid: 0x4000_0001,
      names: b,
    });
    expect(ka).toEqual(kb);
    expect(ka[0]).toContain('[if:eth0]');
    expect(ka[0]!.slice(24, 32)).toBe(Buffer.from(new Uint32Array([PORT_MARK]).buffer).toString('hex'));
    // an add time far from now, an unknown ifindex: left as numbers, so they show up as differences
    const old = normaliseDiff([newSa({ pid: 77, addTime: now - 3600n, ifindex: 9 })], {
      protocol: 6,
      portid: 77,
      names: a,
    });
    expect(old[0]).not.toContain('[if:');
    expect(old).not.toEqual(ka);
  });

  test('key material is redacted for reports only', () => {
    const d = newSa({ pid: 0, addTime: 0n, ifindex: 3 });
    const keyHex = Buffer.from(KEY).toString('hex');
    expect(normaliseDiff([d], { protocol: NETLINK_XFRM_PROTO, portid: 1 })[0]).toContain(keyHex);
    const shown = normaliseDiff([d], { protocol: NETLINK_XFRM_PROTO, portid: 1, redactKeys: true })[0]!;
    expect(shown).toContain('[key:20]');
    expect(shown).not.toContain(keyHex);
  });

  test('generic netlink: family and group ids and port ifindexes of two machines compare equal', async () => {
    const one = createNetdevsimMachine({ devlink: { id: 0x17, groupId: 8 } });
    const two = createNetdevsimMachine({ devlink: { id: 0x21, groupId: 5 } });
    two.netdevs.add({
      name: 'dummy0',
      kind: 'uplink',
      mtu: 1500,
      mac: new Uint8Array(6),
      features: baseFeatures(false),
      fixed: new Set(FEATURE_NAMES),
    });
    const reg = new GenlRegistry().define(devlinkFamily);
    reg.bind(0xfff0, 'devlink');
    const answers = await Promise.all(
      [one, two].map(async (h) => {
        const names = new DiffNames();
        names.setFamily('devlink', h.devlink.id, [['config', h.devlink.configGroup]]);
        for (const nd of h.netdevs.list()) names.setNetdev(nd.name, nd.ifindex);
        const e = new SimEndpoint(h.machine, NETLINK_GENERIC_PROTO, { groups: [h.devlink.configGroup] });
        const family = await e.exchange(encodeMessage(buildGetFamily('devlink')));
        const op = { what: 'port dump', bytes: encodeMessage(buildPortGet(0xfff0), reg), family: 'devlink' };
        const ports = await e.exchange(localise(op, op.bytes, names));
        const unknown = await e.exchange(
          localise(
            { ...op, family: 'devlink' },
            encodeMessage(buildPortGet(0xfff0, { bus: 'x', dev: 'y' }, 0), reg),
            names,
          ),
        );
        return [family, ports, unknown].map((d) =>
          normaliseDiff(d, { protocol: 16, portid: e.portid, names }),
        );
      }),
    );
    expect(answers[0]).toEqual(answers[1]);
    const [family, ports, unknown] = answers[0]!;
    expect(family![0]).toContain('[family:devlink]');
    expect(family![0]).toContain('[group:devlink/config]');
    expect(ports![0]).toMatch(/^.{8}\[family:devlink\]/);
    expect(ports![0]).toContain('[if:eth0]');
    // the request echoed in an error is normalised too
    expect(unknown![0]).toContain('[family:devlink]');
  });
});

describe('localise', () => {
  test('writes the side’s genl family id and ifindexes; an unknown netdev gets NO_SUCH_IFINDEX', () => {
    const names = new DiffNames();
    names.setFamily('devlink', 0x17);
    names.setNetdev('eth0', 3);
    const bytes = new Uint8Array(32);
    const out = localise(
      {
        what: 'x',
        bytes,
        family: 'devlink',
        ifindexAt: [
          [20, 'eth0'],
          [24, 'eth9'],
        ],
      },
      bytes,
      names,
    );
    const dv = new DataView(out.buffer);
    expect(dv.getUint16(4, true)).toBe(0x17);
    expect(dv.getUint32(20, true)).toBe(3);
    expect(dv.getUint32(24, true)).toBe(NO_SUCH_IFINDEX);
    expect(bytes.every((b) => b === 0)).toBe(true);
    expect(() => localise({ what: 'x', bytes, family: 'ethtool' }, bytes, names)).toThrow(/ethtool/);
  });
});
