/**
 * Algorithm tables of `net/xfrm/xfrm_algo.c` (xfrm-uapi.md §14) and crypto-API availability per
 * kernel personality.
 */
export type AlgKind = 'aead' | 'auth' | 'crypt' | 'comp';

export interface AlgEntry {
  name: string;
  compat?: string;
  /** AEAD: icv bits; AUTH: default truncation bits */
  icvTrunc?: number;
  /** AUTH: full ICV bits */
  icvFull?: number;
}

const aead = (name: string, icv: number): AlgEntry => ({ name, icvTrunc: icv });

export const ALGORITHMS: Record<AlgKind, AlgEntry[]> = {
  aead: [
    aead('rfc4106(gcm(aes))', 64),
    aead('rfc4106(gcm(aes))', 96),
    aead('rfc4106(gcm(aes))', 128),
    aead('rfc4309(ccm(aes))', 64),
    aead('rfc4309(ccm(aes))', 96),
    aead('rfc4309(ccm(aes))', 128),
    aead('rfc4543(gcm(aes))', 128),
    aead('rfc7539esp(chacha20,poly1305)', 128),
  ],
  auth: [
    { name: 'digest_null', icvTrunc: 0, icvFull: 0 },
    { name: 'hmac(md5)', compat: 'md5', icvTrunc: 96, icvFull: 128 },
    { name: 'hmac(sha1)', compat: 'sha1', icvTrunc: 96, icvFull: 160 },
    { name: 'hmac(sha256)', compat: 'sha256', icvTrunc: 96, icvFull: 256 },
    { name: 'hmac(sha384)', icvTrunc: 192, icvFull: 384 },
    { name: 'hmac(sha512)', icvTrunc: 256, icvFull: 512 },
    { name: 'xcbc(aes)', icvTrunc: 96, icvFull: 128 },
    { name: 'cmac(aes)', icvTrunc: 96, icvFull: 128 },
    { name: 'hmac(sm3)', compat: 'sm3', icvTrunc: 256, icvFull: 256 },
  ],
  crypt: [
    { name: 'ecb(cipher_null)', compat: 'cipher_null' },
    { name: 'cbc(des)', compat: 'des' },
    { name: 'cbc(des3_ede)', compat: 'des3_ede' },
    { name: 'cbc(cast5)', compat: 'cast5' },
    { name: 'cbc(blowfish)', compat: 'blowfish' },
    { name: 'cbc(aes)', compat: 'aes' },
    { name: 'cbc(serpent)', compat: 'serpent' },
    { name: 'cbc(camellia)', compat: 'camellia' },
    { name: 'cbc(twofish)', compat: 'twofish' },
    { name: 'rfc3686(ctr(aes))' },
    { name: 'cbc(sm4)', compat: 'sm4' },
  ],
  comp: [{ name: 'deflate' }, { name: 'lzs' }, { name: 'lzjh' }],
};

/** Crypto API contents of the 6.18 test VM (/proc/crypto): no gcm, ccm, chacha, des, … */
export const VM_CRYPTO = new Set([
  'digest_null',
  'hmac(md5)',
  'hmac(sha1)',
  'hmac(sha256)',
  'hmac(sha384)',
  'hmac(sha512)',
  'ecb(cipher_null)',
  'cbc(aes)',
  'deflate',
]);

/**
 * `xfrm_find_algo`: the table entry matching `name` (and `icv` for AEAD) whose implementation the
 * crypto API has; undefined = ENOSYS.
 */
export function findAlgo(
  kind: AlgKind,
  name: string,
  available: (name: string) => boolean,
  icv?: number,
): AlgEntry | undefined {
  for (const e of ALGORITHMS[kind]) {
    const match =
      kind === 'aead'
        ? e.name === name && e.icvTrunc === icv
        : e.name === name || (e.compat !== undefined && e.compat === name);
    if (!match) continue;
    if (available(e.name)) return e;
    // the kernel stops at the first matching entry when the crypto API lacks it
    return undefined;
  }
  return undefined;
}
