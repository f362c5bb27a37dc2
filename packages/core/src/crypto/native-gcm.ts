/**
 * Native AES-GCM provider: wraps `@xfrmkit/native` (one EVP_CIPHER_CTX per context; per message only
 * the nonce is reset). Batch calls process many messages in one N-API call.
 */
import type { NativeApi, NativeGcmHandle } from '@xfrmkit/native';
import {
  assertTagLength,
  type GcmContext,
  type GcmDirection,
  type GcmEspBatchArrays,
  type GcmEspBatchOps,
  type GcmEspOneOps,
  type GcmProvider,
  liveHandle,
  validateGcmKey,
} from './gcm.ts';

class NativeGcmContext implements GcmContext, GcmEspBatchOps {
  readonly provider = 'native' as const;
  readonly direction: GcmDirection;
  readonly keyLength: number;
  /** Whole-batch ESP, unless the addon predates it. */
  readonly esp: GcmEspBatchOps | undefined;
  /** Single-packet ESP, unless the addon predates it. */
  readonly one: GcmEspOneOps | undefined;
  private h: NativeGcmHandle | null;

  constructor(
    private readonly api: NativeApi,
    key: Uint8Array,
    salt: Uint8Array,
    direction: GcmDirection,
  ) {
    validateGcmKey(key, salt);
    this.direction = direction;
    this.keyLength = key.length;
    this.h = api.gcmCreate(key, salt, direction === 'seal');
    this.esp =
      typeof api.espEncapBatch === 'function' && typeof api.espDecapBatch === 'function' ? this : undefined;
    this.one =
      this.esp &&
      typeof api.espBind === 'function' &&
      typeof api.espEncapOne === 'function' &&
      typeof api.espDecapOne === 'function'
        ? new NativeEspOne(api, this)
        : undefined;
  }

  /** The handle (DISPOSED / WRONG_DIRECTION checked), for `NativeEspOne`. */
  handle(dir: GcmDirection): NativeGcmHandle {
    const h = this.h;
    if (h !== null && dir === this.direction) return h; // per packet: no call into another module
    return liveHandle(h, this.direction, dir);
  }

  private live(dir: GcmDirection): NativeGcmHandle {
    return liveHandle(this.h, this.direction, dir);
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
    const h = this.live('seal');
    assertTagLength(tagLen);
    this.api.gcmSeal(h, src, srcOff, srcLen, dst, dstOff, tailLen, iv, ivOff, aad, aadOff, aadLen, tagLen);
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
    const h = this.live('open');
    assertTagLength(tagLen);
    return this.api.gcmOpen(h, src, srcOff, len, dst, dstOff, iv, ivOff, aad, aadOff, aadLen, tagLen);
  }

  sealBatch(src: Uint8Array, dst: Uint8Array, aad: Uint8Array, desc: Uint32Array, count: number): void {
    this.api.gcmSealBatch(this.live('seal'), src, dst, aad, desc, count);
  }

  openBatch(
    src: Uint8Array,
    dst: Uint8Array,
    aad: Uint8Array,
    desc: Uint32Array,
    count: number,
    ok: Uint8Array,
  ): number {
    return this.api.gcmOpenBatch(this.live('open'), src, dst, aad, desc, count, ok);
  }

  espEncapBatch(
    params: Uint8Array,
    state: Uint32Array,
    input: GcmEspBatchArrays,
    output: GcmEspBatchArrays,
    count: number,
    inPlace: boolean,
  ): number {
    return this.api.espEncapBatch(
      this.live('seal'),
      params,
      state,
      input.buf,
      output.buf,
      input.offsets,
      input.lengths,
      input.capacities,
      output.offsets,
      output.capacities,
      output.status,
      output.lengths,
      output.seqLo,
      output.seqHi,
      count,
      inPlace,
    );
  }

  espDecapBatch(
    params: Uint8Array,
    state: Uint32Array,
    bmp: Uint32Array,
    input: GcmEspBatchArrays,
    output: GcmEspBatchArrays,
    count: number,
    inPlace: boolean,
  ): number {
    return this.api.espDecapBatch(
      this.live('open'),
      params,
      state,
      bmp,
      input.buf,
      output.buf,
      input.offsets,
      input.lengths,
      output.offsets,
      output.capacities,
      output.status,
      output.lengths,
      output.nextHeader,
      output.seqLo,
      output.seqHi,
      count,
      inPlace,
    );
  }

  dispose(): void {
    if (this.h) this.api.gcmFree(this.h);
    this.h = null;
  }
}

/** The single-packet ESP calls of one native context: the SA is bound once, a call passes the packet. */
class NativeEspOne implements GcmEspOneOps {
  private readonly encap: NonNullable<NativeApi['espEncapOne']>;
  private readonly decap: NonNullable<NativeApi['espDecapOne']>;
  constructor(
    private readonly api: NativeApi,
    private readonly ctx: NativeGcmContext,
  ) {
    this.encap = api.espEncapOne!;
    this.decap = api.espDecapOne!;
  }

  bind(params: Uint8Array, state: Uint32Array, bmp: Uint32Array | null): void {
    this.api.espBind!(this.ctx.handle(this.ctx.direction), params, state, bmp);
  }

  encapOne(src: Uint8Array, dst: Uint8Array, dstOff: number): number {
    return this.encap(this.ctx.handle('seal'), src, dst, dstOff);
  }

  decapOne(src: Uint8Array, dst: Uint8Array, dstOff: number): number {
    return this.decap(this.ctx.handle('open'), src, dst, dstOff);
  }
}

export function createNativeGcmProvider(api: NativeApi): GcmProvider {
  return {
    name: 'native',
    createContext(key: Uint8Array, salt: Uint8Array, direction: GcmDirection): GcmContext {
      return new NativeGcmContext(api, key, salt, direction);
    },
  };
}
