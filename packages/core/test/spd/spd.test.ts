import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lifetime/clock.ts';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { Spd } from '../../src/spd/spd.ts';
import { AF_INET, AF_INET6, IPPROTO, XFRM_OFFLOAD_FLAG, XFRM_POLICY_DIR } from '../../src/types/xfrm.ts';
import { policy } from '../sad/fixtures.ts';

const OUT = XFRM_POLICY_DIR.OUT;
const IN = XFRM_POLICY_DIR.IN;
const FWD = XFRM_POLICY_DIR.FWD;

function host(d: string) {
  return { daddr: d, prefixlenD: 32, saddr: '10.0.0.100', prefixlenS: 32 };
}

function err(f: () => unknown): XfrmError {
  try {
    f();
  } catch (e) {
    if (e instanceof XfrmError) return e;
    throw e;
  }
  throw new Error('expected an XfrmError');
}

describe('policy index generation (xfrm-uapi.md §6.2)', () => {
  it('reproduces the observed sequence in a fresh netns', () => {
    const spd = new Spd();
    const add = (d: string, dir: number, index = 0) => spd.add(policy(host(d), { dir, index })).entry.index;
    expect(add('10.0.0.1', OUT)).toBe(1);
    expect(add('10.0.0.2', IN)).toBe(8);
    expect(add('10.0.0.3', FWD)).toBe(18);
    expect(add('10.0.0.4', IN)).toBe(24);
    expect(add('10.0.0.5', OUT, 257)).toBe(257);
    expect(add('10.0.0.6', OUT, 1)).toBe(33);
    expect(add('10.0.0.7', OUT, 265)).toBe(265);
    expect(add('10.0.0.8', OUT)).toBe(41);
    // UPDPOLICY of an existing policy keeps its index whatever the request says
    const r = spd.update(policy(host('10.0.0.1'), { dir: OUT, priority: 9, index: 1 + 8 * 100 }));
    expect(r.entry.index).toBe(1);
    expect(r.replaced?.info.index).toBe(1);
    // dump order is newest first
    expect(spd.entries().map((e) => e.index)).toEqual([1, 41, 265, 33, 257, 24, 18, 8]);
  });

  it('reproduces the sequence when the first policy is IN (index 0 becomes 8)', () => {
    const spd = new Spd();
    const add = (d: string, dir: number) => spd.add(policy(host(d), { dir })).entry.index;
    expect(add('10.9.9.1', IN)).toBe(8);
    expect(add('10.9.9.2', OUT)).toBe(9);
    expect(add('10.9.9.3', IN)).toBe(16);
    expect(add('10.9.9.4', IN)).toBe(24);
  });

  it('rejects an index whose low bits are not the direction', () => {
    const e = err(() => new Spd().add(policy(host('1.1.1.1'), { dir: OUT, index: 8 })));
    expect(e.errno).toBe('EINVAL');
    expect(e.extack).toBe("Policy index doesn't match direction");
  });
});

describe('policy identity, get, delete, flush', () => {
  it('NEWPOLICY with the same selector but another priority is EEXIST; UPDPOLICY replaces', () => {
    const spd = new Spd();
    spd.add(policy(host('10.1.1.1'), { priority: 5 }));
    expect(err(() => spd.add(policy(host('10.1.1.1'), { priority: 6 }))).errno).toBe('EEXIST');
    const r = spd.update(policy(host('10.1.1.1'), { priority: 6 }));
    expect(r.replaced?.info.priority).toBe(5);
    expect(spd.size).toBe(1);
    expect(spd.get({ dir: OUT, sel: policy(host('10.1.1.1')).info.sel }).priority).toBe(6);
  });

  it('selectors differing only in padding or user are distinct policies', () => {
    const spd = new Spd();
    spd.add(policy(host('10.2.2.2')));
    spd.add(policy({ ...host('10.2.2.2'), user: 1000 }));
    spd.add(policy({ ...host('10.2.2.2'), pad: new Uint8Array([0xaa, 0xaa, 0xaa]) }));
    expect(spd.size).toBe(3);
  });

  it('stores the mark as v & m and finds it only with the exact sanitised (v, m)', () => {
    const spd = new Spd();
    const e = spd.add(policy(host('10.3.3.3'), {}, { mark: { v: 0x11, m: 0x0f } })).entry;
    expect(e.policy.mark).toEqual({ v: 0x01, m: 0x0f });
    const s = policy(host('10.3.3.3')).info.sel;
    expect(spd.find({ dir: OUT, sel: s, mark: { v: 0x11, m: 0x0f } })).toBeUndefined();
    expect(spd.find({ dir: OUT, sel: s, mark: { v: 0x01, m: 0x0f } })).toBe(e);
    expect(spd.find({ dir: OUT, index: e.index })).toBeUndefined(); // no MARK attr = (0, 0)
    expect(spd.find({ dir: OUT, index: e.index, mark: { v: 1, m: 0x0f } })).toBe(e);
  });

  it('get/delete by index check type, if_id and direction; missing → ENOENT', () => {
    const spd = new Spd();
    const e = spd.add(policy(host('10.4.4.4'), { dir: OUT }, { ifId: 7 })).entry;
    expect(err(() => spd.get({ dir: IN, index: e.index })).errno).toBe('ENOENT');
    expect(err(() => spd.get({ dir: OUT, index: e.index })).errno).toBe('ENOENT');
    expect(err(() => spd.get({ dir: OUT, index: e.index, ifId: 7, type: 1 })).errno).toBe('ENOENT');
    expect(spd.delete({ dir: OUT, index: e.index, ifId: 7 }).info.index).toBe(e.index);
    expect(err(() => spd.delete({ dir: OUT, index: e.index, ifId: 7 })).errno).toBe('ENOENT');
    expect(err(() => spd.get({ dir: 3, index: 1 })).extack).toBe('Invalid policy direction');
    expect(err(() => spd.get({ dir: 1, index: 1, type: 2 })).extack).toBe('Invalid policy type');
  });

  it('flush deletes one type only and SPDINFO counts per direction', () => {
    const spd = new Spd();
    spd.add(policy(host('10.5.0.1'), { dir: IN }));
    spd.add(policy(host('10.5.0.2'), { dir: OUT }));
    spd.add(policy(host('10.5.0.3'), { dir: OUT, ptype: 1 }));
    spd.add(policy(host('10.5.0.4'), { dir: FWD }));
    expect(spd.info().info).toEqual({ incnt: 1, outcnt: 2, fwdcnt: 1, inscnt: 0, outscnt: 0, fwdscnt: 0 });
    expect(spd.info().spdhcnt).toBe(7);
    expect(spd.flush()).toBe(3);
    expect(spd.size).toBe(1);
    expect(spd.flush(0)).toBe(0);
    expect(spd.flush(1)).toBe(1);
  });

  it('validates in kernel order with the kernel messages', () => {
    const spd = new Spd();
    const bad = (p: Parameters<typeof policy>, msg: string) => {
      const e = err(() => spd.add(policy(...p)));
      expect(e.errno).toBe('EINVAL');
      expect(e.extack).toBe(msg);
    };
    const p0 = policy(host('1.1.1.1'));
    bad([{ family: 0 }], 'Invalid selector family');
    bad([{ prefixlenD: 33 }], 'Invalid prefix length in selector (must be <= 32 for IPv4)');
    bad(
      [{ family: AF_INET6, daddr: '::', saddr: '::', prefixlenS: 129 }],
      'Invalid prefix length in selector (must be <= 128 for IPv6)',
    );
    bad([{}, { dir: 3 }], 'Invalid policy direction');
    bad([{}, { action: 2 }], 'Invalid policy action');
    bad([{}, { ptype: 2 }], 'Invalid policy type');
    const tmpl = {
      id: { daddr: '10.0.0.2', spi: 0, proto: IPPROTO.ESP },
      family: AF_INET,
      saddr: '10.0.0.1',
      reqid: 1,
      mode: 1,
      share: 0,
      optional: 0,
      aalgos: 0,
      ealgos: 0,
      calgos: 0,
    };
    bad([{}, {}, { tmpls: new Array(7).fill(tmpl) }], 'Template count must be <= XFRM_MAX_DEPTH (6)');
    bad(
      [{}, { dir: OUT }, { tmpls: [{ ...tmpl, optional: 1 }] }],
      'Mode in optional template not allowed in outbound policy',
    );
    bad(
      [{}, {}, { tmpls: [{ ...tmpl, mode: 0, family: AF_INET6 }] }],
      "Mode in template doesn't support a family change",
    );
    bad([{}, {}, { tmpls: [{ ...tmpl, mode: 6 }] }], 'Mode in template must be < XFRM_MODE_MAX (6)');
    bad([{}, {}, { tmpls: [{ ...tmpl, family: 7 }] }], 'Invalid family in template');
    bad(
      [{}, {}, { tmpls: [{ ...tmpl, id: { ...tmpl.id, proto: 6 } }] }],
      'Invalid XFRM protocol in template',
    );
    const share = { ...p0, info: { ...p0.info, share: 4 } };
    expect(err(() => spd.add(share)).extack).toBe('Invalid policy share');
    // template family 0 is replaced by the policy family
    const ok = spd.add(policy(host('1.1.1.1'), {}, { tmpls: [{ ...tmpl, family: 0 }] })).entry;
    expect(ok.policy.tmpls[0]?.family).toBe(AF_INET);
    expect(spd.size).toBe(1);
    // bad input types give typed errors, never crashes
    expect(err(() => spd.add(null as never)).errno).toBe('EINVAL');
    expect(err(() => spd.add(policy({ daddr: 'not-an-ip' }))).errno).toBe('EINVAL');
    expect(err(() => spd.lookup(OUT, { family: 2, daddr: '1.2.3', saddr: '1.1.1.1' })).errno).toBe('EINVAL');
  });
});

describe('lookup semantics', () => {
  it('lower priority value wins, ties go to the older policy, UPDPOLICY counts as new', () => {
    const spd = new Spd();
    const a = spd.add(policy({ daddr: '10.0.0.0', prefixlenD: 8 }, { priority: 10 })).entry;
    const b = spd.add(policy({ daddr: '10.1.0.0', prefixlenD: 16 }, { priority: 10 })).entry;
    const flow = { family: AF_INET, daddr: '10.1.2.3', saddr: '192.168.0.1' };
    expect(spd.lookup(OUT, flow).policy).toBe(a);
    const a2 = spd.update(policy({ daddr: '10.0.0.0', prefixlenD: 8 }, { priority: 10 })).entry;
    expect(a2.index).toBe(a.index);
    expect(spd.lookup(OUT, flow).policy).toBe(b);
    const c = spd.add(policy({ daddr: '10.1.2.0', prefixlenD: 24 }, { priority: 3 })).entry;
    expect(spd.lookup(OUT, flow).policy).toBe(c);
  });

  it('packet-offloaded policies go to the head and win', () => {
    const spd = new Spd();
    spd.add(
      policy({ daddr: '10.1.2.3', prefixlenD: 32, saddr: '10.9.9.9', prefixlenS: 32 }, { priority: 0 }),
    );
    const off = spd.add(
      policy(
        { daddr: '10.0.0.0', prefixlenD: 8 },
        { priority: 1000 },
        { offload: { ifindex: 4, flags: XFRM_OFFLOAD_FLAG.PACKET } },
      ),
    ).entry;
    expect(spd.lookup(OUT, { family: AF_INET, daddr: '10.1.2.3', saddr: '10.9.9.9' }).policy).toBe(off);
  });

  it('SUB policies are consulted before MAIN; marks, if_id, ports, proto and ifindex filter', () => {
    const spd = new Spd();
    const main = spd.add(policy({}, { priority: 0 })).entry;
    const sub = spd.add(
      policy({ proto: IPPROTO.TCP, dport: 443, dportMask: 0xffff }, { priority: 99, ptype: 1 }),
    ).entry;
    const f = { family: AF_INET, daddr: '1.2.3.4', saddr: '5.6.7.8', proto: IPPROTO.TCP, dport: 443 };
    expect(spd.lookup(OUT, f).policy).toBe(sub);
    expect(spd.lookup(OUT, { ...f, dport: 80 }).policy).toBe(main);
    const marked = spd.add(
      policy({ ifindex: 5 }, { priority: 0 }, { mark: { v: 0x10, m: 0xf0 }, ifId: 3 }),
    ).entry;
    expect(spd.lookup(OUT, { ...f, dport: 80, mark: 0x1f, ifId: 3, ifindex: 5 }).policy).toBe(marked);
    expect(spd.lookup(OUT, { ...f, dport: 80, mark: 0x2f, ifId: 3, ifindex: 5 }).policy).toBeUndefined();
    expect(spd.lookup(OUT, { ...f, dport: 80, mark: 0x1f, ifId: 3, ifindex: 6 }).policy).toBeUndefined();
  });

  it('falls back to the per-direction default (SETDEFAULT / GETDEFAULT)', () => {
    const spd = new Spd();
    const f = { family: AF_INET, daddr: '1.2.3.4', saddr: '5.6.7.8' };
    expect(spd.lookup(IN, f)).toEqual({ action: 'allow', usedDefault: true });
    spd.setDefault({ in: 1, fwd: 7, out: 2 });
    expect(spd.getDefault()).toEqual({ in: 1, fwd: 2, out: 2 });
    expect(spd.lookup(IN, f)).toEqual({ action: 'block', usedDefault: true });
    const blk = spd.add(policy({}, { dir: IN, action: 1 })).entry;
    expect(spd.lookup(IN, f)).toEqual({ policy: blk, action: 'block', usedDefault: false });
  });

  it('NEWSPDINFO thresholds are validated', () => {
    const spd = new Spd();
    expect(err(() => spd.setHashThresholds(AF_INET, 33, 0)).extack).toBe(
      'Invalid hash threshold (must be <= 32 for IPv4)',
    );
    spd.setHashThresholds(AF_INET6, 64, 64);
    expect(spd.info().ipv6Thresh).toEqual({ lbits: 64, rbits: 64 });
  });

  it('policy lifetimes: soft warnings repeat every 30 s, hard deletes', () => {
    const clock = new ManualClock(1000);
    const spd = new Spd({ clock });
    const p = policy({}, {});
    p.info.lft.softAddExpiresSeconds = 10n;
    p.info.lft.hardAddExpiresSeconds = 100n;
    spd.add(p);
    const ev: boolean[] = [];
    spd.onExpire((e) => ev.push(e.hard));
    clock.advance(9);
    spd.tick();
    expect(ev).toEqual([]);
    clock.advance(1);
    spd.tick();
    expect(ev).toEqual([false]);
    clock.advance(30);
    spd.tick();
    expect(ev).toEqual([false, false]);
    clock.advance(60);
    spd.tick();
    expect(ev).toEqual([false, false, true]);
    expect(spd.size).toBe(0);
  });

  it('a time limit of ~0 expires on the first timer run', () => {
    const clock = new ManualClock(5000);
    const spd = new Spd({ clock });
    const p = policy({}, {});
    p.info.lft.hardAddExpiresSeconds = 0xffff_ffff_ffff_ffffn;
    spd.add(p);
    expect(spd.tick()).toBe(1);
    expect(spd.size).toBe(0);
  });
});
