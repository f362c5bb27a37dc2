/**
 * Loader for the `@xfrmkit/native` addon (`build/Release/xfrmkit_native.node`, built at install by
 * `scripts/build.mjs`). `native` is null when the addon is missing or fails to load; `nativeLoadError`
 * then says why (the build log summary when the install-time build failed).
 *
 * Set `XFRMKIT_NATIVE=0` to pretend the addon is absent (the JS side then uses its fallbacks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque AES-GCM context (an N-API external holding one EVP_CIPHER_CTX). */
export type NativeGcmHandle = { readonly __brand: 'NativeGcmHandle' };

/** Stride (in u32) of one batch descriptor. */
export const GCM_DESC_STRIDE = 8;

/**
 * The whole-batch ESP calls (`espEncapBatch`/`espDecapBatch`) take the SA as `params`, a Uint8Array of
 * `ESP_PARAMS_LEN` bytes filled once (multi-byte fields big-endian), and its counters as `state`, a
 * Uint32Array of `ESP_STATE_LEN` words read on entry and written back on return.
 */
export const ESP_PARAMS = {
  SPI: 0,
  /** u16, `ESP_FLAG` bits */
  FLAGS: 4,
  ICV_LEN: 6,
  TTL: 7,
  /** 0 transport, 20 or 40 tunnel */
  OUTER_LEN: 8,
  /** 0 legacy, 1 bmp, 2 esn */
  REPLAY_MODE: 9,
  /** u32 */
  WINDOW: 12,
  /** 8 bytes XORed into the sequence-number IV */
  IV_MASK: 16,
  /** tunnel source / destination: 4 or 16 bytes */
  OUTER_SRC: 24,
  OUTER_DST: 40,
} as const;
export const ESP_PARAMS_LEN = 56;
export const ESP_FLAG = {
  TUNNEL: 0x001,
  ESN: 0x002,
  OSEQ_MAY_WRAP: 0x004,
  IV_MASK: 0x008,
  NO_PMTU_DISC: 0x010,
  DONT_ENCAP_DSCP: 0x020,
  NO_ECN: 0x040,
  DECAP_DSCP: 0x080,
  STRICT_PADDING: 0x100,
} as const;
/** `state` words: in = read on entry (and written back), out = what this call added. */
export const ESP_STATE = {
  /** in: last sent sequence number, low / high half */
  OSEQ: 0,
  OSEQ_HI: 1,
  /** in: next outer IPv4 id */
  IP_ID: 2,
  /** out: packets sent / accepted, their payload bytes (low / high word) */
  PACKETS: 3,
  BYTES_LO: 4,
  BYTES_HI: 5,
  /** in: replay window top, low / high half */
  SEQ: 6,
  SEQ_HI: 7,
  /** out: duplicates, too-old packets, ICV failures */
  REPLAY: 8,
  REPLAY_WINDOW: 9,
  INTEGRITY_FAILED: 10,
  /** out, `espDecapOne`: the packet's sequence number (low / high half) and next header */
  ONE_SEQ_LO: 12,
  ONE_SEQ_HI: 13,
  ONE_NEXT_HEADER: 14,
  /** out, `espDecapOne`: offset of the ESP header, ciphertext length, payload length (when accepted) */
  ONE_ESP_OFF: 15,
  ONE_CT_LEN: 16,
  ONE_PAYLOAD_LEN: 17,
  /** out, `espDecapOne`: how far the packet got, an `ESP_ONE_STAGE` */
  ONE_STAGE: 18,
} as const;
/** State words the batch calls need (the single-packet calls need `ESP_STATE_ONE_LEN`). */
export const ESP_STATE_LEN = 12;
/** State words `espBind` needs. */
export const ESP_STATE_ONE_LEN = 20;
/** `ESP_STATE.ONE_STAGE` after `espDecapOne`. */
export const ESP_ONE_STAGE = {
  /** failed parsing or the replay check: nothing was decrypted */
  PREPARE: 0,
  /** failed the ICV or the trailer checks: the replay window did not move */
  OPENED: 1,
  /** recorded in the replay window and counted (then dropped, or returned) */
  ACCEPTED: 2,
} as const;

export interface NativeConstants {
  CLONE_NEWNET: number;
  SOL_SOCKET: number;
  SOL_NETLINK: number;
  SO_RCVBUF: number;
  SO_SNDBUF: number;
  SO_RCVBUFFORCE: number;
  SO_SNDBUFFORCE: number;
  SO_PROTOCOL: number;
  NETLINK_ADD_MEMBERSHIP: number;
  NETLINK_DROP_MEMBERSHIP: number;
  NETLINK_EXT_ACK: number;
  NETLINK_CAP_ACK: number;
  NETLINK_GET_STRICT_CHK: number;
  NETLINK_NO_ENOBUFS: number;
  NETLINK_XFRM: number;
  NETLINK_GENERIC: number;
  NETLINK_ROUTE: number;
}

export interface NativeApi {
  /** Creates a context for one SA and direction. key: 16 or 32 bytes; salt: 4 bytes (nonce = salt ‖ 8-byte IV). */
  gcmCreate(key: Uint8Array, salt: Uint8Array, encrypt: boolean): NativeGcmHandle;
  /** Frees the OpenSSL context now (it is also freed when the handle is garbage collected). */
  gcmFree(ctx: NativeGcmHandle): void;
  /**
   * Seals src[srcOff, +srcLen) ‖ dst[dstOff+srcLen, +tailLen) into dst[dstOff, ...) and writes the tag
   * (tagLen bytes) right after the ciphertext. In place when src/dst and the offsets are the same.
   */
  gcmSeal(
    ctx: NativeGcmHandle,
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
   * Opens src[srcOff, +len) (tag at src[srcOff+len, +tagLen)) into dst[dstOff, +len). Returns false
   * (and zeroes the output) when the tag does not verify.
   */
  gcmOpen(
    ctx: NativeGcmHandle,
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
  /** desc: per message [srcOff, srcLen, dstOff, tailLen, ivOff (in dst), aadOff, aadLen, tagLen]. */
  gcmSealBatch(
    ctx: NativeGcmHandle,
    src: Uint8Array,
    dst: Uint8Array,
    aad: Uint8Array,
    desc: Uint32Array,
    count: number,
  ): number;
  /** desc: per message [srcOff, len, dstOff, 0, ivOff (in src), aadOff, aadLen, tagLen]; ok[i] = 1 if verified. */
  gcmOpenBatch(
    ctx: NativeGcmHandle,
    src: Uint8Array,
    dst: Uint8Array,
    aad: Uint8Array,
    desc: Uint32Array,
    count: number,
    ok: Uint8Array,
  ): number;
  /**
   * ESP-encapsulates `count` packets (src[offsets[i], +lengths[i]), in slots of capacities[i] bytes) into
   * dst[outOffsets[i], +outCapacities[i]) exactly as EspSa.encapBatch does: per packet status (0 or a
   * negative ESP status), length and sequence number. `inPlace`: src and dst are the same batch (a slot may
   * then be encapsulated in place). The 8 bytes after a packet inside its input slot may be borrowed during
   * the call (the ESP trailer is encrypted from there) and are restored. Returns the number of packets
   * encapsulated.
   */
  espEncapBatch(
    ctx: NativeGcmHandle,
    params: Uint8Array,
    state: Uint32Array,
    src: Uint8Array,
    dst: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    capacities: Uint32Array,
    outOffsets: Uint32Array,
    outCapacities: Uint32Array,
    status: Int32Array,
    outLengths: Uint32Array,
    seqLo: Uint32Array,
    seqHi: Uint32Array,
    count: number,
    inPlace: boolean,
  ): number;
  /**
   * ESP-decapsulates `count` packets as EspSa.decapBatch does, with the anti-replay window `bmp` (updated in
   * place) and its top in `state`. Returns the number of packets accepted.
   */
  espDecapBatch(
    ctx: NativeGcmHandle,
    params: Uint8Array,
    state: Uint32Array,
    bmp: Uint32Array,
    src: Uint8Array,
    dst: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    outOffsets: Uint32Array,
    outCapacities: Uint32Array,
    status: Int32Array,
    outLengths: Uint32Array,
    nextHeader: Uint8Array,
    seqLo: Uint32Array,
    seqHi: Uint32Array,
    count: number,
    inPlace: boolean,
  ): number;
  /**
   * Binds an SA's `params`, `state` (`ESP_STATE_ONE_LEN` words) and, for a decrypt context, its replay
   * bitmap to a context for `espEncapOne`/`espDecapOne` (the context keeps references to them).
   */
  espBind?(ctx: NativeGcmHandle, params: Uint8Array, state: Uint32Array, bmp: Uint32Array | null): void;
  /**
   * ESP-encapsulates the whole datagram `src` into dst[dstOff, ...) exactly as EspSa.encap does (with the
   * sequence-number IV), reading and writing the bound state. Returns the ESP packet's length or a
   * negative ESP status (nothing changed then). In place when src is dst[dstOff, ...).
   */
  espEncapOne?(ctx: NativeGcmHandle, src: Uint8Array, dst: Uint8Array, dstOff: number): number;
  /**
   * ESP-decapsulates the datagram `src` into dst[dstOff, ...) exactly as EspSa.decap does, with the bound
   * state and bitmap. Returns the output length or a negative ESP status; `ESP_STATE.ONE_*` say the
   * sequence number, next header and how far a dropped packet got.
   */
  espDecapOne?(ctx: NativeGcmHandle, src: Uint8Array, dst: Uint8Array, dstOff: number): number;
  setsockoptInt(fd: number, level: number, optname: number, value: number): void;
  getsockoptInt(fd: number, level: number, optname: number): number;
  /** The fd of this process's AF_NETLINK socket bound to `portid` (and `protocol` if given), or -1. */
  netlinkSocketFd(portid: number, protocol?: number): number;
  /** setns(2) for the calling thread (the JS main thread). */
  setns(fd: number, nstype: number): void;
  /** Opens /run/netns/NAME (as `ip netns add NAME` creates it); returns the fd. */
  openNetnsFd(name: string): number;
  /** Opens /proc/thread-self/ns/net: keep it to switch back after setns(). */
  currentNetnsFd(): number;
  closeFd(fd: number): void;
  readonly constants: NativeConstants;
  readonly opensslVersion: string;
}

/** Errors from system calls carry the errno name in `code` ("EPERM") and -errno in `errno`. */
export interface NativeSyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const addonPath: string = join(pkgDir, 'build', 'Release', 'xfrmkit_native.node');

function load(): { api: NativeApi | null; reason: string | null } {
  if (process.env.XFRMKIT_NATIVE === '0') return { api: null, reason: 'disabled by XFRMKIT_NATIVE=0' };
  if (!existsSync(addonPath)) {
    const failed = join(pkgDir, 'build', 'BUILD_FAILED.txt');
    if (existsSync(failed)) {
      const text = readFileSync(failed, 'utf8').trim().split('\n');
      return { api: null, reason: `install-time build failed: ${text[0]} (see ${failed})` };
    }
    return {
      api: null,
      reason: `${addonPath} not found (run \`npx --yes pnpm@10 install\` or \`node packages/native/scripts/build.mjs\`)`,
    };
  }
  try {
    const api = createRequire(import.meta.url)(addonPath) as NativeApi;
    if (typeof api.gcmCreate !== 'function')
      return { api: null, reason: `${addonPath} is not the xfrmkit addon` };
    return { api, reason: null };
  } catch (e) {
    return { api: null, reason: `loading ${addonPath} failed: ${(e as Error).message}` };
  }
}

const loaded = load();

/** The addon, or null when it could not be loaded (see `nativeLoadError`). */
export const native: NativeApi | null = loaded.api;
/** Why `native` is null; null when it loaded. */
export const nativeLoadError: string | null = loaded.reason;
