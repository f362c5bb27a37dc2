/**
 * JSON test-vector contract used by `xfrmkit esp encrypt|decrypt`.
 *
 * Input: a list of objects
 *   { id, mode: "transport"|"tunnel", ip_version: 4|6, tunnel_src?, tunnel_dst?, spi, esn, seq (decimal
 *     string, full 64-bit), key_hex, salt_hex, icv_len, iv_hex? (8 bytes), plaintext_hex? , esp_packet_hex? }
 * `ip_version` is the version of the datagram on the wire (transport: the datagram; tunnel: the outer
 * header, which must match the tunnel addresses). `plaintext_hex` is the whole IP datagram (transport)
 * or the inner datagram (tunnel).
 *
 * encryptVector: each object copied, plus `esp_packet_hex` (the outer IP datagram carrying ESP, no link
 * layer), or `error` ("CODE: message") when it cannot be built.
 * decryptVector: `{id, accepted, plaintext_hex?, next_header?, seq?, error?}`; the receiver's highest
 * received sequence number is `seq − 1` (so ESN seq_hi is inferred from there).
 */
import type { GcmProvider } from '../crypto/index.ts';
import { GcmError } from '../crypto/index.ts';
import { ReplayWindow } from '../replay/index.ts';
import { AF_INET6, addressFamily } from '../types/index.ts';
import { EspError } from './errors.ts';
import { bytesToHex, hexToBytes } from './hex.ts';
import { EspSa, type EspSaConfig } from './sa.ts';

export interface EspVector {
  id: string | number;
  mode: 'transport' | 'tunnel';
  ip_version: number;
  tunnel_src?: string;
  tunnel_dst?: string;
  spi: number | string;
  esn: boolean;
  seq: string | number;
  key_hex: string;
  salt_hex: string;
  icv_len: number;
  iv_hex?: string;
  plaintext_hex?: string;
  esp_packet_hex?: string;
  [extra: string]: unknown;
}

export type EspEncryptedVector = EspVector & { esp_packet_hex?: string; error?: string };

export interface EspDecryptedVector {
  id: string | number;
  accepted: boolean;
  plaintext_hex?: string;
  next_header?: number;
  seq?: string;
  error?: string;
}

export interface EspVectorOptions {
  provider?: GcmProvider;
  /** Receiver replay window for decryptVector (default 64). */
  replayWindow?: number;
}

const MAX_SEQ64 = 0xffff_ffff_ffff_ffffn;

function bad(message: string): EspError {
  return new EspError('BAD_CONFIG', message);
}

function parseSeq(v: EspVector): bigint {
  const s = typeof v.seq === 'number' ? String(v.seq) : v.seq;
  if (typeof s !== 'string' || !/^\d+$/.test(s))
    throw bad(`seq must be a decimal string, got ${JSON.stringify(v.seq)}`);
  const seq = BigInt(s);
  if (seq === 0n)
    throw new EspError('INVALID_SEQ', 'sequence number 0 is never sent (the first packet is 1)');
  if (seq > MAX_SEQ64) throw new EspError('SEQ_OVERFLOW', `seq ${s} exceeds 2^64 − 1`);
  if (!v.esn && seq > 0xffff_ffffn) {
    throw new EspError('SEQ_OVERFLOW', `seq ${s} needs more than 32 bits but esn is false (would wrap)`);
  }
  return seq;
}

function parseSpi(v: EspVector): number {
  const x = v.spi;
  let n: number;
  if (typeof x === 'number') n = x;
  else if (typeof x === 'string' && /^0x[0-9a-f]{1,8}$/i.test(x)) n = Number.parseInt(x.slice(2), 16);
  else if (typeof x === 'string' && /^\d+$/.test(x)) n = Number(x);
  else throw bad(`spi must be a number or "0x…" string, got ${JSON.stringify(x)}`);
  return n;
}

function hexField(
  v: EspVector,
  field: 'key_hex' | 'salt_hex' | 'iv_hex' | 'plaintext_hex' | 'esp_packet_hex',
): Uint8Array {
  const s = v[field];
  if (typeof s !== 'string') throw bad(`${field} is missing`);
  try {
    return hexToBytes(s, field);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

function saConfig(v: EspVector, opts: EspVectorOptions): EspSaConfig {
  if (v.mode !== 'transport' && v.mode !== 'tunnel')
    throw bad(`mode must be "transport" or "tunnel", got ${JSON.stringify(v.mode)}`);
  if (v.ip_version !== 4 && v.ip_version !== 6)
    throw bad(`ip_version must be 4 or 6, got ${JSON.stringify(v.ip_version)}`);
  if (typeof v.esn !== 'boolean') throw bad('esn must be a boolean');
  const key = hexField(v, 'key_hex');
  if (key.length !== 16 && key.length !== 32) {
    throw new EspError('BAD_KEY', `key_hex must be 16 or 32 bytes (AES-128/256), got ${key.length} bytes`);
  }
  const salt = hexField(v, 'salt_hex');
  if (salt.length !== 4) throw new EspError('BAD_KEY', `salt_hex must be 4 bytes, got ${salt.length}`);
  const cfg: EspSaConfig = { spi: parseSpi(v), mode: v.mode, key, salt, icvLen: v.icv_len, esn: v.esn };
  if (v.mode === 'tunnel') {
    if (typeof v.tunnel_src !== 'string' || typeof v.tunnel_dst !== 'string') {
      throw bad('tunnel mode needs tunnel_src and tunnel_dst');
    }
    let fam: number;
    try {
      fam = addressFamily(v.tunnel_src);
    } catch (e) {
      throw bad((e as Error).message);
    }
    if ((fam === AF_INET6 ? 6 : 4) !== v.ip_version) {
      throw bad(`ip_version ${v.ip_version} does not match the tunnel addresses (${v.tunnel_src})`);
    }
    cfg.tunnel = { src: v.tunnel_src, dst: v.tunnel_dst };
  }
  if (opts.provider) cfg.provider = opts.provider;
  return cfg;
}

function errorText(e: unknown): string {
  if (e instanceof EspError) return e.message;
  if (e instanceof GcmError) return `BAD_KEY: ${e.message}`;
  return `BAD_CONFIG: ${(e as Error)?.message ?? String(e)}`;
}

function asList(vectors: unknown): EspVector[] {
  if (!Array.isArray(vectors)) throw new TypeError('ESP vectors must be a JSON list of objects');
  for (const [i, v] of vectors.entries()) {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new TypeError(`vector ${i} is not an object`);
  }
  return vectors as EspVector[];
}

function encryptOne(v: EspVector, opts: EspVectorOptions): string {
  const seq = parseSeq(v);
  const cfg = saConfig(v, opts);
  cfg.oseq = seq - 1n;
  const pt = hexField(v, 'plaintext_hex');
  if (v.mode === 'transport' && pt.length > 0 && pt[0]! >> 4 !== v.ip_version) {
    throw bad(`ip_version ${v.ip_version} but plaintext_hex is an IPv${pt[0]! >> 4} datagram`);
  }
  const iv = v.iv_hex === undefined ? undefined : hexField(v, 'iv_hex');
  if (iv && iv.length !== 8) throw bad(`iv_hex must be 8 bytes, got ${iv.length}`);
  const sa = new EspSa(cfg);
  try {
    return bytesToHex(sa.encap(pt, iv ? { iv } : {}));
  } finally {
    sa.dispose();
  }
}

/** Encrypts each vector; see the module comment. */
export function encryptVector(vectors: unknown, opts: EspVectorOptions = {}): EspEncryptedVector[] {
  return asList(vectors).map((v) => {
    try {
      return { ...v, esp_packet_hex: encryptOne(v, opts) };
    } catch (e) {
      return { ...v, error: errorText(e) };
    }
  });
}

/** Decrypts each vector's `esp_packet_hex`; see the module comment. */
export function decryptVector(vectors: unknown, opts: EspVectorOptions = {}): EspDecryptedVector[] {
  return asList(vectors).map((v) => {
    let sa: EspSa | null = null;
    try {
      const seq = parseSeq(v);
      const cfg = saConfig(v, opts);
      const top = seq - 1n;
      cfg.replay = new ReplayWindow({
        mode: v.esn ? 'esn' : 'bmp',
        window: opts.replayWindow ?? 64,
        seq: Number(top & 0xffff_ffffn),
        seqHi: v.esn ? Number(top >> 32n) : 0,
      });
      const pkt = hexField(v, 'esp_packet_hex');
      if (pkt.length > 0 && pkt[0]! >> 4 !== v.ip_version) {
        throw bad(`ip_version ${v.ip_version} but esp_packet_hex is an IPv${pkt[0]! >> 4} datagram`);
      }
      sa = new EspSa(cfg);
      const r = sa.decap(pkt);
      return {
        id: v.id,
        accepted: true,
        plaintext_hex: bytesToHex(r.packet),
        next_header: r.nextHeader,
        seq: r.seq.toString(),
      };
    } catch (e) {
      return { id: v.id, accepted: false, error: errorText(e) };
    } finally {
      sa?.dispose();
    }
  });
}
