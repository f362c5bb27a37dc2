/**
 * XFRM message types (XFRM_MSG_*) as a table: fixed body per type, attribute set, the family field
 * that sets the address family of the attributes, and the kernel's minimum body length.
 */

import type { AttrSet } from '../schema/attrs.ts';
import type { PayloadCodec } from '../schema/codec.ts';
import { u32 } from '../schema/codec.ts';
import { sadInfoAttrs, spdInfoAttrs, xfrmAttrs } from './attrs.ts';
import * as S from './structs.ts';

export const XFRM_MSG = {
  NEWSA: 0x10,
  DELSA: 0x11,
  GETSA: 0x12,
  NEWPOLICY: 0x13,
  DELPOLICY: 0x14,
  GETPOLICY: 0x15,
  ALLOCSPI: 0x16,
  ACQUIRE: 0x17,
  EXPIRE: 0x18,
  UPDPOLICY: 0x19,
  UPDSA: 0x1a,
  POLEXPIRE: 0x1b,
  FLUSHSA: 0x1c,
  FLUSHPOLICY: 0x1d,
  NEWAE: 0x1e,
  GETAE: 0x1f,
  REPORT: 0x20,
  MIGRATE: 0x21,
  NEWSADINFO: 0x22,
  GETSADINFO: 0x23,
  NEWSPDINFO: 0x24,
  GETSPDINFO: 0x25,
  MAPPING: 0x26,
  SETDEFAULT: 0x27,
  GETDEFAULT: 0x28,
  MIGRATE_STATE: 0x29,
} as const;

export const XFRMNLGRP = {
  ACQUIRE: 1,
  EXPIRE: 2,
  SA: 3,
  POLICY: 4,
  AEVENTS: 5,
  REPORT: 6,
  MIGRATE: 7,
  MAPPING: 8,
} as const;

export interface XfrmMsgSpec {
  type: number;
  name: string;
  /** fixed body; undefined = no body (FLUSHPOLICY) */
  body?: PayloadCodec<unknown>;
  /** xfrm_msg_min[]: minimum body the kernel accepts; attributes start at 16 + align4(min) */
  min: number;
  attrs: AttrSet;
  /** offset within the body of the u16 address family governing attribute addresses */
  familyOffset?: number;
}

const u32Body = u32;

const table: XfrmMsgSpec[] = [
  { type: 0x10, name: 'NEWSA', body: S.usersaInfo, min: 224, attrs: xfrmAttrs, familyOffset: 212 },
  { type: 0x11, name: 'DELSA', body: S.usersaId, min: 24, attrs: xfrmAttrs, familyOffset: 20 },
  { type: 0x12, name: 'GETSA', body: S.usersaId, min: 24, attrs: xfrmAttrs, familyOffset: 20 },
  { type: 0x13, name: 'NEWPOLICY', body: S.userpolicyInfo, min: 168, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x14, name: 'DELPOLICY', body: S.userpolicyId, min: 64, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x15, name: 'GETPOLICY', body: S.userpolicyId, min: 64, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x16, name: 'ALLOCSPI', body: S.userspiInfo, min: 232, attrs: xfrmAttrs, familyOffset: 212 },
  { type: 0x17, name: 'ACQUIRE', body: S.userAcquire, min: 280, attrs: xfrmAttrs, familyOffset: 80 },
  { type: 0x18, name: 'EXPIRE', body: S.userExpire, min: 232, attrs: xfrmAttrs, familyOffset: 212 },
  { type: 0x19, name: 'UPDPOLICY', body: S.userpolicyInfo, min: 168, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x1a, name: 'UPDSA', body: S.usersaInfo, min: 224, attrs: xfrmAttrs, familyOffset: 212 },
  { type: 0x1b, name: 'POLEXPIRE', body: S.userPolexpire, min: 176, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x1c, name: 'FLUSHSA', body: S.usersaFlush, min: 1, attrs: xfrmAttrs },
  { type: 0x1d, name: 'FLUSHPOLICY', min: 0, attrs: xfrmAttrs },
  { type: 0x1e, name: 'NEWAE', body: S.aeventId, min: 48, attrs: xfrmAttrs, familyOffset: 20 },
  { type: 0x1f, name: 'GETAE', body: S.aeventId, min: 48, attrs: xfrmAttrs, familyOffset: 20 },
  { type: 0x20, name: 'REPORT', body: S.userReport, min: 60, attrs: xfrmAttrs, familyOffset: 44 },
  { type: 0x21, name: 'MIGRATE', body: S.userpolicyId, min: 64, attrs: xfrmAttrs, familyOffset: 40 },
  { type: 0x22, name: 'NEWSADINFO', body: u32Body, min: 4, attrs: sadInfoAttrs },
  { type: 0x23, name: 'GETSADINFO', body: u32Body, min: 4, attrs: sadInfoAttrs },
  { type: 0x24, name: 'NEWSPDINFO', body: u32Body, min: 4, attrs: spdInfoAttrs },
  { type: 0x25, name: 'GETSPDINFO', body: u32Body, min: 4, attrs: spdInfoAttrs },
  { type: 0x26, name: 'MAPPING', body: S.userMapping, min: 64, attrs: xfrmAttrs },
  { type: 0x27, name: 'SETDEFAULT', body: S.userpolicyDefault, min: 3, attrs: xfrmAttrs },
  { type: 0x28, name: 'GETDEFAULT', body: S.userpolicyDefault, min: 3, attrs: xfrmAttrs },
  {
    type: 0x29,
    name: 'MIGRATE_STATE',
    body: S.userMigrateState,
    min: 132,
    attrs: xfrmAttrs,
    familyOffset: 128,
  },
];

export const XFRM_MSG_SPECS: ReadonlyMap<number, XfrmMsgSpec> = new Map(table.map((s) => [s.type, s]));
export const XFRM_MSG_BY_NAME: ReadonlyMap<string, XfrmMsgSpec> = new Map(table.map((s) => [s.name, s]));

export function xfrmMsgName(type: number): string {
  return XFRM_MSG_SPECS.get(type)?.name ?? `0x${type.toString(16)}`;
}
