/**
 * AES-GCM for ESP (RFC 4106): a context per SA and direction holds the key schedule and the 4-byte
 * salt; each message supplies the 8-byte explicit IV (nonce = salt ‖ IV), the AAD and the data.
 *
 * Two providers implement `GcmProvider` with identical bytes: the native addon (one EVP_CIPHER_CTX per
 * context, only the nonce reset per packet) and `node:crypto` (a cipher object per packet). Offsets are
 * bounds-checked by both: an out-of-range region throws a RangeError and nothing is written.
 *
 * Batch descriptors are `GCM_DESC_STRIDE` u32 per message:
 *   seal: [srcOff, srcLen, dstOff, tailLen, ivOff (in dst), aadOff, aadLen, tagLen]
 *   open: [srcOff, len,    dstOff, 0,       ivOff (in src), aadOff, aadLen, tagLen]  (tag at src[srcOff+len])
 */

export const GCM_DESC_STRIDE = 8;
export const GCM_SALT_LEN = 4;
export const GCM_IV_LEN = 8;

export type GcmDirection = 'seal' | 'open';
export type GcmProviderName = 'native' | 'node-crypto';

export type GcmErrorCode =
  | 'BAD_KEY_LENGTH'
  | 'BAD_SALT_LENGTH'
  | 'BAD_TAG_LENGTH'
  | 'WRONG_DIRECTION'
  | 'DISPOSED';

/** Misuse of the GCM API. Messages name lengths and offsets, never key bytes. */
export class GcmError extends Error {
  override readonly name = 'GcmError';
  readonly code: GcmErrorCode;
  constructor(code: GcmErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The arrays of a packet batch (`PacketBatch` in esp/batch.ts) as the whole-batch ESP calls read them. */
export interface GcmEspBatchArrays {
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly capacities: Uint32Array;
  readonly status: Int32Array;
  readonly nextHeader: Uint8Array;
  readonly seqLo: Uint32Array;
  readonly seqHi: Uint32Array;
}

/**
 * Whole-batch ESP (framing, sequence numbers / anti-replay window and AES-GCM in one call), offered by
 * the native provider. `params`/`state` follow `ESP_PARAMS`/`ESP_STATE` of `@xfrmkit/native`; the
 * semantics are exactly those of the TypeScript path in esp/sa.ts, which EspSa uses when a context
 * lacks these methods.
 */
export interface GcmEspBatchOps {
  espEncapBatch(
    params: Uint8Array,
    state: Uint32Array,
    input: GcmEspBatchArrays,
    output: GcmEspBatchArrays,
    count: number,
    inPlace: boolean,
  ): number;
  espDecapBatch(
    params: Uint8Array,
    state: Uint32Array,
    bmp: Uint32Array,
    input: GcmEspBatchArrays,
    output: GcmEspBatchArrays,
    count: number,
    inPlace: boolean,
  ): number;
  /**
   * Single-packet ESP (when the addon has it): `bind` once with the SA's params, state
   * (`ESP_STATE_ONE_LEN` words) and, for decap, its replay bitmap; then `encapOne`/`decapOne` take only
   * the packet and the output (see `espEncapOne`/`espDecapOne` of `@xfrmkit/native`).
   */
  readonly one?: GcmEspOneOps | undefined;
}

/** The single-packet ESP calls of a context, on the SA `bind` was given. */
export interface GcmEspOneOps {
  bind(params: Uint8Array, state: Uint32Array, bmp: Uint32Array | null): void;
  /** The ESP packet's length or a negative ESP status. */
  encapOne(src: Uint8Array, dst: Uint8Array, dstOff: number): number;
  /** The output length or a negative ESP status. */
  decapOne(src: Uint8Array, dst: Uint8Array, dstOff: number): number;
}

export interface GcmContext {
  /** Present when the provider can run whole ESP batches natively (see `GcmEspBatchOps`). */
  readonly esp?: GcmEspBatchOps | undefined;
  readonly provider: GcmProviderName;
  readonly direction: GcmDirection;
  /** 16 or 32. */
  readonly keyLength: number;
  /**
   * Seals src[srcOff, +srcLen) ‖ dst[dstOff+srcLen, +tailLen) (the tail is already in dst, e.g. an ESP
   * trailer) into dst[dstOff, +srcLen+tailLen) followed by the tag. Same buffer and offset = in place.
   */
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
  ): void;
  /**
   * Opens src[srcOff, +len) whose tag follows it into dst[dstOff, +len). Returns false when the tag does
   * not verify; the output region is then zeroed (no unauthenticated plaintext is released).
   */
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
  ): boolean;
  /** Seals `count` messages described by `desc` (see the module comment). */
  sealBatch(src: Uint8Array, dst: Uint8Array, aad: Uint8Array, desc: Uint32Array, count: number): void;
  /** Opens `count` messages; ok[i] = 1 when message i verified. Returns the number verified. */
  openBatch(
    src: Uint8Array,
    dst: Uint8Array,
    aad: Uint8Array,
    desc: Uint32Array,
    count: number,
    ok: Uint8Array,
  ): number;
  /** Releases the key schedule. The context is unusable afterwards. */
  dispose(): void;
}

export interface GcmProvider {
  readonly name: GcmProviderName;
  /** key: 16 or 32 bytes; salt: 4 bytes. */
  createContext(key: Uint8Array, salt: Uint8Array, direction: GcmDirection): GcmContext;
}

export function validateGcmKey(key: Uint8Array, salt: Uint8Array): void {
  if (!(key instanceof Uint8Array) || (key.length !== 16 && key.length !== 32)) {
    const n = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new GcmError('BAD_KEY_LENGTH', `AES-GCM key must be 16 or 32 bytes, got ${n}`);
  }
  if (!(salt instanceof Uint8Array) || salt.length !== GCM_SALT_LEN) {
    const n = salt instanceof Uint8Array ? `${salt.length} bytes` : typeof salt;
    throw new GcmError('BAD_SALT_LENGTH', `RFC 4106 salt must be 4 bytes, got ${n}`);
  }
}

export function isValidTagLength(t: number): boolean {
  return t === 4 || t === 8 || (Number.isInteger(t) && t >= 12 && t <= 16);
}

/** Throws BAD_TAG_LENGTH unless `t` is a tag length AES-GCM accepts. */
export function assertTagLength(t: number): void {
  if (!isValidTagLength(t)) throw new GcmError('BAD_TAG_LENGTH', `tag length ${t} is not 4, 8 or 12..16`);
}

/** The handle of a context still alive and created for `dir` (DISPOSED / WRONG_DIRECTION otherwise). */
export function liveHandle<H>(handle: H | null | undefined, created: GcmDirection, dir: GcmDirection): H {
  if (!handle) throw new GcmError('DISPOSED', 'GCM context was disposed');
  if (created !== dir) {
    throw new GcmError('WRONG_DIRECTION', `this GCM context was created for ${created}, not ${dir}`);
  }
  return handle;
}

/** Throws a RangeError unless [off, off+len) lies in a buffer of `total` bytes. */
export function checkRange(what: string, off: number, len: number, total: number): void {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > total) {
    throw new RangeError(`${what} range ${off}+${len} exceeds ${total} bytes`);
  }
}

/** One-shot seal with a 12-byte nonce (salt = nonce[0..4)): returns ciphertext ‖ tag. Allocates. */
export function gcmSealMessage(
  provider: GcmProvider,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  tagLen = 16,
): Uint8Array {
  if (nonce.length !== 12) throw new RangeError(`nonce must be 12 bytes, got ${nonce.length}`);
  const ctx = provider.createContext(key, nonce.subarray(0, 4), 'seal');
  try {
    const out = new Uint8Array(plaintext.length + tagLen);
    ctx.seal(plaintext, 0, plaintext.length, out, 0, 0, nonce, 4, aad, 0, aad.length, tagLen);
    return out;
  } finally {
    ctx.dispose();
  }
}

/** One-shot open of ciphertext ‖ tag with a 12-byte nonce: the plaintext, or null if the tag fails. */
export function gcmOpenMessage(
  provider: GcmProvider,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  tagLen = 16,
): Uint8Array | null {
  if (nonce.length !== 12) throw new RangeError(`nonce must be 12 bytes, got ${nonce.length}`);
  if (sealed.length < tagLen) return null;
  const ctx = provider.createContext(key, nonce.subarray(0, 4), 'open');
  try {
    const len = sealed.length - tagLen;
    const out = new Uint8Array(len);
    return ctx.open(sealed, 0, len, out, 0, nonce, 4, aad, 0, aad.length, tagLen) ? out : null;
  } finally {
    ctx.dispose();
  }
}
