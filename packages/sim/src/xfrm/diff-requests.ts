/**
 * fast-check generators of raw XFRM requests for the differential and fuzz tests: policy
 * add/update/get/delete/dump/flush (main and sub types, marks, if_id, priorities, indexes), defaults,
 * SPD/SAD info, ALLOCSPI, SA get/delete/dump/flush, AE/EXPIRE, refused NEWSA/UPDSA, and invalid
 * requests (short bodies, bad families/dirs, unknown types and attributes, bad attribute lengths).
 *
 * Used by the host-kernel differential and fuzz tests (packages/sim/test/xfrm) and by the oracle's
 * VM-kernel suite (packages/oracle/src/diff), hence in src: import it as `@xfrmkit/sim/xfrm-requests`
 * (it needs fast-check, which the simulator itself does not load).
 */

import { userTmpl } from '@xfrmkit/core';
import { type AttrInput, encodeXfrm } from '@xfrmkit/netlink';
import fc from 'fast-check';
import type { DiffOp } from './diff.ts';
import { unspecSelector, usersaInfo } from './usersa.ts';

/** A step of a differential sequence (see `DiffOp`, packages/sim/src/xfrm/diff.ts). */
export type Op = DiffOp;

const INF = 0xffff_ffff_ffff_ffffn;
const PIDS = [0, 4242, 0xdeadbeef];
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '192.168.1.0'];
const V6 = ['fd00::1', 'fd00::2'];

const lft = (time: bigint) => ({
  softByteLimit: INF,
  hardByteLimit: INF,
  softPacketLimit: INF,
  hardPacketLimit: INF,
  softAddExpiresSeconds: time,
  hardAddExpiresSeconds: time,
  softUseExpiresSeconds: 0n,
  hardUseExpiresSeconds: time,
});
const cur = { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n };

const arbFamily = fc.constantFrom(2, 2, 2, 10);
const arbSel = fc
  .record({
    fam: fc.constantFrom(2, 2, 2, 10, 0, 7),
    d: fc.nat(3),
    s: fc.nat(3),
    plen: fc.constantFrom(32, 24, 0, 33, 129),
    proto: fc.constantFrom(0, 6, 17),
    dport: fc.constantFrom(0, 80),
    user: fc.constantFrom(0, 0, 1000),
  })
  .map(({ fam, d, s, plen, proto, dport, user }) => {
    const v6 = fam === 10;
    const pool = v6 ? V6 : V4;
    const pl = v6 ? (plen === 32 ? 128 : plen === 24 ? 64 : plen) : plen === 129 ? 32 : plen;
    return {
      daddr: pool[d % pool.length]!,
      saddr: pool[s % pool.length]!,
      dport,
      dportMask: dport ? 0xffff : 0,
      sport: 0,
      sportMask: 0,
      family: fam,
      prefixlenD: pl,
      prefixlenS: pl,
      proto,
      ifindex: 0,
      user,
    };
  });

const arbMark = fc.option(
  fc.constantFrom({ v: 1, m: 0xffffffff }, { v: 0x11, m: 0x0f }, { v: 0x01, m: 0x0f }, { v: 5, m: 0 }),
  { nil: undefined },
);
const arbIfId = fc.option(fc.constantFrom(0, 7, 42), { nil: undefined });
const arbPtype = fc.option(fc.constantFrom(0, 1, 1, 2), { nil: undefined });

const arbTmpl = fc
  .record({
    d: fc.nat(3),
    proto: fc.constantFrom(50, 50, 51, 108, 6),
    mode: fc.constantFrom(0, 1, 1, 4, 6),
    family: fc.constantFrom(0, 2, 2, 10, 7),
    reqid: fc.nat(4),
    optional: fc.constantFrom(0, 0, 1),
    share: fc.nat(3),
  })
  .map(({ d, proto, mode, family, reqid, optional, share }) =>
    userTmpl({
      id: { daddr: family === 10 ? V6[d % 2]! : V4[d]!, spi: 0, proto },
      family,
      saddr: family === 10 ? V6[0]! : V4[0]!,
      reqid,
      mode,
      share,
      optional,
    }),
  );

function ptypeAttr(t: number | undefined): AttrInput[] {
  return t === undefined ? [] : [{ name: 'POLICY_TYPE', value: { type: t, reserved1: 0, reserved2: 0 } }];
}
function idAttrs(mark: { v: number; m: number } | undefined, ifId: number | undefined): AttrInput[] {
  const a: AttrInput[] = [];
  if (mark) a.push({ name: 'MARK', value: mark });
  if (ifId !== undefined) a.push({ name: 'IF_ID', value: ifId });
  return a;
}

function msg(type: number, flags: number, pid: number, body: unknown, attrs: AttrInput[] = []): Uint8Array {
  return encodeXfrm({ type, flags, seq: 0, pid, body, attrs });
}

const F = { REQ: 1, ACK: 4 };
const arbFlags = fc.constantFrom(F.REQ | F.ACK, F.REQ | F.ACK, F.REQ | F.ACK, F.REQ, 0x105, 0x205);
const arbPid = fc.constantFrom(...PIDS);

const arbPolicyAdd: fc.Arbitrary<Op> = fc
  .record({
    upd: fc.boolean(),
    sel: arbSel,
    dir: fc.constantFrom(0, 1, 2, 1, 3),
    prio: fc.constantFrom(0, 100, 100, 7, 0xffffffff),
    index: fc.constantFrom(0, 0, 0, 8, 9, 257, 1, 18, 265),
    action: fc.constantFrom(0, 0, 1, 2),
    pflags: fc.constantFrom(0, 1, 2, 0xff),
    share: fc.constantFrom(0, 0, 1, 3, 4),
    ptype: arbPtype,
    mark: arbMark,
    ifId: arbIfId,
    tmpls: fc.array(arbTmpl, { maxLength: 2 }),
    time: fc.constantFrom(0n, 0n, 3600n),
    flags: arbFlags,
    pid: arbPid,
    secctx: fc.constantFrom(0, 0, 0, 1, 2),
  })
  .map((o) => {
    const attrs: AttrInput[] = [];
    if (o.tmpls.length) attrs.push({ name: 'TMPL', value: o.tmpls });
    if (o.secctx === 1)
      attrs.push({
        name: 'SEC_CTX',
        value: { len: 12, exttype: 8, ctxAlg: 1, ctxDoi: 1, ctxLen: 4, ctx: new Uint8Array([65, 66, 67, 0]) },
      });
    if (o.secctx === 2)
      attrs.push({
        name: 'SEC_CTX',
        value: { len: 99, exttype: 8, ctxAlg: 1, ctxDoi: 1, ctxLen: 4, ctx: new Uint8Array([65, 66, 67, 0]) },
      });
    attrs.push(...ptypeAttr(o.ptype), ...idAttrs(o.mark, o.ifId));
    const info = {
      sel: o.sel,
      lft: lft(o.time),
      curlft: cur,
      priority: o.prio,
      index: o.index,
      dir: o.dir,
      action: o.action,
      flags: o.pflags,
      share: o.share,
    };
    return {
      what: `${o.upd ? 'UPD' : 'NEW'}POLICY dir=${o.dir} idx=${o.index}`,
      bytes: msg(o.upd ? 0x19 : 0x13, o.flags, o.pid, info, attrs),
      addsPolicy: true,
    };
  });

const arbPolicyGetDel: fc.Arbitrary<Op> = fc
  .record({
    del: fc.boolean(),
    sel: arbSel,
    byIndex: fc.boolean(),
    index: fc.constantFrom(1, 8, 9, 16, 18, 24, 33, 41, 257, 3),
    dir: fc.constantFrom(0, 1, 2, 5),
    ptype: arbPtype,
    mark: arbMark,
    ifId: arbIfId,
    flags: arbFlags,
    pid: arbPid,
  })
  .map((o) => ({
    what: `${o.del ? 'DEL' : 'GET'}POLICY ${o.byIndex ? `idx=${o.index}` : 'sel'} dir=${o.dir}`,
    bytes: msg(
      o.del ? 0x14 : 0x15,
      o.flags & ~0x300,
      o.pid,
      { sel: o.sel, index: o.byIndex ? o.index : 0, dir: o.dir },
      [...ptypeAttr(o.ptype), ...idAttrs(o.mark, o.ifId)],
    ),
  }));

const arbDump: fc.Arbitrary<Op> = fc
  .record({
    sa: fc.boolean(),
    flags: fc.constantFrom(0x301, 0x305, 0x101, 0x201),
    proto: fc.option(fc.constantFrom(0, 50, 51, 255, 6), { nil: undefined }),
    filter: fc.constantFrom(0, 1, 2, 3),
    leftover: fc.constantFrom(false, false, true),
    badProto: fc.constantFrom(false, false, false, true),
  })
  .map((o) => {
    const attrs: AttrInput[] = [];
    if (o.sa && o.proto !== undefined) attrs.push({ name: 'PROTO', value: o.proto });
    if (o.sa && o.filter) {
      const v =
        o.filter === 1
          ? { saddr: '0.0.0.0', daddr: '0.0.0.0', family: 0, splen: 0, dplen: 0 }
          : o.filter === 2
            ? { saddr: '10.0.0.0', daddr: '10.0.0.0', family: 2, splen: 8, dplen: 24 }
            : { saddr: '0.0.0.0', daddr: '0.0.0.0', family: 2, splen: 200, dplen: 0 };
      attrs.push({ name: 'ADDRESS_FILTER', value: v });
    }
    let b = encodeXfrm({ type: o.sa ? 0x12 : 0x15, flags: o.flags, seq: 0, pid: 0, attrs });
    if (o.leftover) b = withLeftover(b);
    if (o.badProto) {
      // XFRMA_PROTO with an empty payload (u8 needs 1 byte): the dump fails policy validation
      const out = new Uint8Array(b.length + 4);
      out.set(b);
      const dv = new DataView(out.buffer);
      dv.setUint16(b.length, 4, true);
      dv.setUint16(b.length + 2, 25, true);
      dv.setUint32(0, out.length, true);
      b = out;
    }
    return { what: `dump ${o.sa ? 'SA' : 'policy'}`, bytes: b };
  });

function withLeftover(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + 4);
  out.set(b);
  new DataView(out.buffer).setUint32(0, out.length, true);
  return out;
}

const arbFlush: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ proto: fc.constantFrom(0, 50, 255, 6), flags: arbFlags, pid: arbPid }).map((o) => ({
    what: `FLUSHSA ${o.proto}`,
    bytes: msg(0x1c, o.flags, o.pid, { proto: o.proto }),
  })),
  fc.record({ ptype: arbPtype, flags: arbFlags, pid: arbPid }).map((o) => ({
    what: `FLUSHPOLICY ${o.ptype}`,
    bytes: msg(0x1d, o.flags, o.pid, undefined, ptypeAttr(o.ptype)),
  })),
);

const arbMisc: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ i: fc.nat(3), f: fc.nat(3), o: fc.nat(3), flags: arbFlags }).map((o) => ({
    what: 'SETDEFAULT',
    bytes: msg(0x27, o.flags, 0, { in: o.i, fwd: o.f, out: o.o }),
  })),
  arbFlags.map((flags) => ({ what: 'GETDEFAULT', bytes: msg(0x28, flags, 0, { in: 0, fwd: 0, out: 0 }) })),
  fc
    .record({
      t: fc.constantFrom(0x23, 0x25),
      v: fc.constantFrom(0, 0xffffffff, 0xdeadbeef),
      flags: arbFlags,
      dump: fc.boolean(),
    })
    .map((o) => ({
      what: o.t === 0x23 ? 'GETSADINFO' : 'GETSPDINFO',
      bytes: msg(o.t, o.flags | (o.dump ? 0x300 : 0), 0, o.v),
    })),
  fc
    .record({
      l4: fc.option(fc.nat(40), { nil: undefined }),
      r4: fc.nat(40),
      l6: fc.option(fc.nat(140), { nil: undefined }),
      r6: fc.nat(140),
      flags: arbFlags,
    })
    .map((o) => {
      const attrs: AttrInput[] = [];
      if (o.l4 !== undefined) attrs.push({ name: 'SPD_IPV4_HTHRESH', value: { lbits: o.l4, rbits: o.r4 } });
      if (o.l6 !== undefined) attrs.push({ name: 'SPD_IPV6_HTHRESH', value: { lbits: o.l6, rbits: o.r6 } });
      return { what: 'NEWSPDINFO', bytes: msg(0x24, o.flags, 0, 0xffffffff, attrs) };
    }),
);

function arbUsersa(o: {
  d: number;
  s: number;
  spi: number;
  proto: number;
  family: number;
  mode: number;
  reqid: number;
  flags: number;
  rw: number;
  selFam: number;
  plen: number;
  seq: number;
}) {
  const v6 = o.family === 10;
  const pool = v6 ? V6 : V4;
  return usersaInfo({
    sel: { ...unspecSelector(v6), family: o.selFam, prefixlenD: o.plen },
    daddr: pool[o.d % pool.length]!,
    saddr: pool[o.s % pool.length]!,
    spi: o.spi,
    proto: o.proto,
    family: o.family,
    seq: o.seq,
    reqid: o.reqid,
    mode: o.mode,
    replayWindow: o.rw,
    flags: o.flags,
  });
}

const SPIS = [0x1000, 0x2000, 0x4000, 0x100, 0x1ff];

const arbAllocSpi: fc.Arbitrary<Op> = fc
  .record({
    d: fc.nat(3),
    s: fc.nat(1),
    family: arbFamily,
    proto: fc.constantFrom(50, 50, 51, 108, 6),
    mode: fc.constantFrom(0, 1),
    reqid: fc.nat(3),
    range: fc.constantFrom<[number, number]>(
      [0x1000, 0x1000],
      [0x2000, 0x2000],
      [0x100, 0x1ff],
      [0x4000, 0x4000],
      [5, 1],
      [0x100, 0x10000],
      [0, 0],
    ),
    mark: arbMark,
    ifId: arbIfId,
    dir: fc.constantFrom(undefined, undefined, 1, 2),
    seq: fc.constantFrom(0, 0, 1),
    flags: arbFlags,
  })
  .map((o) => {
    const info = arbUsersa({ ...o, spi: 0, flags: 0, rw: 0, selFam: 0, plen: 0 });
    const attrs = idAttrs(o.mark, o.ifId);
    if (o.dir !== undefined) attrs.push({ name: 'SA_DIR', value: o.dir });
    return {
      what: `ALLOCSPI ${o.proto} ${o.range[0].toString(16)}-${o.range[1].toString(16)}`,
      bytes: msg(0x16, o.flags, 0, { info, min: o.range[0], max: o.range[1] }, attrs),
      spiRange: o.range,
      addsSa: true,
    };
  });

const arbSaId = fc.record({
  d: fc.nat(3),
  spi: fc.constantFrom(...SPIS, 0),
  proto: fc.constantFrom(50, 50, 51, 108, 0),
  family: fc.constantFrom(2, 2, 10, 7),
  mark: arbMark,
  srcaddr: fc.boolean(),
  flags: arbFlags,
  pid: arbPid,
});

const arbSaGetDel: fc.Arbitrary<Op> = fc.record({ del: fc.boolean(), id: arbSaId }).map(({ del, id }) => {
  const pool = id.family === 10 ? V6 : V4;
  const attrs: AttrInput[] = [];
  if (id.srcaddr) attrs.push({ name: 'SRCADDR', value: pool[0]! });
  if (id.mark) attrs.push({ name: 'MARK', value: id.mark });
  return {
    what: `${del ? 'DEL' : 'GET'}SA ${id.spi.toString(16)}`,
    bytes: msg(
      del ? 0x11 : 0x12,
      id.flags & ~0x300,
      id.pid,
      { daddr: pool[id.d % pool.length]!, spi: id.spi, family: id.family, proto: id.proto },
      attrs,
    ),
  };
});

const arbAe: fc.Arbitrary<Op> = fc
  .record({
    kind: fc.constantFrom('get', 'new', 'expire'),
    id: arbSaId,
    aflags: fc.constantFrom(0, 1, 8, 9),
    replace: fc.boolean(),
    attr: fc.boolean(),
    hard: fc.nat(1),
  })
  .map((o) => {
    const pool = o.id.family === 10 ? V6 : V4;
    const daddr = pool[o.id.d % pool.length]!;
    const attrs: AttrInput[] = o.id.mark ? [{ name: 'MARK', value: o.id.mark }] : [];
    if (o.kind === 'expire') {
      const state = arbUsersa({
        d: o.id.d,
        s: 0,
        spi: o.id.spi,
        proto: o.id.proto,
        family: o.id.family,
        mode: 1,
        reqid: 0,
        flags: 0,
        rw: 0,
        selFam: 0,
        plen: 0,
        seq: 0,
      });
      return { what: 'EXPIRE', bytes: msg(0x18, o.id.flags, o.id.pid, { state, hard: o.hard }, attrs) };
    }
    const body = {
      saId: { daddr, spi: o.id.spi, family: o.id.family, proto: o.id.proto },
      saddr: pool[0]!,
      flags: o.aflags,
      reqid: 0,
    };
    if (o.kind === 'get') return { what: 'GETAE', bytes: msg(0x1f, o.id.flags, o.id.pid, body, attrs) };
    if (o.attr) attrs.push({ name: 'REPLAY_THRESH', value: 5 });
    return { what: 'NEWAE', bytes: msg(0x1e, o.id.flags | (o.replace ? 0x100 : 0), o.id.pid, body, attrs) };
  });

const key = (n: number) => new Uint8Array(n).fill(0x42);

const arbNewSa: fc.Arbitrary<Op> = fc
  .record({
    upd: fc.boolean(),
    d: fc.nat(3),
    family: fc.constantFrom(2, 2, 10, 0, 7),
    selFam: fc.constantFrom(0, 0, 2, 10, 7),
    plen: fc.constantFrom(0, 32, 33, 200),
    proto: fc.constantFrom(50, 50, 50, 51, 108, 99, 43),
    mode: fc.constantFrom(0, 1, 1, 2, 4, 5, 7),
    spi: fc.constantFrom(0x1000, 0x10000, 0x100),
    flags: fc.constantFrom(0, 0, 32, 128, 2, 4),
    rw: fc.constantFrom(0, 0, 32, 64),
    algs: fc.constantFrom(
      'aead',
      'aead-bad',
      'cbc-hmac',
      'cbc',
      'hmac',
      'auth-trunc-long',
      'comp',
      'none',
      'unknown-crypt',
      'short-key',
      'null',
    ),
    dir: fc.constantFrom(undefined, undefined, 0, 1, 2, 3),
    extra: fc.constantFrom('none', 'none', 'tfcpad', 'esn', 'pcpu', 'mtimer', 'coaddr', 'iptfs', 'replay'),
    flags2: arbFlags,
    pid: arbPid,
  })
  .map((o) => {
    const info = arbUsersa({
      d: o.d,
      s: 0,
      spi: o.spi,
      proto: o.proto,
      family: o.family,
      mode: o.mode,
      reqid: 1,
      flags: o.flags,
      rw: o.rw,
      selFam: o.selFam,
      plen: o.plen,
      seq: 0,
    });
    const attrs: AttrInput[] = [];
    const algo = (name: string, bits: number) => ({ name, keyLen: bits, key: key(bits / 8) });
    switch (o.algs) {
      case 'aead':
        attrs.push({ name: 'ALG_AEAD', value: { ...algo('rfc4106(gcm(aes))', 160), icvLen: 128 } });
        break;
      case 'aead-bad':
        attrs.push({ name: 'ALG_AEAD', value: { ...algo('gcm(aes)', 160), icvLen: 64 } });
        break;
      case 'cbc-hmac':
        attrs.push(
          { name: 'ALG_CRYPT', value: algo('cbc(aes)', 128) },
          { name: 'ALG_AUTH_TRUNC', value: { ...algo('hmac(sha256)', 256), truncLen: 128 } },
        );
        break;
      case 'cbc':
        attrs.push({ name: 'ALG_CRYPT', value: algo('aes', 128) });
        break;
      case 'hmac':
        attrs.push({ name: 'ALG_AUTH', value: algo('sha1', 160) });
        break;
      case 'auth-trunc-long':
        attrs.push({ name: 'ALG_AUTH_TRUNC', value: { ...algo('hmac(sha1)', 160), truncLen: 1000 } });
        break;
      case 'comp':
        attrs.push({ name: 'ALG_COMP', value: algo('deflate', 0) });
        break;
      case 'unknown-crypt':
        attrs.push({ name: 'ALG_CRYPT', value: algo('cbc(des)', 64) });
        break;
      case 'null':
        attrs.push(
          { name: 'ALG_CRYPT', value: algo('ecb(cipher_null)', 0) },
          { name: 'ALG_AUTH', value: algo('digest_null', 0) },
        );
        break;
      case 'short-key':
        attrs.push({ name: 'ALG_CRYPT', value: { name: 'cbc(aes)', keyLen: 256, key: key(32) } });
        break;
    }
    switch (o.extra) {
      case 'tfcpad':
        attrs.push({ name: 'TFCPAD', value: 70000 });
        break;
      case 'esn':
        attrs.push({
          name: 'REPLAY_ESN_VAL',
          value: { bmpLen: 1, oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: 32, bmp: [0] },
        });
        break;
      case 'pcpu':
        attrs.push({ name: 'SA_PCPU', value: 9999 });
        break;
      case 'mtimer':
        attrs.push({ name: 'MTIMER_THRESH', value: 30 });
        break;
      case 'coaddr':
        attrs.push({ name: 'COADDR', value: o.family === 10 ? V6[1]! : V4[1]! });
        break;
      case 'iptfs':
        attrs.push({ name: 'IPTFS_PKT_SIZE', value: 1400 });
        break;
      case 'replay':
        attrs.push({ name: 'REPLAY_VAL', value: { oseq: 0, seq: 5, bitmap: 0 } });
        break;
    }
    if (o.dir !== undefined) attrs.push({ name: 'SA_DIR', value: o.dir });
    let bytes = msg(o.upd ? 0x1a : 0x10, o.flags2, o.pid, info, attrs);
    if (o.algs === 'short-key') {
      // key_len announces 256 bits but only 16 key bytes follow
      bytes = shortenAttr(bytes, 240, 16);
    }
    return { what: `${o.upd ? 'UPD' : 'NEW'}SA ${o.proto} ${o.algs} ${o.extra}`, bytes };
  });

/** Cuts `n` bytes off the end of the attribute at `at` (fixing nla_len and nlmsg_len). */
function shortenAttr(b: Uint8Array, at: number, n: number): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset);
  const alen = dv.getUint16(at, true);
  const out = new Uint8Array(b.length - n);
  out.set(b.subarray(0, at + alen - n));
  out.set(b.subarray(at + alen), at + alen - n);
  const odv = new DataView(out.buffer);
  odv.setUint16(at, alen - n, true);
  odv.setUint32(0, out.length, true);
  return out;
}

/** Invalid requests: short bodies, unknown types, bad attribute payloads. */
const arbInvalid: fc.Arbitrary<Op> = fc
  .record({
    kind: fc.constantFrom(
      'short',
      'type',
      'badattr',
      'unknownattr',
      'nested',
      'sadir',
      'leftover',
      'noreq',
      'trunc',
    ),
    type: fc.constantFrom(0x10, 0x13, 0x15, 0x16, 0x1c, 0x23, 0x25, 0x27, 0x1e, 0x11),
    cut: fc.nat(300),
    weird: fc.constantFrom(0x0f, 0x20, 0x21, 0x22, 0x26, 0x29, 0x30, 0x1d),
    attr: fc.constantFrom(
      [31, 2],
      [21, 4],
      [5, 60],
      [33, 4],
      [33, 1],
      [25, 0],
      [38, 4],
      [37, 4],
      [15, 4],
      [16, 2],
      [9, 8],
      [34, 2],
    ),
    val: fc.constantFrom(0, 1, 2, 3, 0xff),
  })
  .map((o) => {
    const sel = {
      daddr: '10.0.0.9',
      saddr: '0.0.0.0',
      dport: 0,
      dportMask: 0,
      sport: 0,
      sportMask: 0,
      family: 2,
      prefixlenD: 32,
      prefixlenS: 0,
      proto: 0,
      ifindex: 0,
      user: 0,
    };
    const info = {
      sel,
      lft: lft(0n),
      curlft: cur,
      priority: 1,
      index: 0,
      dir: 1,
      action: 0,
      flags: 0,
      share: 0,
    };
    const base = msg(0x13, 5, 0, info);
    const raw = (type: number, flags: number, payload: Uint8Array) => {
      const b = new Uint8Array(16 + payload.length);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, b.length, true);
      dv.setUint16(4, type, true);
      dv.setUint16(6, flags, true);
      b.set(payload, 16);
      return b;
    };
    const withAttr = (m: Uint8Array, type: number, len: number, flagBits = 0) => {
      const out = new Uint8Array(m.length + ((4 + len + 3) & ~3));
      out.set(m);
      const dv = new DataView(out.buffer);
      dv.setUint16(m.length, 4 + len, true);
      dv.setUint16(m.length + 2, type | flagBits, true);
      out.fill(o.val, m.length + 4, m.length + 4 + len);
      dv.setUint32(0, out.length, true);
      return out;
    };
    switch (o.kind) {
      case 'short':
        return {
          what: `short 0x${o.type.toString(16)}`,
          bytes: raw(o.type, 5, new Uint8Array(Math.min(o.cut, 250) % 230)),
        };
      case 'type':
        return { what: `type 0x${o.weird.toString(16)}`, bytes: raw(o.weird, 5, new Uint8Array(o.cut % 80)) };
      case 'badattr':
        return { what: `attr ${o.attr[0]} len ${o.attr[1]}`, bytes: withAttr(base, o.attr[0]!, o.attr[1]!) };
      case 'unknownattr':
        return { what: 'unknown attr 60', bytes: withAttr(base, 60, 8) };
      case 'nested':
        return { what: 'nested flag', bytes: withAttr(base, o.attr[0]!, o.attr[1]!, 0x8000) };
      case 'sadir':
        return { what: 'SA_DIR on policy', bytes: withAttr(base, 33, 1) };
      case 'leftover':
        return { what: 'leftover', bytes: withLeftover(base) };
      case 'noreq':
        return { what: 'no REQUEST flag', bytes: raw(o.type, 4, new Uint8Array(240)) };
      default: {
        // nlmsg_len shorter than the datagram: the rest is ignored
        const b = base.slice();
        new DataView(b.buffer).setUint32(0, 16 + (o.cut % 168), true);
        return { what: 'truncated nlmsg_len', bytes: b };
      }
    }
  });

export const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: arbPolicyAdd, weight: 6 },
  { arbitrary: arbPolicyGetDel, weight: 4 },
  { arbitrary: arbDump, weight: 2 },
  { arbitrary: arbFlush, weight: 1 },
  { arbitrary: arbMisc, weight: 2 },
  { arbitrary: arbAllocSpi, weight: 3 },
  { arbitrary: arbSaGetDel, weight: 3 },
  { arbitrary: arbAe, weight: 2 },
  { arbitrary: arbNewSa, weight: 4 },
  { arbitrary: arbInvalid, weight: 3 },
);

/** A sequence that keeps ≤ 7 policy adds and ≤ 6 ALLOCSPI (the kernel's hash tables stay at 8). */
export const arbSequence = fc.array(arbOp, { minLength: 3, maxLength: 20 }).map((ops) => {
  let p = 0;
  let s = 0;
  return ops.filter((op) => (op.addsPolicy ? ++p <= 7 : op.addsSa ? ++s <= 6 : true));
});
