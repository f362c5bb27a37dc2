/**
 * fast-check generators of ESP-state XFRM requests for the oracle's differential test: NEWSA/UPDSA
 * with AEAD rfc4106(gcm(aes)) (good and bad key/ICV sizes), ESN and replay windows (usersa_info
 * and XFRMA_REPLAY_VAL / XFRMA_REPLAY_ESN_VAL, consistent or not), lifetimes, SA_DIR, marks,
 * if_id, extra flags and aevent thresholds; ALLOCSPI followed by UPDSA of the SPI the kernel chose;
 * GETAE/NEWAE; GETSA/DELSA/dumps/flushes on a small pool of SA ids so that operations collide.
 *
 * They are mixed with the simulator's own generators (`@xfrmkit/sim/xfrm-requests`), minus the
 * requests the oracle's kernel is too old for (`EXCLUDED_REQUESTS` of ./allowed.ts).
 */

import { type AttrInput, DEFAULT_LFT, encodeXfrm } from '@xfrmkit/netlink';
import { type DiffOp, unspecSelector, usersaInfo } from '@xfrmkit/sim';
import { arbOp } from '@xfrmkit/sim/xfrm-requests';
import fc from 'fast-check';
import { excluded, type OracleKernel } from './allowed.ts';

export type Op = DiffOp;

const V4 = ['10.1.0.1', '10.1.0.2'];
const V6 = ['fd01::1', 'fd01::2'];
const ESP_SPIS = [0x3000, 0x3001, 0x3002];
const PIDS = [0, 4242];
const F = { REQ: 1, ACK: 4, REPLACE: 0x100 };
const arbNlFlags = fc.constantFrom(F.REQ | F.ACK, F.REQ | F.ACK, F.REQ | F.ACK, F.REQ);

function msg(type: number, flags: number, pid: number, body: unknown, attrs: AttrInput[] = []): Uint8Array {
  return encodeXfrm({ type, flags, seq: 0, pid, body, attrs });
}

const arbId = fc.record({
  v6: fc.constantFrom(false, false, true),
  d: fc.nat(1),
  spi: fc.constantFrom(...ESP_SPIS),
  mark: fc.constantFrom(undefined, undefined, { v: 7, m: 0xffffffff }),
});
type Id = { v6: boolean; d: number; spi: number; mark?: { v: number; m: number } };
const daddrOf = (id: Id) => (id.v6 ? V6 : V4)[id.d]!;
const saddrOf = (id: Id) => (id.v6 ? V6 : V4)[1 - id.d]!;

const arbLifetime = fc.constantFrom('none', 'none', 'limits', 'time', 'soft-above-hard');
function lifetime(kind: string) {
  const l = DEFAULT_LFT();
  if (kind === 'limits')
    Object.assign(l, {
      softByteLimit: 1n << 30n,
      hardByteLimit: 1n << 31n,
      softPacketLimit: 1000n,
      hardPacketLimit: 2000n,
    });
  if (kind === 'time')
    Object.assign(l, {
      softAddExpiresSeconds: 3000n,
      hardAddExpiresSeconds: 3600n,
      hardUseExpiresSeconds: 7200n,
    });
  if (kind === 'soft-above-hard')
    Object.assign(l, {
      softAddExpiresSeconds: 7200n,
      hardAddExpiresSeconds: 3600n,
      softPacketLimit: 5000n,
      hardPacketLimit: 10n,
    });
  return l;
}

export function usersa(
  id: Id,
  o: { mode: number; reqid: number; rw: number; flags: number; lft: string; selV6?: boolean },
) {
  return usersaInfo({
    sel: unspecSelector(o.selV6 ?? id.v6),
    daddr: daddrOf(id),
    saddr: saddrOf(id),
    spi: id.spi,
    family: id.v6 ? 10 : 2,
    lft: lifetime(o.lft),
    reqid: o.reqid,
    mode: o.mode,
    replayWindow: o.rw,
    flags: o.flags,
  });
}

const key = (bytes: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 7 + 1) & 0xff);

export const arbSaBody = fc.record({
  mode: fc.constantFrom(0, 0, 1),
  reqid: fc.nat(3),
  // 128 and 200 bits leave no valid AES key after the 32-bit salt: the kernel refuses them
  keyBits: fc.constantFrom(160, 160, 224, 288, 128, 200),
  icv: fc.constantFrom(128, 128, 96, 64, 127),
  algName: fc.constantFrom(
    'rfc4106(gcm(aes))',
    'rfc4106(gcm(aes))',
    'rfc4106(gcm(aes))',
    'gcm(aes)',
    'rfc4543(gcm(aes))',
  ),
  rw: fc.constantFrom(0, 0, 32, 64, 128, 255),
  esn: fc.constantFrom('none', 'none', 'esn', 'esn', 'attr-only', 'flag-only', 'bad-bmp'),
  esnWindow: fc.constantFrom(0, 32, 64, 128, 200),
  esnBmp: fc.constantFrom(1, 2, 4, 8),
  replayVal: fc.constantFrom(false, false, false, true),
  sflags: fc.constantFrom(0, 0, 0, 1, 4, 8, 32),
  extraFlags: fc.constantFrom(undefined, undefined, 1, 2, 3, 4),
  lft: arbLifetime,
  dir: fc.constantFrom(undefined, undefined, undefined, 1, 2, 3),
  ifId: fc.constantFrom(undefined, undefined, 9),
  thresh: fc.constantFrom(false, false, true),
  noAlg: fc.constantFrom(false, false, false, false, false, true),
});
type Widen<T> = T extends number ? number : T extends string ? string : T;
export type SaBody = { [K in keyof ArbBody]: Widen<ArbBody[K]> };
type ArbBody = typeof arbSaBody extends fc.Arbitrary<infer T> ? T : never;

export function saAttrs(id: Id, b: SaBody): AttrInput[] {
  const attrs: AttrInput[] = [];
  if (!b.noAlg) {
    attrs.push({
      name: 'ALG_AEAD',
      value: { name: b.algName, keyLen: b.keyBits, key: key(b.keyBits >> 3), icvLen: b.icv },
    });
  }
  if (b.esn === 'esn' || b.esn === 'attr-only' || b.esn === 'bad-bmp') {
    const bmpLen = b.esn === 'bad-bmp' ? 1 : b.esnBmp;
    attrs.push({
      name: 'REPLAY_ESN_VAL',
      value: {
        bmpLen,
        oseq: 0,
        seq: 0,
        oseqHi: 0,
        seqHi: 0,
        replayWindow: b.esnWindow,
        bmp: new Array(bmpLen).fill(0),
      },
    });
  }
  if (b.replayVal) attrs.push({ name: 'REPLAY_VAL', value: { oseq: 0, seq: 0, bitmap: 0 } });
  if (b.extraFlags !== undefined) attrs.push({ name: 'SA_EXTRA_FLAGS', value: b.extraFlags });
  if (b.thresh) attrs.push({ name: 'REPLAY_THRESH', value: 10 }, { name: 'ETIMER_THRESH', value: 20 });
  if (id.mark) attrs.push({ name: 'MARK', value: id.mark });
  if (b.ifId !== undefined) attrs.push({ name: 'IF_ID', value: b.ifId });
  if (b.dir !== undefined) attrs.push({ name: 'SA_DIR', value: b.dir });
  return attrs;
}

/** Sets a u32 at `at` in the payload of the first attribute of `type` (attributes start at 16 + hdr). */
function setAttrU32(bytes: Uint8Array, hdr: number, type: number, at: number, v: number): Uint8Array {
  const b = bytes.slice();
  const dv = new DataView(b.buffer);
  let off = 16 + ((hdr + 3) & ~3);
  while (off + 4 <= b.length) {
    const len = dv.getUint16(off, true);
    if (len < 4) break;
    if ((dv.getUint16(off + 2, true) & 0x3fff) === type) {
      dv.setUint32(off + 4 + at, v >>> 0, true);
      return b;
    }
    off += (len + 3) & ~3;
  }
  throw new Error(`no attribute ${type}`);
}

/** 'bad-bmp': XFRMA_REPLAY_ESN_VAL announcing bmp_len 0 (one bitmap word follows) */
function badBmp(b: SaBody, bytes: Uint8Array): Uint8Array {
  return b.esn === 'bad-bmp' ? setAttrU32(bytes, 224, 23, 0, 0) : bytes;
}

function saFlags(b: SaBody): number {
  return b.sflags | (b.esn === 'esn' || b.esn === 'flag-only' || b.esn === 'bad-bmp' ? 128 : 0);
}

const arbEspNewSa: fc.Arbitrary<Op> = fc
  // NEWSA, and UPDSA of VALID SAs (the notification carries the request's state)
  .record({ upd: fc.boolean(), id: arbId, b: arbSaBody, fl: arbNlFlags, pid: fc.constantFrom(...PIDS) })
  .map(({ upd, id, b, fl, pid }) => ({
    what: `${upd ? 'UPD' : 'NEW'}SA esp ${b.algName}/${b.keyBits}/${b.icv} esn=${b.esn} rw=${b.rw} dir=${b.dir} lft=${b.lft}`,
    bytes: badBmp(
      b,
      msg(
        upd ? 0x1a : 0x10,
        fl,
        pid,
        usersa(id, { ...b, flags: saFlags(b) }),
        saAttrs(id, upd ? { ...b, extraFlags: undefined } : b),
      ),
    ),
    addsSa: true,
  }));

/** ALLOCSPI in a range (the kernel picks; the harness makes the simulator pick the same), then UPDSA of it. */
const arbAllocThenUpdate: fc.Arbitrary<Op[]> = fc
  .record({
    id: arbId,
    range: fc.constantFrom<[number, number]>([0x5000, 0x5fff], [0x5000, 0x5000], [0x100, 0x1000000]),
    reqid: fc.nat(3),
    b: arbSaBody,
    fl: arbNlFlags,
    dir: fc.constantFrom(undefined, undefined, 1, 2),
    update: fc.constantFrom(true, true, true, false),
  })
  .map(({ id, range, reqid, b, fl, dir, update }) => {
    const info = usersa(id, { mode: b.mode, reqid, rw: 0, flags: 0, lft: 'none' });
    info.id.spi = 0;
    const attrs: AttrInput[] = id.mark ? [{ name: 'MARK', value: id.mark }] : [];
    if (dir !== undefined) attrs.push({ name: 'SA_DIR', value: dir });
    const alloc: Op = {
      what: `ALLOCSPI esp ${range[0].toString(16)}-${range[1].toString(16)}`,
      bytes: msg(0x16, F.REQ, 0, { info, min: range[0], max: range[1] }, attrs),
      spiRange: range,
      addsSa: true,
    };
    if (!update) return [alloc];
    const upd: Op = {
      what: `UPDSA of the allocated SPI ${b.algName}/${b.keyBits}/${b.icv} esn=${b.esn} dir=${b.dir}`,
      bytes: badBmp(
        b,
        msg(0x1a, fl, 0, usersa({ ...id, spi: 0 }, { ...b, reqid, flags: saFlags(b) }), saAttrs(id, b)),
      ),
      useAllocatedSpi: true,
    };
    return [alloc, upd];
  });

const saId = (id: Id) => ({ daddr: daddrOf(id), spi: id.spi, family: id.v6 ? 10 : 2, proto: 50 });

const arbEspGetDel: fc.Arbitrary<Op> = fc
  .record({
    del: fc.constantFrom(false, false, true),
    id: arbId,
    fl: arbNlFlags,
    src: fc.boolean(),
    pid: fc.constantFrom(...PIDS),
  })
  .map(({ del, id, fl, src, pid }) => {
    const attrs: AttrInput[] = [];
    if (src) attrs.push({ name: 'SRCADDR', value: saddrOf(id) });
    if (id.mark) attrs.push({ name: 'MARK', value: id.mark });
    return {
      what: `${del ? 'DEL' : 'GET'}SA esp ${id.spi.toString(16)}`,
      bytes: msg(del ? 0x11 : 0x12, fl, pid, saId(id), attrs),
    };
  });

const arbEspAe: fc.Arbitrary<Op> = fc
  .record({
    get: fc.boolean(),
    id: arbId,
    aflags: fc.constantFrom(0, 1, 2, 4, 8, 0x10),
    replace: fc.constantFrom(true, true, false),
    // 'esn-bad-len': bmp_len 2 with 4 bitmap words (the kernel sizes by bmp_len, not the attribute)
    what: fc.constantFrom<string>('replay', 'esn', 'ltime', 'thresh', 'none', 'esn-window', 'esn-bad-len'),
    seq: fc.constantFrom(0, 5, 100, 0xffffffff),
    fl: arbNlFlags,
  })
  .map((o) => {
    const body = { saId: saId(o.id), saddr: saddrOf(o.id), flags: o.aflags, reqid: 0 };
    const attrs: AttrInput[] = o.id.mark ? [{ name: 'MARK', value: o.id.mark }] : [];
    if (o.get) return { what: 'GETAE esp', bytes: msg(0x1f, o.fl, 0, body, attrs) };
    switch (o.what) {
      case 'replay':
        attrs.push({ name: 'REPLAY_VAL', value: { oseq: o.seq, seq: o.seq, bitmap: 1 } });
        break;
      case 'esn':
      case 'esn-window':
      case 'esn-bad-len':
        attrs.push({
          name: 'REPLAY_ESN_VAL',
          value: {
            bmpLen: 4,
            oseq: o.seq,
            seq: o.seq,
            oseqHi: 1,
            seqHi: 0,
            replayWindow: o.what === 'esn-window' ? 200 : 128,
            bmp: [1, 0, 0, 0],
          },
        });
        break;
      case 'ltime':
        attrs.push({
          name: 'LTIME_VAL',
          value: { bytes: 1000n, packets: BigInt(o.seq), addTime: 0n, useTime: 0n },
        });
        break;
      case 'thresh':
        attrs.push({ name: 'REPLAY_THRESH', value: o.seq }, { name: 'ETIMER_THRESH', value: 3 });
        break;
    }
    let bytes = msg(0x1e, o.fl | (o.replace ? F.REPLACE : 0), 0, body, attrs);
    // bmp_len 2 while 4 bitmap words follow (the kernel checks the length against the SA's)
    if (o.what === 'esn-bad-len') bytes = setAttrU32(bytes, 48, 23, 0, 2);
    return { what: `NEWAE esp ${o.what}`, bytes };
  });

const arbEspDumpFlush: fc.Arbitrary<Op> = fc.oneof(
  fc.constantFrom(0x301, 0x305).map((flags) => ({
    what: 'dump SA',
    bytes: encodeXfrm({ type: 0x12, flags, seq: 0, pid: 0, attrs: [] }),
  })),
  fc.record({ proto: fc.constantFrom(50, 0, 51, 255), fl: arbNlFlags }).map(({ proto, fl }) => ({
    what: `FLUSHSA ${proto}`,
    bytes: msg(0x1c, fl, 0, { proto }),
  })),
  arbNlFlags.map((fl) => ({ what: 'GETSADINFO', bytes: msg(0x23, fl, 0, 0xffffffff) })),
);

export { msg };

/** One step (or two: ALLOCSPI then UPDSA) of an ESP sequence for `kernel`. */
export function arbEspOp(kernel: OracleKernel): fc.Arbitrary<Op[]> {
  return fc
    .oneof(
      { arbitrary: arbEspNewSa.map((o) => [o]), weight: 6 },
      { arbitrary: arbAllocThenUpdate, weight: 3 },
      { arbitrary: arbEspGetDel.map((o) => [o]), weight: 3 },
      { arbitrary: arbEspAe.map((o) => [o]), weight: 3 },
      { arbitrary: arbEspDumpFlush.map((o) => [o]), weight: 2 },
      { arbitrary: arbOp.map((o): Op[] => [o]), weight: 4 },
    )
    .map((ops) => ops.filter((o) => !excluded(kernel, o)));
}

/**
 * A sequence for `kernel`: ≤ 7 policy adds and ≤ 8 SA adds (the kernel's hash tables stay at their
 * initial size), without the requests `kernel` is too old for.
 */
export function arbEspSequence(kernel: OracleKernel): fc.Arbitrary<Op[]> {
  return fc.array(arbEspOp(kernel), { minLength: 1, maxLength: 14 }).map((groups) => {
    let p = 0;
    let s = 0;
    return groups.flat().filter((op) => (op.addsPolicy ? ++p <= 7 : op.addsSa ? ++s <= 8 : true));
  });
}
