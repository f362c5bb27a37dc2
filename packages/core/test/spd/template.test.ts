import { describe, expect, it } from 'vitest';
import { userTmpl, XFRM_ALGOS_ALL } from '../../src/spd/template.ts';
import { AF_INET6, IPPROTO, XFRM_MODE } from '../../src/types/xfrm.ts';

const must = {
  id: { daddr: '2001:db8::2', spi: 0, proto: IPPROTO.ESP },
  family: AF_INET6,
  saddr: '2001:db8::1',
  reqid: 9,
  mode: XFRM_MODE.TUNNEL,
} as const;

describe('userTmpl', () => {
  it('fills in what ip xfrm and charon send: shared as any, required, every algorithm allowed', () => {
    expect(userTmpl(must)).toEqual({
      ...must,
      share: 0,
      optional: 0,
      aalgos: ~0 >>> 0,
      ealgos: ~0 >>> 0,
      calgos: ~0 >>> 0,
    });
    expect(XFRM_ALGOS_ALL).toBe(0xffffffff);
  });

  it('keeps what the caller sets, zero included, and lists the fields in struct xfrm_user_tmpl order', () => {
    const t = userTmpl({ ...must, share: 3, optional: 1, aalgos: 0, ealgos: 0x10, calgos: 0 });
    expect(t).toMatchObject({ share: 3, optional: 1, aalgos: 0, ealgos: 0x10, calgos: 0 });
    expect(Object.keys(userTmpl({ calgos: 1, ...must }))).toEqual([
      'id',
      'family',
      'saddr',
      'reqid',
      'mode',
      'share',
      'optional',
      'aalgos',
      'ealgos',
      'calgos',
    ]);
  });
});
