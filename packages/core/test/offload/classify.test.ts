import { describe, expect, it } from 'vitest';
import {
  classify,
  mlx5ValidateState,
  type OffloadVerdict,
  RULES,
  type RuleId,
  recordOffload,
} from '../../src/offload/classify.ts';
import {
  bf2BootState,
  type DeviceProfile,
  type DeviceState,
  defaultDeviceState,
  deviceCaps,
  emptyCounts,
  MLX5_IPSEC_CAP,
  PROFILES,
} from '../../src/offload/profiles.ts';
import type { XfrmPolicy, XfrmState } from '../../src/types/objects.ts';
import { AF_INET, XFRM_OFFLOAD_FLAG as F, IPPROTO, XFRM_INF } from '../../src/types/xfrm.ts';
import { gcmState, policy } from '../sad/fixtures.ts';

const cx7 = PROFILES.cx7;
const IFX = 4;
const M = 'mlx5_core: ';

/** Outbound packet SA on the CX7 netdev. */
function pkt(extra: Partial<XfrmState> = {}, flags: number = F.PACKET): XfrmState {
  return gcmState({ spi: 0x100, reqid: 5 }, { offload: { ifindex: IFX, flags }, ...extra });
}
function crypto(extra: Partial<XfrmState> = {}): XfrmState {
  return gcmState({ spi: 0x100 }, { offload: { ifindex: IFX, flags: 0 }, ...extra });
}
function inPkt(extra: Partial<XfrmState> = {}): XfrmState {
  return pkt({ dir: 1, ...extra }, F.PACKET | F.INBOUND);
}
function lft(s: XfrmState, o: Partial<XfrmState['info']['lft']>): XfrmState {
  s.info.lft = { ...s.info.lft, ...o };
  return s;
}
function pol(extra: Partial<XfrmPolicy> = {}, o: Parameters<typeof policy>[1] = {}): XfrmPolicy {
  return policy(
    { daddr: '10.0.0.2', prefixlenD: 32 },
    { dir: 1, ...o },
    {
      tmpls: [
        {
          id: { daddr: '10.0.0.2', spi: 0, proto: IPPROTO.ESP },
          family: AF_INET,
          saddr: '10.0.0.1',
          reqid: 5,
          mode: 0,
          share: 0,
          optional: 0,
          aalgos: 0,
          ealgos: 0,
          calgos: 0,
        },
      ],
      offload: { ifindex: IFX, flags: F.PACKET },
      ...extra,
    },
  );
}
const st = (over: Partial<DeviceState> = {}, profile: DeviceProfile = cx7) =>
  defaultDeviceState(profile, { ifindex: IFX, eswitchMode: 'legacy', ...over });

interface Row {
  rule: RuleId;
  obj: () => XfrmState | XfrmPolicy;
  state?: () => DeviceState;
  profile?: DeviceProfile;
  want: Partial<OffloadVerdict>;
}

const enc = { encapType: 2, encapSport: 4500, encapDport: 4500, encapOa: '0.0.0.0' };
const caps = (c: number) => () => st({ steeringMode: 'smfs', eswitchMode: 'switchdev', ...(c ? {} : {}) });

const ROWS: Row[] = [
  // xfrm core (state)
  {
    rule: 'core.state.flags',
    obj: () => pkt({}, 8),
    want: { outcome: 'refused', errno: 'EINVAL', extack: 'Unrecognized flags in offload request' },
  },
  {
    rule: 'core.state.dir',
    obj: () => pkt({ dir: 1 }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: 'Mismatched SA and offload direction' },
  },
  {
    rule: 'core.state.ifid',
    obj: () => inPkt({ ifId: 3 }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: 'XFRM if_id is not supported in RX path' },
  },
  {
    rule: 'core.state.tfcpad',
    obj: () => pkt({ tfcpad: 16 }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: "TFC padding can't be offloaded" },
  },
  {
    rule: 'core.state.noroute',
    obj: () => pkt({ offload: { ifindex: 99, flags: F.PACKET } }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: undefined },
  },
  {
    rule: 'core.state.noops',
    obj: () => crypto({ offload: { ifindex: 1, flags: 0 } }),
    want: { outcome: 'software' },
  },
  {
    rule: 'core.state.type',
    obj: () =>
      pkt({
        info: { ...pkt().info, id: { daddr: '10.0.0.2', spi: 1, proto: IPPROTO.AH } },
        auth: { name: 'hmac(sha1)', keyLen: 160, key: new Uint8Array(20) },
      }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: "Type doesn't support offload" },
  },
  // mlx5 add_state
  {
    rule: 'mlx5.state.noctx',
    obj: () => pkt(),
    state: () => st({ ipsecInitFailed: true }),
    want: { outcome: 'refused', errno: 'EOPNOTSUPP', extack: 'Device failed to offload this state' },
  },
  {
    rule: 'mlx5.state.auth',
    obj: () =>
      pkt({
        aead: undefined,
        crypt: { name: 'cbc(aes)', keyLen: 128, key: new Uint8Array(16) },
        auth: { name: 'hmac(sha256)', keyLen: 256, key: new Uint8Array(32) },
      }),
    want: { errno: 'EINVAL', extack: `${M}Cannot offload authenticated xfrm states` },
  },
  {
    rule: 'mlx5.state.ealgo',
    obj: () => pkt({ aead: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: new Uint8Array(20), icvLen: 96 } }),
    want: { errno: 'EINVAL', extack: `${M}Only AES-GCM-ICV16 xfrm state may be offloaded` },
  },
  {
    rule: 'mlx5.state.calgo',
    obj: () => pkt({ comp: { name: 'deflate', keyLen: 0, key: new Uint8Array(0) } }),
    want: { errno: 'EINVAL', extack: `${M}Cannot offload compressed xfrm states` },
  },
  {
    rule: 'mlx5.state.esn',
    obj: () => gcmState({ spi: 1, reqid: 5, flags: 128 }, { offload: { ifindex: IFX, flags: F.PACKET } }),
    state: () => st({ function: 'vf', vfIpsecPacket: true }),
    profile: { ...cx7, hw: { ...cx7.hw, esn: false } },
    want: { errno: 'EINVAL', extack: `${M}Cannot offload ESN xfrm states` },
  },
  {
    rule: 'mlx5.state.encap-cap',
    obj: () => pkt({ encap: enc }),
    profile: { ...cx7, hw: { ...cx7.hw, espInUdp: false } },
    want: { errno: 'EINVAL', extack: `${M}Encapsulation is not supported` },
  },
  {
    rule: 'mlx5.state.encap-type',
    obj: () => pkt({ encap: { ...enc, encapType: 7 } }),
    want: { errno: 'EINVAL', extack: `${M}Encapsulation other than UDP is not supported` },
  },
  {
    rule: 'mlx5.state.encap-packet',
    obj: () => crypto({ encap: enc }),
    want: {
      outcome: 'refused',
      errno: 'EINVAL',
      extack: `${M}Encapsulation is supported in packet offload mode only`,
    },
  },
  {
    rule: 'mlx5.state.encap-mode',
    obj: () => {
      const s = pkt({ encap: enc });
      s.info.mode = 1;
      return s;
    },
    want: { errno: 'EINVAL', extack: `${M}Encapsulation is supported in transport mode only` },
  },
  {
    rule: 'mlx5.state.key',
    obj: () =>
      pkt({ aead: { name: 'rfc4106(gcm(aes))', keyLen: 224, key: new Uint8Array(28), icvLen: 128 } }),
    want: {
      errno: 'EINVAL',
      extack: `${M}Cannot offload xfrm states with AEAD key length other than 128/256 bit`,
    },
  },
  {
    rule: 'mlx5.state.sel-proto',
    obj: () => {
      const s = pkt();
      s.info.sel = { ...s.info.sel, proto: IPPROTO.ICMP };
      return s;
    },
    want: { errno: 'EINVAL', extack: `${M}Device does not support upper protocol other than TCP/UDP` },
  },
  {
    rule: 'mlx5.state.mode',
    obj: () => {
      const s = pkt();
      s.info.mode = 4;
      return s;
    },
    want: { errno: 'EINVAL', extack: `${M}Only transport and tunnel xfrm states may be offloaded` },
  },
  {
    rule: 'mlx5.state.crypto-cap',
    obj: () => crypto(),
    state: () => st({ function: 'vf', vfIpsecPacket: true }),
    want: { outcome: 'refused', errno: 'EINVAL', extack: `${M}Crypto offload is not supported` },
  },
  {
    rule: 'mlx5.state.packet-cap',
    obj: () => pkt(),
    state: () => st({ eswitchMode: 'switchdev', steeringMode: 'smfs' }),
    want: { errno: 'EINVAL', extack: `${M}Packet offload is not supported` },
  },
  {
    rule: 'mlx5.state.tunnel-cap',
    obj: () => {
      const s = pkt();
      s.info.mode = 1;
      return s;
    },
    profile: { ...cx7, hw: { ...cx7.hw, tunnel: false } },
    want: { errno: 'EINVAL', extack: `${M}Packet offload is not supported for tunnel mode` },
  },
  {
    rule: 'mlx5.state.replay',
    obj: () =>
      inPkt({
        replayEsn: { bmpLen: 2, oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: 48, bmp: [0, 0] },
      }),
    want: { errno: 'EINVAL', extack: `${M}Unsupported replay window size` },
  },
  {
    rule: 'mlx5.state.reqid',
    obj: () => {
      const s = pkt();
      s.info.reqid = 0;
      return s;
    },
    want: { errno: 'EINVAL', extack: `${M}Cannot offload without reqid` },
  },
  {
    rule: 'mlx5.state.bytes-order',
    obj: () => lft(pkt(), { hardByteLimit: 1000n }),
    want: { errno: 'EINVAL', extack: `${M}Hard byte limit must be greater than soft one` },
  },
  {
    rule: 'mlx5.state.bytes-zero',
    obj: () => lft(pkt(), { softByteLimit: 0n }),
    want: { errno: 'EINVAL', extack: `${M}Soft/hard byte limits can't be 0` },
  },
  {
    rule: 'mlx5.state.packets-order',
    obj: () => lft(pkt(), { softPacketLimit: 10n, hardPacketLimit: 10n }),
    want: { errno: 'EINVAL', extack: `${M}Hard packet limit must be greater than soft one` },
  },
  {
    rule: 'mlx5.state.packets-zero',
    obj: () => lft(pkt(), { softPacketLimit: 0n }),
    want: { errno: 'EINVAL', extack: `${M}Soft/hard packet limits can't be 0` },
  },
  {
    rule: 'mlx5.state.block-ipsec',
    obj: () => pkt(),
    state: () => st({ enabledIpsecVfCount: 1 }),
    want: { errno: 'EBUSY', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'mlx5.state.block-mode',
    obj: () => crypto(),
    state: () => st({ tcFdbFlows: 3 }),
    want: { outcome: 'refused', errno: 'EBUSY', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'mlx5.state.tunnel-encap',
    obj: () => {
      const s = pkt();
      s.info.mode = 1;
      return s;
    },
    state: () => st({ eswitchMode: 'switchdev', encapMode: 'basic' }),
    want: { errno: 'EINVAL', extack: `${M}Packet offload tunnel mode is disabled due to encap settings` },
  },
  {
    rule: 'mlx5.state.objects',
    obj: () => pkt(),
    profile: { ...cx7, limits: { ...cx7.limits, logMaxIpsecOffload: 2 } },
    state: () => st({ counts: { ...emptyCounts(), ipsecObjects: 4 } }),
    want: { errno: 'ENOSPC', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'mlx5.state.tc',
    obj: () => pkt(),
    state: () => st({ tcNicFlows: 1 }),
    want: { errno: 'EBUSY', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'mlx5.state.table-full',
    obj: () => inPkt(),
    state: () => st({ counts: { ...emptyCounts(), rxStatusV4: 32763 } }),
    want: { errno: 'ENOSPC', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'mlx5.state.duplicate',
    obj: () => pkt(),
    state: () => {
      const s = st();
      recordOffload(pkt(), { outcome: 'packet', requested: 'packet' }, s);
      return s;
    },
    want: { errno: 'EEXIST', extack: `${M}Device failed to offload this state` },
  },
  {
    rule: 'fw.state.vf-tunnel',
    obj: () => {
      const s = pkt();
      s.info.mode = 1;
      return s;
    },
    state: () => st({ function: 'vf', vfIpsecPacket: true, eswitchMode: 'switchdev' }),
    want: { errno: 'EINVAL', extack: `${M}Device failed to offload this state`, stage: 'firmware' },
  },
  // OFED era (BlueField-2): EINVAL, no extack, dmesg text
  {
    rule: 'ofed.state.full-cap',
    profile: { ...PROFILES.bf2, hw: { ...PROFILES.bf2.hw, fullOffload: false } },
    obj: () => pkt(),
    state: () => bf2BootState(true, { ifindex: IFX }),
    want: {
      errno: 'EINVAL',
      extack: undefined,
      dmesg: 'IPsec full offload is not supported by this device.',
    },
  },
  {
    rule: 'ofed.state.full-switchdev',
    profile: PROFILES.bf2,
    obj: () => pkt(),
    state: () => bf2BootState(true, { ifindex: IFX, eswitchMode: 'legacy' }),
    want: { errno: 'EINVAL', dmesg: 'IPsec full offload allowed only in switchdev mode.' },
  },
  {
    rule: 'ofed.state.full-mode',
    profile: PROFILES.bf2,
    obj: () => pkt(),
    state: () => bf2BootState(false, { ifindex: IFX }),
    want: {
      errno: 'EINVAL',
      dmesg: 'IPsec full offload allowed only in when devlink full ipsec mode is set.',
    },
  },
  {
    rule: 'ofed.state.crypto-in-full',
    profile: PROFILES.bf2,
    obj: () => crypto(),
    state: () => bf2BootState(true, { ifindex: IFX }),
    want: {
      outcome: 'refused',
      errno: 'EINVAL',
      dmesg: 'IPsec crypto only offload is not allowed when devlink ipsec mode is full.',
    },
  },
  {
    rule: 'ofed.state.full-bytes',
    profile: PROFILES.bf2,
    obj: () => lft(pkt(), { softByteLimit: 1000n, hardByteLimit: 2000n }),
    state: () => bf2BootState(true, { ifindex: IFX }),
    want: {
      errno: 'EINVAL',
      dmesg:
        'full offload state does not support:\n\t\t\t\tx->lft.hard_byte_limit=0x7d0,\n\t\t\t\tx->lft.soft_byte_limit=0x3e8,\n',
    },
  },
  {
    rule: 'ofed.state.encap',
    profile: PROFILES.bf2,
    obj: () => pkt({ encap: enc }),
    state: () => bf2BootState(true, { ifindex: IFX }),
    want: { errno: 'EINVAL', extack: undefined },
  },
  // policies
  {
    rule: 'core.policy.flags',
    obj: () => pol({ offload: { ifindex: IFX, flags: 0 } }),
    want: { errno: 'EINVAL', extack: 'Unrecognized flags in offload request' },
  },
  {
    rule: 'core.policy.ifindex',
    obj: () => pol({ offload: { ifindex: 77, flags: F.PACKET } }),
    want: { errno: 'EINVAL', extack: undefined },
  },
  {
    rule: 'core.policy.noops',
    obj: () => pol({ offload: { ifindex: 1, flags: F.PACKET } }),
    want: { errno: 'EINVAL', extack: 'Policy offload is not supported' },
  },
  {
    rule: 'core.policy.dir',
    obj: () => pol({}, { dir: 5 }),
    want: { errno: 'EINVAL', extack: 'Unrecognized offload direction' },
  },
  {
    rule: 'mlx5.policy.noctx',
    obj: () => pol(),
    state: () => st({ ipsecInitFailed: true }),
    want: { errno: 'EOPNOTSUPP', extack: `${M}Device doesn't support IPsec packet offload` },
  },
  {
    rule: 'mlx5.policy.type',
    obj: () => pol({ ptype: 1 }),
    want: { errno: 'EINVAL', extack: `${M}Cannot offload non-main policy types` },
  },
  {
    rule: 'mlx5.policy.tmpls',
    obj: () => {
      const p = pol();
      p.tmpls = [p.tmpls[0]!, p.tmpls[0]!];
      return p;
    },
    want: { errno: 'EINVAL', extack: `${M}Cannot offload more than one template` },
  },
  {
    rule: 'mlx5.policy.fwd',
    obj: () => pol({}, { dir: 2 }),
    want: { errno: 'EINVAL', extack: `${M}Cannot offload forward policy` },
  },
  {
    rule: 'mlx5.policy.reqid0',
    obj: () => {
      const p = policy({}, { dir: 1 }, { offload: { ifindex: IFX, flags: F.PACKET } });
      return p;
    },
    want: {
      errno: 'EINVAL',
      extack: `${M}Unsupported policy with reqid 0 without at least one of upper protocol or ip addr(s) different than 0`,
    },
  },
  {
    rule: 'mlx5.policy.sel-proto',
    obj: () => {
      const p = pol();
      p.info.sel.proto = IPPROTO.GRE;
      return p;
    },
    want: { errno: 'EINVAL', extack: `${M}Device does not support upper protocol other than TCP/UDP` },
  },
  {
    rule: 'mlx5.policy.prio-cap',
    obj: () => pol({}, { priority: 5 }),
    state: () => st({ clsAct: false }),
    want: { errno: 'EINVAL', extack: `${M}Device does not support policy priority` },
  },
  {
    rule: 'mlx5.policy.prio-max',
    obj: () => pol({}, { priority: 0xffffffff }),
    want: { errno: 'EINVAL', extack: `${M}Device does not support requested policy priority` },
  },
  {
    rule: 'mlx5.policy.packet-cap',
    obj: () => pol(),
    state: () => st({ eswitchMode: 'switchdev', steeringMode: 'hmfs' }),
    want: { errno: 'EINVAL', extack: `${M}Packet offload is not supported` },
  },
  {
    rule: 'mlx5.policy.block-ipsec',
    obj: () => pol(),
    state: () => st({ enabledIpsecVfCount: 2 }),
    want: { errno: 'EBUSY', extack: `${M}Device failed to offload this policy` },
  },
  {
    rule: 'mlx5.policy.steering',
    obj: () => pol(),
    state: () => st({ eswitchBusy: true }),
    want: { errno: 'EBUSY', extack: `${M}Device failed to offload this policy` },
  },
];

describe('offload classification: one case per refusal row', () => {
  for (const row of ROWS) {
    it(`${row.rule}: ${RULES[row.rule]}`, () => {
      const v = classify(row.obj(), row.profile ?? cx7, row.state?.() ?? st({}, row.profile ?? cx7));
      expect(v.rule).toBe(row.rule);
      expect(v.outcome).toBe(row.want.outcome ?? 'refused');
      for (const [k, val] of Object.entries(row.want)) expect(v[k as keyof OffloadVerdict]).toEqual(val);
      if (!('extack' in row.want) && v.outcome === 'refused' && row.want.dmesg === undefined) {
        expect(v.extack).toBeDefined();
      }
    });
  }

  // rows that the xfrm core makes unreachable through netlink: the driver check itself, called directly
  const CAPS = MLX5_IPSEC_CAP.CRYPTO | MLX5_IPSEC_CAP.PACKET_OFFLOAD | MLX5_IPSEC_CAP.ESN;
  const direct: [RuleId, XfrmState, string][] = [
    [
      'mlx5.state.family',
      (() => {
        const s = pkt();
        s.info.family = 0;
        return s;
      })(),
      'Only IPv4/6 xfrm states may be offloaded',
    ],
    [
      'mlx5.state.proto',
      (() => {
        const s = pkt();
        s.info.id = { ...s.info.id, proto: IPPROTO.AH };
        return s;
      })(),
      'Only ESP xfrm state may be offloaded',
    ],
    ['mlx5.state.tfc', pkt({ tfcpad: 4 }), 'Cannot offload xfrm states with tfc padding'],
  ];
  for (const [rule, sa, text] of direct) {
    it(`${rule} (driver-level): ${RULES[rule]}`, () => {
      const f = mlx5ValidateState(sa, 'packet', false, CAPS);
      expect(f?.rule).toBe(rule);
      expect(f?.extack).toBe(M + text);
    });
  }
  it('the remaining unreachable driver rows (aead/icv/geniv) cannot be reached with a GCM-ICV16 SA', () => {
    for (const r of [
      'mlx5.state.aead',
      'mlx5.state.icv',
      'mlx5.state.geniv-null',
      'mlx5.state.geniv',
    ] as RuleId[]) {
      expect(RULES[r]).toBeDefined();
    }
    // a non-ICV16 AEAD is reported by the ealgo row first, as the kernel does
    expect(
      mlx5ValidateState(
        pkt({ aead: { name: 'rfc4543(gcm(aes))', keyLen: 160, key: new Uint8Array(20), icvLen: 128 } }),
        'packet',
        false,
        CAPS,
      )?.rule,
    ).toBe('mlx5.state.ealgo');
  });
});

describe('offload classification: accepted paths and fallbacks', () => {
  it('accepts packet and crypto SAs and a packet policy on CX7 legacy', () => {
    expect(classify(pkt(), cx7, st()).outcome).toBe('packet');
    expect(
      classify(
        inPkt({
          replayEsn: {
            bmpLen: 4,
            oseq: 0,
            seq: 0,
            oseqHi: 0,
            seqHi: 0,
            replayWindow: 128,
            bmp: [0, 0, 0, 0],
          },
        }),
        cx7,
        st(),
      ).outcome,
    ).toBe('packet');
    expect(classify(crypto(), cx7, st()).outcome).toBe('crypto');
    expect(classify(pol({}, { priority: 10 }), cx7, st()).outcome).toBe('packet');
    expect(classify(gcmState(), cx7, st())).toEqual({
      outcome: 'software',
      requested: 'none',
      reason: 'no offload requested',
    });
  });

  it('crypto offload falls back to software silently; packet never does', () => {
    expect(classify(crypto(), cx7, st({ ipsecInitFailed: true })).outcome).toBe('software');
    expect(classify(crypto({ offload: { ifindex: 99, flags: 0 } }), cx7, st()).outcome).toBe('software');
    expect(classify(pkt(), cx7, st({ ipsecInitFailed: true })).outcome).toBe('refused');
    expect(classify(crypto(), cx7, st({ routeFor: 'this' })).outcome).toBe('crypto');
  });

  it('tunnel packet SA allowed in legacy, refused on the switchdev uplink (BlueField-3 default)', () => {
    const t = pkt();
    t.info.mode = 1;
    expect(classify(t, cx7, st()).outcome).toBe('packet');
    const bf3 = PROFILES.bf3;
    expect(classify(t, bf3, defaultDeviceState(bf3, { ifindex: IFX })).rule).toBe('mlx5.state.tunnel-encap');
    expect(classify(pkt(), bf3, defaultDeviceState(bf3, { ifindex: IFX })).outcome).toBe('packet');
  });

  it('capabilities: switchdev without DMFS keeps crypto only; VFs get what devlink enabled', () => {
    const c = deviceCaps(cx7, st({ eswitchMode: 'switchdev', steeringMode: 'smfs' }));
    expect(c & MLX5_IPSEC_CAP.CRYPTO).not.toBe(0);
    expect(c & MLX5_IPSEC_CAP.PACKET_OFFLOAD).toBe(0);
    expect(deviceCaps(cx7, st({ function: 'vf' }))).toBe(0);
    expect(classify(crypto(), cx7, st({ function: 'vf' })).outcome).toBe('software');
    expect(classify(pkt(), cx7, st({ function: 'vf' })).rule).toBe('core.state.noops');
  });

  it('BlueField-2 OFED era: full offload with ipsec_mode full; policies ignored', () => {
    const bf2 = PROFILES.bf2;
    expect(bf2.packetOffloadKeyword).toBe('full_offload');
    expect(classify(pkt(), bf2, bf2BootState(true, { ifindex: IFX })).outcome).toBe('packet');
    expect(classify(crypto(), bf2, bf2BootState(false, { ifindex: IFX })).outcome).toBe('crypto');
    expect(classify(pol(), bf2, bf2BootState(true, { ifindex: IFX })).outcome).toBe('software');
  });

  it('recordOffload books counters used by later decisions', () => {
    const s = st();
    recordOffload(inPkt(), { outcome: 'packet', requested: 'packet' }, s);
    recordOffload(
      crypto({ offload: { ifindex: IFX, flags: F.INBOUND }, dir: 1 }),
      { outcome: 'crypto', requested: 'crypto' },
      s,
    );
    expect(s.counts?.rxSaV4).toBe(2);
    expect(s.counts?.rxStatusV4).toBe(5);
    expect(s.counts?.ipsecObjects).toBe(2);
  });

  it('every rule id is covered by the table or the direct cases', () => {
    const covered = new Set<string>([
      ...ROWS.map((r) => r.rule),
      'mlx5.state.family',
      'mlx5.state.proto',
      'mlx5.state.tfc',
      'mlx5.state.aead',
      'mlx5.state.icv',
      'mlx5.state.geniv-null',
      'mlx5.state.geniv',
    ]);
    expect(Object.keys(RULES).filter((r) => !covered.has(r))).toEqual([]);
  });

  it('bad input is a typed error', () => {
    expect(() => classify(null as never, cx7, st())).toThrow(/EINVAL/);
    expect(caps(0)().eswitchMode).toBe('switchdev');
    expect(XFRM_INF).toBe(0xffff_ffff_ffff_ffffn);
  });
});
