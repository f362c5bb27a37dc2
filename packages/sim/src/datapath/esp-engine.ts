/**
 * The per-SA crypto context the datapath holds for an offloaded SA (the DEK + IPsec object + ASO of
 * mlx5-ipsec.md §6.1): real AES-GCM through @xfrmkit/core's EspSa, or — with "modeled crypto" — the
 * same ESP framing (SPI, sequence number, IV, padding, trailer, ICV space) with the payload left in
 * clear and an all-zero ICV, for what-if runs where the AES work would dominate the run time.
 * Modeled packets are not valid ESP; callers say so in their output.
 */
import {
  EspError,
  EspSa,
  type EspSaConfig,
  REPLAY_DUPLICATE,
  REPLAY_OK,
  ReplayWindow,
  XFRM_MODE,
  XFRM_SA_DIR,
  XFRM_STATE_FLAG,
  type XfrmState,
} from '@xfrmkit/core';
import { inetChecksum, ipv4Bytes } from './packet.ts';

export interface EspEngine {
  readonly spi: number;
  readonly icvLen: number;
  readonly modeled: boolean;
  /** ESP-encapsulates an IP datagram (transport) or wraps it (tunnel). Throws EspError. */
  encap(ip: Uint8Array): Uint8Array;
  /** Decapsulates; throws EspError (ICV_MISMATCH, REPLAY, BAD_PADDING, …). */
  decap(ip: Uint8Array): { packet: Uint8Array; seq: bigint };
  /** Size of the ESP datagram `encap` produces from `ip`. */
  encapLen(ip: Uint8Array): number;
  dispose(): void;
}

export interface SaKeys {
  key: Uint8Array;
  salt: Uint8Array;
  icvLen: number;
}

/** AES key, salt and ICV length of an `aead rfc4106(gcm(aes))` SA. */
export function saKeys(state: XfrmState): SaKeys {
  const aead = state.aead;
  if (!aead || aead.name !== 'rfc4106(gcm(aes))')
    throw new EspError('UNSUPPORTED', `SA 0x${state.info.id.spi.toString(16)} has no rfc4106(gcm(aes)) AEAD`);
  const n = aead.key.length;
  return { key: aead.key.subarray(0, n - 4), salt: aead.key.subarray(n - 4), icvLen: aead.icvLen / 8 };
}

function isEsn(state: XfrmState): boolean {
  return (state.info.flags & XFRM_STATE_FLAG.ESN) !== 0;
}

/**
 * The replay/sequence state the hardware keeps: TX counts sequence numbers (ASO INC_SN); RX checks
 * replay only for ESN SAs (mlx5-ipsec.md §6.3: non-ESN packet-offload RX SAs get no HW replay check).
 */
function hwReplay(state: XfrmState, dir: 'in' | 'out'): ReplayWindow {
  if (dir === 'in' && !isEsn(state)) return new ReplayWindow({ mode: 'legacy', window: 0 });
  if (state.replayEsn || isEsn(state))
    return ReplayWindow.fromXfrmState({ ...state, dir: dir === 'in' ? XFRM_SA_DIR.IN : XFRM_SA_DIR.OUT });
  return new ReplayWindow({ mode: 'legacy', window: 0 });
}

function roundup4(n: number): number {
  return (n + 3) & ~3;
}

/** Real ESP through core's EspSa. */
export function realEngine(state: XfrmState, dir: 'in' | 'out', ivMask?: Uint8Array): EspEngine {
  const k = saKeys(state);
  const tunnel = state.info.mode === XFRM_MODE.TUNNEL;
  const cfg: EspSaConfig = {
    spi: state.info.id.spi,
    mode: tunnel ? 'tunnel' : 'transport',
    key: k.key,
    salt: k.salt,
    icvLen: k.icvLen,
    esn: isEsn(state),
    replay: hwReplay(state, dir),
    dir,
  };
  if (tunnel) cfg.tunnel = { src: state.info.saddr, dst: state.info.id.daddr };
  if (ivMask) cfg.ivMask = ivMask;
  const sa = new EspSa(cfg);
  const outer = sa.outerLen;
  return {
    spi: sa.spi,
    icvLen: sa.icvLen,
    modeled: false,
    encap: (ip) => sa.encap(ip),
    decap: (ip) => {
      const r = sa.decap(ip);
      return { packet: r.packet, seq: r.seq };
    },
    encapLen: (ip) => espLen(ip, tunnel, outer, sa.icvLen),
    dispose: () => sa.dispose(),
  };
}

function espLen(ip: Uint8Array, tunnel: boolean, outer: number, icv: number): number {
  if (tunnel) return outer + 16 + roundup4(ip.length + 2) + icv;
  const ihl = ip[0]! >> 4 === 4 ? (ip[0]! & 0x0f) * 4 : 40;
  return ihl + 16 + roundup4(ip.length - ihl + 2) + icv;
}

function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * Modeled ESP (IPv4): the ESP layout with the payload in clear and a zero ICV. Sequence numbers and
 * the replay window are real; the ICV is not checked (there is none), padding/trailer are.
 */
export function modeledEngine(state: XfrmState, dir: 'in' | 'out'): EspEngine {
  const spi = state.info.id.spi;
  const icvLen = saKeys(state).icvLen;
  const tunnel = state.info.mode === XFRM_MODE.TUNNEL;
  const replay = hwReplay(state, dir);
  const src = tunnel ? ipv4Bytes(state.info.saddr) : undefined;
  const dst = tunnel ? ipv4Bytes(state.info.id.daddr) : undefined;
  const need4 = (ip: Uint8Array) => {
    if (ip.length < 20 || ip[0]! >> 4 !== 4)
      throw new EspError('UNSUPPORTED', 'modeled crypto handles IPv4 only');
  };
  return {
    spi,
    icvLen,
    modeled: true,
    encapLen: (ip) => espLen(ip, tunnel, 20, icvLen),
    encap(ip) {
      need4(ip);
      const seq = replay.nextOutputSeq();
      const hdrLen = tunnel ? 20 : (ip[0]! & 0x0f) * 4;
      const payload = tunnel ? ip : ip.subarray(hdrLen);
      const nh = tunnel ? 4 : ip[9]!;
      const padLen = (4 - ((payload.length + 2) % 4)) % 4;
      const out = new Uint8Array(hdrLen + 16 + payload.length + padLen + 2 + icvLen);
      if (tunnel) {
        out[0] = 0x45;
        out[8] = 64;
        out.set(src!, 12);
        out.set(dst!, 16);
      } else {
        out.set(ip.subarray(0, hdrLen), 0);
      }
      wr16(out, 2, out.length);
      out[9] = 50;
      wr16(out, 10, 0);
      wr16(out, 10, inetChecksum(out, 0, hdrLen));
      wr32(out, hdrLen, spi);
      wr32(out, hdrLen + 4, seq);
      wr32(out, hdrLen + 12, seq);
      let o = hdrLen + 16;
      out.set(payload, o);
      o += payload.length;
      for (let i = 1; i <= padLen; i++) out[o++] = i;
      out[o++] = padLen;
      out[o] = nh;
      return out;
    },
    decap(ip) {
      need4(ip);
      const hdrLen = (ip[0]! & 0x0f) * 4;
      if (ip.length < hdrLen + 16 + 2 + icvLen)
        throw new EspError('TRUNCATED', `ESP packet of ${ip.length} bytes`);
      const seq = rd32(ip, hdrLen + 4);
      const v = replay.check(seq);
      if (v !== REPLAY_OK)
        throw new EspError(v === REPLAY_DUPLICATE ? 'REPLAY' : 'REPLAY_WINDOW', `sequence number ${seq}`);
      const end = ip.length - icvLen;
      const padLen = ip[end - 2]!;
      const nh = ip[end - 1]!;
      const pStart = hdrLen + 16;
      const pEnd = end - 2 - padLen;
      if (pEnd < pStart) throw new EspError('BAD_PADDING', `pad length ${padLen} exceeds the payload`);
      for (let i = 0; i < padLen; i++)
        if (ip[pEnd + i] !== i + 1) throw new EspError('BAD_PADDING', `pad byte ${i} is ${ip[pEnd + i]}`);
      replay.advance(seq);
      if (tunnel) return { packet: ip.slice(pStart, pEnd), seq: BigInt(seq) };
      const out = new Uint8Array(hdrLen + pEnd - pStart);
      out.set(ip.subarray(0, hdrLen), 0);
      out.set(ip.subarray(pStart, pEnd), hdrLen);
      wr16(out, 2, out.length);
      out[9] = nh;
      wr16(out, 10, 0);
      wr16(out, 10, inetChecksum(out, 0, hdrLen));
      return { packet: out, seq: BigInt(seq) };
    },
    dispose() {},
  };
}
