/*
 * @xfrmkit/native: a small N-API addon (plain node_api.h, no node-addon-api).
 *
 *  - AES-GCM contexts: one EVP_CIPHER_CTX per SA and direction, keyed once; each packet only
 *    resets the 12-byte nonce (4-byte salt kept in the context + 8-byte explicit IV), as RFC 4106.
 *    OpenSSL comes from the Node binary itself (it exports its libcrypto symbols), so nothing
 *    extra is linked.
 *  - Whole ESP batches (espEncapBatch / espDecapBatch): framing, sequence numbers, the anti-replay
 *    window and AES-GCM for a batch of packets in one call, the exact semantics of EspSa's
 *    TypeScript path (packages/core/src/esp/sa.ts), which stays the reference and the fallback.
 *    Single packets (espEncapOne / espDecapOne) run the same per-packet code on an SA bound to the
 *    context once (espBind), so that a call converts only the packet, the output and its offset.
 *  - Socket helpers for the netlink transport: int socket options, finding the fd of a netlink
 *    socket by port id, and network-namespace switching (setns) of the calling thread.
 *
 * Every buffer access is bounds-checked: a bad offset throws a RangeError, never a crash.
 * Key bytes are never printed or copied anywhere but into the OpenSSL context.
 */
#include <node_api.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define CHECK_NAPI(call)                                                                            \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, "ENAPI", "N-API call failed: " #call);                                  \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

#define THROW_RANGE(...)                                                                            \
  do {                                                                                              \
    char msg_[256];                                                                                 \
    snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                       \
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg_);                                          \
    return NULL;                                                                                    \
  } while (0)

#define THROW_TYPE(...)                                                                             \
  do {                                                                                              \
    char msg_[256];                                                                                 \
    snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                       \
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg_);                                       \
    return NULL;                                                                                    \
  } while (0)

/* ---------- argument helpers ---------- */

typedef struct {
  uint8_t *data;
  size_t len; /* bytes */
} bytes_t;

static int get_bytes(napi_env env, napi_value v, bytes_t *out, const char *what) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_uint8_clamped_array)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Uint8Array", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  out->data = (uint8_t *)data;
  out->len = length;
  if (out->data == NULL && length == 0) {
    static uint8_t empty[1];
    out->data = empty;
  }
  return 1;
}

static int get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len, const char *what) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint32_array) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a Uint32Array", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *data = (uint32_t *)p;
  return 1;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 4294967295.0 || d != (double)(uint32_t)d) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer in 0..2^32-1", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

static int get_i32(napi_env env, napi_value v, int32_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < -2147483648.0 || d > 2147483647.0 || d != (double)(int32_t)d) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a 32-bit integer", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (int32_t)d;
  return 1;
}

static int in_bounds(uint64_t off, uint64_t len, uint64_t total) { return off <= total && len <= total - off; }

/* ---------- errno errors ---------- */

static const char *errno_name(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(e);
  if (n) return n;
#endif
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EACCES: return "EACCES";
    case EMFILE: return "EMFILE";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *detail) {
  const char *name = errno_name(err);
  char msg[512];
  if (detail)
    snprintf(msg, sizeof msg, "%s %s failed: %s (%s)", syscall, detail, strerror(err), name);
  else
    snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(err), name);
  napi_value code, message, error, errnum, sys;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok) {
    napi_throw_error(env, name, msg);
    return NULL;
  }
  napi_create_int32(env, -err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

/* ---------- AES-GCM ---------- */

typedef struct {
  EVP_CIPHER_CTX *ctx;
  uint8_t salt[4];
  int enc;
  int key_len;
  /* espBind: the SA's params / state / replay bitmap for the single-packet ESP calls; the references keep
     the typed arrays (and so these pointers into their backing stores) alive */
  uint8_t *esp_params;
  uint32_t *esp_state;
  uint32_t *esp_bmp;
  size_t esp_bmp_len;
  napi_ref esp_refs[3];
} gcm_t;

static void gcm_unbind(napi_env env, gcm_t *g) {
  for (int i = 0; i < 3; i++) {
    if (g->esp_refs[i]) napi_delete_reference(env, g->esp_refs[i]);
    g->esp_refs[i] = NULL;
  }
  g->esp_params = NULL;
  g->esp_state = NULL;
  g->esp_bmp = NULL;
  g->esp_bmp_len = 0;
}

static void gcm_release(gcm_t *g) {
  if (g->ctx) {
    EVP_CIPHER_CTX_free(g->ctx); /* cleanses the key schedule */
    g->ctx = NULL;
  }
  OPENSSL_cleanse(g->salt, sizeof g->salt);
}

static void gcm_finalize(napi_env env, void *data, void *hint) {
  gcm_t *g = (gcm_t *)data;
  gcm_unbind(env, g);
  gcm_release(g);
  free(g);
}

static gcm_t *get_gcm(napi_env env, napi_value v) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok ||
      p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "context must be a GCM context from gcmCreate()");
    return NULL;
  }
  gcm_t *g = (gcm_t *)p;
  if (g->ctx == NULL) {
    napi_throw_error(env, "ERR_GCM_FREED", "GCM context was freed");
    return NULL;
  }
  return g;
}

/* gcmCreate(key: Uint8Array(16|32), salt: Uint8Array(4), encrypt: boolean) -> external */
static napi_value gcm_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) THROW_TYPE("gcmCreate(key, salt, encrypt) needs 3 arguments");
  bytes_t key, salt;
  if (!get_bytes(env, argv[0], &key, "key") || !get_bytes(env, argv[1], &salt, "salt")) return NULL;
  bool enc;
  if (napi_get_value_bool(env, argv[2], &enc) != napi_ok) THROW_TYPE("encrypt must be a boolean");
  const EVP_CIPHER *cipher;
  if (key.len == 16)
    cipher = EVP_aes_128_gcm();
  else if (key.len == 32)
    cipher = EVP_aes_256_gcm();
  else
    THROW_RANGE("AES-GCM key must be 16 or 32 bytes, got %zu bytes", key.len);
  if (salt.len != 4) THROW_RANGE("GCM salt must be 4 bytes, got %zu", salt.len);

  gcm_t *g = (gcm_t *)calloc(1, sizeof *g);
  if (!g) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  g->ctx = EVP_CIPHER_CTX_new();
  g->enc = enc ? 1 : 0;
  g->key_len = (int)key.len;
  memcpy(g->salt, salt.data, 4);
  if (!g->ctx || EVP_CipherInit_ex(g->ctx, cipher, NULL, NULL, NULL, g->enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
      EVP_CipherInit_ex(g->ctx, NULL, NULL, key.data, NULL, g->enc) != 1) {
    gcm_release(g);
    free(g);
    napi_throw_error(env, "ERR_OPENSSL", "OpenSSL could not initialise the AES-GCM context");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, g, gcm_finalize, NULL, &ext) != napi_ok) {
    gcm_release(g);
    free(g);
    napi_throw_error(env, "ENAPI", "napi_create_external failed");
    return NULL;
  }
  return ext;
}

/* gcmFree(ctx): releases the OpenSSL context now (the external's finalizer frees the rest). */
static napi_value gcm_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  napi_valuetype t;
  if (argc >= 1 && napi_typeof(env, argv[0], &t) == napi_ok && t == napi_external &&
      napi_get_value_external(env, argv[0], &p) == napi_ok && p) {
    gcm_unbind(env, (gcm_t *)p);
    gcm_release((gcm_t *)p);
  }
  return NULL;
}

static int valid_tag_len(uint32_t t) { return t == 4 || t == 8 || (t >= 12 && t <= 16); }

/*
 * Seal one message. Plaintext = src[srcOff, +srcLen) ‖ dst[dstOff+srcLen, +tailLen) (the tail is already
 * in dst, e.g. the ESP trailer). Ciphertext goes to dst[dstOff, +srcLen+tailLen), tag right after it.
 * Returns 0 on success, -1 on OpenSSL failure.
 */
static int gcm_seal_one(gcm_t *g, const uint8_t *iv8, const uint8_t *aad, uint32_t aad_len, const uint8_t *src,
                        uint32_t src_len, uint8_t *dst, uint32_t tail_len, uint32_t tag_len) {
  uint8_t nonce[12];
  int outl;
  memcpy(nonce, g->salt, 4);
  memcpy(nonce + 4, iv8, 8);
  if (EVP_CipherInit_ex(g->ctx, NULL, NULL, NULL, nonce, 1) != 1) return -1;
  if (aad_len && EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int)aad_len) != 1) return -1;
  if (src_len) {
    if (src != dst && src < dst + src_len && dst < src + src_len) {
      memmove(dst, src, src_len); /* partial overlap: move first, then work in place */
      src = dst;
    }
    if (EVP_CipherUpdate(g->ctx, dst, &outl, src, (int)src_len) != 1) return -1;
  }
  if (tail_len && EVP_CipherUpdate(g->ctx, dst + src_len, &outl, dst + src_len, (int)tail_len) != 1) return -1;
  if (EVP_CipherFinal_ex(g->ctx, dst + src_len + tail_len, &outl) != 1) return -1;
  if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, (int)tag_len, dst + src_len + tail_len) != 1) return -1;
  return 0;
}

/* Open one message: ciphertext src[srcOff, +len), tag right after it. Returns 1 verified, 0 not. */
static int gcm_open_one(gcm_t *g, const uint8_t *iv8, const uint8_t *aad, uint32_t aad_len, const uint8_t *src,
                        uint32_t len, uint8_t *dst, uint32_t tag_len) {
  uint8_t nonce[12];
  uint8_t tag[16];
  int outl;
  memcpy(nonce, g->salt, 4);
  memcpy(nonce + 4, iv8, 8);
  memcpy(tag, src + len, tag_len); /* copy first: in-place output may overwrite it */
  if (EVP_CipherInit_ex(g->ctx, NULL, NULL, NULL, nonce, 0) != 1) return 0;
  if (aad_len && EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int)aad_len) != 1) return 0;
  if (len) {
    if (src != dst && src < dst + len && dst < src + len) {
      memmove(dst, src, len);
      src = dst;
    }
    if (EVP_CipherUpdate(g->ctx, dst, &outl, src, (int)len) != 1) goto fail;
  }
  if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, (int)tag_len, tag) != 1) goto fail;
  if (EVP_CipherFinal_ex(g->ctx, dst + len, &outl) <= 0) goto fail;
  return 1;
fail:
  /* never hand out unauthenticated plaintext */
  if (len) memset(dst, 0, len);
  return 0;
}

/* gcmSeal(ctx, src, srcOff, srcLen, dst, dstOff, tailLen, iv, ivOff, aad, aadOff, aadLen, tagLen) */
static napi_value gcm_seal(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 13) THROW_TYPE("gcmSeal needs 13 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (!g->enc) THROW_TYPE("gcmSeal needs an encrypt context");
  bytes_t src, dst, iv, aad;
  uint32_t src_off, src_len, dst_off, tail_len, iv_off, aad_off, aad_len, tag_len;
  if (!get_bytes(env, a[1], &src, "src") || !get_u32(env, a[2], &src_off, "srcOff") ||
      !get_u32(env, a[3], &src_len, "srcLen") || !get_bytes(env, a[4], &dst, "dst") ||
      !get_u32(env, a[5], &dst_off, "dstOff") || !get_u32(env, a[6], &tail_len, "tailLen") ||
      !get_bytes(env, a[7], &iv, "iv") || !get_u32(env, a[8], &iv_off, "ivOff") ||
      !get_bytes(env, a[9], &aad, "aad") || !get_u32(env, a[10], &aad_off, "aadOff") ||
      !get_u32(env, a[11], &aad_len, "aadLen") || !get_u32(env, a[12], &tag_len, "tagLen"))
    return NULL;
  if (!valid_tag_len(tag_len)) THROW_RANGE("tag length %u is not one of 4, 8, 12..16", tag_len);
  if (!in_bounds(src_off, src_len, src.len)) THROW_RANGE("src range %u+%u exceeds %zu bytes", src_off, src_len, src.len);
  if (!in_bounds(dst_off, (uint64_t)src_len + tail_len + tag_len, dst.len))
    THROW_RANGE("dst range %u+%llu exceeds %zu bytes", dst_off, (unsigned long long)src_len + tail_len + tag_len,
                dst.len);
  if (!in_bounds(iv_off, 8, iv.len)) THROW_RANGE("iv range %u+8 exceeds %zu bytes", iv_off, iv.len);
  if (!in_bounds(aad_off, aad_len, aad.len)) THROW_RANGE("aad range %u+%u exceeds %zu bytes", aad_off, aad_len, aad.len);
  if ((uint64_t)src_len + tail_len > 0x7fffffffu) THROW_RANGE("message too long");
  if (gcm_seal_one(g, iv.data + iv_off, aad.data + aad_off, aad_len, src.data + src_off, src_len, dst.data + dst_off,
                   tail_len, tag_len) != 0) {
    napi_throw_error(env, "ERR_OPENSSL", "AES-GCM seal failed");
    return NULL;
  }
  return NULL;
}

/* gcmOpen(ctx, src, srcOff, len, dst, dstOff, iv, ivOff, aad, aadOff, aadLen, tagLen) -> boolean */
static napi_value gcm_open(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value a[12];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 12) THROW_TYPE("gcmOpen needs 12 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (g->enc) THROW_TYPE("gcmOpen needs a decrypt context");
  bytes_t src, dst, iv, aad;
  uint32_t src_off, len, dst_off, iv_off, aad_off, aad_len, tag_len;
  if (!get_bytes(env, a[1], &src, "src") || !get_u32(env, a[2], &src_off, "srcOff") ||
      !get_u32(env, a[3], &len, "len") || !get_bytes(env, a[4], &dst, "dst") ||
      !get_u32(env, a[5], &dst_off, "dstOff") || !get_bytes(env, a[6], &iv, "iv") ||
      !get_u32(env, a[7], &iv_off, "ivOff") || !get_bytes(env, a[8], &aad, "aad") ||
      !get_u32(env, a[9], &aad_off, "aadOff") || !get_u32(env, a[10], &aad_len, "aadLen") ||
      !get_u32(env, a[11], &tag_len, "tagLen"))
    return NULL;
  if (!valid_tag_len(tag_len)) THROW_RANGE("tag length %u is not one of 4, 8, 12..16", tag_len);
  if (!in_bounds(src_off, (uint64_t)len + tag_len, src.len))
    THROW_RANGE("src range %u+%u+tag exceeds %zu bytes", src_off, len, src.len);
  if (!in_bounds(dst_off, len, dst.len)) THROW_RANGE("dst range %u+%u exceeds %zu bytes", dst_off, len, dst.len);
  if (!in_bounds(iv_off, 8, iv.len)) THROW_RANGE("iv range %u+8 exceeds %zu bytes", iv_off, iv.len);
  if (!in_bounds(aad_off, aad_len, aad.len)) THROW_RANGE("aad range %u+%u exceeds %zu bytes", aad_off, aad_len, aad.len);
  if (len > 0x7fffffffu) THROW_RANGE("message too long");
  int ok = gcm_open_one(g, iv.data + iv_off, aad.data + aad_off, aad_len, src.data + src_off, len, dst.data + dst_off,
                        tag_len);
  napi_value r;
  CHECK_NAPI(napi_get_boolean(env, ok, &r));
  return r;
}

/*
 * Batch descriptors: 8 x u32 per message.
 *  seal: [srcOff, srcLen, dstOff, tailLen, ivOff (in dst), aadOff, aadLen, tagLen]
 *  open: [srcOff, len,    dstOff, 0,       ivOff (in src), aadOff, aadLen, tagLen]  (tag at src[srcOff+len])
 */
#define DESC_STRIDE 8

/* gcmSealBatch(ctx, src, dst, aad, desc: Uint32Array, count) -> count */
static napi_value gcm_seal_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 6) THROW_TYPE("gcmSealBatch needs 6 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (!g->enc) THROW_TYPE("gcmSealBatch needs an encrypt context");
  bytes_t src, dst, aad;
  uint32_t *desc;
  size_t desc_len;
  uint32_t count;
  if (!get_bytes(env, a[1], &src, "src") || !get_bytes(env, a[2], &dst, "dst") || !get_bytes(env, a[3], &aad, "aad") ||
      !get_u32_array(env, a[4], &desc, &desc_len, "desc") || !get_u32(env, a[5], &count, "count"))
    return NULL;
  if ((uint64_t)count * DESC_STRIDE > desc_len) THROW_RANGE("desc holds %zu entries, count is %u", desc_len / 8, count);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t *d = desc + (size_t)i * DESC_STRIDE;
    uint32_t src_off = d[0], src_len = d[1], dst_off = d[2], tail_len = d[3], iv_off = d[4], aad_off = d[5],
             aad_len = d[6], tag_len = d[7];
    if (!valid_tag_len(tag_len)) THROW_RANGE("message %u: tag length %u invalid", i, tag_len);
    if (!in_bounds(src_off, src_len, src.len)) THROW_RANGE("message %u: src range out of bounds", i);
    if (!in_bounds(dst_off, (uint64_t)src_len + tail_len + tag_len, dst.len))
      THROW_RANGE("message %u: dst range out of bounds", i);
    if (!in_bounds(iv_off, 8, dst.len)) THROW_RANGE("message %u: iv range out of bounds", i);
    if (!in_bounds(aad_off, aad_len, aad.len)) THROW_RANGE("message %u: aad range out of bounds", i);
    if ((uint64_t)src_len + tail_len > 0x7fffffffu) THROW_RANGE("message %u too long", i);
    if (gcm_seal_one(g, dst.data + iv_off, aad.data + aad_off, aad_len, src.data + src_off, src_len, dst.data + dst_off,
                     tail_len, tag_len) != 0) {
      napi_throw_error(env, "ERR_OPENSSL", "AES-GCM seal failed");
      return NULL;
    }
  }
  napi_value r;
  CHECK_NAPI(napi_create_uint32(env, count, &r));
  return r;
}

/* gcmOpenBatch(ctx, src, dst, aad, desc: Uint32Array, count, ok: Uint8Array) -> number verified */
static napi_value gcm_open_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 7) THROW_TYPE("gcmOpenBatch needs 7 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (g->enc) THROW_TYPE("gcmOpenBatch needs a decrypt context");
  bytes_t src, dst, aad, okb;
  uint32_t *desc;
  size_t desc_len;
  uint32_t count;
  if (!get_bytes(env, a[1], &src, "src") || !get_bytes(env, a[2], &dst, "dst") || !get_bytes(env, a[3], &aad, "aad") ||
      !get_u32_array(env, a[4], &desc, &desc_len, "desc") || !get_u32(env, a[5], &count, "count") ||
      !get_bytes(env, a[6], &okb, "ok"))
    return NULL;
  if ((uint64_t)count * DESC_STRIDE > desc_len) THROW_RANGE("desc holds %zu entries, count is %u", desc_len / 8, count);
  if (okb.len < count) THROW_RANGE("ok array holds %zu entries, count is %u", okb.len, count);
  uint32_t verified = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t *d = desc + (size_t)i * DESC_STRIDE;
    uint32_t src_off = d[0], len = d[1], dst_off = d[2], iv_off = d[4], aad_off = d[5], aad_len = d[6],
             tag_len = d[7];
    if (!valid_tag_len(tag_len)) THROW_RANGE("message %u: tag length %u invalid", i, tag_len);
    if (!in_bounds(src_off, (uint64_t)len + tag_len, src.len)) THROW_RANGE("message %u: src range out of bounds", i);
    if (!in_bounds(dst_off, len, dst.len)) THROW_RANGE("message %u: dst range out of bounds", i);
    if (!in_bounds(iv_off, 8, src.len)) THROW_RANGE("message %u: iv range out of bounds", i);
    if (!in_bounds(aad_off, aad_len, aad.len)) THROW_RANGE("message %u: aad range out of bounds", i);
    if (len > 0x7fffffffu) THROW_RANGE("message %u too long", i);
    int ok = gcm_open_one(g, src.data + iv_off, aad.data + aad_off, aad_len, src.data + src_off, len,
                          dst.data + dst_off, tag_len);
    okb.data[i] = (uint8_t)ok;
    verified += (uint32_t)ok;
  }
  napi_value r;
  CHECK_NAPI(napi_create_uint32(env, verified, &r));
  return r;
}

/* ---------- ESP (RFC 4303 with RFC 4106 AES-GCM): whole batches ---------- */

/*
 * espEncapBatch / espDecapBatch do everything EspSa.encapBatch / decapBatch do in TypeScript
 * (packages/core/src/esp/sa.ts is the reference and the fallback), for a whole PacketBatch in one
 * call: header parsing and checks, sequence number assignment, outer/ESP headers, IV, padding and
 * trailer, AAD (SPI ‖ [seq_hi] ‖ seq), AES-GCM in place or straight into the output slot, and on
 * input the anti-replay window (the exact arithmetic of packages/core/src/replay/window.ts, i.e.
 * Linux xfrm_replay.c): every packet is checked before any is decrypted, the window moves only
 * after a packet's ICV, padding and recheck passed. Statuses are the negative codes of
 * packages/core/src/esp/errors.ts.
 */
enum {
  S_TRUNCATED = -1,
  S_MALFORMED = -2,
  S_EMPTY_PAYLOAD = -3,
  S_NOT_ESP = -4,
  S_SPI_MISMATCH = -5,
  S_INVALID_SEQ = -6,
  S_REPLAY = -7,
  S_REPLAY_WINDOW = -8,
  S_ICV_MISMATCH = -9,
  S_BAD_PADDING = -10,
  S_BAD_NEXT_HEADER = -11,
  S_DUMMY_PACKET = -12,
  S_SEQ_OVERFLOW = -13,
  S_BUFFER_TOO_SMALL = -14,
  S_OVERLAP = -15,
  S_UNSUPPORTED = -16,
};

/* params: a Uint8Array of ESP_PARAMS_LEN bytes that EspSa fills once (multi-byte fields big-endian) */
#define EP_SPI 0
#define EP_FLAGS 4 /* u16 */
#define EP_ICV 6
#define EP_TTL 7
#define EP_OUTER_LEN 8 /* 0 transport, 20 / 40 tunnel */
#define EP_REPLAY_MODE 9 /* 0 legacy, 1 bmp, 2 esn */
#define EP_WINDOW 12 /* u32 */
#define EP_IV_MASK 16 /* 8 bytes */
#define EP_OUTER_SRC 24 /* 4 or 16 bytes */
#define EP_OUTER_DST 40
#define ESP_PARAMS_LEN 56

#define EF_TUNNEL 0x001
#define EF_ESN 0x002
#define EF_OSEQ_MAY_WRAP 0x004
#define EF_IV_MASK 0x008
#define EF_NO_PMTU_DISC 0x010
#define EF_DONT_ENCAP_DSCP 0x020
#define EF_NO_ECN 0x040
#define EF_DECAP_DSCP 0x080
#define EF_STRICT_PADDING 0x100

/* state: a Uint32Array of ESP_STATE_LEN words, in (sequence numbers, window top) and out (also deltas) */
#define ES_OSEQ 0
#define ES_OSEQ_HI 1
#define ES_IP_ID 2
#define ES_PACKETS 3 /* out: packets sent / accepted by this call */
#define ES_BYTES_LO 4 /* out: their payload bytes */
#define ES_BYTES_HI 5
#define ES_SEQ 6
#define ES_SEQ_HI 7
#define ES_REPLAY 8 /* out: duplicates dropped by this call */
#define ES_REPLAY_WINDOW 9 /* out: too-old drops */
#define ES_INTEGRITY 10 /* out: ICV failures */
#define ESP_STATE_LEN 12 /* what the batch calls use */
/* out, single-packet decap (espDecapOne): the packet's sequence number, next header, where its ESP header
   and ciphertext were, its payload length, and how far it got (ONE_STAGE_*), for EspSa to word an error */
#define ES_ONE_SEQ_LO 12
#define ES_ONE_SEQ_HI 13
#define ES_ONE_NEXT_HEADER 14
#define ES_ONE_ESP_OFF 15
#define ES_ONE_CT_LEN 16
#define ES_ONE_PAYLOAD_LEN 17
#define ES_ONE_STAGE 18
#define ESP_STATE_ONE_LEN 20 /* what espBind needs */
#define ONE_STAGE_PREPARE 0 /* failed parsing or the replay check: nothing decrypted */
#define ONE_STAGE_OPENED 1  /* failed the ICV or the trailer: the window did not move */
#define ONE_STAGE_ACCEPTED 2 /* recorded in the window (and counted) */

#define RW_LEGACY 0
#define RW_BMP 1
#define RW_ESN 2
#define RW_OK 0
#define RW_DUPLICATE 1
#define RW_TOO_OLD 2
#define RW_INVALID 3

#define ESP_HDR_IV 16
/* up to this many payload bytes an out-of-place seal copies the payload next to the trailer and makes one
   AES-GCM pass (one EVP update less); above it the payload is encrypted straight from the input */
#ifndef ESP_COPY_MAX
#define ESP_COPY_MAX 512
#endif
#ifndef ESP_SLACK_MIN
#define ESP_SLACK_MIN 256
#endif

typedef struct {
  uint32_t spi, flags, icv, ttl, outer_len, mode, window;
  uint8_t spi_be[4], iv_mask[8], src[16], dst[16];
  /* sequence numbers and window */
  uint32_t oseq, oseq_hi, ip_id, seq, seq_hi;
  uint32_t *bmp;
  uint32_t replay, replay_window, integrity, packets;
  uint64_t bytes;
  uint32_t csum_base; /* the constant words of an outer IPv4 header: 0x45 00, TTL ‖ 50, addresses */
  uint32_t spi_ne;    /* the SPI's wire bytes as a native word */
  uint32_t src_u32, dst_u32; /* IPv4 tunnel addresses (host order) */
  uint64_t iv_mask64; /* the IV mask as a number (big-endian bytes) */
  int wpow2;          /* the window is a power of two: x % window = x & (window − 1) */
} esp_t;

static inline uint32_t rd16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* IPv4 header checksum of the header at h (IHL from h[0]); bytes at or past `avail` count as 0, as the
   TypeScript version reads them (undefined) */
static void ipv4_fix_csum(uint8_t *h, uint32_t avail) {
  uint32_t hl = (uint32_t)(h[0] & 15) * 4, sum = 0;
  for (uint32_t i = 0; i < hl; i += 2) {
    if (i == 10) continue;
    uint32_t a = i < avail ? h[i] : 0, b = i + 1 < avail ? h[i + 1] : 0;
    sum += (a << 8) | b;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  wr16(h + 10, ~sum & 0xffff);
}

static inline uint32_t ds_field(const uint8_t *h) {
  return (h[0] >> 4) == 4 ? h[1] : (uint32_t)(((h[0] & 15) << 4) | (h[1] >> 4));
}

/* IPv6 extension headers before ESP (hop-by-hop, routing, fragment, destination options): the offset of the
   first other header, or -1 if one runs past pkt_len; *nh_pos = offset of the byte naming it */
static int64_t walk_ipv6(const uint8_t *b, uint32_t pkt_len, uint32_t *nh_pos) {
  uint32_t pos = 6, cur = 40, nh = b[6];
  while (nh == 0 || nh == 43 || nh == 44 || nh == 60) {
    if ((uint64_t)cur + 8 > pkt_len) return -1;
    uint32_t len = nh == 44 ? 8 : ((uint32_t)b[cur + 1] + 1) * 8;
    if ((uint64_t)cur + len > pkt_len) return -1;
    pos = cur;
    nh = b[cur];
    cur += len;
  }
  *nh_pos = pos;
  return cur;
}

/* ---- anti-replay window (window.ts) ---- */

static uint32_t rw_seq_hi(const esp_t *e, uint32_t seq) {
  if (e->mode != RW_ESN) return 0;
  uint32_t top = e->seq, bottom = top - e->window + 1;
  if (top >= e->window - 1) return seq < bottom ? e->seq_hi + 1 : e->seq_hi;
  return seq >= bottom ? e->seq_hi - 1 : e->seq_hi;
}

/* x mod window (window > 0) */
static inline uint32_t rw_mod(const esp_t *e, uint32_t x) { return e->wpow2 ? x & (e->window - 1) : x % e->window; }

static uint32_t rw_bit(const esp_t *e, uint32_t diff) {
  uint32_t w = e->window, pos = rw_mod(e, e->seq - 1);
  return pos >= diff ? rw_mod(e, pos - diff) : w - (diff - pos);
}

static int rw_check(esp_t *e, uint32_t seq) {
  uint32_t w = e->window;
  if (w == 0) return RW_OK;
  if (e->mode == RW_LEGACY) {
    if (seq == 0) return RW_INVALID;
    if (seq > e->seq) return RW_OK;
    uint32_t diff = e->seq - seq;
    if (diff >= w) {
      e->replay_window++;
      return RW_TOO_OLD;
    }
    if ((e->bmp[0] >> diff) & 1) {
      e->replay++;
      return RW_DUPLICATE;
    }
    return RW_OK;
  }
  uint32_t top = e->seq, diff = top - seq;
  if (e->mode == RW_BMP) {
    if (seq == 0) return RW_INVALID;
    if (seq > top) return RW_OK;
  } else {
    if (seq == 0 && e->seq_hi == 0 && top < w - 1) return RW_INVALID;
    uint32_t bottom = top - w + 1;
    if (top >= w - 1) {
      if (seq > top || seq < bottom) return RW_OK;
    } else if (seq > top && seq < bottom) {
      return RW_OK;
    }
  }
  if (diff >= w) {
    e->replay_window++;
    return RW_TOO_OLD;
  }
  uint32_t bit = rw_bit(e, diff);
  if ((e->bmp[bit >> 5] >> (bit & 31)) & 1) {
    e->replay++;
    return RW_DUPLICATE;
  }
  return RW_OK;
}

/* Records seq (ESN: its high half is `hi`, what rw_seq_hi says now) as received. */
static void rw_advance(esp_t *e, uint32_t seq, uint32_t hi) {
  uint32_t w = e->window;
  if (w == 0) return;
  if (e->mode == RW_LEGACY) {
    if (seq > e->seq) {
      uint32_t diff = seq - e->seq;
      e->bmp[0] = diff < w ? (e->bmp[0] << diff) | 1 : 1;
      e->seq = seq;
    } else {
      e->bmp[0] |= 1u << ((e->seq - seq) & 31);
    }
    return;
  }
  uint32_t pos = rw_mod(e, e->seq - 1);
  int32_t wrap = 0;
  if (e->mode == RW_ESN) wrap = (int32_t)(hi - e->seq_hi);
  uint32_t bit;
  if ((wrap == 0 && seq > e->seq) || wrap > 0) {
    uint32_t diff = seq - e->seq;
    if (diff < w) {
      for (uint32_t i = 1; i < diff; i++) {
        uint32_t b = rw_mod(e, pos + i);
        e->bmp[b >> 5] &= ~(1u << (b & 31));
      }
    } else {
      uint32_t nr = (w - 1) >> 5;
      for (uint32_t i = 0; i <= nr; i++) e->bmp[i] = 0;
    }
    bit = rw_mod(e, pos + diff);
    e->seq = seq;
    if (wrap > 0) e->seq_hi++;
  } else {
    bit = rw_bit(e, e->seq - seq);
  }
  e->bmp[bit >> 5] |= 1u << (bit & 31);
}

/*
 * After the ICV verified: the recheck against the window as it is now (it may have moved since the
 * first check; with ESN the seq_hi used for the AAD must still be the one inferred), then the advance.
 * RW_OK when the packet was recorded, else the verdict (counted).
 */
static int rw_accept(esp_t *e, uint32_t seq, uint32_t hi_used) {
  const uint32_t top = e->seq;
  if (seq == top + 1 && seq != 0 && e->window > 1 && (e->mode != RW_ESN || hi_used == e->seq_hi)) {
    /* the next packet in order (what the general code below does for it): one bit in, none to clear */
    if (e->mode == RW_LEGACY) {
      e->bmp[0] = (e->bmp[0] << 1) | 1;
    } else {
      const uint32_t bit = rw_mod(e, rw_mod(e, top - 1) + 1); /* not top % w: u32 wrap, as the kernel */
      e->bmp[bit >> 5] |= 1u << (bit & 31);
    }
    e->seq = seq;
    return RW_OK;
  }
  if (e->mode == RW_ESN && rw_seq_hi(e, seq) != hi_used) {
    e->replay_window++;
    return RW_TOO_OLD;
  }
  const int v = rw_check(e, seq);
  if (v == RW_OK) rw_advance(e, seq, hi_used);
  return v;
}

/* ---- one packet out ---- */

/* AES-GCM over buf[0, len) in place (one update), tag right after it */
static int gcm_seal_inplace(gcm_t *g, const uint8_t *iv8, const uint8_t *aad, uint32_t aad_len, uint8_t *buf,
                            uint32_t len, uint32_t tag_len) {
  uint8_t nonce[12];
  int outl;
  memcpy(nonce, g->salt, 4);
  memcpy(nonce + 4, iv8, 8);
  if (EVP_CipherInit_ex(g->ctx, NULL, NULL, NULL, nonce, 1) != 1) return -1;
  if (EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int)aad_len) != 1) return -1;
  if (EVP_CipherUpdate(g->ctx, buf, &outl, buf, (int)len) != 1) return -1;
  if (EVP_CipherFinal_ex(g->ctx, buf + len, &outl) != 1) return -1;
  if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, (int)tag_len, buf + len) != 1) return -1;
  return 0;
}

/*
 * Encapsulates the packet s[0, slen) into d (room: cap bytes). Returns the ESP packet length, a negative
 * status, or INT32_MIN when OpenSSL failed. Mirrors EspSa.prepareEncap + the seal.
 *
 * `room`: bytes of the input slot from s on (its capacity). Out of place, the trailer is written for the
 * duration of the seal into the input slot right after the packet (the 8 bytes there are saved and put
 * back), so that payload and trailer go through AES-GCM as one piece straight from the input: no copy of
 * the payload and no second, partial-block pass. Small payloads are copied next to the trailer in the
 * output instead (the bytes after them would be one more cache line to fetch); without room, large ones
 * get a second pass for the trailer.
 */
static int32_t esp_encap_one(esp_t *e, gcm_t *g, uint8_t *s, uint32_t slen, uint32_t room, uint8_t *d,
                             uint32_t cap, int allow_in_place) {
  const int tunnel = (e->flags & EF_TUNNEL) != 0;
  if (slen < 1) return S_TRUNCATED;
  const uint32_t ver = s[0] >> 4;
  uint32_t pkt_len, hdr_len = 0, nh_pos = 0;
  if (ver == 4) {
    if (slen < 20) return S_TRUNCATED;
    uint32_t ihl = (uint32_t)(s[0] & 15) * 4;
    if (ihl < 20) return S_MALFORMED;
    pkt_len = rd16(s + 2);
    if (pkt_len < ihl) return S_MALFORMED;
    if (pkt_len > slen) return S_TRUNCATED;
    hdr_len = ihl;
    nh_pos = 9;
  } else if (ver == 6) {
    if (slen < 40) return S_TRUNCATED;
    pkt_len = 40 + rd16(s + 4);
    if (pkt_len > slen) return S_TRUNCATED;
    if (!tunnel) {
      int64_t h = walk_ipv6(s, pkt_len, &nh_pos);
      if (h < 0) return S_TRUNCATED;
      hdr_len = (uint32_t)h;
    }
  } else {
    return S_MALFORMED;
  }
  const uint32_t outer_len = tunnel ? e->outer_len : hdr_len;
  const uint32_t payload_off = tunnel ? 0 : hdr_len;
  const uint32_t payload_len = pkt_len - payload_off;
  if (payload_len == 0) return S_EMPTY_PAYLOAD;
  const uint32_t nh = tunnel ? (ver == 4 ? 4 : 41) : s[nh_pos];
  const uint32_t pad_len = (4 - ((payload_len + 2) & 3)) & 3;
  const uint32_t tail_len = pad_len + 2;
  const uint32_t out_len = outer_len + ESP_HDR_IV + payload_len + tail_len + e->icv;
  const int outer_v6 = tunnel ? e->outer_len == 40 : ver == 6;
  if ((outer_v6 ? out_len - 40 : out_len) > 0xffff) return S_UNSUPPORTED;
  if (out_len > cap) return S_BUFFER_TOO_SMALL;
  int in_place = 0;
  if (s == d && allow_in_place)
    in_place = 1;
  else if ((uintptr_t)s < (uintptr_t)d + out_len && (uintptr_t)d < (uintptr_t)s + pkt_len)
    return S_OVERLAP;

  const uint32_t next = e->oseq + 1;
  if (e->flags & EF_ESN) {
    if (next == 0) {
      if (e->oseq_hi == 0xffffffffu) return S_SEQ_OVERFLOW;
      e->oseq_hi++;
    }
  } else if (next == 0 && !(e->flags & EF_OSEQ_MAY_WRAP)) {
    return S_SEQ_OVERFLOW;
  }
  e->oseq = next;
  const uint32_t lo = next, hi = e->oseq_hi;

  /* Headers, IV, AAD and trailer are composed in registers and stored as whole words: bytes stored
     one by one and read back wider (a header copy, a checksum pass, AES reading the IV) would stall on
     store forwarding. */
  /* IV = the 64-bit sequence number XOR the seqiv mask; AAD = SPI ‖ [seq_hi] ‖ seq */
  const uint64_t seq64 = ((uint64_t)hi << 32) | lo;
  uint64_t iv_be = htobe64(seq64 ^ e->iv_mask64);
  uint8_t aad[16];
  uint32_t aad_len;
  memcpy(aad, &e->spi_ne, 4);
  if (e->flags & EF_ESN) {
    uint64_t v = htobe64(seq64);
    memcpy(aad + 4, &v, 8);
    aad_len = 12;
  } else {
    uint32_t v = htobe32(lo);
    memcpy(aad + 4, &v, 4);
    aad_len = 8;
  }
  const uint64_t spi_lo = htobe64(((uint64_t)e->spi << 32) | lo); /* ESP header: SPI ‖ seq */

  uint8_t *ct = d + outer_len + ESP_HDR_IV;
  const uint8_t *pt = s + payload_off;
  if (tunnel) {
    /* the inner header is read before an in-place move overwrites it */
    const uint32_t inner_ds = ds_field(s);
    uint32_t ds = (e->flags & EF_DONT_ENCAP_DSCP) ? 0 : inner_ds;
    ds = (ds & ~3u) | ((inner_ds & 3) == 3 ? 2 : inner_ds & 3);
    if (e->flags & EF_NO_ECN) ds &= ~3u;
    if (e->outer_len == 20) {
      const uint32_t df = (e->flags & EF_NO_PMTU_DISC) ? 0 : ver == 4 ? (uint32_t)(s[6] & 0x40) : 0x40;
      uint32_t id = 0;
      if (!df) {
        id = e->ip_id;
        e->ip_id = (e->ip_id + 1) & 0xffff;
      }
      /* checksum: the constant words were summed once per call */
      uint32_t sum = e->csum_base + ds + out_len + id + (df << 8);
      sum = (sum & 0xffff) + (sum >> 16);
      sum = (sum & 0xffff) + (sum >> 16);
      sum = ~sum & 0xffff;
      if (in_place) memmove(ct, d, payload_len);
      /* 0x45 ds len id df 0 | ttl 50 csum src | dst SPI | seq IV */
      uint64_t w0 = htobe64((0x45ull << 56) | ((uint64_t)ds << 48) | ((uint64_t)out_len << 32) |
                            ((uint64_t)id << 16) | ((uint64_t)df << 8));
      uint64_t w1 = htobe64(((uint64_t)e->ttl << 56) | (50ull << 48) | ((uint64_t)sum << 32) | e->src_u32);
      uint64_t w2 = htobe64(((uint64_t)e->dst_u32 << 32) | e->spi);
      uint32_t w3 = htobe32(lo);
      memcpy(d, &w0, 8);
      memcpy(d + 8, &w1, 8);
      memcpy(d + 16, &w2, 8);
      memcpy(d + 24, &w3, 4);
      memcpy(d + 28, &iv_be, 8);
    } else {
      const uint32_t flow = ver == 6 ? ((uint32_t)(s[1] & 15) << 16) | ((uint32_t)s[2] << 8) | s[3] : 0;
      if (in_place) memmove(ct, d, payload_len);
      /* 6 ds flow | plen 50 ttl | src | dst | SPI seq | IV */
      uint64_t w0 = htobe64((6ull << 60) | ((uint64_t)ds << 52) | ((uint64_t)flow << 32) |
                            ((uint64_t)(out_len - 40) << 16) | (50u << 8) | e->ttl);
      memcpy(d, &w0, 8);
      memcpy(d + 8, e->src, 16);
      memcpy(d + 24, e->dst, 16);
      memcpy(d + 40, &spi_lo, 8);
      memcpy(d + 48, &iv_be, 8);
    }
  } else {
    if (in_place)
      memmove(ct, d + payload_off, payload_len);
    else
      memcpy(d, s, hdr_len);
    d[nh_pos] = 50;
    if (ver == 4) {
      wr16(d + 2, out_len);
      ipv4_fix_csum(d, hdr_len);
    } else {
      wr16(d + 4, out_len - 40);
    }
    memcpy(d + hdr_len, &spi_lo, 8);
    memcpy(d + hdr_len + 8, &iv_be, 8);
  }
  if (in_place) pt = ct;

  /* trailer: padding 1, 2, 3 (at most 3 bytes), pad length, next header */
  const uint64_t tl = htole64((0x030201ull & ((1ull << (8 * pad_len)) - 1)) | ((uint64_t)pad_len << (8 * pad_len)) |
                              ((uint64_t)nh << (8 * (pad_len + 1))));
  const uint8_t *iv = (const uint8_t *)&iv_be;
  uint8_t *after = s + pkt_len; /* = pt + payload_len out of place */
  int r;
  if (!in_place && payload_len > ESP_SLACK_MIN && room >= pkt_len + 8 &&
      ((uintptr_t)after + 8 <= (uintptr_t)d || (uintptr_t)d + out_len <= (uintptr_t)after)) {
    /* 8 bytes borrowed (one load, two stores): the trailer and 3 to 6 bytes nobody reads */
    uint64_t saved;
    memcpy(&saved, after, 8);
    memcpy(after, &tl, 8);
    r = gcm_seal_one(g, iv, aad, aad_len, pt, payload_len + tail_len, ct, 0, e->icv);
    memcpy(after, &saved, 8);
  } else {
    /* stored as one 8-byte word: the ICV (at least 8 bytes) follows and overwrites the rest */
    memcpy(ct + payload_len, &tl, 8);
    if (in_place) {
      r = gcm_seal_inplace(g, iv, aad, aad_len, ct, payload_len + tail_len, e->icv);
    } else if (payload_len <= ESP_COPY_MAX) {
      memcpy(ct, pt, payload_len);
      r = gcm_seal_inplace(g, iv, aad, aad_len, ct, payload_len + tail_len, e->icv);
    } else {
      r = gcm_seal_one(g, iv, aad, aad_len, pt, payload_len, ct, tail_len, e->icv);
    }
  }
  if (r != 0) return INT32_MIN;
  e->packets++;
  e->bytes += payload_len;
  return (int32_t)out_len;
}

/* ---- one packet in ---- */

typedef struct {
  uint32_t esp_off, nh_pos, ct_len, lo, hi, outer_ds;
} dslot_t;

/* Parses the ESP packet s[0, slen), runs the replay check, copies transport headers: 0 or a status. */
static int32_t esp_decap_prepare(esp_t *e, const uint8_t *s, uint32_t slen, uint8_t *d, uint32_t cap,
                                 int allow_in_place, dslot_t *o) {
  const int tunnel = (e->flags & EF_TUNNEL) != 0;
  if (slen < 1) return S_TRUNCATED;
  const uint32_t ver = s[0] >> 4;
  uint32_t pkt_len, esp_off, nh_pos;
  if (ver == 4) {
    if (slen < 20) return S_TRUNCATED;
    esp_off = (uint32_t)(s[0] & 15) * 4;
    if (esp_off < 20) return S_MALFORMED;
    pkt_len = rd16(s + 2);
    if (pkt_len < esp_off) return S_MALFORMED;
    if (pkt_len > slen) return S_TRUNCATED;
    nh_pos = 9;
    if (s[9] != 50) return S_NOT_ESP;
    if (tunnel && e->outer_len != 20) return S_MALFORMED;
  } else if (ver == 6) {
    if (slen < 40) return S_TRUNCATED;
    pkt_len = 40 + rd16(s + 4);
    if (pkt_len > slen) return S_TRUNCATED;
    int64_t h = walk_ipv6(s, pkt_len, &nh_pos);
    if (h < 0) return S_TRUNCATED;
    esp_off = (uint32_t)h;
    if (s[nh_pos] != 50) return S_NOT_ESP;
    if (tunnel && e->outer_len != 40) return S_MALFORMED;
  } else {
    return S_MALFORMED;
  }
  const int64_t ct_len = (int64_t)pkt_len - esp_off - ESP_HDR_IV - e->icv;
  if (ct_len < 2) return S_TRUNCATED;
  if (rd32(s + esp_off) != e->spi) return S_SPI_MISMATCH;
  const uint32_t lo = rd32(s + esp_off + 4);
  const int v = rw_check(e, lo);
  if (v != RW_OK) return v == RW_DUPLICATE ? S_REPLAY : v == RW_TOO_OLD ? S_REPLAY_WINDOW : S_INVALID_SEQ;
  const uint32_t hi = rw_seq_hi(e, lo);
  const uint32_t out_hdr = tunnel ? 0 : esp_off;
  if ((uint64_t)out_hdr + (uint64_t)ct_len > cap) return S_BUFFER_TOO_SMALL;
  int in_place = 0;
  if (s == d && allow_in_place)
    in_place = 1;
  else if ((uintptr_t)s < (uintptr_t)d + out_hdr + (uint32_t)ct_len && (uintptr_t)d < (uintptr_t)s + pkt_len)
    return S_OVERLAP;
  if (out_hdr > 0 && !in_place) memcpy(d, s, out_hdr);
  o->esp_off = esp_off;
  o->nh_pos = nh_pos;
  o->ct_len = (uint32_t)ct_len;
  o->lo = lo;
  o->hi = hi;
  o->outer_ds = ds_field(s);
  return 0;
}

/*
 * Opens a prepared packet and finishes it (trailer, recheck + window, headers). Returns the output length,
 * a negative status, and the next header in *nh_out. `avail` = bytes of the output buffer from d on.
 */
static int32_t esp_decap_finish(esp_t *e, gcm_t *g, const uint8_t *s, uint8_t *d, uint64_t avail,
                                const dslot_t *o, uint32_t *nh_out) {
  const int tunnel = (e->flags & EF_TUNNEL) != 0;
  uint8_t aad[16];
  uint32_t aad_len;
  memcpy(aad, &e->spi_ne, 4);
  if (e->flags & EF_ESN) {
    uint64_t v = htobe64(((uint64_t)o->hi << 32) | o->lo);
    memcpy(aad + 4, &v, 8);
    aad_len = 12;
  } else {
    uint32_t v = htobe32(o->lo);
    memcpy(aad + 4, &v, 4);
    aad_len = 8;
  }
  const uint32_t ct_len = o->ct_len;
  uint8_t *pt = d + (tunnel ? 0 : o->esp_off);
  const uint8_t *esp = s + o->esp_off;
  if (!gcm_open_one(g, esp + 8, aad, aad_len, esp + ESP_HDR_IV, ct_len, pt, e->icv)) {
    e->integrity++;
    return S_ICV_MISMATCH;
  }
  const uint32_t pad_len = pt[ct_len - 2], nh = pt[ct_len - 1];
  if (pad_len + 2 >= ct_len) return S_BAD_PADDING;
  const uint32_t payload_len = ct_len - 2 - pad_len;
  if (e->flags & EF_STRICT_PADDING) {
    for (uint32_t i = 0; i < pad_len; i++)
      if (pt[payload_len + i] != i + 1) return S_BAD_PADDING;
  }
  const int v = rw_accept(e, o->lo, o->hi);
  if (v != RW_OK) return v == RW_DUPLICATE ? S_REPLAY : v == RW_INVALID ? S_INVALID_SEQ : S_REPLAY_WINDOW;
  e->packets++;
  e->bytes += payload_len;
  if (nh == 59) return S_DUMMY_PACKET;
  if (tunnel) {
    const uint32_t ver = payload_len > 0 ? pt[0] >> 4 : 0;
    uint32_t inner_len;
    if (nh == 4) {
      if (ver != 4 || payload_len < 20) return S_BAD_NEXT_HEADER;
      inner_len = rd16(pt + 2);
      if (inner_len < 20 || inner_len > payload_len) return S_MALFORMED;
    } else if (nh == 41) {
      if (ver != 6 || payload_len < 40) return S_BAD_NEXT_HEADER;
      inner_len = 40 + rd16(pt + 4);
      if (inner_len > payload_len) return S_MALFORMED;
    } else {
      return S_BAD_NEXT_HEADER;
    }
    const uint32_t outer_ds = o->outer_ds;
    uint32_t ds = ds_field(pt);
    const uint32_t ds0 = ds;
    if (e->flags & EF_DECAP_DSCP) ds = (outer_ds & ~3u) | (ds & 3);
    if (!(e->flags & EF_NO_ECN) && (outer_ds & 3) == 3 && (ds & 3) != 0) ds |= 3;
    if (ds != ds0) {
      if (ver == 4) {
        pt[1] = (uint8_t)ds;
        ipv4_fix_csum(pt, avail > 60 ? 60 : (uint32_t)avail);
      } else {
        pt[0] = (uint8_t)(0x60 | (ds >> 4));
        pt[1] = (uint8_t)(((ds & 15) << 4) | (pt[1] & 15));
      }
    }
    *nh_out = nh;
    return (int32_t)inner_len;
  }
  d[o->nh_pos] = (uint8_t)nh;
  const uint32_t out_len = o->esp_off + payload_len;
  if ((d[0] >> 4) == 4) {
    wr16(d + 2, out_len);
    ipv4_fix_csum(d, o->esp_off);
  } else {
    wr16(d + 4, out_len - 40);
  }
  *nh_out = nh;
  return (int32_t)out_len;
}

/* ---- N-API ---- */

static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len,
                     const char *what, const char *type_name) {
  napi_typedarray_type type;
  void *p;
  /* napi_get_typedarray_info fails on anything but a typed array */
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != want) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a %s", what, type_name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *data = p;
  return 1;
}

typedef struct {
  bytes_t src, dst;
  uint32_t *in_off, *in_len, *in_cap, *out_off, *out_cap, *out_len, *seq_lo, *seq_hi;
  int32_t *status;
  uint8_t *next_header;
  uint32_t count;
  int same;
} esp_batch_t;

/* Decodes params + state into e (state words: see ES_*). 0 when the params are invalid. */
static int esp_decode(const uint8_t *p, const uint32_t *st, esp_t *e) {
  memset(e, 0, sizeof *e);
  e->spi = rd32(p + EP_SPI);
  memcpy(e->spi_be, p + EP_SPI, 4);
  e->flags = rd16(p + EP_FLAGS);
  e->icv = p[EP_ICV];
  e->ttl = p[EP_TTL];
  e->outer_len = p[EP_OUTER_LEN];
  e->mode = p[EP_REPLAY_MODE];
  e->window = rd32(p + EP_WINDOW);
  e->wpow2 = e->window != 0 && (e->window & (e->window - 1)) == 0;
  memcpy(e->iv_mask, p + EP_IV_MASK, 8);
  memcpy(e->src, p + EP_OUTER_SRC, 16);
  memcpy(e->dst, p + EP_OUTER_DST, 16);
  if (!valid_tag_len(e->icv) || e->mode > RW_ESN || (e->outer_len != 0 && e->outer_len != 20 && e->outer_len != 40) ||
      ((e->flags & EF_TUNNEL) != 0) != (e->outer_len != 0) || (e->mode == RW_LEGACY && e->window > 32))
    return 0;
  memcpy(&e->spi_ne, e->spi_be, 4);
  e->src_u32 = rd32(e->src);
  e->dst_u32 = rd32(e->dst);
  e->iv_mask64 = (e->flags & EF_IV_MASK) ? ((uint64_t)rd32(e->iv_mask) << 32) | rd32(e->iv_mask + 4) : 0;
  if (e->outer_len == 20)
    e->csum_base = 0x4500 + ((e->ttl << 8) | 50) + rd16(e->src) + rd16(e->src + 2) + rd16(e->dst) + rd16(e->dst + 2);
  e->oseq = st[ES_OSEQ];
  e->oseq_hi = st[ES_OSEQ_HI];
  e->ip_id = st[ES_IP_ID] & 0xffff;
  e->seq = st[ES_SEQ];
  e->seq_hi = st[ES_SEQ_HI];
  return 1;
}

/* Reads params + state into e (state words: see ES_*). 0 and a pending exception on bad input. */
static int esp_load(napi_env env, napi_value pv, napi_value sv, esp_t *e, uint32_t **state) {
  uint8_t *p;
  size_t plen, slen;
  if (!get_typed(env, pv, napi_uint8_array, (void **)&p, &plen, "params", "Uint8Array") ||
      !get_typed(env, sv, napi_uint32_array, (void **)state, &slen, "state", "Uint32Array"))
    return 0;
  if (plen < ESP_PARAMS_LEN || slen < ESP_STATE_LEN) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "ESP params/state arrays are too short");
    return 0;
  }
  if (!esp_decode(p, *state, e)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "invalid ESP params");
    return 0;
  }
  return 1;
}

static void esp_store(const esp_t *e, uint32_t *st) {
  st[ES_OSEQ] = e->oseq;
  st[ES_OSEQ_HI] = e->oseq_hi;
  st[ES_IP_ID] = e->ip_id;
  st[ES_PACKETS] = e->packets;
  st[ES_BYTES_LO] = (uint32_t)e->bytes;
  st[ES_BYTES_HI] = (uint32_t)(e->bytes >> 32);
  st[ES_SEQ] = e->seq;
  st[ES_SEQ_HI] = e->seq_hi;
  st[ES_REPLAY] = e->replay;
  st[ES_REPLAY_WINDOW] = e->replay_window;
  st[ES_INTEGRITY] = e->integrity;
}

/* args a[0..n): src, dst, inOff, inLen, [inCap], outOff, outCap, status, outLen, [nextHeader], seqLo, seqHi, count,
   same (encap: with inCap, decap: with nextHeader) */
static int esp_batch_args(napi_env env, napi_value *a, int decap, esp_batch_t *b) {
  size_t n_in_off, n_in_len, n_in_cap = SIZE_MAX, n_out_off, n_out_cap, n_status, n_out_len, n_nh = SIZE_MAX, n_lo,
                                     n_hi;
  const int with_nh = decap;
  int k = 0;
  bool same = false;
  b->in_cap = NULL;
  b->next_header = NULL;
  if (!get_bytes(env, a[k++], &b->src, "src") || !get_bytes(env, a[k++], &b->dst, "dst") ||
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->in_off, &n_in_off, "offsets", "Uint32Array") ||
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->in_len, &n_in_len, "lengths", "Uint32Array"))
    return 0;
  if (!decap &&
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->in_cap, &n_in_cap, "capacities", "Uint32Array"))
    return 0;
  if (!get_typed(env, a[k++], napi_uint32_array, (void **)&b->out_off, &n_out_off, "out offsets", "Uint32Array") ||
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->out_cap, &n_out_cap, "out capacities",
                 "Uint32Array") ||
      !get_typed(env, a[k++], napi_int32_array, (void **)&b->status, &n_status, "status", "Int32Array") ||
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->out_len, &n_out_len, "out lengths", "Uint32Array"))
    return 0;
  if (with_nh &&
      !get_typed(env, a[k++], napi_uint8_array, (void **)&b->next_header, &n_nh, "nextHeader", "Uint8Array"))
    return 0;
  if (!get_typed(env, a[k++], napi_uint32_array, (void **)&b->seq_lo, &n_lo, "seqLo", "Uint32Array") ||
      !get_typed(env, a[k++], napi_uint32_array, (void **)&b->seq_hi, &n_hi, "seqHi", "Uint32Array") ||
      !get_u32(env, a[k++], &b->count, "count"))
    return 0;
  if (napi_get_value_bool(env, a[k++], &same) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "inPlace must be a boolean");
    return 0;
  }
  b->same = same;
  size_t c = b->count;
  if (n_in_off < c || n_in_len < c || n_in_cap < c || n_out_off < c || n_out_cap < c || n_status < c ||
      n_out_len < c || n_nh < c || n_lo < c || n_hi < c) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "a batch array is shorter than count");
    return 0;
  }
  return 1;
}

/* bytes of buf from off on, at most want */
static inline uint32_t clamp_len(size_t total, uint32_t off, uint32_t want) {
  if (off >= total) return 0;
  size_t avail = total - off;
  return want < avail ? want : (uint32_t)avail;
}

/* The encap loop over a batch: the number of packets encapsulated, or -1 when OpenSSL failed. */
static int64_t esp_encap_run(esp_t *e, gcm_t *g, const esp_batch_t *b) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < b->count; i++) {
    const uint32_t so = b->in_off[i], d_off = b->out_off[i];
    if (i + 1 < b->count) {
      /* the next packet's header and the bytes after it (read before AES-GCM streams over them) */
      const uint64_t nso = b->in_off[i + 1], nend = nso + b->in_len[i + 1];
      if (nend < b->src.len) {
        __builtin_prefetch(b->src.data + nso);
        __builtin_prefetch(b->src.data + nend);
      }
    }
    const uint32_t slen = clamp_len(b->src.len, so, b->in_len[i]);
    const uint32_t room = clamp_len(b->src.len, so, b->in_cap[i]);
    const uint32_t cap = clamp_len(b->dst.len, d_off, b->out_cap[i]);
    const int32_t r = esp_encap_one(e, g, b->src.data + (slen ? so : 0), slen, room, b->dst.data + (cap ? d_off : 0),
                                    cap, b->same);
    if (r == INT32_MIN) return -1;
    if (r < 0) {
      b->status[i] = r;
      b->out_len[i] = 0;
    } else {
      b->status[i] = 0;
      b->out_len[i] = (uint32_t)r;
      b->seq_lo[i] = e->oseq;
      b->seq_hi[i] = e->oseq_hi;
      n++;
    }
  }
  return n;
}

/* The decap loop over a batch (`slots`: count entries of scratch): the number of packets accepted. */
static uint32_t esp_decap_run(esp_t *e, gcm_t *g, const esp_batch_t *b, dslot_t *slots) {
  /* 1: parse + replay check of every packet (the window does not move) */
  for (uint32_t i = 0; i < b->count; i++) {
    const uint32_t so = b->in_off[i], d_off = b->out_off[i];
    const uint32_t slen = clamp_len(b->src.len, so, b->in_len[i]);
    const uint32_t cap = clamp_len(b->dst.len, d_off, b->out_cap[i]);
    const int32_t r = esp_decap_prepare(e, b->src.data + (slen ? so : 0), slen, b->dst.data + (cap ? d_off : 0), cap,
                                        b->same, &slots[i]);
    b->out_len[i] = 0;
    b->status[i] = r == 0 ? 1 : r; /* 1: prepared */
  }
  /* 2: in order, open, verify, recheck + advance the window, fix headers */
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < b->count; i++) {
    if (b->status[i] != 1) continue;
    const dslot_t *o = &slots[i];
    const uint32_t d_off = b->out_off[i];
    uint32_t nh = 0;
    const int32_t r =
        esp_decap_finish(e, g, b->src.data + b->in_off[i], b->dst.data + d_off, b->dst.len - d_off, o, &nh);
    b->seq_lo[i] = o->lo;
    b->seq_hi[i] = o->hi;
    if (r < 0) {
      b->status[i] = r;
    } else {
      b->status[i] = 0;
      b->out_len[i] = (uint32_t)r;
      b->next_header[i] = (uint8_t)nh;
      accepted++;
    }
  }
  return accepted;
}

/*
 * espEncapBatch(ctx, params, state, src, dst, offsets, lengths, capacities, outOffsets, outCapacities, status,
 *               outLengths, seqLo, seqHi, count, inPlace) -> packets encapsulated
 */
static napi_value esp_encap_batch(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value a[16];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 16) THROW_TYPE("espEncapBatch needs 16 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (!g->enc) THROW_TYPE("espEncapBatch needs an encrypt context");
  esp_t e;
  uint32_t *st;
  esp_batch_t b;
  if (!esp_load(env, a[1], a[2], &e, &st) || !esp_batch_args(env, a + 3, 0, &b)) return NULL;
  const int64_t n = esp_encap_run(&e, g, &b);
  esp_store(&e, st);
  if (n < 0) {
    napi_throw_error(env, "ERR_OPENSSL", "AES-GCM seal failed");
    return NULL;
  }
  napi_value r;
  CHECK_NAPI(napi_create_uint32(env, (uint32_t)n, &r));
  return r;
}

#define DSLOT_STACK 512

/*
 * espDecapBatch(ctx, params, state, bmp: Uint32Array, src, dst, offsets, lengths, outOffsets, outCapacities,
 *               status, outLengths, nextHeader, seqLo, seqHi, count, inPlace) -> packets accepted
 */
static napi_value esp_decap_batch(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value a[17];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 17) THROW_TYPE("espDecapBatch needs 17 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  if (g->enc) THROW_TYPE("espDecapBatch needs a decrypt context");
  esp_t e;
  uint32_t *st;
  esp_batch_t b;
  size_t bmp_len;
  if (!esp_load(env, a[1], a[2], &e, &st) ||
      !get_typed(env, a[3], napi_uint32_array, (void **)&e.bmp, &bmp_len, "bmp", "Uint32Array") ||
      !esp_batch_args(env, a + 4, 1, &b))
    return NULL;
  if (bmp_len == 0 || (uint64_t)bmp_len * 32 < e.window)
    THROW_RANGE("replay bitmap of %zu words cannot hold a window of %u", bmp_len, e.window);
  dslot_t stack_slots[DSLOT_STACK];
  dslot_t *slots = stack_slots;
  if (b.count > DSLOT_STACK) {
    slots = (dslot_t *)malloc(sizeof(dslot_t) * b.count);
    if (!slots) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
  }
  const uint32_t accepted = esp_decap_run(&e, g, &b, slots);
  if (slots != stack_slots) free(slots);
  esp_store(&e, st);
  napi_value r;
  CHECK_NAPI(napi_create_uint32(env, accepted, &r));
  return r;
}

/*
 * espBind(ctx, params: Uint8Array, state: Uint32Array, bmp: Uint32Array | null): binds an SA's params, state
 * (ESP_STATE_ONE_LEN words) and, for a decrypt context, its replay bitmap to the context, for the
 * single-packet calls below: they then take only the packet and the output, the fewest conversions a call
 * can have. The arrays are referenced by the context until it is freed or bound again.
 */
static napi_value esp_bind(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 4) THROW_TYPE("espBind needs 4 arguments");
  gcm_t *g = get_gcm(env, a[0]);
  if (!g) return NULL;
  uint8_t *p;
  uint32_t *st, *bmp = NULL;
  size_t plen, slen, bmp_len = 0;
  if (!get_typed(env, a[1], napi_uint8_array, (void **)&p, &plen, "params", "Uint8Array") ||
      !get_typed(env, a[2], napi_uint32_array, (void **)&st, &slen, "state", "Uint32Array"))
    return NULL;
  napi_valuetype t;
  CHECK_NAPI(napi_typeof(env, a[3], &t));
  const int has_bmp = t != napi_null && t != napi_undefined;
  if (has_bmp && !get_typed(env, a[3], napi_uint32_array, (void **)&bmp, &bmp_len, "bmp", "Uint32Array")) return NULL;
  if (plen < ESP_PARAMS_LEN || slen < ESP_STATE_ONE_LEN)
    THROW_RANGE("espBind needs params of %d bytes and state of %d words", ESP_PARAMS_LEN, ESP_STATE_ONE_LEN);
  esp_t e;
  if (!esp_decode(p, st, &e)) THROW_RANGE("invalid ESP params");
  if (!g->enc && (bmp_len == 0 || (uint64_t)bmp_len * 32 < e.window))
    THROW_RANGE("replay bitmap of %zu words cannot hold a window of %u", bmp_len, e.window);
  napi_ref refs[3] = {NULL, NULL, NULL};
  if (napi_create_reference(env, a[1], 1, &refs[0]) != napi_ok ||
      napi_create_reference(env, a[2], 1, &refs[1]) != napi_ok ||
      (has_bmp && napi_create_reference(env, a[3], 1, &refs[2]) != napi_ok)) {
    for (int i = 0; i < 3; i++)
      if (refs[i]) napi_delete_reference(env, refs[i]);
    napi_throw_error(env, "ENAPI", "napi_create_reference failed");
    return NULL;
  }
  gcm_unbind(env, g);
  memcpy(g->esp_refs, refs, sizeof refs);
  g->esp_params = p;
  g->esp_state = st;
  g->esp_bmp = bmp;
  g->esp_bmp_len = bmp_len;
  return NULL;
}

/* The bound SA of a context (espBind) decoded into e, or 0 and a pending exception. */
static int esp_bound(napi_env env, gcm_t *g, esp_t *e, const char *fn) {
  char msg[128];
  if (!g->esp_params) {
    snprintf(msg, sizeof msg, "%s needs espBind() first", fn);
    napi_throw_error(env, "ERR_ESP_UNBOUND", msg);
    return 0;
  }
  if (!esp_decode(g->esp_params, g->esp_state, e)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "invalid ESP params");
    return 0;
  }
  e->bmp = g->esp_bmp;
  if (!g->enc && (uint64_t)g->esp_bmp_len * 32 < e->window) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "the bound replay bitmap cannot hold the window");
    return 0;
  }
  return 1;
}

/* (ctx, src, dst, dstOff) of the single-packet calls; 0 and a pending exception on bad input */
static int esp_one_args(napi_env env, napi_callback_info info, int enc, const char *fn, gcm_t **g, uint8_t **s,
                        uint32_t *slen, uint8_t **d, uint32_t *cap, uint64_t *avail) {
  size_t argc = 4;
  napi_value a[4];
  char msg[128];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "ENAPI", "napi_get_cb_info failed");
    return 0;
  }
  if (argc < 4) {
    snprintf(msg, sizeof msg, "%s(ctx, src, dst, dstOff) needs 4 arguments", fn);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  *g = get_gcm(env, a[0]);
  if (!*g) return 0;
  if ((*g)->enc != enc) {
    snprintf(msg, sizeof msg, "%s needs %s context", fn, enc ? "an encrypt" : "a decrypt");
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  size_t sl, dl;
  uint32_t off;
  if (!get_typed(env, a[1], napi_uint8_array, (void **)s, &sl, "src", "Uint8Array") ||
      !get_typed(env, a[2], napi_uint8_array, (void **)d, &dl, "dst", "Uint8Array") ||
      !get_u32(env, a[3], &off, "dstOff"))
    return 0;
  if (off > dl || sl > 0xffffffffu) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "dstOff outside dst, or src too long");
    return 0;
  }
  *slen = (uint32_t)sl;
  *avail = dl - off;
  *cap = *avail > 0xffffffffu ? 0xffffffffu : (uint32_t)*avail;
  *d += off;
  return 1;
}

/*
 * espEncapOne(ctx, src, dst, dstOff) -> the ESP packet's length, or a negative ESP status: EspSa.encap of
 * the whole datagram src into dst[dstOff, ...) with the SA bound by espBind (its state is read and written
 * back). In place when src is dst[dstOff, ...). Nothing after the packet is borrowed.
 */
static napi_value esp_encap_one_call(napi_env env, napi_callback_info info) {
  gcm_t *g;
  uint8_t *s, *d;
  uint32_t slen, cap;
  uint64_t avail;
  esp_t e;
  if (!esp_one_args(env, info, 1, "espEncapOne", &g, &s, &slen, &d, &cap, &avail) ||
      !esp_bound(env, g, &e, "espEncapOne"))
    return NULL;
  const int32_t r = esp_encap_one(&e, g, s, slen, slen, d, cap, 1);
  esp_store(&e, g->esp_state);
  if (r == INT32_MIN) {
    napi_throw_error(env, "ERR_OPENSSL", "AES-GCM seal failed");
    return NULL;
  }
  napi_value v;
  CHECK_NAPI(napi_create_int32(env, r, &v));
  return v;
}

/*
 * espDecapOne(ctx, src, dst, dstOff) -> the output length, or a negative ESP status: EspSa.decap of the
 * ESP datagram src into dst[dstOff, ...) with the SA bound by espBind; the state's ES_ONE_* words say
 * the sequence number, next header and, on failure, how far the packet got.
 */
static napi_value esp_decap_one_call(napi_env env, napi_callback_info info) {
  gcm_t *g;
  uint8_t *s, *d;
  uint32_t slen, cap;
  uint64_t avail;
  esp_t e;
  if (!esp_one_args(env, info, 0, "espDecapOne", &g, &s, &slen, &d, &cap, &avail) ||
      !esp_bound(env, g, &e, "espDecapOne"))
    return NULL;
  uint32_t *st = g->esp_state;
  dslot_t o;
  uint32_t nh = 0, stage = ONE_STAGE_PREPARE;
  int32_t r = esp_decap_prepare(&e, s, slen, d, cap, 1, &o);
  if (r == 0) {
    stage = ONE_STAGE_OPENED;
    r = esp_decap_finish(&e, g, s, d, avail, &o, &nh);
    if (e.packets) {
      stage = ONE_STAGE_ACCEPTED;
      /* the trailer's next header, also for the drops after the window moved */
      if (r < 0) nh = d[((e.flags & EF_TUNNEL) ? 0 : o.esp_off) + o.ct_len - 1];
    }
    st[ES_ONE_SEQ_LO] = o.lo;
    st[ES_ONE_SEQ_HI] = o.hi;
    st[ES_ONE_ESP_OFF] = o.esp_off;
    st[ES_ONE_CT_LEN] = o.ct_len;
  }
  esp_store(&e, st);
  st[ES_ONE_NEXT_HEADER] = nh;
  st[ES_ONE_PAYLOAD_LEN] = (uint32_t)e.bytes;
  st[ES_ONE_STAGE] = stage;
  napi_value v;
  CHECK_NAPI(napi_create_int32(env, r, &v));
  return v;
}

/* ---------- sockets and namespaces ---------- */

/* setsockoptInt(fd, level, optname, value) */
static napi_value setsockopt_int(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 4) THROW_TYPE("setsockoptInt(fd, level, optname, value) needs 4 arguments");
  int32_t fd, level, opt, value;
  if (!get_i32(env, a[0], &fd, "fd") || !get_i32(env, a[1], &level, "level") || !get_i32(env, a[2], &opt, "optname") ||
      !get_i32(env, a[3], &value, "value"))
    return NULL;
  int v = value;
  if (setsockopt(fd, level, opt, &v, sizeof v) != 0) return throw_errno(env, errno, "setsockopt", NULL);
  return NULL;
}

/* getsockoptInt(fd, level, optname) -> number */
static napi_value getsockopt_int(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 3) THROW_TYPE("getsockoptInt(fd, level, optname) needs 3 arguments");
  int32_t fd, level, opt;
  if (!get_i32(env, a[0], &fd, "fd") || !get_i32(env, a[1], &level, "level") || !get_i32(env, a[2], &opt, "optname"))
    return NULL;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, opt, &v, &len) != 0) return throw_errno(env, errno, "getsockopt", NULL);
  napi_value r;
  CHECK_NAPI(napi_create_int32(env, v, &r));
  return r;
}

static int netlink_match(int fd, uint32_t portid, int protocol) {
  struct sockaddr_nl sa;
  socklen_t len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) return 0;
  if (sa.nl_family != AF_NETLINK || sa.nl_pid != portid) return 0;
  if (protocol >= 0) {
    int p = -1;
    socklen_t pl = sizeof p;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &p, &pl) != 0 || p != protocol) return 0;
  }
  return 1;
}

/* netlinkSocketFd(portid, protocol = -1) -> fd or -1 */
static napi_value netlink_socket_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 1) THROW_TYPE("netlinkSocketFd(portid) needs a port id");
  uint32_t portid;
  int32_t protocol = -1;
  if (!get_u32(env, a[0], &portid, "portid")) return NULL;
  if (argc >= 2) {
    napi_valuetype t;
    if (napi_typeof(env, a[1], &t) == napi_ok && t != napi_undefined && !get_i32(env, a[1], &protocol, "protocol"))
      return NULL;
  }
  int found = -1;
  /* Fast path: only the fds that are open. */
  DIR *dir = opendir("/proc/self/fd");
  if (dir) {
    int dfd = dirfd(dir);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
      char *end;
      long fd = strtol(de->d_name, &end, 10);
      if (*end != '\0' || end == de->d_name || fd == dfd) continue;
      if (netlink_match((int)fd, portid, protocol)) {
        found = (int)fd;
        break;
      }
    }
    closedir(dir);
  } else {
    /* No /proc: scan 0..RLIMIT_NOFILE. */
    struct rlimit rl;
    rlim_t max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) max = rl.rlim_cur;
    if (max > (1u << 20)) max = 1u << 20;
    for (rlim_t fd = 0; fd < max; fd++) {
      if (netlink_match((int)fd, portid, protocol)) {
        found = (int)fd;
        break;
      }
    }
  }
  napi_value r;
  CHECK_NAPI(napi_create_int32(env, found, &r));
  return r;
}

/* setns(fd, nstype) on the calling thread */
static napi_value do_setns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 2) THROW_TYPE("setns(fd, nstype) needs 2 arguments");
  int32_t fd, nstype;
  if (!get_i32(env, a[0], &fd, "fd") || !get_i32(env, a[1], &nstype, "nstype")) return NULL;
  if (setns(fd, nstype) != 0) return throw_errno(env, errno, "setns", NULL);
  return NULL;
}

static napi_value open_path(napi_env env, const char *path, const char *what) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", what);
  napi_value r;
  CHECK_NAPI(napi_create_int32(env, fd, &r));
  return r;
}

/* openNetnsFd(name) -> fd of /run/netns/NAME */
static napi_value open_netns_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 1) THROW_TYPE("openNetnsFd(name) needs a name");
  char name[256];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, a[0], name, sizeof name, &n) != napi_ok) THROW_TYPE("name must be a string");
  if (n == 0 || n >= sizeof name - 1 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    THROW_RANGE("invalid network namespace name");
  char path[300];
  snprintf(path, sizeof path, "/run/netns/%s", name);
  return open_path(env, path, path);
}

/* currentNetnsFd() -> fd of the calling thread's network namespace */
static napi_value current_netns_fd(napi_env env, napi_callback_info info) {
  return open_path(env, "/proc/thread-self/ns/net", "/proc/thread-self/ns/net");
}

/* closeFd(fd) */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_i32(env, a[0], &fd, "fd")) return NULL;
  if (close(fd) != 0) return throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* ---------- module ---------- */

static int set_int_prop(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_value n;
  return napi_create_int64(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gcmCreate", NULL, gcm_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmFree", NULL, gcm_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmSeal", NULL, gcm_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmOpen", NULL, gcm_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmSealBatch", NULL, gcm_seal_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmOpenBatch", NULL, gcm_open_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espEncapBatch", NULL, esp_encap_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espDecapBatch", NULL, esp_decap_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espBind", NULL, esp_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espEncapOne", NULL, esp_encap_one_call, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espDecapOne", NULL, esp_decap_one_call, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockoptInt", NULL, setsockopt_int, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockoptInt", NULL, getsockopt_int, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkSocketFd", NULL, netlink_socket_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setns", NULL, do_setns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openNetnsFd", NULL, open_netns_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"currentNetnsFd", NULL, current_netns_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;

  napi_value constants;
  if (napi_create_object(env, &constants) != napi_ok) return NULL;
  set_int_prop(env, constants, "CLONE_NEWNET", CLONE_NEWNET);
  set_int_prop(env, constants, "SOL_SOCKET", SOL_SOCKET);
  set_int_prop(env, constants, "SOL_NETLINK", 270);
  set_int_prop(env, constants, "SO_RCVBUF", SO_RCVBUF);
  set_int_prop(env, constants, "SO_SNDBUF", SO_SNDBUF);
  set_int_prop(env, constants, "SO_RCVBUFFORCE", SO_RCVBUFFORCE);
  set_int_prop(env, constants, "SO_SNDBUFFORCE", SO_SNDBUFFORCE);
  set_int_prop(env, constants, "SO_PROTOCOL", SO_PROTOCOL);
  set_int_prop(env, constants, "NETLINK_ADD_MEMBERSHIP", NETLINK_ADD_MEMBERSHIP);
  set_int_prop(env, constants, "NETLINK_DROP_MEMBERSHIP", NETLINK_DROP_MEMBERSHIP);
  set_int_prop(env, constants, "NETLINK_EXT_ACK", NETLINK_EXT_ACK);
  set_int_prop(env, constants, "NETLINK_CAP_ACK", NETLINK_CAP_ACK);
  set_int_prop(env, constants, "NETLINK_GET_STRICT_CHK", NETLINK_GET_STRICT_CHK);
  set_int_prop(env, constants, "NETLINK_NO_ENOBUFS", NETLINK_NO_ENOBUFS);
  set_int_prop(env, constants, "NETLINK_XFRM", NETLINK_XFRM);
  set_int_prop(env, constants, "NETLINK_GENERIC", NETLINK_GENERIC);
  set_int_prop(env, constants, "NETLINK_ROUTE", NETLINK_ROUTE);
  napi_set_named_property(env, exports, "constants", constants);

  napi_value ver;
  if (napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &ver) == napi_ok)
    napi_set_named_property(env, exports, "opensslVersion", ver);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
