import { describe, expect, it } from 'vitest';
import { bf2BootState, defaultDeviceState, PROFILES } from '../../src/offload/profiles.ts';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { charonLifetime, hwOffloadLadder } from '../../src/strongswan/ladder.ts';
import { XFRM_INF } from '../../src/types/xfrm.ts';
import { gcmState, policy } from '../sad/fixtures.ts';

const cx7 = PROFILES.cx7;
const st = (o = {}) => defaultDeviceState(cx7, { ifindex: 4, eswitchMode: 'legacy', ...o });
const sa = () => gcmState({ spi: 0xc1, reqid: 3 }, { dir: 2 });
const cbcSa = () =>
  gcmState(
    { spi: 0xc2, reqid: 3 },
    {
      aead: undefined,
      crypt: { name: 'cbc(aes)', keyLen: 128, key: new Uint8Array(16) },
      auth: { name: 'hmac(sha256)', keyLen: 256, key: new Uint8Array(32) },
    },
  );
const pols = () => [
  policy(
    { daddr: '10.0.0.2', prefixlenD: 32 },
    { dir: 1 },
    {
      tmpls: [
        {
          id: { daddr: '10.0.0.2', spi: 0, proto: 50 },
          family: 2,
          saddr: '10.0.0.1',
          reqid: 3,
          mode: 0,
          share: 0,
          optional: 0,
          aalgos: 0,
          ealgos: 0,
          calgos: 0,
        },
      ],
    },
  ),
  policy({ daddr: '10.0.0.1', prefixlenD: 32 }, { dir: 2 }),
];

describe('strongSwan hw_offload ladder', () => {
  it('no: software, nothing offloaded', () => {
    const r = hwOffloadLadder({ setting: 'no', sa: sa(), policies: pols(), profile: cx7, state: st() });
    expect(r.sa).toBe('software');
    expect(r.policies).toBe('software');
    expect(r.steps.filter((s) => s.object === 'sa')).toEqual([]);
  });

  it('yes = crypto; packet offloads SA and in/out policies but never FWD', () => {
    expect(hwOffloadLadder({ setting: 'yes', sa: sa(), profile: cx7, state: st() }).sa).toBe('crypto');
    const r = hwOffloadLadder({ setting: 'packet', sa: sa(), policies: pols(), profile: cx7, state: st() });
    expect(r.sa).toBe('packet');
    expect(r.policies).toBe('packet');
    expect(r.steps.find((s) => s.object === 'policy' && s.dir === 'fwd')?.attempt).toBe('none');
  });

  it('auto: packet refused → crypto once; crypto refused too → failed', () => {
    const t = sa();
    t.info.reqid = 0; // packet needs a reqid, crypto does not
    const r = hwOffloadLadder({ setting: 'auto', sa: t, profile: cx7, state: st() });
    expect(r.steps.map((s) => s.attempt)).toEqual(['packet', 'crypto']);
    expect(r.sa).toBe('crypto');
    expect(r.log).toContain('failed to install SA with packet HW offload, trying with crypto HW offload');
    const bad = hwOffloadLadder({ setting: 'auto', sa: cbcSa(), profile: cx7, state: st() });
    expect(bad.sa).toBe('failed');
    expect(bad.steps.map((s) => s.attempt)).toEqual(['packet', 'crypto']);
  });

  it('auto: refused policies are resent without offload; packet: they fail', () => {
    const p = pols();
    p[0]!.info.sel.proto = 47; // GRE: mlx5 refuses the policy
    const a = hwOffloadLadder({ setting: 'auto', sa: sa(), policies: p, profile: cx7, state: st() });
    expect(a.policies).toBe('software');
    const k = hwOffloadLadder({ setting: 'packet', sa: sa(), policies: p, profile: cx7, state: st() });
    expect(k.policies).toBe('failed');
  });

  it('device without esp-hw-offload: auto → software, enforcing settings fail', () => {
    const s = st({ espHwOffloadFeature: false });
    expect(hwOffloadLadder({ setting: 'auto', sa: sa(), profile: cx7, state: s }).sa).toBe('software');
    const r = hwOffloadLadder({ setting: 'crypto', sa: sa(), profile: cx7, state: s });
    expect(r.sa).toBe('failed');
    expect(r.log).toEqual(['HW offload is not supported by device']);
  });

  it('crypto with a kernel-side silent fallback ends in software', () => {
    const r = hwOffloadLadder({
      setting: 'crypto',
      sa: sa(),
      profile: cx7,
      state: st({ ipsecInitFailed: true }),
    });
    expect(r.sa).toBe('software');
  });

  it('seed limits with packet offload: rekey_bytes fails, rekey/reauth time ignored, rekey_packets used', () => {
    const l = { rekeyTime: 3600, reauthTime: 7200, rekeyPackets: 1000000n };
    const r = hwOffloadLadder({ setting: 'packet', sa: sa(), lifetimes: l, profile: cx7, state: st() });
    expect(r.sa).toBe('packet');
    expect(r.lifetimes.ignored).toEqual(['rekey_time', 'reauth_time']);
    expect(r.lifetimes.used).toEqual(['rekey_packets']);
    const b = hwOffloadLadder({
      setting: 'packet',
      sa: sa(),
      lifetimes: { rekeyBytes: 1000000n },
      profile: cx7,
      state: st(),
    });
    expect(b.sa).toBe('failed');
    expect(b.lifetimes.failed).toEqual(['rekey_bytes']);
    // auto drops to crypto, where bytes are counted in software
    const a = hwOffloadLadder({
      setting: 'auto',
      sa: sa(),
      lifetimes: { rekeyBytes: 1000000n },
      profile: cx7,
      state: st(),
    });
    expect(a.sa).toBe('crypto');
    expect(a.lifetimes.used).toEqual(['rekey_bytes']);
    expect(charonLifetime({ rekeyPackets: 100n }, true)).toMatchObject({
      softPacketLimit: 100n,
      hardPacketLimit: 110n,
      softByteLimit: XFRM_INF,
      softAddExpiresSeconds: 0n,
    });
    expect(charonLifetime({ rekeyTime: 100 }, false)).toMatchObject({
      softAddExpiresSeconds: 100n,
      hardAddExpiresSeconds: 110n,
    });
  });

  it('BlueField-2 5.9.0bf: full works with ipsec_mode full; rekey_bytes is refused by the OFED driver', () => {
    const bf2 = PROFILES.bf2;
    const on = bf2BootState(true, { ifindex: 4 });
    const r = hwOffloadLadder({
      setting: 'full',
      sa: sa(),
      policies: pols(),
      profile: bf2,
      state: on,
      lifetimes: { rekeyPackets: 5000n },
    });
    expect(r.flavor).toBe('5.9.0bf');
    expect(r.sa).toBe('packet');
    expect(r.policies).toBe('software');
    const b = hwOffloadLadder({
      setting: 'full',
      sa: sa(),
      profile: bf2,
      state: on,
      lifetimes: { rekeyBytes: 4096n },
    });
    expect(b.sa).toBe('failed');
    expect(b.steps[0]?.verdict.rule).toBe('ofed.state.full-bytes');
    const off = hwOffloadLadder({
      setting: 'full',
      sa: sa(),
      profile: bf2,
      state: bf2BootState(false, { ifindex: 4 }),
    });
    expect(off.sa).toBe('failed');
    expect(() => hwOffloadLadder({ setting: 'packet', sa: sa(), profile: bf2, state: on })).toThrow(
      XfrmError,
    );
    expect(() => hwOffloadLadder({ setting: 'full', sa: sa(), profile: cx7, state: st() })).toThrow(
      XfrmError,
    );
  });
});
