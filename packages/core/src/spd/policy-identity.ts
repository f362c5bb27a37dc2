/**
 * Policy identity (xfrm-uapi.md §7.4): two policies are the same policy — NEWPOLICY answers EEXIST,
 * UPDPOLICY replaces — when dir, type, if_id, the exact (sanitised) mark, the byte-identical selector
 * and the security context are equal; the priority is not part of it.
 *
 * The table keys policies by a 32-bit hash of those fields and confirms a hash hit by comparing the
 * full identity (`identityKey`), so it stores no per-policy key string and builds one only for a
 * candidate with the same hash (an update, a duplicate, or a rare collision).
 */
import type { XfrmSelector, XfrmUserSecCtx } from '../types/xfrm.ts';
import { addressWords, type Words4 } from './address-words.ts';

export function secCtxKey(c: XfrmUserSecCtx | undefined): string {
  if (c === undefined) return '';
  let hex = '';
  for (const b of c.ctx) hex += b.toString(16).padStart(2, '0');
  return `${c.ctxAlg}:${c.ctxDoi}:${hex}`;
}

/** Byte-identity key of a 56-byte selector (padding and `user` included). */
export function selectorKey(
  sel: XfrmSelector,
  d = addressWords(sel.daddr),
  s = addressWords(sel.saddr),
): string {
  const pad = sel.pad;
  const p = pad === undefined ? '0,0,0' : `${pad[0] ?? 0},${pad[1] ?? 0},${pad[2] ?? 0}`;
  return [
    d.join('.'),
    s.join('.'),
    sel.dport,
    sel.dportMask,
    sel.sport,
    sel.sportMask,
    sel.family,
    sel.prefixlenD,
    sel.prefixlenS,
    sel.proto,
    p,
    sel.ifindex | 0,
    sel.user >>> 0,
  ].join('|');
}

/** The identity fields of a policy or of a GET/DELETE request. */
export interface IdentityFields {
  dir: number;
  type: number;
  ifId: number;
  /** mark value and mask as compared: a stored policy's value is already masked. */
  markV: number;
  markM: number;
  sel: XfrmSelector;
  secCtx: XfrmUserSecCtx | undefined;
}

/** Full identity as a string: equal strings ⇔ same policy. */
export function identityKey(x: IdentityFields, d?: Words4, s?: Words4): string {
  return `${x.dir}/${x.type}/${x.ifId >>> 0}/${x.markV >>> 0}/${x.markM >>> 0}/${selectorKey(x.sel, d, s)}/${secCtxKey(x.secCtx)}`;
}

function mix(h: number, v: number): number {
  const k = Math.imul(v | 0, 0xcc9e2d51);
  h ^= Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  return Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
}

/** 32-bit hash of the identity fields; `d` and `s` are the selector's address words. */
export function identityHash(x: IdentityFields, d: Words4, s: Words4): number {
  const sel = x.sel;
  let h = mix(x.dir, x.type);
  h = mix(h, x.ifId);
  h = mix(h, x.markV);
  h = mix(h, x.markM);
  h = mix(h, d[0]);
  h = mix(h, d[1]);
  h = mix(h, d[2]);
  h = mix(h, d[3]);
  h = mix(h, s[0]);
  h = mix(h, s[1]);
  h = mix(h, s[2]);
  h = mix(h, s[3]);
  h = mix(h, sel.dport | (sel.dportMask << 16));
  h = mix(h, sel.sport | (sel.sportMask << 16));
  h = mix(h, sel.family | (sel.prefixlenD << 8) | (sel.prefixlenS << 16) | (sel.proto << 24));
  h = mix(h, sel.ifindex);
  h = mix(h, sel.user);
  const pad = sel.pad;
  if (pad !== undefined) h = mix(h, (pad[0] ?? 0) | ((pad[1] ?? 0) << 8) | ((pad[2] ?? 0) << 16));
  const ctx = x.secCtx;
  if (ctx !== undefined) {
    h = mix(h, ctx.ctxAlg | (ctx.ctxDoi << 8));
    for (const b of ctx.ctx) h = mix(h, b);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Policies by identity. `fieldsOf` gives a stored policy's identity fields. */
export class IdentityTable<E> {
  private readonly byHash = new Map<number, E | E[]>();

  constructor(
    private readonly fieldsOf: (e: E) => IdentityFields,
    private readonly hashOf: (e: E) => number,
  ) {}

  /** The stored policy with the identity `x` (hash `h`), if any. */
  find(h: number, x: IdentityFields, d: Words4, s: Words4): E | undefined {
    const hit = this.byHash.get(h);
    if (hit === undefined) return undefined;
    let key: string | undefined;
    for (const e of Array.isArray(hit) ? hit : [hit]) {
      key ??= identityKey(x, d, s);
      if (identityKey(this.fieldsOf(e)) === key) return e;
    }
    return undefined;
  }

  add(e: E): void {
    const h = this.hashOf(e);
    const hit = this.byHash.get(h);
    if (hit === undefined) this.byHash.set(h, e);
    else if (Array.isArray(hit)) hit.push(e);
    else this.byHash.set(h, [hit, e]);
  }

  delete(e: E): void {
    const h = this.hashOf(e);
    const hit = this.byHash.get(h);
    if (hit === e) this.byHash.delete(h);
    else if (Array.isArray(hit)) {
      const i = hit.indexOf(e);
      if (i >= 0) hit.splice(i, 1);
      if (hit.length === 1) this.byHash.set(h, hit[0]!);
    }
  }
}
