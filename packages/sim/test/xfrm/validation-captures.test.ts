/**
 * Validation errors of captures/20 and 21 (probes on the real 6.18 kernel): each case is sent through
 * the real XfrmClient over InProcTransport to a simulator with the kernel's personality; errno and
 * extack must equal what the capture recorded for that case (expected values are read from the
 * capture files, not restated here).
 */

import { readFileSync } from 'node:fs';
import { userTmpl } from '@xfrmkit/core';
import { type AttrInput, DEFAULT_LFT, NetlinkError, XfrmClient, ZERO_CUR } from '@xfrmkit/netlink';
import { beforeEach, describe, expect, test } from 'vitest';
import { SimMachine } from '../../src/machine.ts';
import { InProcTransport } from '../../src/transport/inproc.ts';
import { XfrmHandler } from '../../src/xfrm/handler.ts';

const REF = '/work/shared/reference/captures';
const ERRNO: Record<string, number> = {
  OK: 0,
  EINVAL: 22,
  ERANGE: 34,
  ENOSYS: 38,
  EPROTONOSUPPORT: 93,
  ENOENT: 2,
  ESRCH: 3,
  EEXIST: 17,
};

function expectations(file: string): Map<string, { errno: number; msg: string }> {
  const out = new Map<string, { errno: number; msg: string }>();
  for (const line of readFileSync(`${REF}/${file}`, 'utf8').split('\n')) {
    const m = /^(.+?): (?:MSG .*\| )?ERROR (\w+)\(-?\d+\) flags=0x\w+ extack=(['"])(.*?)\3/.exec(line);
    if (m) out.set(m[1]!, { errno: ERRNO[m[2]!]!, msg: m[4]! });
  }
  return out;
}

const SA = expectations('20-probe-sa-validation.txt');
const POL = expectations('21-probe-policy-validation.txt');

const sel = (family = 2, plen = 32) => ({
  daddr: family === 10 ? 'fd00::2' : '10.0.0.2',
  saddr: family === 10 ? 'fd00::1' : '10.0.0.1',
  dport: 0,
  dportMask: 0,
  sport: 0,
  sportMask: 0,
  family,
  prefixlenD: plen,
  prefixlenS: plen,
  proto: 0,
  ifindex: 0,
  user: 0,
});

function sa(
  o: Partial<{
    family: number;
    selFam: number;
    plen: number;
    proto: number;
    mode: number;
    spi: number;
    flags: number;
    rw: number;
  }> = {},
) {
  const family = o.family ?? 2;
  return {
    sel: { ...sel(family === 10 ? 10 : 2, o.plen ?? 0), family: o.selFam ?? 0 },
    id: { daddr: family === 10 ? 'fd00::2' : '10.0.0.2', spi: o.spi ?? 0x100, proto: o.proto ?? 50 },
    saddr: family === 10 ? 'fd00::1' : '10.0.0.1',
    lft: DEFAULT_LFT(),
    curlft: ZERO_CUR(),
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: 1,
    family,
    mode: o.mode ?? 1,
    replayWindow: o.rw ?? 0,
    flags: o.flags ?? 0,
  };
}

const key = (bits: number) => new Uint8Array(bits / 8).fill(7);
const crypt: AttrInput = { name: 'ALG_CRYPT', value: { name: 'cbc(aes)', keyLen: 128, key: key(128) } };
const auth: AttrInput = { name: 'ALG_AUTH', value: { name: 'hmac(sha256)', keyLen: 256, key: key(256) } };
const aead: AttrInput = {
  name: 'ALG_AEAD',
  value: { name: 'rfc4106(gcm(aes))', keyLen: 160, key: key(160), icvLen: 128 },
};
const esn = (
  o: Partial<{
    bmpLen: number;
    oseq: number;
    seq: number;
    oseqHi: number;
    seqHi: number;
    replayWindow: number;
  }> = {},
): AttrInput => {
  const bmpLen = o.bmpLen ?? 0;
  return {
    name: 'REPLAY_ESN_VAL',
    value: {
      bmpLen,
      oseq: 0,
      seq: 0,
      oseqHi: 0,
      seqHi: 0,
      replayWindow: 0,
      bmp: new Array(bmpLen).fill(0),
      ...o,
    },
  };
};
const dir = (d: number): AttrInput => ({ name: 'SA_DIR', value: d });

const pol = (
  o: Partial<{
    share: number;
    action: number;
    family: number;
    plen: number;
    dir: number;
    index: number;
  }> = {},
) => ({
  sel: sel(o.family ?? 2, o.plen ?? 32),
  lft: DEFAULT_LFT(),
  curlft: ZERO_CUR(),
  priority: 0,
  index: o.index ?? 0,
  dir: o.dir ?? 1,
  action: o.action ?? 0,
  flags: 0,
  share: o.share ?? 0,
});
const tmpl = (o: Partial<{ mode: number; family: number; proto: number; optional: number }> = {}) =>
  userTmpl({
    id: { daddr: '10.0.0.2', spi: 0, proto: o.proto ?? 50 },
    family: o.family ?? 2,
    saddr: '10.0.0.1',
    reqid: 1,
    mode: o.mode ?? 1,
    optional: o.optional ?? 0,
  });

type Case = [string, number, unknown, AttrInput[]];
const NEWSA = 0x10;
const NEWPOL = 0x13;

const SA_CASES: Case[] = [
  ['SA family=0', NEWSA, sa({ family: 0 }), [aead]],
  ['SA sel.family=inet prefixlen_d=33', NEWSA, sa({ selFam: 2, plen: 33 }), [aead]],
  ['SA sel.family=0 (no AF_UNSPEC flag) prefixlen_d=33', NEWSA, sa({ plen: 33 }), [aead]],
  ['SA sel.family=0 + XFRM_STATE_AF_UNSPEC prefixlen_d=200', NEWSA, sa({ plen: 200, flags: 32 }), [aead]],
  ['SA sel.family=7', NEWSA, sa({ selFam: 7 }), [aead]],
  ['SA AH no auth', NEWSA, sa({ proto: 51 }), []],
  ['SA AH auth+crypt', NEWSA, sa({ proto: 51 }), [auth, crypt]],
  [
    'SA ESP + COMP',
    NEWSA,
    sa(),
    [crypt, { name: 'ALG_COMP', value: { name: 'deflate', keyLen: 0, key: key(0) } }],
  ],
  ['SA ESP no alg', NEWSA, sa(), []],
  ['SA ESP aead+crypt', NEWSA, sa(), [aead, crypt]],
  ['SA ESP TFCPAD transport', NEWSA, sa({ mode: 0 }), [crypt, { name: 'TFCPAD', value: 100 }]],
  ['SA COMP no comp attr', NEWSA, sa({ proto: 108 }), []],
  [
    'SA COMP spi 0x10000',
    NEWSA,
    sa({ proto: 108, spi: 0x10000 }),
    [{ name: 'ALG_COMP', value: { name: 'deflate', keyLen: 0, key: key(0) } }],
  ],
  ['SA proto 99', NEWSA, sa({ proto: 99 }), []],
  ['SA ESN flag no ESN attr', NEWSA, sa({ flags: 128 }), [crypt]],
  ['SA ESN bmp_len 129', NEWSA, sa(), [crypt, esn({ bmpLen: 129 })]],
  ['SA ESN attr + replay_window=32', NEWSA, sa({ rw: 32 }), [crypt, esn({ bmpLen: 1, replayWindow: 32 })]],
  ['SA mode 7', NEWSA, sa({ mode: 7 }), [crypt]],
  ['SA mode 5 (IPTFS) no SA_DIR', NEWSA, sa({ mode: 5 }), [crypt]],
  ['SA SA_DIR out + replay_window 32', NEWSA, sa({ rw: 32 }), [crypt, dir(2)]],
  ['SA SA_DIR out + DECAP_DSCP', NEWSA, sa({ flags: 2 }), [crypt, dir(2)]],
  ['SA SA_DIR out + ESN bmp_len 1', NEWSA, sa(), [crypt, esn({ bmpLen: 1 }), dir(2)]],
  ['SA SA_DIR in + NOPMTUDISC', NEWSA, sa({ flags: 4 }), [crypt, dir(1)]],
  [
    'SA SA_DIR in + non-ESN REPLAY_ESN seq_hi=1',
    NEWSA,
    sa(),
    [crypt, esn({ bmpLen: 1, seqHi: 1, replayWindow: 32 }), dir(1)],
  ],
  ['SA MTIMER_THRESH no ENCAP', NEWSA, sa(), [crypt, { name: 'MTIMER_THRESH', value: 5 }]],
  ['SA SA_PCPU without SA_DIR', NEWSA, sa(), [crypt, { name: 'SA_PCPU', value: 0 }]],
  ['SA SA_PCPU 9999 with SA_DIR', NEWSA, sa(), [aead, dir(1), { name: 'SA_PCPU', value: 9999 }]],
  [
    'SA unknown aead name',
    NEWSA,
    sa(),
    [{ name: 'ALG_AEAD', value: { name: 'foo', keyLen: 0, key: key(0), icvLen: 64 } }],
  ],
  [
    'SA crypt unknown name',
    NEWSA,
    sa(),
    [{ name: 'ALG_CRYPT', value: { name: 'foo', keyLen: 0, key: key(0) } }],
  ],
  [
    'SA auth unknown name',
    NEWSA,
    sa(),
    [{ name: 'ALG_AUTH', value: { name: 'foo', keyLen: 0, key: key(0) } }],
  ],
  [
    'SA auth_trunc trunc_len 1000',
    NEWSA,
    sa(),
    [{ name: 'ALG_AUTH_TRUNC', value: { name: 'hmac(sha1)', keyLen: 160, key: key(160), truncLen: 1000 } }],
  ],
  [
    'SA crypt cbc(aes)+auth_trunc (ESP type missing)',
    NEWSA,
    sa(),
    [
      crypt,
      { name: 'ALG_AUTH_TRUNC', value: { name: 'hmac(sha256)', keyLen: 256, key: key(256), truncLen: 128 } },
    ],
  ],
  ['SA AH hmac(sha256) (AH type missing)', NEWSA, sa({ proto: 51 }), [auth]],
  [
    'SA COMP deflate (IPCOMP type missing)',
    NEWSA,
    sa({ proto: 108 }),
    [{ name: 'ALG_COMP', value: { name: 'deflate', keyLen: 0, key: key(0) } }],
  ],
  ['SA SA_DIR on NEWPOLICY', NEWPOL, pol(), [dir(1)]],
  ['SA SA_PCPU on NEWPOLICY', NEWPOL, pol(), [{ name: 'SA_PCPU', value: 0 }]],
  ['UPDSA on missing (ESP type missing first)', 0x1a, sa(), [crypt]],
];

const POL_CASES: Case[] = [
  ['POL share=4', NEWPOL, pol({ share: 4 }), []],
  ['POL action=2', NEWPOL, pol({ action: 2 }), []],
  ['POL sel.family=0', NEWPOL, pol({ family: 0 }), []],
  ['POL sel.family=7', NEWPOL, pol({ family: 7 }), []],
  ['POL prefixlen 33', NEWPOL, pol({ plen: 33 }), []],
  ['POL v6 prefixlen 129', NEWPOL, pol({ family: 10, plen: 129 }), []],
  ['POL dir=3', NEWPOL, pol({ dir: 3 }), []],
  ['POL index=9 dir=0', NEWPOL, pol({ index: 9, dir: 0 }), []],
  ['POL 7 templates', NEWPOL, pol(), [{ name: 'TMPL', value: new Array(7).fill(tmpl()) }]],
  ['POL tmpl tunnel optional out', NEWPOL, pol(), [{ name: 'TMPL', value: [tmpl({ optional: 1 })] }]],
  [
    'POL tmpl tunnel optional in',
    NEWPOL,
    pol({ dir: 0 }),
    [{ name: 'TMPL', value: [tmpl({ optional: 1 })] }],
  ],
  [
    'POL tmpl transport family change',
    NEWPOL,
    pol(),
    [{ name: 'TMPL', value: [tmpl({ mode: 0, family: 10 })] }],
  ],
  ['POL tmpl mode 6', NEWPOL, pol(), [{ name: 'TMPL', value: [tmpl({ mode: 6 })] }]],
  ['POL tmpl family 7 tunnel', NEWPOL, pol(), [{ name: 'TMPL', value: [tmpl({ family: 7 })] }]],
  ['POL tmpl proto tcp', NEWPOL, pol(), [{ name: 'TMPL', value: [tmpl({ proto: 6 })] }]],
  [
    'POL POLICY_TYPE 2',
    NEWPOL,
    pol(),
    [{ name: 'POLICY_TYPE', value: { type: 2, reserved1: 0, reserved2: 0 } }],
  ],
  ['POL offload packet lo', NEWPOL, pol(), [{ name: 'OFFLOAD_DEV', value: { ifindex: 1, flags: 4 } }]],
  ['POL get dir 5', 0x15, { sel: sel(), index: 0, dir: 5 }, []],
  ['POL get missing', 0x15, { sel: sel(), index: 0, dir: 1 }, []],
  ['POL del missing', 0x14, { sel: sel(), index: 0, dir: 1 }, []],
  [
    'FLUSHPOLICY ptype 2',
    0x1d,
    undefined,
    [{ name: 'POLICY_TYPE', value: { type: 2, reserved1: 0, reserved2: 0 } }],
  ],
];

describe('captures 20/21: validation errors through XfrmClient over InProcTransport', () => {
  let client: XfrmClient;
  beforeEach(() => {
    const m = new SimMachine();
    XfrmHandler.attach(m, { esp: false });
    client = XfrmClient.over(new InProcTransport(m, 6));
  });

  test.each([...SA_CASES.map((c) => [SA, ...c] as const), ...POL_CASES.map((c) => [POL, ...c] as const)])(
    '%#: %s',
    async (table, name, type, body, attrs) => {
      const want = (table as Map<string, { errno: number; msg: string }>).get(name);
      expect(want, `case "${name}" is in the capture`).toBeDefined();
      let errno = 0;
      let msg = '';
      try {
        await client.request(type, 5, body, attrs);
      } catch (e) {
        expect(e).toBeInstanceOf(NetlinkError);
        errno = (e as NetlinkError).errno;
        msg = (e as NetlinkError).extack?.msg ?? '';
      }
      expect({ errno, msg }).toEqual(want);
    },
  );
});
