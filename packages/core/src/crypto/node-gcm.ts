/**
 * `node:crypto` AES-GCM provider: the fallback when the native addon is unavailable. One cipher object
 * per message (~6.5 µs each), same bytes as the native provider.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import {
  assertTagLength,
  checkRange,
  GCM_DESC_STRIDE,
  type GcmContext,
  type GcmDirection,
  type GcmProvider,
  liveHandle,
  validateGcmKey,
} from './gcm.ts';

class NodeGcmContext implements GcmContext {
  readonly provider = 'node-crypto' as const;
  readonly direction: GcmDirection;
  readonly keyLength: number;
  private key: KeyObject | null;
  private readonly alg: 'aes-128-gcm' | 'aes-256-gcm';
  private readonly nonce = new Uint8Array(12);

  constructor(key: Uint8Array, salt: Uint8Array, direction: GcmDirection) {
    validateGcmKey(key, salt);
    this.direction = direction;
    this.keyLength = key.length;
    this.alg = key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
    this.key = createSecretKey(key);
    this.nonce.set(salt, 0);
  }

  private live(dir: GcmDirection): KeyObject {
    return liveHandle(this.key, this.direction, dir);
  }

  seal(
    src: Uint8Array,
    srcOff: number,
    srcLen: number,
    dst: Uint8Array,
    dstOff: number,
    tailLen: number,
    iv: Uint8Array,
    ivOff: number,
    aad: Uint8Array,
    aadOff: number,
    aadLen: number,
    tagLen: number,
  ): void {
    const key = this.live('seal');
    assertTagLength(tagLen);
    checkRange('src', srcOff, srcLen, src.length);
    checkRange('dst', dstOff, srcLen + tailLen + tagLen, dst.length);
    checkRange('iv', ivOff, 8, iv.length);
    checkRange('aad', aadOff, aadLen, aad.length);
    this.nonce.set(iv.subarray(ivOff, ivOff + 8), 4);
    const c = createCipheriv(this.alg, key, this.nonce, { authTagLength: tagLen });
    if (aadLen > 0) c.setAAD(aad.subarray(aadOff, aadOff + aadLen));
    const body = c.update(src.subarray(srcOff, srcOff + srcLen));
    const tail = tailLen > 0 ? c.update(dst.subarray(dstOff + srcLen, dstOff + srcLen + tailLen)) : null;
    const fin = c.final();
    const tag = c.getAuthTag();
    dst.set(body, dstOff);
    if (tail) dst.set(tail, dstOff + srcLen);
    if (fin.length) dst.set(fin, dstOff + srcLen + tailLen);
    dst.set(tag.subarray(0, tagLen), dstOff + srcLen + tailLen);
  }

  open(
    src: Uint8Array,
    srcOff: number,
    len: number,
    dst: Uint8Array,
    dstOff: number,
    iv: Uint8Array,
    ivOff: number,
    aad: Uint8Array,
    aadOff: number,
    aadLen: number,
    tagLen: number,
  ): boolean {
    const key = this.live('open');
    assertTagLength(tagLen);
    checkRange('src', srcOff, len + tagLen, src.length);
    checkRange('dst', dstOff, len, dst.length);
    checkRange('iv', ivOff, 8, iv.length);
    checkRange('aad', aadOff, aadLen, aad.length);
    this.nonce.set(iv.subarray(ivOff, ivOff + 8), 4);
    const d = createDecipheriv(this.alg, key, this.nonce, { authTagLength: tagLen });
    d.setAuthTag(src.slice(srcOff + len, srcOff + len + tagLen));
    if (aadLen > 0) d.setAAD(aad.subarray(aadOff, aadOff + aadLen));
    const body = d.update(src.subarray(srcOff, srcOff + len));
    try {
      d.final();
    } catch {
      dst.fill(0, dstOff, dstOff + len);
      return false;
    }
    dst.set(body, dstOff);
    return true;
  }

  sealBatch(src: Uint8Array, dst: Uint8Array, aad: Uint8Array, desc: Uint32Array, count: number): void {
    checkRange('desc', 0, count * GCM_DESC_STRIDE, desc.length);
    for (let i = 0; i < count; i++) {
      const o = i * GCM_DESC_STRIDE;
      this.seal(
        src,
        desc[o]!,
        desc[o + 1]!,
        dst,
        desc[o + 2]!,
        desc[o + 3]!,
        dst,
        desc[o + 4]!,
        aad,
        desc[o + 5]!,
        desc[o + 6]!,
        desc[o + 7]!,
      );
    }
  }

  openBatch(
    src: Uint8Array,
    dst: Uint8Array,
    aad: Uint8Array,
    desc: Uint32Array,
    count: number,
    ok: Uint8Array,
  ): number {
    checkRange('desc', 0, count * GCM_DESC_STRIDE, desc.length);
    checkRange('ok', 0, count, ok.length);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const o = i * GCM_DESC_STRIDE;
      const v = this.open(
        src,
        desc[o]!,
        desc[o + 1]!,
        dst,
        desc[o + 2]!,
        src,
        desc[o + 4]!,
        aad,
        desc[o + 5]!,
        desc[o + 6]!,
        desc[o + 7]!,
      );
      ok[i] = v ? 1 : 0;
      if (v) n++;
    }
    return n;
  }

  dispose(): void {
    this.key = null;
  }
}

export const nodeGcmProvider: GcmProvider = {
  name: 'node-crypto',
  createContext(key: Uint8Array, salt: Uint8Array, direction: GcmDirection): GcmContext {
    return new NodeGcmContext(key, salt, direction);
  },
};
