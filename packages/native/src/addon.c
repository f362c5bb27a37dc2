/*
 * @xfrmkit/native: a small N-API addon (plain node_api.h, no node-addon-api).
 *
 *  - AES-GCM contexts: one EVP_CIPHER_CTX per SA and direction, keyed once; each packet only
 *    resets the 12-byte nonce (4-byte salt kept in the context + 8-byte explicit IV), as RFC 4106.
 *    OpenSSL comes from the Node binary itself (it exports its libcrypto symbols), so nothing
 *    extra is linked.
 *  - Socket helpers for the netlink transport: int socket options, finding the fd of a netlink
 *    socket by port id, and network-namespace switching (setns) of the calling thread.
 *
 * Every buffer access is bounds-checked: a bad offset throws a RangeError, never a crash.
 * Key bytes are never printed or copied anywhere but into the OpenSSL context.
 */
#include <node_api.h>

#include <dirent.h>
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
} gcm_t;

static void gcm_release(gcm_t *g) {
  if (g->ctx) {
    EVP_CIPHER_CTX_free(g->ctx); /* cleanses the key schedule */
    g->ctx = NULL;
  }
  OPENSSL_cleanse(g->salt, sizeof g->salt);
}

static void gcm_finalize(napi_env env, void *data, void *hint) {
  gcm_t *g = (gcm_t *)data;
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
      napi_get_value_external(env, argv[0], &p) == napi_ok && p)
    gcm_release((gcm_t *)p);
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
