import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lifetime/clock.ts';
import { Sad, type SaExpireEvent } from '../../src/sad/sad.ts';
import { XfrmError } from '../../src/sad/xfrm-error.ts';
import { AF_INET, AF_INET6, IPPROTO, XFRM_OFFLOAD_FLAG } from '../../src/types/xfrm.ts';
import { gcmState } from './fixtures.ts';

function err(f: () => unknown): XfrmError {
  try {
    f();
  } catch (e) {
    if (e instanceof XfrmError) return e;
    throw e;
  }
  throw new Error('expected an XfrmError');
}

const id = (spi: number, daddr = '10.0.0.2', proto: number = IPPROTO.ESP) => ({
  daddr,
  spi,
  proto,
  family: AF_INET,
});

describe('SAD insert / get / delete (xfrm-uapi.md §5.4, §7.1)', () => {
  it('NEWSA: same (daddr, spi, proto) → EEXIST; other daddr is fine', () => {
    const sad = new Sad({ clock: new ManualClock() });
    sad.add(gcmState({ spi: 0x100 }));
    expect(err(() => sad.add(gcmState({ spi: 0x100 }))).errno).toBe('EEXIST');
    sad.add(gcmState({ spi: 0x100, daddr: '10.0.0.3' }));
    expect(sad.size).toBe(2);
    expect(sad.get(id(0x100)).state.info.id.daddr).toBe('10.0.0.2');
    expect(err(() => sad.get(id(0x101))).errno).toBe('ESRCH');
  });

  it('marks: stored as given (xfrm_mark_get); lookup rule (req.v & req.m) & sa.m == sa.v; distinct marks coexist', () => {
    const sad = new Sad({ clock: new ManualClock() });
    // v with bits outside m is stored unmasked (6.18, observed for ALLOCSPI SAs): unreachable by lookups
    const u = sad.add(gcmState({ spi: 0x201 }, { mark: { v: 0x11, m: 0x0f } })).entry;
    expect(u.state.mark).toEqual({ v: 0x11, m: 0x0f });
    expect(sad.find(id(0x201), { v: 0x11, m: 0xff })).toBeUndefined();
    const a = sad.add(gcmState({ spi: 0x200 }, { mark: { v: 0x01, m: 0x0f } })).entry;
    const b = sad.add(gcmState({ spi: 0x200 }, { mark: { v: 0x2, m: 0xf } })).entry;
    expect(sad.find(id(0x200), { v: 0x31, m: 0xff })).toBe(a);
    expect(sad.find(id(0x200), { v: 0x02, m: 0xff })).toBe(b);
    expect(sad.find(id(0x200))).toBeUndefined();
    // an unmarked SA matches everything and, added later, comes first in the bucket
    const c = sad.add(gcmState({ spi: 0x200 })).entry;
    expect(sad.find(id(0x200), { v: 0x31, m: 0xff })).toBe(c);
    expect(sad.lookup('10.0.0.2', 0x200, IPPROTO.ESP, AF_INET, 0x31)).toBe(c);
  });

  it('packet-offloaded SAs are found before software ones', () => {
    const sad = new Sad({ clock: new ManualClock() });
    const hw = sad.add(
      gcmState(
        { spi: 0x300 },
        { mark: { v: 1, m: 1 }, offload: { ifindex: 4, flags: XFRM_OFFLOAD_FLAG.PACKET } },
      ),
    ).entry;
    sad.add(gcmState({ spi: 0x300 }));
    expect(sad.lookup('10.0.0.2', 0x300, IPPROTO.ESP, AF_INET, 1)).toBe(hw);
  });

  it('non-SPI protocols need XFRMA_SRCADDR and are found by address', () => {
    const sad = new Sad({ clock: new ManualClock() });
    sad.add(
      gcmState(
        { proto: IPPROTO.ROUTING, family: AF_INET6, spi: 0 },
        { aead: undefined, coaddr: '2001:db8::9' },
      ),
    );
    const q = { daddr: '2001:db8::2', spi: 0, proto: IPPROTO.ROUTING, family: AF_INET6 };
    expect(err(() => sad.get(q)).errno).toBe('EINVAL');
    expect(sad.get({ ...q, saddr: '2001:db8::1' }).proto).toBe(IPPROTO.ROUTING);
    expect(err(() => sad.add(gcmState({ proto: IPPROTO.ROUTING, family: AF_INET6, spi: 7 }))).errno).toBe(
      'EEXIST',
    );
  });

  it('UPDSA copies only encap/coaddr/lifetimes/set-mark/if_id; keys and replay stay', () => {
    const clock = new ManualClock();
    const sad = new Sad({ clock });
    const e = sad.add(gcmState({ spi: 0x400 }, { coaddr: '1.1.1.1', setMark: 5, setMarkMask: 0xff })).entry;
    expect(err(() => sad.update(gcmState({ spi: 0x401 }))).errno).toBe('ESRCH');
    const upd = gcmState({ spi: 0x400, reqid: 77 }, { coaddr: '2.2.2.2', ifId: 9 });
    upd.aead = { name: 'rfc4106(gcm(aes))', keyLen: 288, key: new Uint8Array(36).fill(7), icvLen: 128 };
    upd.info.lft.softPacketLimit = 10n;
    const r = sad.update(upd);
    expect(r.entry).toBe(e);
    expect(e.state.coaddr).toBe('2.2.2.2');
    expect(e.state.ifId).toBe(9);
    expect(e.state.setMark).toBe(5);
    expect(e.state.info.lft.softPacketLimit).toBe(10n);
    expect(e.state.aead?.keyLen).toBe(160);
    expect(e.state.info.reqid).toBe(1);
    // encap on only one side → EINVAL; direction mismatch → ESRCH
    expect(
      err(() =>
        sad.update(
          gcmState(
            { spi: 0x400 },
            { encap: { encapType: 2, encapSport: 4500, encapDport: 4500, encapOa: '0.0.0.0' } },
          ),
        ),
      ).errno,
    ).toBe('EINVAL');
    expect(err(() => sad.update(gcmState({ spi: 0x400 }, { dir: 1 }))).errno).toBe('ESRCH');
  });

  it('flush by proto: 0 all, 255 ESP/AH/COMP, else exact', () => {
    const sad = new Sad({ clock: new ManualClock() });
    sad.add(gcmState({ spi: 1 }));
    sad.add(gcmState({ spi: 2, proto: IPPROTO.AH }));
    sad.add(gcmState({ spi: 3, proto: IPPROTO.ROUTING, family: AF_INET6 }));
    expect(sad.flush(IPPROTO.AH)).toBe(1);
    expect(sad.flush(255)).toBe(1);
    expect(sad.flush(0)).toBe(1);
    expect(sad.flush(0)).toBe(0);
    expect(sad.info().count).toBe(0);
  });

  it('delete returns the SA, then ESRCH; bad input is a typed error', () => {
    const sad = new Sad({ clock: new ManualClock() });
    sad.add(gcmState({ spi: 9 }));
    expect(sad.delete(id(9)).info.id.spi).toBe(9);
    expect(err(() => sad.delete(id(9))).errno).toBe('ESRCH');
    expect(err(() => sad.add(gcmState({ family: 3 }))).extack).toBe('Invalid address family');
    expect(err(() => sad.add(gcmState({ daddr: '300.1.1.1' }))).errno).toBe('EINVAL');
    expect(err(() => sad.add(null as never)).errno).toBe('EINVAL');
    expect(err(() => sad.get({ daddr: '10.0.0.2', spi: -1, proto: 50, family: 2 })).errno).toBe('EINVAL');
  });
});

describe('ALLOCSPI and larval states (§8.5)', () => {
  const req = (min: number, max: number, reqid = 7, daddr = '10.0.0.2') => ({
    info: gcmState({ spi: 0, reqid, daddr, mode: 1 }).info,
    min,
    max,
  });

  it('validates, creates a larval SA with hard_add 30 s and /32 selector (family 0)', () => {
    const sad = new Sad({ clock: new ManualClock(), randomU32: () => 5 });
    expect(
      err(() =>
        sad.allocSpi({
          ...req(1, 2),
          info: { ...req(1, 2).info, id: { daddr: '1.1.1.1', spi: 0, proto: 6 } },
        }),
      ).extack,
    ).toBe('Invalid protocol, must be one of AH, ESP, IPCOMP');
    expect(err(() => sad.allocSpi(req(5, 4))).extack).toBe('Invalid SPI range: min > max');
    const comp = req(1, 0x10000);
    comp.info.id = { ...comp.info.id, proto: IPPROTO.COMP };
    expect(err(() => sad.allocSpi(comp)).extack).toBe('IPCOMP SPI must be <= 65535');
    const e = sad.allocSpi(req(0x4000, 0x4000));
    expect(e.spi).toBe(0x4000);
    expect(e.kmState).toBe('acquire');
    expect(e.state.info.lft.hardAddExpiresSeconds).toBe(30n);
    expect(e.state.info.sel.family).toBe(0);
    expect(e.state.info.sel.prefixlenD).toBe(32);
    // __find_acq_core leaves km.seq 0 (captures/15: seq field 0 in the ALLOCSPI reply)
    expect(e.state.info.seq).toBe(0);
  });

  it('SPI is unique per (spi, proto) across daddrs; failure leaves the larval SA', () => {
    const sad = new Sad({ clock: new ManualClock() });
    sad.allocSpi(req(0x1000, 0x1000));
    const before = sad.size;
    const e = err(() => sad.allocSpi(req(0x1000, 0x1000, 6, '10.0.0.3')));
    expect(e.errno).toBe('ENOENT');
    expect(e.extack).toBe('No SPI available in the requested range');
    expect(sad.size).toBe(before + 1);
    const ah = req(0x1000, 0x1000, 6, '10.0.0.3');
    ah.info.id = { ...ah.info.id, proto: IPPROTO.AH };
    expect(sad.allocSpi(ah).spi).toBe(0x1000);
    expect(err(() => sad.allocSpi(req(0, 0, 9))).errno).toBe('ENOENT');
  });

  it('random SPI stays in [min, max] and never collides', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.nat(), { minLength: 1 }),
        (min, span, rnd) => {
          let i = 0;
          const sad = new Sad({ clock: new ManualClock(), randomU32: () => rnd[i++ % rnd.length]! });
          const seen = new Set<number>();
          for (let k = 0; k <= span + 1; k++) {
            try {
              const e = sad.allocSpi(req(min, min + span, k));
              expect(e.spi).toBeGreaterThanOrEqual(min);
              expect(e.spi).toBeLessThanOrEqual(min + span);
              expect(seen.has(e.spi)).toBe(false);
              seen.add(e.spi);
            } catch (e) {
              expect((e as XfrmError).errno).toBe('ENOENT');
            }
          }
        },
      ),
    );
  });

  it('NEWSA on an allocated SPI is EEXIST; UPDSA replaces the larval SA', () => {
    const sad = new Sad({ clock: new ManualClock() });
    const larval = sad.allocSpi(req(0x5000, 0x5000));
    const full = gcmState({ spi: 0x5000, reqid: 7, mode: 1 });
    expect(err(() => sad.add(full)).errno).toBe('EEXIST');
    const r = sad.update(full);
    expect(r.replaced).toBe(larval.state);
    expect(r.entry.kmState).toBe('valid');
    expect(sad.size).toBe(1);
  });

  it('NEWSA replaces a matching SPI-0 larval SA (ACQUIRE) by seq', () => {
    const sad = new Sad({ clock: new ManualClock() });
    const acq = sad.acquire({
      family: AF_INET,
      daddr: '10.0.0.2',
      saddr: '10.0.0.1',
      reqid: 3,
      mode: 1,
      proto: IPPROTO.ESP,
    });
    expect(
      sad.findOutput({ family: AF_INET, daddr: '10.0.0.2', saddr: '10.0.0.1', reqid: 3, mode: 1, proto: 50 })
        .acquireInProgress,
    ).toBe(true);
    const r = sad.add(gcmState({ spi: 0x77, reqid: 3, mode: 1, seq: acq.state.info.seq }));
    expect(r.replaced).toBe(acq.state);
    expect(sad.size).toBe(1);
  });
});

describe('output SA selection (§11.5)', () => {
  it('prefers not-dying, then most recently added; selector must match the flow', () => {
    const clock = new ManualClock(100);
    const sad = new Sad({ clock });
    const q = {
      family: AF_INET,
      daddr: '10.0.0.2',
      saddr: '10.0.0.1',
      reqid: 1,
      mode: 0,
      proto: IPPROTO.ESP,
    };
    const a = sad.add(gcmState({ spi: 1 })).entry;
    clock.advance(1);
    const b = sad.add(gcmState({ spi: 2 })).entry;
    expect(sad.findOutput(q).sa).toBe(b);
    b.dying = true;
    expect(sad.findOutput(q).sa).toBe(a);
    const narrow = gcmState({ spi: 3 });
    narrow.info.sel = {
      ...narrow.info.sel,
      family: AF_INET,
      daddr: '10.0.0.2',
      prefixlenD: 32,
      proto: IPPROTO.UDP,
    };
    clock.advance(1);
    const c = sad.add(narrow).entry;
    const flow = { family: AF_INET, daddr: '10.0.0.2', saddr: '10.0.0.1', proto: IPPROTO.UDP };
    expect(sad.findOutput({ ...q, flow }).sa).toBe(c);
    expect(sad.findOutput({ ...q, flow: { ...flow, proto: IPPROTO.TCP } }).sa).toBe(a);
    expect(sad.findOutput({ ...q, reqid: 2 }).sa).toBeUndefined();
    expect(sad.findOutput({ ...q, spi: 1 }).sa).toBe(a);
  });
});

describe('SAD get equals a linear reference (property)', () => {
  it('random SAs with marks', () => {
    const saArb = fc.record({
      d: fc.integer({ min: 1, max: 4 }),
      spi: fc.integer({ min: 1, max: 6 }),
      proto: fc.constantFrom(IPPROTO.ESP, IPPROTO.AH),
      v: fc.constantFrom(0, 1, 2, 3, 0x10),
      m: fc.constantFrom(0, 0xf, 0xff, 0x3),
      off: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(saArb, { maxLength: 40 }),
        fc.array(
          fc.record({
            d: fc.integer({ min: 1, max: 4 }),
            spi: fc.integer({ min: 1, max: 6 }),
            proto: fc.constantFrom(50, 51),
            mark: fc.constantFrom(0, 1, 2, 3, 0x10, 0x13),
          }),
          { maxLength: 30 },
        ),
        (sas, qs) => {
          const sad = new Sad({ clock: new ManualClock() });
          const ref: {
            d: number;
            spi: number;
            proto: number;
            v: number;
            m: number;
            off: boolean;
            serial: number;
            e: unknown;
          }[] = [];
          let serial = 0;
          for (const s of sas) {
            const st = gcmState(
              { daddr: `10.0.0.${s.d}`, spi: s.spi, proto: s.proto },
              { mark: { v: s.v, m: s.m }, ...(s.off ? { offload: { ifindex: 4, flags: 4 } } : {}) },
            );
            const v = s.v & s.m;
            const clash = ref.some(
              (r) => r.d === s.d && r.spi === s.spi && r.proto === s.proto && (v & r.m) === r.v,
            );
            if (clash) {
              expect(err(() => sad.add(st)).errno).toBe('EEXIST');
              continue;
            }
            // stored unmasked; the clash check above uses the masked key like xfrm_state_add
            ref.push({ ...s, serial: ++serial, e: sad.add(st).entry });
          }
          for (const q of qs) {
            const cands = ref
              .filter((r) => r.d === q.d && r.spi === q.spi && r.proto === q.proto && (q.mark & r.m) === r.v)
              .sort((x, y) => (x.off === y.off ? y.serial - x.serial : x.off ? -1 : 1));
            expect(sad.lookup(`10.0.0.${q.d}`, q.spi, q.proto, AF_INET, q.mark)).toBe(cands[0]?.e);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('lifetimes on a fake clock', () => {
  function setup() {
    const clock = new ManualClock(1000);
    const sad = new Sad({ clock });
    const events: SaExpireEvent[] = [];
    sad.onExpire((e) => events.push(e));
    return { clock, sad, events };
  }

  it('time: soft once, then hard deletes', () => {
    const { clock, sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.softAddExpiresSeconds = 10n;
    s.info.lft.hardAddExpiresSeconds = 20n;
    sad.add(s);
    clock.advance(9);
    sad.tick();
    expect(events).toEqual([]);
    clock.advance(1);
    sad.tick();
    clock.advance(5);
    sad.tick();
    expect(events.map((e) => e.hard)).toEqual([false]);
    clock.advance(5);
    sad.tick();
    expect(events.map((e) => e.hard)).toEqual([false, true]);
    expect(sad.size).toBe(0);
  });

  it('a jump past both limits still reports soft before hard', () => {
    const { clock, sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.softAddExpiresSeconds = 10n;
    s.info.lft.hardAddExpiresSeconds = 20n;
    sad.add(s);
    clock.advance(100);
    sad.tick();
    expect(events.map((e) => e.hard)).toEqual([false, true]);
  });

  it('use-time limits start at the first packet; ~0 time limit expires at once', () => {
    const { clock, sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.hardUseExpiresSeconds = 5n;
    const e = sad.add(s).entry;
    clock.advance(100);
    sad.tick();
    expect(events).toEqual([]);
    expect(sad.account(e, 100)).toBe(true);
    clock.advance(5);
    sad.tick();
    expect(events.map((x) => x.hard)).toEqual([true]);
    const t = gcmState({ spi: 2 });
    t.info.lft.hardAddExpiresSeconds = 0xffff_ffff_ffff_ffffn;
    sad.add(t);
    sad.tick();
    expect(sad.size).toBe(0);
  });

  it('packets: soft fires once when the counter reached the limit, hard refuses the packet and deletes', () => {
    const { sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.softPacketLimit = 3n;
    s.info.lft.hardPacketLimit = 5n;
    const e = sad.add(s).entry;
    const ok: boolean[] = [];
    for (let i = 0; i < 7; i++) ok.push(sad.account(e, 10));
    expect(ok).toEqual([true, true, true, true, true, false, false]);
    expect(events.map((x) => [x.hard, x.reason])).toEqual([
      [false, 'bytes-or-packets'],
      [true, 'bytes-or-packets'],
    ]);
    expect(e.state.info.curlft.packets).toBe(5n);
    expect(sad.size).toBe(0);
  });

  it('bytes and statistics', () => {
    const { clock, sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.softByteLimit = 1000n;
    const e = sad.add(s).entry;
    sad.account(e, 1500);
    clock.advance(3);
    sad.account(e, 1);
    expect(events.map((x) => x.hard)).toEqual([false]);
    expect(e.state.lastused).toBe(1003n);
    sad.recordReplay(e);
    sad.recordIntegrityFailure(e, 2);
    sad.recordReplayWindow(e);
    expect(e.state.info.stats).toEqual({ replayWindow: 1, replay: 1, integrityFailed: 2 });
    expect(e.state.info.curlft.bytes).toBe(1501n);
  });

  it('larval SAs expire after 30 s with a hard EXPIRE; user EXPIRE on larval is EINVAL', () => {
    const { clock, sad, events } = setup();
    const l = sad.allocSpi({ info: gcmState({ spi: 0 }).info, min: 0x10, max: 0x10 });
    expect(err(() => sad.expire({ daddr: '10.0.0.2', spi: 0x10, proto: 50, family: 2 }, true)).extack).toBe(
      'SA must be in VALID state',
    );
    clock.advance(29);
    sad.tick();
    expect(events).toEqual([]);
    clock.advance(1);
    sad.tick();
    expect(events.map((x) => [x.hard, x.reason])).toEqual([[true, 'larval-timeout']]);
    expect(sad.size).toBe(0);
    expect(l.kmState).toBe('dead');
    expect(err(() => sad.expire({ daddr: '10.0.0.2', spi: 0x10, proto: 50, family: 2 }, true)).errno).toBe(
      'ENOENT',
    );
  });

  it('UPDSA resets dying and re-arms the timer', () => {
    const { clock, sad, events } = setup();
    const s = gcmState({ spi: 1 });
    s.info.lft.softAddExpiresSeconds = 5n;
    const e = sad.add(s).entry;
    clock.advance(5);
    sad.tick();
    expect(e.dying).toBe(true);
    const u = gcmState({ spi: 1 });
    u.info.lft.softAddExpiresSeconds = 100n;
    sad.update(u);
    expect(e.dying).toBe(false);
    clock.advance(10);
    sad.tick();
    expect(events.length).toBe(1);
  });
});
