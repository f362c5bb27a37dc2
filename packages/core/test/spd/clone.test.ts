import { describe, expect, it } from 'vitest';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { clonePlain } from '../../src/spd/clone.ts';
import { Spd } from '../../src/spd/spd.ts';
import { userTmpl } from '../../src/spd/template.ts';
import { AF_INET, IPPROTO, XFRM_MODE } from '../../src/types/xfrm.ts';
import { policy } from '../sad/fixtures.ts';

function rich() {
  return policy(
    { family: AF_INET, daddr: '10.1.0.0', prefixlenD: 16, proto: IPPROTO.TCP },
    { dir: 1, priority: 7 },
    {
      mark: { v: 1, m: 0xff },
      secCtx: { len: 11, exttype: 8, ctxAlg: 1, ctxDoi: 1, ctxLen: 3, ctx: new Uint8Array([1, 2, 3]) },
      tmpls: [
        userTmpl({
          id: { daddr: '192.0.2.1', spi: 0, proto: IPPROTO.ESP },
          family: AF_INET,
          saddr: '192.0.2.2',
          reqid: 5,
          mode: XFRM_MODE.TUNNEL,
        }),
      ],
    },
  ) as unknown as Record<string, unknown>;
}

describe('clonePlain', () => {
  it('gives what structuredClone gives for a policy (bigints, typed arrays, nested arrays)', () => {
    const p = rich();
    expect(clonePlain(p)).toStrictEqual(structuredClone(p));
  });

  it('is deep: mutating the copy leaves the original alone', () => {
    const p = rich() as {
      info: { sel: { daddr: string } };
      secCtx: { ctx: Uint8Array };
      tmpls: { reqid: number }[];
    };
    const c = clonePlain(p);
    c.info.sel.daddr = '0.0.0.0';
    c.secCtx.ctx[0] = 99;
    c.tmpls[0]!.reqid = 1;
    expect(p.info.sel.daddr).toBe('10.1.0.0');
    expect(p.secCtx.ctx[0]).toBe(1);
    expect(p.tmpls[0]!.reqid).toBe(5);
  });

  it('falls back to structuredClone for other objects and rejects functions like it', () => {
    const d = new Date(5);
    expect(clonePlain({ d, m: new Map([[1, 2]]) })).toStrictEqual({ d: new Date(5), m: new Map([[1, 2]]) });
    expect(() => clonePlain({ f: () => 1 })).toThrow();
    const p = rich();
    (p.info as Record<string, unknown>).hook = () => 0;
    let err: unknown;
    try {
      new Spd().add(p as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(XfrmError);
    expect((err as XfrmError).errno).toBe('EINVAL');
  });
});
