/**
 * XFRM structs of `include/uapi/linux/xfrm.h`, x86_64 layouts (offsets checked against the kernel's
 * own bytes in the captures). Each is data: (field, offset, codec). Sizes include trailing padding.
 */
import type * as T from '@xfrmkit/core';
import {
  address,
  be16,
  be32,
  charArray,
  copyBytes,
  type DecodeWith,
  fixedBytes,
  type PayloadCodec,
  s32,
  u8,
  u16,
  u32,
  u64,
} from '../schema/codec.ts';
import { struct, structArray, structWithTail } from '../schema/struct.ts';
import { NetlinkDecodeError, NetlinkEncodeError } from '../wire/errors.ts';

export const selector = struct<T.XfrmSelector>(
  'xfrm_selector',
  56,
  [
    ['daddr', 0, address],
    ['saddr', 16, address],
    ['dport', 32, be16],
    ['dportMask', 34, be16],
    ['sport', 36, be16],
    ['sportMask', 38, be16],
    ['family', 40, u16],
    ['prefixlenD', 42, u8],
    ['prefixlenS', 43, u8],
    ['proto', 44, u8],
    ['pad', 45, fixedBytes(3), { omitIfZero: true }],
    ['ifindex', 48, s32],
    ['user', 52, u32],
  ],
  { familyOffset: 40 },
);

export const id = struct<T.XfrmId>('xfrm_id', 24, [
  ['daddr', 0, address],
  ['spi', 16, be32],
  ['proto', 20, u8],
]);

export const lifetimeCfg = struct<T.XfrmLifetimeCfg>('xfrm_lifetime_cfg', 64, [
  ['softByteLimit', 0, u64],
  ['hardByteLimit', 8, u64],
  ['softPacketLimit', 16, u64],
  ['hardPacketLimit', 24, u64],
  ['softAddExpiresSeconds', 32, u64],
  ['hardAddExpiresSeconds', 40, u64],
  ['softUseExpiresSeconds', 48, u64],
  ['hardUseExpiresSeconds', 56, u64],
]);

export const lifetimeCur = struct<T.XfrmLifetimeCur>('xfrm_lifetime_cur', 32, [
  ['bytes', 0, u64],
  ['packets', 8, u64],
  ['addTime', 16, u64],
  ['useTime', 24, u64],
]);

export const stats = struct<T.XfrmStats>('xfrm_stats', 12, [
  ['replayWindow', 0, u32],
  ['replay', 4, u32],
  ['integrityFailed', 8, u32],
]);

export const usersaInfo = struct<T.XfrmUsersaInfo>(
  'xfrm_usersa_info',
  224,
  [
    ['sel', 0, selector],
    ['id', 56, id],
    ['saddr', 80, address],
    ['lft', 96, lifetimeCfg],
    ['curlft', 160, lifetimeCur],
    ['stats', 192, stats],
    ['seq', 204, u32],
    ['reqid', 208, u32],
    ['family', 212, u16],
    ['mode', 214, u8],
    ['replayWindow', 215, u8],
    ['flags', 216, u8],
  ],
  { familyOffset: 212 },
);

export const usersaId = struct<T.XfrmUsersaId>(
  'xfrm_usersa_id',
  24,
  [
    ['daddr', 0, address],
    ['spi', 16, be32],
    ['family', 20, u16],
    ['proto', 22, u8],
  ],
  { familyOffset: 20 },
);

export const usersaFlush = struct<T.XfrmUsersaFlush>('xfrm_usersa_flush', 1, [['proto', 0, u8]]);

export const userTmpl = struct<T.XfrmUserTmpl>(
  'xfrm_user_tmpl',
  64,
  [
    ['id', 0, id],
    ['family', 24, u16],
    ['saddr', 28, address],
    ['reqid', 44, u32],
    ['mode', 48, u8],
    ['share', 49, u8],
    ['optional', 50, u8],
    ['aalgos', 52, u32],
    ['ealgos', 56, u32],
    ['calgos', 60, u32],
  ],
  { familyOffset: 24 },
);

export const userpolicyInfo = struct<T.XfrmUserpolicyInfo>(
  'xfrm_userpolicy_info',
  168,
  [
    ['sel', 0, selector],
    ['lft', 56, lifetimeCfg],
    ['curlft', 120, lifetimeCur],
    ['priority', 152, u32],
    ['index', 156, u32],
    ['dir', 160, u8],
    ['action', 161, u8],
    ['flags', 162, u8],
    ['share', 163, u8],
  ],
  { familyOffset: 40 },
);

export const userpolicyId = struct<T.XfrmUserpolicyId>(
  'xfrm_userpolicy_id',
  64,
  [
    ['sel', 0, selector],
    ['index', 56, u32],
    ['dir', 60, u8],
  ],
  { familyOffset: 40 },
);

export const userExpire = struct<T.XfrmUserExpire>(
  'xfrm_user_expire',
  232,
  [
    ['state', 0, usersaInfo],
    ['hard', 224, u8],
  ],
  { familyOffset: 212 },
);

export const userPolexpire = struct<T.XfrmUserPolexpire>(
  'xfrm_user_polexpire',
  176,
  [
    ['pol', 0, userpolicyInfo],
    ['hard', 168, u8],
  ],
  { familyOffset: 40 },
);

export const aeventId = struct<T.XfrmAeventId>(
  'xfrm_aevent_id',
  48,
  [
    ['saId', 0, usersaId],
    ['saddr', 24, address],
    ['flags', 40, u32],
    ['reqid', 44, u32],
  ],
  { familyOffset: 20 },
);

export const userspiInfo = struct<T.XfrmUserspiInfo>(
  'xfrm_userspi_info',
  232,
  [
    ['info', 0, usersaInfo],
    ['min', 224, u32],
    ['max', 228, u32],
  ],
  { familyOffset: 212 },
);

export const userAcquire = struct<T.XfrmUserAcquire>(
  'xfrm_user_acquire',
  280,
  [
    ['id', 0, id],
    ['saddr', 24, address],
    ['sel', 40, selector],
    ['policy', 96, userpolicyInfo],
    ['aalgos', 264, u32],
    ['ealgos', 268, u32],
    ['calgos', 272, u32],
    ['seq', 276, u32],
  ],
  { familyOffset: 80 },
);

export const mark = struct<T.XfrmMark>('xfrm_mark', 8, [
  ['v', 0, u32],
  ['m', 4, u32],
]);

export const encapTmpl = struct<T.XfrmEncapTmpl>('xfrm_encap_tmpl', 24, [
  ['encapType', 0, u16],
  ['encapSport', 2, be16],
  ['encapDport', 4, be16],
  ['encapOa', 8, address],
]);

export const userpolicyDefault = struct<T.XfrmUserpolicyDefault>('xfrm_userpolicy_default', 3, [
  ['in', 0, u8],
  ['fwd', 1, u8],
  ['out', 2, u8],
]);

export const userpolicyType = struct<T.XfrmUserpolicyType>('xfrm_userpolicy_type', 6, [
  ['type', 0, u8],
  ['reserved1', 2, u16],
  ['reserved2', 4, u8],
]);

export const userReport = struct<T.XfrmUserReport>(
  'xfrm_user_report',
  60,
  [
    ['proto', 0, u8],
    ['sel', 4, selector],
  ],
  { familyOffset: 44 },
);

export const userMapping = struct<T.XfrmUserMapping>('xfrm_user_mapping', 64, [
  ['id', 0, id],
  ['reqid', 24, u32],
  ['oldSaddr', 28, address],
  ['newSaddr', 44, address],
  ['oldSport', 60, be16],
  ['newSport', 62, be16],
]);

export const addressFilter = struct<T.XfrmAddressFilter>(
  'xfrm_address_filter',
  36,
  [
    ['saddr', 0, address],
    ['daddr', 16, address],
    ['family', 32, u16],
    ['splen', 34, u8],
    ['dplen', 35, u8],
  ],
  { familyOffset: 32 },
);

export const userKmaddress = struct<T.XfrmUserKmaddress>(
  'xfrm_user_kmaddress',
  40,
  [
    ['local', 0, address],
    ['remote', 16, address],
    ['reserved', 32, u32],
    ['family', 36, u16],
  ],
  { familyOffset: 36 },
);

export const userMigrate = struct<T.XfrmUserMigrate>('xfrm_user_migrate', 76, [
  ['oldDaddr', 0, address, { familyOffset: 72 }],
  ['oldSaddr', 16, address, { familyOffset: 72 }],
  ['newDaddr', 32, address, { familyOffset: 74 }],
  ['newSaddr', 48, address, { familyOffset: 74 }],
  ['proto', 64, u8],
  ['mode', 65, u8],
  ['reserved', 66, u16],
  ['reqid', 68, u32],
  ['oldFamily', 72, u16],
  ['newFamily', 74, u16],
]);

/** struct xfrm_user_migrate_state (Linux 7.x): usersa_id, new_daddr, new_saddr, old_mark, new_sel, new_reqid, flags, new_family, reserved */
export const userMigrateState = struct<T.XfrmUserMigrateState>('xfrm_user_migrate_state', 132, [
  ['id', 0, usersaId],
  ['newDaddr', 24, address, { familyOffset: 128 }],
  ['newSaddr', 40, address, { familyOffset: 128 }],
  ['oldMark', 56, mark],
  ['newSel', 64, selector],
  ['newReqid', 120, u32],
  ['flags', 124, u32],
  ['newFamily', 128, u16],
  ['reserved', 130, u16],
]);

export const userOffload = struct<T.XfrmUserOffload>('xfrm_user_offload', 8, [
  ['ifindex', 0, s32],
  ['flags', 4, u8],
]);

export const replayState = struct<T.XfrmReplayState>('xfrm_replay_state', 12, [
  ['oseq', 0, u32],
  ['seq', 4, u32],
  ['bitmap', 8, u32],
]);

export const spdinfo = struct<T.XfrmuSpdinfo>('xfrmu_spdinfo', 24, [
  ['incnt', 0, u32],
  ['outcnt', 4, u32],
  ['fwdcnt', 8, u32],
  ['inscnt', 12, u32],
  ['outscnt', 16, u32],
  ['fwdscnt', 20, u32],
]);
export const spdhinfo = struct<T.XfrmuSpdhinfo>('xfrmu_spdhinfo', 8, [
  ['spdhcnt', 0, u32],
  ['spdhmcnt', 4, u32],
]);
export const spdhthresh = struct<T.XfrmuSpdhthresh>('xfrmu_spdhthresh', 2, [
  ['lbits', 0, u8],
  ['rbits', 1, u8],
]);
export const sadhinfo = struct<T.XfrmuSadhinfo>('xfrmu_sadhinfo', 8, [
  ['sadhcnt', 0, u32],
  ['sadhmcnt', 4, u32],
]);

// ---- variable-length structs: a fixed head and a tail whose size the head announces ----

const keyBytes = {
  decode: copyBytes,
  encode(v: unknown, out: Uint8Array, off: number, path: string) {
    if (!(v instanceof Uint8Array)) throw new NetlinkEncodeError('key must be bytes', path);
    out.set(v, off);
  },
  length: (v: unknown) => (v as Uint8Array).length,
};

const algoHead = struct('xfrm_algo', 68, [
  ['name', 0, charArray(64)],
  ['keyLen', 64, u32],
]);
const algoAuthHead = struct('xfrm_algo_auth', 72, [
  ['name', 0, charArray(64)],
  ['keyLen', 64, u32],
  ['truncLen', 68, u32],
]);
const algoAeadHead = struct('xfrm_algo_aead', 72, [
  ['name', 0, charArray(64)],
  ['keyLen', 64, u32],
  ['icvLen', 68, u32],
]);

const keyLenBytes = (h: Record<string, unknown>) => Math.ceil((h.keyLen as number) / 8);

/** Checks that a key's byte length matches the announced key length in bits (encoder side). */
function checkedAlgo<A extends { keyLen: number; key: Uint8Array }>(codec: PayloadCodec<A>): PayloadCodec<A> {
  return {
    ...codec,
    encode(v, out, off, path) {
      if (v.key.length !== Math.ceil(v.keyLen / 8)) {
        throw new NetlinkEncodeError(`key is ${v.key.length} bytes but keyLen says ${v.keyLen} bits`, path);
      }
      codec.encode(v, out, off, path);
    },
  };
}

export const algo = checkedAlgo(
  structWithTail<T.XfrmAlgo>(algoHead, 'key', keyLenBytes, keyBytes, 'xfrm_algo'),
);
export const algoAuth = checkedAlgo(
  structWithTail<T.XfrmAlgoAuth>(algoAuthHead, 'key', keyLenBytes, keyBytes, 'xfrm_algo_auth'),
);
export const algoAead = checkedAlgo(
  structWithTail<T.XfrmAlgoAead>(algoAeadHead, 'key', keyLenBytes, keyBytes, 'xfrm_algo_aead'),
);

const replayEsnHead = struct('xfrm_replay_state_esn', 24, [
  ['bmpLen', 0, u32],
  ['oseq', 4, u32],
  ['seq', 8, u32],
  ['oseqHi', 12, u32],
  ['seqHi', 16, u32],
  ['replayWindow', 20, u32],
]);

const replayStateEsnFull = structWithTail<T.XfrmReplayStateEsn>(
  replayEsnHead,
  'bmp',
  (h) => {
    const n = h.bmpLen as number;
    return n > 4096 ? Number.POSITIVE_INFINITY : n * 4;
  },
  {
    decode(b, off, len) {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const words: number[] = [];
      for (let i = 0; i < len; i += 4) words.push(dv.getUint32(off + i, true));
      return words;
    },
    encode(v, out, off, path) {
      if (!Array.isArray(v)) throw new NetlinkEncodeError('bmp must be an array of u32', path);
      const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
      v.forEach((w, i) => {
        if (typeof w !== 'number' || w < 0 || w > 0xffffffff)
          throw new NetlinkEncodeError(`bmp[${i}] out of range`, path);
        dv.setUint32(off + 4 * i, w, true);
      });
    },
    length: (v) => (v as number[]).length * 4,
  },
  'xfrm_replay_state_esn',
);

const replayEsnFullWith = replayStateEsnFull.decodeWith!;
/** The REPLAY_ESN_VAL decoder (see `replayStateEsn`), with the context as arguments. */
const replayEsnWith: DecodeWith<T.XfrmReplayStateEsn> = (b, off, len, family, base, path) => {
  if (len === 24) {
    const h = replayEsnHead.compiled.decode(b, off, family, undefined) as T.XfrmReplayStateEsn;
    h.bmp = new Array<number>(Math.min(h.bmpLen, 4096)).fill(0);
    return h;
  }
  return replayEsnFullWith(b, off, len, family, base, path);
};
/**
 * XFRMA_REPLAY_ESN_VAL. An attribute of exactly 24 bytes is valid whatever bmp_len says (the kernel
 * zero-fills the bitmap; iproute2 sends it that way): it decodes with an all-zero `bmp`, and the
 * generic raw-payload rule keeps the 24 original bytes for re-encoding.
 */
export const replayStateEsn: PayloadCodec<T.XfrmReplayStateEsn> = {
  ...replayStateEsnFull,
  decode: (b, off, len, ctx) => replayEsnWith(b, off, len, ctx.family, ctx.base, ctx.path),
  decodeWith: replayEsnWith,
};

const secCtxHead = struct('xfrm_user_sec_ctx', 8, [
  ['len', 0, u16],
  ['exttype', 2, u16],
  ['ctxAlg', 4, u8],
  ['ctxDoi', 5, u8],
  ['ctxLen', 6, u16],
]);
export const userSecCtx = structWithTail<T.XfrmUserSecCtx>(
  secCtxHead,
  'ctx',
  (h) => h.ctxLen as number,
  keyBytes,
  'xfrm_user_sec_ctx',
);

export const tmplArray = structArray(userTmpl);
export const migrateArray = structArray(userMigrate);

/** A decoder guard used by message codecs: the body must be at least `size` bytes. */
export function needBody(name: string, size: number, have: number, base: number): void {
  if (have < size) throw new NetlinkDecodeError(`${name} body needs ${size} bytes, got ${have}`, base, name);
}
