/**
 * ESP (RFC 4303) with AES-GCM (RFC 4106), transport and tunnel mode, IPv4 and IPv6, as Linux's
 * esp4/esp6 + xfrm tunnel/transport modes build and parse it:
 *
 *   outer/IP header | SPI | seq (low 32) | IV (8) | AES-GCM( payload | pad 1,2,3.. | padlen | nh ) | ICV
 *
 *  - nonce = salt ‖ IV; the IV defaults to the 64-bit sequence number (seqiv; Linux additionally XORs a
 *    random per-SA value: pass it as `ivMask`), or is given per packet.
 *  - AAD = SPI ‖ seq (8 bytes), with ESN SPI ‖ seq_hi ‖ seq_lo (12 bytes).
 *  - padding to a multiple of 4 (GCM's block size is 1), contents 1, 2, 3, …
 *  - transport: ESP goes after the IPv4 header (options kept) or after the IPv6 hop-by-hop, routing,
 *    fragment and destination-options headers; protocol/next header becomes 50, lengths and the IPv4
 *    checksum are fixed up. Tunnel: a new outer IPv4/IPv6 header (DSCP copied unless DONT_ENCAP_DSCP,
 *    ECN per RFC 6040, DF copied from an IPv4 inner header, flow label from an IPv6 inner header).
 *  - input: replay check before decryption, ESN seq_hi inferred from the window, the window advances
 *    only after the ICV and the trailer verified (and a recheck against the current window passed).
 *
 * The batch calls (`encapBatch`, `decapBatch`) process many packets with one AES-GCM call and no
 * per-packet allocation; the single-packet calls share the same code. With the native provider a
 * whole batch — framing, sequence numbers, the replay window and AES-GCM — is one call into the addon
 * (packages/native/src/addon.c, `espEncapBatch`/`espDecapBatch`), which implements exactly the code
 * below, and so is a single packet (`espEncapOne`/`espDecapOne`, the SA bound to the contexts once;
 * a dropped packet's error message is then worded by this code, from what the addon reports, without
 * counting it twice). This TypeScript path remains the reference and serves explicit IVs and the
 * `node:crypto` fallback.
 */
import {
  ESP_FLAG,
  ESP_ONE_STAGE,
  ESP_PARAMS,
  ESP_PARAMS_LEN,
  ESP_STATE,
  ESP_STATE_ONE_LEN,
} from '@xfrmkit/native';
import {
  defaultGcmProvider,
  GCM_DESC_STRIDE,
  type GcmContext,
  GcmError,
  type GcmEspOneOps,
  type GcmProvider,
} from '../crypto/index.ts';
import {
  REPLAY_DUPLICATE,
  REPLAY_INVALID,
  REPLAY_OK,
  REPLAY_TOO_OLD,
  ReplayError,
  type ReplayMode,
  ReplayWindow,
  type ReplayWindowOptions,
} from '../replay/index.ts';
import type { Address, XfrmState } from '../types/index.ts';
import {
  AF_INET6,
  addressBytes,
  addressFamily,
  XFRM_MODE,
  XFRM_SA_XFLAG,
  XFRM_STATE_FLAG,
} from '../types/index.ts';
import type { PacketBatch } from './batch.ts';
import {
  EspError,
  espStatusCode,
  S_BAD_NEXT_HEADER,
  S_BAD_PADDING,
  S_BUFFER_TOO_SMALL,
  S_DUMMY_PACKET,
  S_EMPTY_PAYLOAD,
  S_ICV_MISMATCH,
  S_INVALID_SEQ,
  S_MALFORMED,
  S_NOT_ESP,
  S_OVERLAP,
  S_REPLAY,
  S_REPLAY_WINDOW,
  S_SEQ_OVERFLOW,
  S_SPI_MISMATCH,
  S_TRUNCATED,
  S_UNSUPPORTED,
} from './errors.ts';
import {
  dsField,
  fixIpv4Checksum,
  IPPROTO_ESP,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_NONE,
  IPV4_HDR_LEN,
  IPV6_HDR_LEN,
  ipv6Walk,
  rd16,
  rd32,
  setDsField,
  walkIpv6Ext,
  wr16,
  wr32,
} from './ip.ts';

export type EspMode = 'transport' | 'tunnel';

export interface EspTunnel {
  /** Outer source and destination (same family). */
  src: Address;
  dst: Address;
}

export interface EspSaConfig {
  spi: number;
  mode: EspMode;
  /** AES key, 16 or 32 bytes. */
  key: Uint8Array;
  /** RFC 4106 salt, 4 bytes. */
  salt: Uint8Array;
  /** ICV (tag) length in bytes: 8, 12 or 16. */
  icvLen: number;
  /** Extended sequence numbers (64-bit; AAD carries seq_hi). */
  esn?: boolean;
  /** Required in tunnel mode. */
  tunnel?: EspTunnel;
  /** Anti-replay window in packets (default 32). 0 disables replay checks (not allowed with ESN input). */
  replayWindow?: number;
  /** Replay state layout; default 'esn' with ESN, else 'legacy' for windows ≤ 32 and 'bmp' above. */
  replayMode?: ReplayMode;
  /** An existing replay/sequence state (then replayWindow/replayMode/oseq are ignored). */
  replay?: ReplayWindow;
  /** Last sequence number sent (the next packet gets oseq + 1); full 64-bit with ESN. Default 0. */
  oseq?: bigint;
  /** XFRM_SA_XFLAG_OSEQ_MAY_WRAP: let the 32-bit counter wrap instead of refusing (not with ESN). */
  oseqMayWrap?: boolean;
  /** XORed into the 8-byte big-endian sequence number to form the IV (seqiv's salt); default zeros. */
  ivMask?: Uint8Array;
  /** Outer TTL / hop limit in tunnel mode (default 64). */
  ttl?: number;
  /** XFRM_STATE_NOPMTUDISC: outer IPv4 DF never set. */
  noPmtuDisc?: boolean;
  /** XFRM_SA_XFLAG_DONT_ENCAP_DSCP: outer DSCP 0. */
  dontEncapDscp?: boolean;
  /** XFRM_STATE_DECAP_DSCP: copy the outer DSCP into the inner header on decap. */
  decapDscp?: boolean;
  /** XFRM_STATE_NOECN: no ECN propagation. */
  noEcn?: boolean;
  /** Check that the padding bytes are 1, 2, 3, … (default true; Linux only checks the pad length). */
  strictPadding?: boolean;
  /** SA direction, only used to validate the replay configuration. */
  dir?: 'in' | 'out';
  provider?: GcmProvider;
}

export interface EncapOptions {
  /** Output buffer (default: a new one of `encapSize(len)` bytes). May be the input buffer (in place). */
  out?: Uint8Array;
  outOffset?: number;
  /** Explicit 8-byte IV instead of the sequence-number IV. Must never repeat under one key. */
  iv?: Uint8Array;
}

export interface DecapOptions {
  out?: Uint8Array;
  outOffset?: number;
}

export interface EspDecapResult {
  /** The IP datagram (transport) or inner datagram (tunnel), a view into the output buffer. */
  packet: Uint8Array;
  /** Next header from the ESP trailer. */
  nextHeader: number;
  /** Full (inferred, for ESN) sequence number. */
  seq: bigint;
}

export interface EspSaStats {
  /** Packets/bytes (of ESP payload) sent or accepted. */
  packets: number;
  bytes: number;
  integrityFailed: number;
  replay: number;
  replayWindow: number;
}

// plain local copies: the per-packet code reads them without going through the module's exports
const ST = { ...ESP_STATE } as const;
const STAGE = { ...ESP_ONE_STAGE } as const;

const ESP_HDR_IV = 16; // SPI + seq + IV
const AAD_STRIDE = 12;
const INET_ECN_MASK = 3;
const INET_ECN_CE = 3;
const INET_ECN_ECT_0 = 2;

function espError(status: number, message: string, offset?: number): EspError {
  return new EspError(espStatusCode(status) ?? 'MALFORMED', message, offset);
}

export class EspSa {
  readonly spi: number;
  readonly mode: EspMode;
  readonly icvLen: number;
  readonly esn: boolean;
  readonly replay: ReplayWindow;
  readonly provider: GcmProvider;
  /** Outer header length in tunnel mode (20 or 40), 0 in transport mode. */
  readonly outerLen: number;
  private readonly outerSrc: Uint8Array | null = null;
  private readonly outerDst: Uint8Array | null = null;
  private readonly sealCtx: GcmContext;
  private readonly openCtx: GcmContext;
  private readonly ivMask = new Uint8Array(8);
  private readonly hasIvMask: boolean;
  private readonly ttl: number;
  private readonly noPmtuDisc: boolean;
  private readonly dontEncapDscp: boolean;
  private readonly decapDscp: boolean;
  private readonly noEcn: boolean;
  private readonly strictPadding: boolean;
  private ipId = 0;
  private disposed = false;

  // counters
  private outPackets = 0;
  private outBytes = 0;
  private inPackets = 0;
  private inBytes = 0;
  integrityFailed = 0;

  // per-batch scratch (grown on demand, reused)
  private cap = 0;
  private desc = new Uint32Array(0);
  private aad = new Uint8Array(0);
  private ok = new Uint8Array(0);
  private slotPkt = new Int32Array(0);
  private slotEspOff = new Uint32Array(0);
  private slotNhPos = new Uint32Array(0);
  private slotCtLen = new Uint32Array(0);
  private slotSeqLo = new Uint32Array(0);
  private slotSeqHi = new Uint32Array(0);
  private slotOuterDs = new Uint8Array(0);
  // whole-batch native ESP (see `GcmEspBatchOps`): the SA as bytes, counters in/out
  private readonly espParams = new Uint8Array(ESP_PARAMS_LEN);
  private readonly espState = new Uint32Array(ESP_STATE_ONE_LEN);
  // single-packet native ESP (`GcmEspOneOps`), bound to espParams/espState/replay.bmp
  private readonly sealOne: GcmEspOneOps | undefined;
  private readonly openOne: GcmEspOneOps | undefined;
  /**
   * @internal For tests and benchmarks: false makes `encap`/`decap` take the TypeScript path (framing
   * in TypeScript, one AES-GCM call) even when the provider offers the single-packet native calls.
   */
  nativeSingle = true;
  private lastError = '';
  private lastErrorOffset: number | undefined;
  private lastInPlace = false;
  private lastNextHeader = 0;

  constructor(cfg: EspSaConfig) {
    const bad = (m: string) => new EspError('BAD_CONFIG', m);
    if (!Number.isInteger(cfg.spi) || cfg.spi < 0 || cfg.spi > 0xffffffff)
      throw bad(`SPI must be a u32, got ${cfg.spi}`);
    if (cfg.mode !== 'transport' && cfg.mode !== 'tunnel')
      throw bad(`mode must be transport or tunnel, got ${String(cfg.mode)}`);
    if (cfg.icvLen !== 8 && cfg.icvLen !== 12 && cfg.icvLen !== 16) {
      throw bad(`ICV length must be 8, 12 or 16 bytes (RFC 4106), got ${cfg.icvLen}`);
    }
    this.spi = cfg.spi;
    this.mode = cfg.mode;
    this.icvLen = cfg.icvLen;
    this.esn = cfg.esn ?? false;
    if (cfg.ivMask) {
      if (cfg.ivMask.length !== 8) throw bad(`ivMask must be 8 bytes, got ${cfg.ivMask.length}`);
      this.ivMask.set(cfg.ivMask);
    }
    this.hasIvMask = this.ivMask.some((b) => b !== 0);
    this.ttl = cfg.ttl ?? 64;
    if (!Number.isInteger(this.ttl) || this.ttl < 1 || this.ttl > 255)
      throw bad(`ttl must be 1..255, got ${this.ttl}`);
    this.noPmtuDisc = cfg.noPmtuDisc ?? false;
    this.dontEncapDscp = cfg.dontEncapDscp ?? false;
    this.decapDscp = cfg.decapDscp ?? false;
    this.noEcn = cfg.noEcn ?? false;
    this.strictPadding = cfg.strictPadding ?? true;

    if (cfg.mode === 'tunnel') {
      if (!cfg.tunnel) throw bad('tunnel mode needs tunnel.src and tunnel.dst');
      let fs: number;
      let fd: number;
      try {
        fs = addressFamily(cfg.tunnel.src);
        fd = addressFamily(cfg.tunnel.dst);
        this.outerSrc = addressBytes(cfg.tunnel.src);
        this.outerDst = addressBytes(cfg.tunnel.dst);
      } catch (e) {
        throw bad(`tunnel address: ${(e as Error).message}`);
      }
      if (fs !== fd)
        throw bad(`tunnel src ${cfg.tunnel.src} and dst ${cfg.tunnel.dst} are different families`);
      this.outerLen = fs === AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
    } else {
      this.outerLen = 0;
    }

    if (cfg.replay) {
      if ((cfg.replay.mode === 'esn') !== this.esn) throw bad('replay state ESN-ness differs from the SA');
      this.replay = cfg.replay;
    } else {
      const window = cfg.replayWindow ?? 32;
      const mode: ReplayMode = cfg.replayMode ?? (this.esn ? 'esn' : window > 32 ? 'bmp' : 'legacy');
      if ((mode === 'esn') !== this.esn) throw bad(`replay mode ${mode} does not match esn=${this.esn}`);
      const oseq = cfg.oseq ?? 0n;
      if (oseq < 0n || oseq > (this.esn ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn)) {
        throw bad(`oseq ${oseq} out of range for ${this.esn ? 'ESN' : '32-bit'} sequence numbers`);
      }
      const opts: ReplayWindowOptions = {
        mode,
        window,
        oseq: Number(oseq & 0xffff_ffffn),
        oseqHi: Number(oseq >> 32n),
        oseqMayWrap: cfg.oseqMayWrap ?? false,
      };
      if (cfg.dir) opts.dir = cfg.dir;
      try {
        this.replay = new ReplayWindow(opts);
      } catch (e) {
        throw bad((e as Error).message);
      }
    }

    this.provider = cfg.provider ?? defaultGcmProvider();
    try {
      this.sealCtx = this.provider.createContext(cfg.key, cfg.salt, 'seal');
      this.openCtx = this.provider.createContext(cfg.key, cfg.salt, 'open');
    } catch (e) {
      if (e instanceof GcmError) throw new EspError('BAD_KEY', e.message);
      throw e;
    }
    this.grow(1);
    this.fillEspParams();
    const so = this.sealCtx.esp?.one;
    const oo = this.openCtx.esp?.one;
    if (so && oo) {
      so.bind(this.espParams, this.espState, null);
      oo.bind(this.espParams, this.espState, this.replay.bmp);
      this.sealOne = so;
      this.openOne = oo;
    }
  }

  /** The SA as the native whole-batch calls read it (`ESP_PARAMS` of @xfrmkit/native). */
  private fillEspParams(): void {
    const p = this.espParams;
    wr32(p, ESP_PARAMS.SPI, this.spi);
    let f = 0;
    if (this.mode === 'tunnel') f |= ESP_FLAG.TUNNEL;
    if (this.esn) f |= ESP_FLAG.ESN;
    if (this.replay.oseqMayWrap) f |= ESP_FLAG.OSEQ_MAY_WRAP;
    if (this.hasIvMask) f |= ESP_FLAG.IV_MASK;
    if (this.noPmtuDisc) f |= ESP_FLAG.NO_PMTU_DISC;
    if (this.dontEncapDscp) f |= ESP_FLAG.DONT_ENCAP_DSCP;
    if (this.noEcn) f |= ESP_FLAG.NO_ECN;
    if (this.decapDscp) f |= ESP_FLAG.DECAP_DSCP;
    if (this.strictPadding) f |= ESP_FLAG.STRICT_PADDING;
    wr16(p, ESP_PARAMS.FLAGS, f);
    p[ESP_PARAMS.ICV_LEN] = this.icvLen;
    p[ESP_PARAMS.TTL] = this.ttl;
    p[ESP_PARAMS.OUTER_LEN] = this.outerLen;
    p[ESP_PARAMS.REPLAY_MODE] = this.replay.mode === 'legacy' ? 0 : this.replay.mode === 'bmp' ? 1 : 2;
    wr32(p, ESP_PARAMS.WINDOW, this.replay.window);
    p.set(this.ivMask, ESP_PARAMS.IV_MASK);
    if (this.outerSrc) p.set(this.outerSrc, ESP_PARAMS.OUTER_SRC);
    if (this.outerDst) p.set(this.outerDst, ESP_PARAMS.OUTER_DST);
  }

  /** Loads the sequence numbers and the window top into the native state, zeroes its counters. */
  private espStateIn(): Uint32Array {
    const st = this.espState;
    const r = this.replay;
    st[ST.PACKETS] = 0;
    st[ST.BYTES_LO] = 0;
    st[ST.BYTES_HI] = 0;
    st[ST.REPLAY] = 0;
    st[ST.REPLAY_WINDOW] = 0;
    st[ST.INTEGRITY_FAILED] = 0;
    st[ST.OSEQ] = r.oseq;
    st[ST.OSEQ_HI] = r.oseqHi;
    st[ST.IP_ID] = this.ipId;
    st[ST.SEQ] = r.seq;
    st[ST.SEQ_HI] = r.seqHi;
    return st;
  }

  /** Takes back what a native whole-batch call changed. */
  private espStateOut(input: boolean): void {
    const st = this.espState;
    const r = this.replay;
    const bytes = st[ST.BYTES_LO]! + st[ST.BYTES_HI]! * 0x1_0000_0000;
    if (input) {
      r.seq = st[ST.SEQ]!;
      r.seqHi = st[ST.SEQ_HI]!;
      r.stats.replay += st[ST.REPLAY]!;
      r.stats.replayWindow += st[ST.REPLAY_WINDOW]!;
      this.integrityFailed += st[ST.INTEGRITY_FAILED]!;
      this.inPackets += st[ST.PACKETS]!;
      this.inBytes += bytes;
    } else {
      r.oseq = st[ST.OSEQ]!;
      r.oseqHi = st[ST.OSEQ_HI]!;
      this.ipId = st[ST.IP_ID]!;
      this.outPackets += st[ST.PACKETS]!;
      this.outBytes += bytes;
    }
  }

  /**
   * An SA from an XFRM state with `aead rfc4106(gcm(aes))` (key ‖ 4-byte salt, ICV in bits), mode,
   * flags (ESN, NOECN, DECAP_DSCP, NOPMTUDISC), extra flags and replay state.
   */
  static fromXfrmState(state: XfrmState, opts: { provider?: GcmProvider; ivMask?: Uint8Array } = {}): EspSa {
    const aead = state.aead;
    if (aead === undefined || aead.name !== 'rfc4106(gcm(aes))') {
      throw new EspError(
        'UNSUPPORTED',
        `only aead rfc4106(gcm(aes)) is supported, SA has ${aead?.name ?? 'no aead'}`,
      );
    }
    if (state.info.id.proto !== IPPROTO_ESP)
      throw new EspError('UNSUPPORTED', `SA protocol ${state.info.id.proto} is not ESP`);
    const keyBytes = aead.key.length;
    if (keyBytes !== 20 && keyBytes !== 36) {
      throw new EspError('BAD_KEY', `rfc4106 key must be 20 or 36 bytes (key + salt), got ${keyBytes}`);
    }
    const mode =
      state.info.mode === XFRM_MODE.TUNNEL
        ? 'tunnel'
        : state.info.mode === XFRM_MODE.TRANSPORT
          ? 'transport'
          : null;
    if (!mode) throw new EspError('UNSUPPORTED', `XFRM mode ${state.info.mode} is not transport or tunnel`);
    const flags = state.info.flags;
    const xflags = state.extraFlags ?? 0;
    const cfg: EspSaConfig = {
      spi: state.info.id.spi,
      mode,
      key: aead.key.subarray(0, keyBytes - 4),
      salt: aead.key.subarray(keyBytes - 4),
      icvLen: aead.icvLen / 8,
      esn: (flags & XFRM_STATE_FLAG.ESN) !== 0,
      replay: ReplayWindow.fromXfrmState(state),
      noPmtuDisc: (flags & XFRM_STATE_FLAG.NOPMTUDISC) !== 0,
      decapDscp: (flags & XFRM_STATE_FLAG.DECAP_DSCP) !== 0,
      noEcn: (flags & XFRM_STATE_FLAG.NOECN) !== 0,
      dontEncapDscp: (xflags & XFRM_SA_XFLAG.DONT_ENCAP_DSCP) !== 0,
    };
    if (mode === 'tunnel') cfg.tunnel = { src: state.info.saddr, dst: state.info.id.daddr };
    if (opts.provider) cfg.provider = opts.provider;
    if (opts.ivMask) cfg.ivMask = opts.ivMask;
    return new EspSa(cfg);
  }

  /** Largest ESP packet `encap` can produce from a packet of `len` bytes. */
  encapSize(len: number): number {
    return len + this.outerLen + ESP_HDR_IV + 3 + 2 + this.icvLen;
  }

  stats(): EspSaStats {
    return {
      packets: this.outPackets + this.inPackets,
      bytes: this.outBytes + this.inBytes,
      integrityFailed: this.integrityFailed,
      replay: this.replay.stats.replay,
      replayWindow: this.replay.stats.replayWindow,
    };
  }

  /** Releases both AES-GCM contexts. */
  dispose(): void {
    this.disposed = true;
    this.sealCtx.dispose();
    this.openCtx.dispose();
  }

  private grow(n: number): void {
    if (n <= this.cap) return;
    let c = Math.max(16, this.cap);
    while (c < n) c *= 2;
    this.cap = c;
    this.desc = new Uint32Array(c * GCM_DESC_STRIDE);
    this.aad = new Uint8Array(c * AAD_STRIDE);
    this.ok = new Uint8Array(c);
    this.slotPkt = new Int32Array(c);
    this.slotEspOff = new Uint32Array(c);
    this.slotNhPos = new Uint32Array(c);
    this.slotCtLen = new Uint32Array(c);
    this.slotSeqLo = new Uint32Array(c);
    this.slotSeqHi = new Uint32Array(c);
    this.slotOuterDs = new Uint8Array(c);
  }

  private fail(status: number, message: string, offset?: number): number {
    this.lastError = message;
    this.lastErrorOffset = offset;
    return status;
  }

  private checkLive(): void {
    if (this.disposed) throw new EspError('BAD_CONFIG', `SA 0x${this.spi.toString(16)} was disposed`);
  }

  // ---------------------------------------------------------------- output

  /**
   * Validates one packet, assigns its sequence number, writes headers, IV and trailer into dst and
   * the AES-GCM descriptor into `slot`. Returns the ESP packet length or a negative status.
   */
  private prepareEncap(
    src: Uint8Array,
    so: number,
    slen: number,
    dst: Uint8Array,
    dOff: number,
    cap: number,
    slot: number,
    iv: Uint8Array | null,
    ivOff: number,
    allowInPlace: boolean,
  ): number {
    if (slen < 1) return this.fail(S_TRUNCATED, 'empty packet', 0);
    const ver = src[so]! >> 4;
    let pktLen: number;
    let hdrLen = 0;
    let nhPos = 0;
    if (ver === 4) {
      if (slen < IPV4_HDR_LEN)
        return this.fail(S_TRUNCATED, `IPv4 header needs 20 bytes, packet has ${slen}`, 0);
      const ihl = (src[so]! & 0x0f) * 4;
      if (ihl < IPV4_HDR_LEN) return this.fail(S_MALFORMED, `IPv4 IHL ${ihl} bytes is below 20`, 0);
      pktLen = rd16(src, so + 2);
      if (pktLen < ihl)
        return this.fail(S_MALFORMED, `IPv4 total length ${pktLen} < header length ${ihl}`, 2);
      if (pktLen > slen) {
        return this.fail(S_TRUNCATED, `IPv4 total length ${pktLen} exceeds the ${slen} bytes given`, 2);
      }
      hdrLen = ihl;
      nhPos = 9;
    } else if (ver === 6) {
      if (slen < IPV6_HDR_LEN)
        return this.fail(S_TRUNCATED, `IPv6 header needs 40 bytes, packet has ${slen}`, 0);
      pktLen = IPV6_HDR_LEN + rd16(src, so + 4);
      if (pktLen > slen) {
        return this.fail(
          S_TRUNCATED,
          `IPv6 payload length ${pktLen - 40} + 40 exceeds the ${slen} bytes given`,
          4,
        );
      }
      if (this.mode === 'transport') {
        hdrLen = walkIpv6Ext(src, so, pktLen);
        if (hdrLen < 0)
          return this.fail(S_TRUNCATED, 'an IPv6 extension header runs past the end of the packet', 40);
        nhPos = ipv6Walk.nhPos;
      }
    } else {
      return this.fail(S_MALFORMED, `IP version ${ver} (expected 4 or 6)`, 0);
    }

    const tunnel = this.mode === 'tunnel';
    const outerLen = tunnel ? this.outerLen : hdrLen;
    const payloadOff = tunnel ? 0 : hdrLen;
    const payloadLen = pktLen - payloadOff;
    if (payloadLen === 0)
      return this.fail(S_EMPTY_PAYLOAD, 'no payload after the IP headers to protect', hdrLen);
    const nh = tunnel ? (ver === 4 ? IPPROTO_IPIP : IPPROTO_IPV6) : src[so + nhPos]!;
    const padLen = (4 - ((payloadLen + 2) & 3)) & 3;
    const tailLen = padLen + 2;
    const outLen = outerLen + ESP_HDR_IV + payloadLen + tailLen + this.icvLen;
    const outerV6 = tunnel ? this.outerLen === IPV6_HDR_LEN : ver === 6;
    if ((outerV6 ? outLen - IPV6_HDR_LEN : outLen) > 0xffff) {
      return this.fail(
        S_UNSUPPORTED,
        `ESP packet of ${outLen} bytes exceeds the IP length field (no jumbograms)`,
      );
    }
    if (outLen > cap)
      return this.fail(S_BUFFER_TOO_SMALL, `ESP packet needs ${outLen} bytes, output has ${cap}`);

    let inPlace = false;
    if (src.buffer === dst.buffer) {
      const a = src.byteOffset + so;
      const b = dst.byteOffset + dOff;
      if (a === b && allowInPlace) inPlace = true;
      else if (a < b + outLen && b < a + pktLen) {
        return this.fail(S_OVERLAP, 'input and output overlap (only the exact same slot works in place)');
      }
    }
    this.lastInPlace = inPlace;

    let lo: number;
    try {
      lo = this.replay.nextOutputSeq();
    } catch (e) {
      if (e instanceof ReplayError) return this.fail(S_SEQ_OVERFLOW, e.message);
      throw e;
    }
    const hi = this.replay.oseqHi;

    // tunnel: read what the outer header copies before anything is overwritten
    let innerDs = 0;
    let innerDf = 0;
    let innerFlow = 0;
    if (tunnel) {
      innerDs = dsField(src, so);
      if (ver === 4) innerDf = src[so + 6]! & 0x40;
      else {
        innerDf = 0x40;
        innerFlow = ((src[so + 1]! & 0x0f) << 16) | (src[so + 2]! << 8) | src[so + 3]!;
      }
    }

    const espOff = dOff + outerLen;
    const ctOff = espOff + ESP_HDR_IV;
    let ptOff = so + payloadOff;
    if (inPlace) {
      dst.copyWithin(ctOff, dOff + payloadOff, dOff + payloadOff + payloadLen);
      ptOff = ctOff;
    } else if (!tunnel) {
      for (let i = 0; i < hdrLen; i++) dst[dOff + i] = src[so + i]!;
    }

    // IP header
    if (tunnel) {
      let ds = this.dontEncapDscp ? 0 : innerDs;
      ds =
        (ds & ~INET_ECN_MASK) |
        ((innerDs & INET_ECN_MASK) === INET_ECN_CE ? INET_ECN_ECT_0 : innerDs & INET_ECN_MASK);
      if (this.noEcn) ds &= ~INET_ECN_MASK;
      const o = dOff;
      if (this.outerLen === IPV4_HDR_LEN) {
        dst[o] = 0x45;
        dst[o + 1] = ds;
        wr16(dst, o + 2, outLen);
        const df = this.noPmtuDisc ? 0 : innerDf;
        if (df) wr16(dst, o + 4, 0);
        else {
          wr16(dst, o + 4, this.ipId);
          this.ipId = (this.ipId + 1) & 0xffff;
        }
        dst[o + 6] = df;
        dst[o + 7] = 0;
        dst[o + 8] = this.ttl;
        dst[o + 9] = IPPROTO_ESP;
        const s = this.outerSrc!;
        const d = this.outerDst!;
        for (let i = 0; i < 4; i++) {
          dst[o + 12 + i] = s[i]!;
          dst[o + 16 + i] = d[i]!;
        }
        fixIpv4Checksum(dst, o);
      } else {
        dst[o] = 0x60 | (ds >> 4);
        dst[o + 1] = ((ds & 0x0f) << 4) | (innerFlow >> 16);
        dst[o + 2] = (innerFlow >> 8) & 0xff;
        dst[o + 3] = innerFlow & 0xff;
        wr16(dst, o + 4, outLen - IPV6_HDR_LEN);
        dst[o + 6] = IPPROTO_ESP;
        dst[o + 7] = this.ttl;
        const s = this.outerSrc!;
        const d = this.outerDst!;
        for (let i = 0; i < 16; i++) {
          dst[o + 8 + i] = s[i]!;
          dst[o + 24 + i] = d[i]!;
        }
      }
    } else {
      dst[dOff + nhPos] = IPPROTO_ESP;
      if (ver === 4) {
        wr16(dst, dOff + 2, outLen);
        fixIpv4Checksum(dst, dOff);
      } else {
        wr16(dst, dOff + 4, outLen - IPV6_HDR_LEN);
      }
    }

    // ESP header + IV
    wr32(dst, espOff, this.spi);
    wr32(dst, espOff + 4, lo);
    if (iv) {
      for (let i = 0; i < 8; i++) dst[espOff + 8 + i] = iv[ivOff + i]!;
    } else {
      wr32(dst, espOff + 8, hi);
      wr32(dst, espOff + 12, lo);
      if (this.hasIvMask) for (let i = 0; i < 8; i++) dst[espOff + 8 + i]! ^= this.ivMask[i]!;
    }

    // trailer (encrypted with the payload)
    const t = ctOff + payloadLen;
    for (let i = 0; i < padLen; i++) dst[t + i] = i + 1;
    dst[t + padLen] = padLen;
    dst[t + padLen + 1] = nh;

    // AAD
    const a = slot * AAD_STRIDE;
    const aad = this.aad;
    wr32(aad, a, this.spi);
    let aadLen = 8;
    if (this.esn) {
      wr32(aad, a + 4, hi);
      wr32(aad, a + 8, lo);
      aadLen = 12;
    } else {
      wr32(aad, a + 4, lo);
    }

    const d = slot * GCM_DESC_STRIDE;
    const desc = this.desc;
    desc[d] = ptOff;
    desc[d + 1] = payloadLen;
    desc[d + 2] = ctOff;
    desc[d + 3] = tailLen;
    desc[d + 4] = espOff + 8;
    desc[d + 5] = a;
    desc[d + 6] = aadLen;
    desc[d + 7] = this.icvLen;
    this.outPackets++;
    this.outBytes += payloadLen;
    return outLen;
  }

  /**
   * Encapsulates one IP datagram (transport: the datagram itself; tunnel: the inner datagram).
   * Returns the ESP packet (a view of the output buffer). Throws EspError.
   */
  encap(packet: Uint8Array, opts: EncapOptions = {}): Uint8Array {
    this.checkLive();
    const out = opts.out ?? new Uint8Array(this.encapSize(packet.length));
    const outOff = opts.outOffset ?? 0;
    if (!Number.isInteger(outOff) || outOff < 0 || outOff > out.length) {
      throw new EspError('BUFFER_TOO_SMALL', `output offset ${outOff} outside the ${out.length}-byte buffer`);
    }
    const one = this.sealOne;
    if (one !== undefined && opts.iv === undefined && this.nativeSingle) {
      this.espStateIn();
      let n: number;
      try {
        n = one.encapOne(packet, out, outOff);
      } finally {
        this.espStateOut(false);
      }
      if (n < 0) throw this.encapFailure(n, packet, out, outOff);
      return out.subarray(outOff, outOff + n);
    }
    if (opts.iv && opts.iv.length !== 8)
      throw new EspError('BAD_CONFIG', `explicit IV must be 8 bytes, got ${opts.iv.length}`);
    const n = this.prepareEncap(
      packet,
      0,
      packet.length,
      out,
      outOff,
      out.length - outOff,
      0,
      opts.iv ?? null,
      0,
      true,
    );
    if (n < 0) throw espError(n, this.lastError, this.lastErrorOffset);
    this.sealCtx.sealBatch(this.lastInPlace ? out : packet, out, this.aad, this.desc, 1);
    return out.subarray(outOff, outOff + n);
  }

  /**
   * The EspError of a packet the native single-packet encap refused (status `status`, nothing changed):
   * the TypeScript checks run again to word it — they stop at the same check, before the sequence number
   * and the counters move (should they not, everything they changed is put back).
   */
  private encapFailure(status: number, packet: Uint8Array, out: Uint8Array, outOff: number): EspError {
    const r = this.replay;
    const saved = [r.oseq, r.oseqHi, this.ipId, this.outPackets, this.outBytes] as const;
    const s = this.prepareEncap(packet, 0, packet.length, out, outOff, out.length - outOff, 0, null, 0, true);
    [r.oseq, r.oseqHi, this.ipId, this.outPackets, this.outBytes] = saved;
    if (s === status) return espError(s, this.lastError, this.lastErrorOffset);
    return espError(status, `packet refused (status ${status})`);
  }

  /** Checks a batch call (live SA, output large enough), sizes the scratch; true when in place. */
  private beginBatch(input: PacketBatch, output: PacketBatch): boolean {
    this.checkLive();
    if (input.count > output.size)
      throw new EspError('BUFFER_TOO_SMALL', `output batch holds ${output.size}, input has ${input.count}`);
    this.grow(input.count);
    return input.buf === output.buf;
  }

  /**
   * Encapsulates `input.count` packets into `output` slots (same slot index). Per-packet status in
   * `output.status`, lengths in `output.lengths`. Input and output may be the same batch (in place) if
   * the slots are large enough. Returns the number of packets encapsulated.
   *
   * With the native provider the whole batch is one call into the addon; out of place it may borrow the
   * 8 bytes right after a packet inside its input slot for the ESP trailer during the call (they are
   * restored before it returns), so that AES-GCM reads payload and trailer as one piece.
   */
  encapBatch(input: PacketBatch, output: PacketBatch): number {
    const count = input.count;
    const same = this.beginBatch(input, output);
    const esp = this.sealCtx.esp;
    if (esp) {
      const st = this.espStateIn();
      try {
        return esp.espEncapBatch(this.espParams, st, input, output, count, same);
      } finally {
        this.espStateOut(false);
        output.count = count;
      }
    }
    let n = 0;
    for (let i = 0; i < count; i++) {
      const r = this.prepareEncap(
        input.buf,
        input.offsets[i]!,
        input.lengths[i]!,
        output.buf,
        output.offsets[i]!,
        output.capacities[i]!,
        n,
        null,
        0,
        same,
      );
      if (r < 0) {
        output.status[i] = r;
        output.lengths[i] = 0;
      } else {
        output.status[i] = 0;
        output.lengths[i] = r;
        output.seqLo[i] = this.replay.oseq;
        output.seqHi[i] = this.replay.oseqHi;
        n++;
      }
    }
    output.count = count;
    if (n > 0) this.sealCtx.sealBatch(input.buf, output.buf, this.aad, this.desc, n);
    return n;
  }

  // ---------------------------------------------------------------- input

  /** Parses one ESP packet, runs the replay check and writes the open descriptor into `slot`. 0 or status. */
  private prepareDecap(
    src: Uint8Array,
    so: number,
    slen: number,
    dst: Uint8Array,
    dOff: number,
    cap: number,
    slot: number,
    allowInPlace: boolean,
  ): number {
    if (slen < 1) return this.fail(S_TRUNCATED, 'empty packet', 0);
    const ver = src[so]! >> 4;
    let pktLen: number;
    let espOff: number;
    let nhPos: number;
    if (ver === 4) {
      if (slen < IPV4_HDR_LEN)
        return this.fail(S_TRUNCATED, `IPv4 header needs 20 bytes, packet has ${slen}`, 0);
      espOff = (src[so]! & 0x0f) * 4;
      if (espOff < IPV4_HDR_LEN) return this.fail(S_MALFORMED, `IPv4 IHL ${espOff} bytes is below 20`, 0);
      pktLen = rd16(src, so + 2);
      if (pktLen < espOff)
        return this.fail(S_MALFORMED, `IPv4 total length ${pktLen} < header length ${espOff}`, 2);
      if (pktLen > slen)
        return this.fail(S_TRUNCATED, `IPv4 total length ${pktLen} exceeds the ${slen} bytes given`, 2);
      nhPos = 9;
      if (src[so + 9] !== IPPROTO_ESP)
        return this.fail(S_NOT_ESP, `IPv4 protocol is ${src[so + 9]}, not ESP (50)`, 9);
      if (this.mode === 'tunnel' && this.outerLen !== IPV4_HDR_LEN) {
        return this.fail(S_MALFORMED, 'outer header is IPv4 but the tunnel is IPv6', 0);
      }
    } else if (ver === 6) {
      if (slen < IPV6_HDR_LEN)
        return this.fail(S_TRUNCATED, `IPv6 header needs 40 bytes, packet has ${slen}`, 0);
      pktLen = IPV6_HDR_LEN + rd16(src, so + 4);
      if (pktLen > slen) {
        return this.fail(
          S_TRUNCATED,
          `IPv6 payload length ${pktLen - 40} + 40 exceeds the ${slen} bytes given`,
          4,
        );
      }
      espOff = walkIpv6Ext(src, so, pktLen);
      if (espOff < 0)
        return this.fail(S_TRUNCATED, 'an IPv6 extension header runs past the end of the packet', 40);
      nhPos = ipv6Walk.nhPos;
      if (src[so + nhPos] !== IPPROTO_ESP) {
        return this.fail(S_NOT_ESP, `IPv6 next header is ${src[so + nhPos]}, not ESP (50)`, nhPos);
      }
      if (this.mode === 'tunnel' && this.outerLen !== IPV6_HDR_LEN) {
        return this.fail(S_MALFORMED, 'outer header is IPv6 but the tunnel is IPv4', 0);
      }
    } else {
      return this.fail(S_MALFORMED, `IP version ${ver} (expected 4 or 6)`, 0);
    }
    const espLen = pktLen - espOff;
    const ctLen = espLen - ESP_HDR_IV - this.icvLen;
    if (ctLen < 2) {
      return this.fail(
        S_TRUNCATED,
        `ESP part of ${espLen} bytes at offset ${espOff} is shorter than SPI+seq+IV (16) + trailer (2) + ICV (${this.icvLen})`,
        espOff,
      );
    }
    const spi = rd32(src, so + espOff);
    if (spi !== this.spi) {
      return this.fail(
        S_SPI_MISMATCH,
        `SPI 0x${spi.toString(16)} is not this SA's 0x${this.spi.toString(16)}`,
        espOff,
      );
    }
    const lo = rd32(src, so + espOff + 4);
    const v = this.replay.check(lo);
    if (v !== REPLAY_OK) {
      if (v === REPLAY_DUPLICATE)
        return this.fail(S_REPLAY, `sequence number ${lo} was already received`, espOff + 4);
      if (v === REPLAY_TOO_OLD) {
        return this.fail(
          S_REPLAY_WINDOW,
          `sequence number ${lo} is left of the replay window (top ${this.replay.seq})`,
          espOff + 4,
        );
      }
      return this.fail(S_INVALID_SEQ, `sequence number ${lo} is not valid here`, espOff + 4);
    }
    const hi = this.replay.inferSeqHi(lo);
    const outHdr = this.mode === 'transport' ? espOff : 0;
    if (outHdr + ctLen > cap)
      return this.fail(S_BUFFER_TOO_SMALL, `output needs ${outHdr + ctLen} bytes, has ${cap}`);

    let inPlace = false;
    if (src.buffer === dst.buffer) {
      const a = src.byteOffset + so;
      const b = dst.byteOffset + dOff;
      if (a === b && allowInPlace) inPlace = true;
      else if (a < b + outHdr + ctLen && b < a + pktLen) {
        return this.fail(S_OVERLAP, 'input and output overlap (only the exact same slot works in place)');
      }
    }
    if (outHdr > 0 && !inPlace) for (let i = 0; i < outHdr; i++) dst[dOff + i] = src[so + i]!;

    const a = slot * AAD_STRIDE;
    const aad = this.aad;
    wr32(aad, a, spi);
    let aadLen = 8;
    if (this.esn) {
      wr32(aad, a + 4, hi);
      wr32(aad, a + 8, lo);
      aadLen = 12;
    } else {
      wr32(aad, a + 4, lo);
    }
    const d = slot * GCM_DESC_STRIDE;
    const desc = this.desc;
    desc[d] = so + espOff + ESP_HDR_IV;
    desc[d + 1] = ctLen;
    desc[d + 2] = dOff + outHdr;
    desc[d + 3] = 0;
    desc[d + 4] = so + espOff + 8;
    desc[d + 5] = a;
    desc[d + 6] = aadLen;
    desc[d + 7] = this.icvLen;
    this.slotEspOff[slot] = espOff;
    this.slotNhPos[slot] = nhPos;
    this.slotCtLen[slot] = ctLen;
    this.slotSeqLo[slot] = lo;
    this.slotSeqHi[slot] = hi;
    this.slotOuterDs[slot] = dsField(src, so);
    return 0;
  }

  /** After AES-GCM: trailer checks, replay recheck + advance, header fix-up. Length or status. */
  private finishDecap(dst: Uint8Array, dOff: number, slot: number, verified: boolean): number {
    const lo = this.slotSeqLo[slot]!;
    const hi = this.slotSeqHi[slot]!;
    if (!verified) {
      this.integrityFailed++;
      return this.failIcv(lo);
    }
    const payloadLen = this.checkTrailer(dst, dOff, slot);
    if (payloadLen < 0) return payloadLen;
    const v = this.replay.recheck(lo, hi);
    if (v !== REPLAY_OK) {
      if (v === REPLAY_DUPLICATE) return this.fail(S_REPLAY, `sequence number ${lo} was already received`);
      if (v === REPLAY_INVALID) return this.fail(S_INVALID_SEQ, `sequence number ${lo} is not valid here`);
      return this.fail(S_REPLAY_WINDOW, `sequence number ${lo} fell out of the replay window`);
    }
    this.replay.advance(lo);
    this.inPackets++;
    this.inBytes += payloadLen;
    const pt = dOff + (this.mode === 'transport' ? this.slotEspOff[slot]! : 0);
    return this.finishPayload(dst, dOff, slot, payloadLen, dst[pt + this.slotCtLen[slot]! - 1]!);
  }

  private failIcv(lo: number): number {
    return this.fail(S_ICV_MISMATCH, `ICV does not verify (SPI 0x${this.spi.toString(16)}, seq ${lo})`);
  }

  /** The decrypted trailer's checks (no state changes): the payload length or BAD_PADDING. */
  private checkTrailer(dst: Uint8Array, dOff: number, slot: number): number {
    const lo = this.slotSeqLo[slot]!;
    const espOff = this.slotEspOff[slot]!;
    const ctLen = this.slotCtLen[slot]!;
    const pt = dOff + (this.mode === 'transport' ? espOff : 0);
    const padLen = dst[pt + ctLen - 2]!;
    if (padLen + 2 >= ctLen) {
      return this.fail(S_BAD_PADDING, `pad length ${padLen} leaves no payload in ${ctLen} bytes (seq ${lo})`);
    }
    const payloadLen = ctLen - 2 - padLen;
    if (this.strictPadding) {
      for (let i = 0; i < padLen; i++) {
        if (dst[pt + payloadLen + i] !== i + 1) {
          return this.fail(
            S_BAD_PADDING,
            `padding byte ${i} is ${dst[pt + payloadLen + i]}, expected ${i + 1} (seq ${lo})`,
          );
        }
      }
    }
    return payloadLen;
  }

  /**
   * A packet recorded in the replay window: dummy packets, the inner datagram's checks (tunnel), the header
   * fix-ups. Changes nothing but the output on success. Length or status.
   */
  private finishPayload(dst: Uint8Array, dOff: number, slot: number, payloadLen: number, nh: number): number {
    const lo = this.slotSeqLo[slot]!;
    const transport = this.mode === 'transport';
    const espOff = this.slotEspOff[slot]!;
    const pt = dOff + (transport ? espOff : 0);
    if (nh === IPPROTO_NONE)
      return this.fail(S_DUMMY_PACKET, `dummy packet (next header 59, seq ${lo}) dropped`);

    if (!transport) {
      const ver = payloadLen > 0 ? dst[pt]! >> 4 : 0;
      let innerLen: number;
      if (nh === IPPROTO_IPIP) {
        if (ver !== 4 || payloadLen < IPV4_HDR_LEN) {
          return this.fail(
            S_BAD_NEXT_HEADER,
            `next header 4 (IPv4) but the inner packet is not IPv4 (seq ${lo})`,
          );
        }
        innerLen = rd16(dst, pt + 2);
        if (innerLen < IPV4_HDR_LEN || innerLen > payloadLen) {
          return this.fail(
            S_MALFORMED,
            `inner IPv4 total length ${innerLen} does not fit the ${payloadLen}-byte payload`,
          );
        }
      } else if (nh === IPPROTO_IPV6) {
        if (ver !== 6 || payloadLen < IPV6_HDR_LEN) {
          return this.fail(
            S_BAD_NEXT_HEADER,
            `next header 41 (IPv6) but the inner packet is not IPv6 (seq ${lo})`,
          );
        }
        innerLen = IPV6_HDR_LEN + rd16(dst, pt + 4);
        if (innerLen > payloadLen) {
          return this.fail(
            S_MALFORMED,
            `inner IPv6 length ${innerLen} does not fit the ${payloadLen}-byte payload`,
          );
        }
      } else {
        return this.fail(S_BAD_NEXT_HEADER, `tunnel mode needs next header 4 or 41, got ${nh} (seq ${lo})`);
      }
      const outerDs = this.slotOuterDs[slot]!;
      let ds = dsField(dst, pt);
      const ds0 = ds;
      if (this.decapDscp) ds = (outerDs & ~INET_ECN_MASK) | (ds & INET_ECN_MASK);
      if (!this.noEcn && (outerDs & INET_ECN_MASK) === INET_ECN_CE && (ds & INET_ECN_MASK) !== 0)
        ds |= INET_ECN_CE;
      if (ds !== ds0) setDsField(dst, pt, ds);
      this.lastNextHeader = nh;
      return innerLen;
    }
    const nhPos = this.slotNhPos[slot]!;
    dst[dOff + nhPos] = nh;
    const outLen = espOff + payloadLen;
    if (dst[dOff]! >> 4 === 4) {
      wr16(dst, dOff + 2, outLen);
      fixIpv4Checksum(dst, dOff);
    } else {
      wr16(dst, dOff + 4, outLen - IPV6_HDR_LEN);
    }
    this.lastNextHeader = nh;
    return outLen;
  }

  /**
   * Decapsulates one ESP packet (the whole IP datagram). Returns the datagram (transport) or the inner
   * datagram (tunnel). Throws EspError (REPLAY, ICV_MISMATCH, BAD_PADDING, …).
   */
  decap(packet: Uint8Array, opts: DecapOptions = {}): EspDecapResult {
    this.checkLive();
    const out = opts.out ?? new Uint8Array(packet.length);
    const outOff = opts.outOffset ?? 0;
    if (!Number.isInteger(outOff) || outOff < 0 || outOff > out.length) {
      throw new EspError('BUFFER_TOO_SMALL', `output offset ${outOff} outside the ${out.length}-byte buffer`);
    }
    const one = this.openOne;
    if (one !== undefined && this.nativeSingle) {
      const st = this.espStateIn();
      let n: number;
      try {
        n = one.decapOne(packet, out, outOff);
      } finally {
        this.espStateOut(true);
      }
      if (n < 0) throw this.decapFailure(n, packet, out, outOff);
      const hi = st[ST.ONE_SEQ_HI]!;
      const lo = BigInt(st[ST.ONE_SEQ_LO]!);
      const seq = hi === 0 ? lo : (BigInt(hi) << 32n) | lo;
      return { packet: out.subarray(outOff, outOff + n), nextHeader: st[ST.ONE_NEXT_HEADER]!, seq };
    }
    const r = this.prepareDecap(packet, 0, packet.length, out, outOff, out.length - outOff, 0, true);
    if (r < 0) throw espError(r, this.lastError, this.lastErrorOffset);
    const n = this.openCtx.openBatch(packet, out, this.aad, this.desc, 1, this.ok);
    const len = this.finishDecap(out, outOff, 0, n === 1);
    if (len < 0) throw espError(len, this.lastError, this.lastErrorOffset);
    const seq = (BigInt(this.slotSeqHi[0]!) << 32n) | BigInt(this.slotSeqLo[0]!);
    return { packet: out.subarray(outOff, outOff + len), nextHeader: this.lastNextHeader, seq };
  }

  /**
   * The EspError of a packet the native single-packet decap dropped (its counters are already taken over),
   * worded by the TypeScript code without counting anything again: a packet dropped before decryption is
   * parsed and checked again (the replay counters that check bumps are put back); after decryption the
   * trailer and inner-datagram checks run on the output with what the addon reported.
   */
  private decapFailure(status: number, packet: Uint8Array, out: Uint8Array, outOff: number): EspError {
    const st = this.espState;
    const stage = st[ST.ONE_STAGE]!;
    let s: number;
    if (stage === STAGE.PREPARE) {
      const stats = this.replay.stats;
      const replay = stats.replay;
      const replayWindow = stats.replayWindow;
      s = this.prepareDecap(packet, 0, packet.length, out, outOff, out.length - outOff, 0, true);
      stats.replay = replay;
      stats.replayWindow = replayWindow;
    } else {
      this.slotSeqLo[0] = st[ST.ONE_SEQ_LO]!;
      this.slotSeqHi[0] = st[ST.ONE_SEQ_HI]!;
      this.slotEspOff[0] = st[ST.ONE_ESP_OFF]!;
      this.slotCtLen[0] = st[ST.ONE_CT_LEN]!;
      if (status === S_ICV_MISMATCH) s = this.failIcv(this.slotSeqLo[0]);
      else if (stage === STAGE.OPENED) s = this.checkTrailer(out, outOff, 0);
      else {
        const nh = st[ST.ONE_NEXT_HEADER]!;
        s = this.finishPayload(out, outOff, 0, st[ST.ONE_PAYLOAD_LEN]!, nh);
      }
    }
    if (s === status) return espError(s, this.lastError, this.lastErrorOffset);
    return espError(status, `packet dropped (status ${status})`);
  }

  /**
   * Decapsulates `input.count` packets into `output` (same slot index; may be the same batch: in place).
   * Replay checks run for all packets before decryption, the window advances in order after each ICV
   * verified (a duplicate inside the batch is caught by the recheck). Per-packet status, length, next
   * header and sequence number land in `output`. Returns the number of packets accepted.
   */
  decapBatch(input: PacketBatch, output: PacketBatch): number {
    const count = input.count;
    const same = this.beginBatch(input, output);
    const esp = this.openCtx.esp;
    if (esp) {
      const st = this.espStateIn();
      try {
        return esp.espDecapBatch(this.espParams, st, this.replay.bmp, input, output, count, same);
      } finally {
        this.espStateOut(true);
        output.count = count;
      }
    }
    let n = 0;
    for (let i = 0; i < count; i++) {
      const r = this.prepareDecap(
        input.buf,
        input.offsets[i]!,
        input.lengths[i]!,
        output.buf,
        output.offsets[i]!,
        output.capacities[i]!,
        n,
        same,
      );
      output.lengths[i] = 0;
      if (r < 0) {
        output.status[i] = r;
        this.slotPkt[i] = -1;
      } else {
        this.slotPkt[i] = n++;
      }
    }
    output.count = count;
    if (n > 0) this.openCtx.openBatch(input.buf, output.buf, this.aad, this.desc, n, this.ok);
    let accepted = 0;
    for (let i = 0; i < count; i++) {
      const slot = this.slotPkt[i]!;
      if (slot < 0) continue;
      const len = this.finishDecap(output.buf, output.offsets[i]!, slot, this.ok[slot] === 1);
      output.seqLo[i] = this.slotSeqLo[slot]!;
      output.seqHi[i] = this.slotSeqHi[slot]!;
      if (len < 0) {
        output.status[i] = len;
      } else {
        output.status[i] = 0;
        output.lengths[i] = len;
        output.nextHeader[i] = this.lastNextHeader;
        accepted++;
      }
    }
    return accepted;
  }
}
