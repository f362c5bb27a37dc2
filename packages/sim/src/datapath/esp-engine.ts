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
  espStatus,
  type PacketBatch,
  REPLAY_DUPLICATE,
  REPLAY_OK,
  ReplayWindow,
  XFRM_MODE,
  XFRM_SA_DIR,
  XFRM_STATE_FLAG,
  type XfrmState,
} from '@xfrmkit/core';
import { u32View } from './frames.ts';
import { inetChecksum, ipv4Bytes } from './packet.ts';

export interface EspEngine {
  readonly spi: number;
  readonly icvLen: number;
  readonly modeled: boolean;
  /**
   * ESP-encapsulates an IP datagram (transport) or wraps it (tunnel). Throws EspError. With `out`,
   * the ESP datagram is written at `out[outOffset]` (room: `ip.length + 80`) and a view returned.
   */
  encap(ip: Uint8Array, out?: Uint8Array, outOffset?: number): Uint8Array;
  /**
   * Decapsulates; throws EspError (ICV_MISMATCH, REPLAY, BAD_PADDING, …). With `out` (not
   * overlapping `ip`), the datagram is written at `out[outOffset]` (room: `ip.length`).
   */
  decap(ip: Uint8Array, out?: Uint8Array, outOffset?: number): { packet: Uint8Array; seq: bigint };
  /** Size of the ESP datagram `encap` produces from `ip`. */
  encapLen(ip: Uint8Array): number;
  /** `encapLen` of a datagram of `len` bytes whose first byte is `b0` (no view needed). */
  encapLenOf(len: number, b0: number): number;
  /** The sequence-number / anti-replay state (the ASO). */
  readonly replay: ReplayWindow;
  /**
   * Batch form of `encap`, core's `EspSa.encapBatch` contract: packet j of `input` (IP datagrams,
   * slots 0..count-1) → slot j of `output`; per slot `status` (0 or a negative ESP status, see
   * `espStatusCode`), `lengths`, `seqLo`/`seqHi`. Same bytes, same sequence numbers as `encap` one
   * packet at a time. Real engines work out of place or in place in the same slot; the modeled one
   * also in place with the output slot moved to make room for the headers (no payload copy).
   */
  encapBatch(input: PacketBatch, output: PacketBatch): number;
  /** Batch form of `decap` (core's `EspSa.decapBatch` contract; modeled: in place shifted too). */
  decapBatch(input: PacketBatch, output: PacketBatch): number;
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
  if (aead?.name !== 'rfc4106(gcm(aes))')
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
    encap: (ip, out, outOffset) => (out ? sa.encap(ip, { out, outOffset: outOffset ?? 0 }) : sa.encap(ip)),
    decap: (ip, out, outOffset) => {
      const r = out ? sa.decap(ip, { out, outOffset: outOffset ?? 0 }) : sa.decap(ip);
      return { packet: r.packet, seq: r.seq };
    },
    encapLen: (ip) => espLen(ip.length, ip[0]!, tunnel, outer, sa.icvLen),
    encapLenOf: (len, b0) => espLen(len, b0, tunnel, outer, sa.icvLen),
    replay: sa.replay,
    encapBatch: (input, output) => sa.encapBatch(input, output),
    decapBatch: (input, output) => sa.decapBatch(input, output),
    dispose: () => sa.dispose(),
  };
}

function espLen(len: number, b0: number, tunnel: boolean, outer: number, icv: number): number {
  if (tunnel) return outer + 16 + roundup4(len + 2) + icv;
  const ihl = b0 >> 4 === 4 ? (b0 & 0x0f) * 4 : 40;
  return ihl + 16 + roundup4(len - ihl + 2) + icv;
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

const S_UNSUPPORTED = espStatus('UNSUPPORTED');
const S_TRUNCATED = espStatus('TRUNCATED');
const S_REPLAY = espStatus('REPLAY');
const S_REPLAY_WINDOW = espStatus('REPLAY_WINDOW');
const S_BAD_PADDING = espStatus('BAD_PADDING');
const S_BUFFER_TOO_SMALL = espStatus('BUFFER_TOO_SMALL');

/** Forward byte copy `from[src, src + n)` → `b[dst, …)` (same buffer: dst < src). */
function moveDown(b: Uint8Array, dst: number, src: number, n: number, from: Uint8Array = b): void {
  for (let i = 0; i < n; i++) b[dst + i] = from[src + i]!;
}

/**
 * RFC 1071 checksum of the `nw` 32-bit words at word index `wo` of `w` (a little-endian view of the
 * header bytes): the ones'-complement sum of the byte-swapped halves is the byte-swapped sum, so
 * this is `inetChecksum` of the same bytes.
 */
function checksumWords(w: Uint32Array, wo: number, nw: number): number {
  let sum = 0;
  for (let k = 0; k < nw; k++) {
    const x = w[wo + k]!;
    sum += (x & 0xffff) + (x >>> 16);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const v = ~sum & 0xffff;
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** Backward byte copy inside one buffer (dst > src, or disjoint). */
function moveUp(b: Uint8Array, dst: number, src: number, n: number): void {
  for (let i = n - 1; i >= 0; i--) b[dst + i] = b[src + i]!;
}

/**
 * Modeled ESP (IPv4): the ESP layout with the payload in clear and a zero ICV. Sequence numbers and
 * the replay window are real; the ICV is not checked (there is none), padding/trailer are.
 *
 * One code path serves both forms: a packet is read from `src[so, so + slen)` and written to
 * `dst[dOff, …)`; when `dst` is `src` and the output starts exactly where the payload already is
 * (encap: `dOff = so − 16` transport / `so − 36` tunnel; decap: `dOff = so + 16` transport /
 * `so + ihl + 16` tunnel), only the headers move and the payload stays in place.
 */
export function modeledEngine(state: XfrmState, dir: 'in' | 'out'): EspEngine {
  const spi = state.info.id.spi;
  const icvLen = saKeys(state).icvLen;
  const tunnel = state.info.mode === XFRM_MODE.TUNNEL;
  const replay = hwReplay(state, dir);
  const src = tunnel ? ipv4Bytes(state.info.saddr) : new Uint8Array(4);
  const dst = tunnel ? ipv4Bytes(state.info.id.daddr) : new Uint8Array(4);
  const is4 = (b: Uint8Array, o: number, n: number) => n >= 20 && b[o]! >> 4 === 4;
  const outLenOf = (b: Uint8Array, o: number, n: number) => {
    const hdrLen = tunnel ? 20 : (b[o]! & 0x0f) * 4;
    const payloadLen = tunnel ? n : n - hdrLen;
    return hdrLen + 16 + payloadLen + ((4 - ((payloadLen + 2) % 4)) % 4) + 2 + icvLen;
  };
  /** Writes the ESP packet; the caller checked IPv4 and room. Returns the length. */
  const encapInto = (
    b: Uint8Array,
    so: number,
    n: number,
    out: Uint8Array,
    o: number,
    seq: number,
    w?: Uint32Array,
  ): number => {
    const hdrLen = tunnel ? 20 : (b[so]! & 0x0f) * 4;
    if (out === b && o !== so - (tunnel ? 36 : 16)) {
      // same buffer but not the exact in-place layout: work from a copy
      return encapInto(b.slice(so, so + n), 0, n, out, o, seq);
    }
    // in place on 4-byte boundaries: the header moves and is summed as words
    const aligned = w !== undefined && out === b && ((so | o) & 3) === 0;
    const pIn = tunnel ? so : so + hdrLen;
    const payloadLen = tunnel ? n : n - hdrLen;
    const nh = tunnel ? 4 : b[so + 9]!;
    const padLen = (4 - ((payloadLen + 2) % 4)) % 4;
    const outLen = hdrLen + 16 + payloadLen + padLen + 2 + icvLen;
    const pOut = o + hdrLen + 16;
    // in place the payload already sits at pOut and the header moves down in front of the ESP header
    if (out !== b) out.set(b.subarray(pIn, pIn + payloadLen), pOut);
    if (tunnel) {
      out[o] = 0x45;
      for (let i = 1; i < 20; i++) out[o + i] = 0;
      out[o + 8] = 64;
      out.set(src, o + 12);
      out.set(dst, o + 16);
    } else if (aligned) {
      const ws = so >>> 2;
      const wo = o >>> 2;
      for (let k = 0; k < hdrLen >>> 2; k++) w[wo + k] = w[ws + k]!;
    } else moveDown(out, o, so, hdrLen, b);
    wr16(out, o + 2, outLen);
    out[o + 9] = 50;
    wr16(out, o + 10, 0);
    wr16(out, o + 10, aligned ? checksumWords(w, o >>> 2, hdrLen >>> 2) : inetChecksum(out, o, hdrLen));
    wr32(out, o + hdrLen, spi);
    wr32(out, o + hdrLen + 4, seq);
    wr32(out, o + hdrLen + 8, 0);
    wr32(out, o + hdrLen + 12, seq);
    let t = pOut + payloadLen;
    for (let i = 1; i <= padLen; i++) out[t++] = i;
    out[t++] = padLen;
    out[t++] = nh;
    if (aligned && (t & 3) === 0) for (let k = t >>> 2; k < (t + icvLen) >>> 2; k++) w[k] = 0;
    else for (let i = 0; i < icvLen; i++) out[t + i] = 0;
    return outLen;
  };
  let lastSeq = 0;
  let lastNh = 0;
  /** Checks and strips one packet; returns the output length or a negative status. */
  const decapInto = (
    b: Uint8Array,
    so: number,
    n: number,
    out: Uint8Array | null,
    o: number,
    w?: Uint32Array,
  ) => {
    if (!is4(b, so, n)) return S_UNSUPPORTED;
    const hdrLen = (b[so]! & 0x0f) * 4;
    if (n < hdrLen + 16 + 2 + icvLen) return S_TRUNCATED;
    const seq = rd32(b, so + hdrLen + 4);
    const v = replay.check(seq);
    if (v !== REPLAY_OK) return v === REPLAY_DUPLICATE ? S_REPLAY : S_REPLAY_WINDOW;
    const end = so + n - icvLen;
    const padLen = b[end - 2]!;
    const nh = b[end - 1]!;
    const pStart = so + hdrLen + 16;
    const pEnd = end - 2 - padLen;
    if (pEnd < pStart) return S_BAD_PADDING;
    for (let i = 0; i < padLen; i++) if (b[pEnd + i] !== i + 1) return S_BAD_PADDING;
    replay.advance(seq);
    lastSeq = seq;
    lastNh = nh;
    const plen = pEnd - pStart;
    if (out === null) return tunnel ? plen : hdrLen + plen;
    if (tunnel) {
      if (out !== b) out.set(b.subarray(pStart, pEnd), o);
      else if (o !== pStart) b.copyWithin(o, pStart, pEnd);
      return plen;
    }
    const outLen = hdrLen + plen;
    const aligned = w !== undefined && out === b && o === so + 16 && (so & 3) === 0;
    if (aligned) {
      // in place on 4-byte boundaries: the header moves up onto the ESP header as words
      const ws = so >>> 2;
      const wo = o >>> 2;
      for (let k = (hdrLen >>> 2) - 1; k >= 0; k--) w[wo + k] = w[ws + k]!;
    } else if (out === b && o === so + 16) {
      // in place: the payload stays, the header moves up onto the ESP header
      moveUp(b, o, so, hdrLen);
    } else if (out === b) {
      const tmp = b.slice(so, so + hdrLen);
      b.copyWithin(o + hdrLen, pStart, pEnd);
      b.set(tmp, o);
    } else {
      for (let i = 0; i < hdrLen; i++) out[o + i] = b[so + i]!;
      out.set(b.subarray(pStart, pEnd), o + hdrLen);
    }
    wr16(out, o + 2, outLen);
    out[o + 9] = nh;
    wr16(out, o + 10, 0);
    wr16(out, o + 10, aligned ? checksumWords(w, o >>> 2, hdrLen >>> 2) : inetChecksum(out, o, hdrLen));
    return outLen;
  };
  const fail = (status: number, ip: Uint8Array): never => {
    const hdrLen = ip.length >= 20 ? (ip[0]! & 0x0f) * 4 : 0;
    const seq = ip.length >= hdrLen + 8 ? rd32(ip, hdrLen + 4) : 0;
    if (status === S_UNSUPPORTED) throw new EspError('UNSUPPORTED', 'modeled crypto handles IPv4 only');
    if (status === S_TRUNCATED) throw new EspError('TRUNCATED', `ESP packet of ${ip.length} bytes`);
    if (status === S_REPLAY) throw new EspError('REPLAY', `sequence number ${seq}`);
    if (status === S_REPLAY_WINDOW) throw new EspError('REPLAY_WINDOW', `sequence number ${seq}`);
    throw new EspError('BAD_PADDING', 'bad ESP padding');
  };
  return {
    spi,
    icvLen,
    modeled: true,
    replay,
    encapLen: (ip) => espLen(ip.length, ip[0]!, tunnel, 20, icvLen),
    encapLenOf: (len, b0) => espLen(len, b0, tunnel, 20, icvLen),
    encap(ip, buf, off = 0) {
      if (!is4(ip, 0, ip.length)) fail(S_UNSUPPORTED, ip);
      const seq = replay.nextOutputSeq();
      const len = outLenOf(ip, 0, ip.length);
      const out = buf ?? new Uint8Array(len);
      encapInto(ip, 0, ip.length, out, off, seq);
      return buf ? out.subarray(off, off + len) : out;
    },
    decap(ip, buf, off = 0) {
      const hdrLen = (ip[0]! & 0x0f) * 4;
      if (buf) {
        const r = decapInto(ip, 0, ip.length, buf, off);
        if (r < 0) fail(r, ip);
        return { packet: buf.subarray(off, off + r), seq: BigInt(lastSeq) };
      }
      const n = decapInto(ip, 0, ip.length, null, 0);
      if (n < 0) fail(n, ip);
      const out = new Uint8Array(n);
      if (tunnel) out.set(ip.subarray(hdrLen + 16, hdrLen + 16 + n));
      else {
        out.set(ip.subarray(0, hdrLen), 0);
        out.set(ip.subarray(hdrLen + 16, hdrLen + 16 + n - hdrLen), hdrLen);
        wr16(out, 2, out.length);
        out[9] = lastNh;
        wr16(out, 10, 0);
        wr16(out, 10, inetChecksum(out, 0, hdrLen));
      }
      return { packet: out, seq: BigInt(lastSeq) };
    },
    encapBatch(input, output) {
      const count = input.count;
      const b = input.buf;
      const out = output.buf;
      const w = out === b ? u32View(b) : undefined;
      let ok = 0;
      for (let j = 0; j < count; j++) {
        const so = input.offsets[j]!;
        const n = input.lengths[j]!;
        output.lengths[j] = 0;
        if (!is4(b, so, n)) {
          output.status[j] = S_UNSUPPORTED;
          continue;
        }
        if (outLenOf(b, so, n) > output.capacities[j]!) {
          output.status[j] = S_BUFFER_TOO_SMALL;
          continue;
        }
        const seq = replay.nextOutputSeq();
        output.lengths[j] = encapInto(b, so, n, out, output.offsets[j]!, seq, w);
        output.status[j] = 0;
        output.seqLo[j] = seq;
        output.seqHi[j] = replay.oseqHi;
        ok++;
      }
      output.count = count;
      return ok;
    },
    decapBatch(input, output) {
      const count = input.count;
      const b = input.buf;
      const w = output.buf === b ? u32View(b) : undefined;
      let ok = 0;
      for (let j = 0; j < count; j++) {
        const r = decapInto(b, input.offsets[j]!, input.lengths[j]!, output.buf, output.offsets[j]!, w);
        if (r < 0) {
          output.status[j] = r;
          output.lengths[j] = 0;
          continue;
        }
        output.status[j] = 0;
        output.lengths[j] = r;
        output.seqLo[j] = lastSeq;
        output.seqHi[j] = 0;
        output.nextHeader[j] = lastNh;
        ok++;
      }
      output.count = count;
      return ok;
    },
    dispose() {},
  };
}
