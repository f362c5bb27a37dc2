/**
 * Anti-replay window and output sequence counter with the exact semantics of Linux
 * `net/xfrm/xfrm_replay.c`:
 *
 *  - `legacy`: `struct xfrm_replay_state`, a 32-bit shifting bitmap (window clamped to 32 like
 *    `copy_from_user_state` does), bit d = top − d.
 *  - `bmp`: `struct xfrm_replay_state_esn` without ESN; circular bitmap of `bmpLen` u32 words,
 *    window up to 4096 bits.
 *  - `esn`: the same with 64-bit sequence numbers (RFC 4303 Appendix A2): only the low 32 bits travel,
 *    the receiver infers `seq_hi` from its window.
 *
 * The bitmap is circular: the bit of the top is `pos = (top − 1) % W` and a sequence number `diff`
 * below it is at `(pos − diff) mod W` (word `bit >> 5`, bit `bit & 31`). All arithmetic is the kernel's
 * unsigned 32-bit arithmetic. One inherited consequence: with ESN and a window that does not divide
 * 2^32 (not a power of two), positions are recomputed from the low 32 bits of the top, so a window
 * that straddles a 2^32 boundary maps old entries to shifted bits exactly as Linux does.
 *
 * The bitmap is a Uint32Array in the kernel's own layout, so the `bmp` words of `replay_esn` that
 * netlink carries (XFRMA_REPLAY_ESN_VAL, dumps, AE events) are the array's words as they stand. The
 * `bitfield` npm package, which the card names, keeps bit i at `byte[i >> 3] & (128 >> (i % 8))`
 * (most significant bit first), while the kernel keeps it at `word[i >> 5] & (1 << (i & 31))` in
 * little-endian u32s, so every bit of the ring sits elsewhere; using it would need a bit-order
 * translation on every netlink exchange, so the ring is written here directly.
 *
 * Use: `check(seq)` before decrypting (drops replays/too-old packets and counts them), `seqHi(seq)` for
 * the ESN AAD, and `recheck(seq, seqHi)` + `advance(seq)` only after the ICV verified.
 */
import type { XfrmReplayState, XfrmReplayStateEsn, XfrmState } from '../types/index.ts';
import { XFRM_SA_DIR, XFRM_SA_XFLAG, XFRM_STATE_FLAG } from '../types/index.ts';

export type ReplayMode = 'legacy' | 'bmp' | 'esn';

/** Verdicts of `check`/`recheck`. */
export const REPLAY_OK = 0;
/** Already received (bit set): `stats.replay++`. */
export const REPLAY_DUPLICATE = 1;
/** Left of the window (or ESN seq_hi changed between check and recheck): `stats.replay_window++`. */
export const REPLAY_TOO_OLD = 2;
/** Sequence number 0 where it cannot be valid: dropped, no counter (the kernel counts none either). */
export const REPLAY_INVALID = 3;
export type ReplayVerdict =
  | typeof REPLAY_OK
  | typeof REPLAY_DUPLICATE
  | typeof REPLAY_TOO_OLD
  | typeof REPLAY_INVALID;

/** Largest window the kernel accepts with XFRMA_REPLAY_ESN_VAL (bmp_len up to 128 words). */
export const REPLAY_MAX_WINDOW = 4096;
/** The legacy window is a single u32. */
export const REPLAY_LEGACY_MAX_WINDOW = 32;

export type ReplayErrorCode = 'EOVERFLOW' | 'EINVAL';

export class ReplayError extends Error {
  override readonly name = 'ReplayError';
  readonly code: ReplayErrorCode;
  constructor(code: ReplayErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface ReplayWindowOptions {
  mode: ReplayMode;
  /** Window in packets: legacy ≤ 32 (larger values are clamped to 32), bmp/esn ≤ 4096. 0 disables checks. */
  window: number;
  /** Bitmap words (bmp/esn); default ceil(window / 32), at least 1. Must hold the window. */
  bmpLen?: number;
  /** Highest received sequence number (low 32 bits) and, for ESN, its high half. */
  seq?: number;
  seqHi?: number;
  /** Last sent sequence number (low/high). */
  oseq?: number;
  oseqHi?: number;
  /** Bitmap words (bmp/esn, circular) or the legacy bitmap as one word. */
  bmp?: ArrayLike<number>;
  /** XFRM_SA_XFLAG_OSEQ_MAY_WRAP: the 32-bit output counter may wrap to 0 (not for ESN). */
  oseqMayWrap?: boolean;
  /** SA direction; an ESN SA with window 0 is only valid for output (as in xfrm_init_replay). */
  dir?: 'in' | 'out';
}

export interface ReplayStats {
  /** Duplicates dropped (`xfrm_stats.replay`). */
  replay: number;
  /** Too-old drops (`xfrm_stats.replay_window`). */
  replayWindow: number;
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new ReplayError('EINVAL', `${what} must be a u32, got ${v}`);
  return v;
}

export class ReplayWindow {
  readonly mode: ReplayMode;
  /** Effective window in packets. */
  readonly window: number;
  readonly bmpLen: number;
  /** Highest received (low 32 bits). */
  seq: number;
  seqHi: number;
  oseq: number;
  oseqHi: number;
  /** Circular bitmap (bmp/esn); `bmp[0]` is the legacy bitmap. */
  readonly bmp: Uint32Array;
  readonly oseqMayWrap: boolean;
  readonly stats: ReplayStats = { replay: 0, replayWindow: 0 };

  constructor(opts: ReplayWindowOptions) {
    this.mode = opts.mode;
    if (opts.mode !== 'legacy' && opts.mode !== 'bmp' && opts.mode !== 'esn') {
      throw new ReplayError('EINVAL', `unknown replay mode ${String(opts.mode)}`);
    }
    const w = checkU32(opts.window, 'replay window');
    if (opts.mode === 'legacy') {
      this.window = Math.min(w, REPLAY_LEGACY_MAX_WINDOW);
      this.bmpLen = 1;
    } else {
      if (w > REPLAY_MAX_WINDOW) {
        throw new ReplayError('EINVAL', `replay window ${w} exceeds the maximum of ${REPLAY_MAX_WINDOW}`);
      }
      this.window = w;
      this.bmpLen = opts.bmpLen ?? Math.max(1, Math.ceil(w / 32));
      if (!Number.isInteger(this.bmpLen) || this.bmpLen < 0 || this.bmpLen * 32 < w || this.bmpLen > 128) {
        throw new ReplayError('EINVAL', `bmp_len ${this.bmpLen} words cannot hold a window of ${w} packets`);
      }
      if (opts.mode === 'esn' && w === 0 && opts.dir !== 'out') {
        throw new ReplayError('EINVAL', 'an ESN SA needs a replay window > 0 (except output SAs)');
      }
    }
    this.seq = checkU32(opts.seq ?? 0, 'seq');
    this.seqHi = checkU32(opts.seqHi ?? 0, 'seq_hi');
    this.oseq = checkU32(opts.oseq ?? 0, 'oseq');
    this.oseqHi = checkU32(opts.oseqHi ?? 0, 'oseq_hi');
    if (opts.mode !== 'esn' && (this.seqHi !== 0 || this.oseqHi !== 0)) {
      throw new ReplayError('EINVAL', 'seq_hi/oseq_hi need ESN');
    }
    this.bmp = new Uint32Array(Math.max(1, this.bmpLen));
    if (opts.bmp) {
      if (opts.bmp.length > this.bmp.length) {
        throw new ReplayError(
          'EINVAL',
          `bitmap has ${opts.bmp.length} words, expected at most ${this.bmp.length}`,
        );
      }
      for (let i = 0; i < opts.bmp.length; i++) this.bmp[i] = checkU32(opts.bmp[i]!, `bmp[${i}]`);
    }
    this.oseqMayWrap = opts.oseqMayWrap ?? false;
  }

  /**
   * Builds the window an SA describes: ESN if XFRM_STATE_ESN, bmp if XFRMA_REPLAY_ESN_VAL is present,
   * else the legacy window from `info.replayWindow` / XFRMA_REPLAY_VAL.
   */
  static fromXfrmState(state: XfrmState): ReplayWindow {
    const esn = (state.info.flags & XFRM_STATE_FLAG.ESN) !== 0;
    const oseqMayWrap = ((state.extraFlags ?? 0) & XFRM_SA_XFLAG.OSEQ_MAY_WRAP) !== 0;
    const dir = state.dir === XFRM_SA_DIR.OUT ? 'out' : state.dir === XFRM_SA_DIR.IN ? 'in' : undefined;
    const r = state.replayEsn;
    if (r) {
      return new ReplayWindow({
        mode: esn ? 'esn' : 'bmp',
        window: r.replayWindow,
        bmpLen: r.bmpLen,
        seq: r.seq,
        seqHi: esn ? r.seqHi : 0,
        oseq: r.oseq,
        oseqHi: esn ? r.oseqHi : 0,
        bmp: r.bmp,
        oseqMayWrap,
        ...(dir ? { dir } : {}),
      });
    }
    if (esn) throw new ReplayError('EINVAL', 'an ESN SA needs XFRMA_REPLAY_ESN_VAL');
    const opts: ReplayWindowOptions = { mode: 'legacy', window: state.info.replayWindow, oseqMayWrap };
    if (state.replay) {
      opts.seq = state.replay.seq;
      opts.oseq = state.replay.oseq;
      opts.bmp = [state.replay.bitmap];
    }
    return new ReplayWindow(opts);
  }

  /** RFC 4303 A2 / `xfrm_replay_seqhi`: the high half the receiver assumes for `seq`. 0 without ESN. */
  inferSeqHi(seq: number): number {
    if (this.mode !== 'esn') return 0;
    const top = this.seq;
    const bottom = (top - this.window + 1) >>> 0;
    if (top >= (this.window - 1) >>> 0) {
      // A. window within one 2^32 subspace
      return seq < bottom ? (this.seqHi + 1) >>> 0 : this.seqHi;
    }
    // B. window spans two subspaces
    return seq >= bottom ? (this.seqHi - 1) >>> 0 : this.seqHi;
  }

  /** Bit index of the entry `diff` below the top (kernel formula). */
  private bitOf(diff: number): number {
    const w = this.window;
    const pos = ((this.seq - 1) >>> 0) % w;
    return pos >= diff ? (pos - diff) % w : w - (diff - pos);
  }

  /** Checks `seq` (low 32 bits, host order) before decryption. Counts replay/replay_window drops. */
  check(seq: number): ReplayVerdict {
    const w = this.window;
    if (w === 0) return REPLAY_OK;
    if (this.mode === 'legacy') {
      if (seq === 0) return REPLAY_INVALID;
      if (seq > this.seq) return REPLAY_OK;
      const diff = this.seq - seq;
      if (diff >= w) {
        this.stats.replayWindow++;
        return REPLAY_TOO_OLD;
      }
      if ((this.bmp[0]! >>> diff) & 1) {
        this.stats.replay++;
        return REPLAY_DUPLICATE;
      }
      return REPLAY_OK;
    }
    const top = this.seq;
    let diff = (top - seq) >>> 0;
    if (this.mode === 'bmp') {
      if (seq === 0) return REPLAY_INVALID;
      if (seq > top) return REPLAY_OK;
    } else {
      if (seq === 0 && this.seqHi === 0 && top < (w - 1) >>> 0) return REPLAY_INVALID;
      const bottom = (top - w + 1) >>> 0;
      if (top >= (w - 1) >>> 0) {
        if (seq > top || seq < bottom) return REPLAY_OK;
      } else {
        if (seq > top && seq < bottom) return REPLAY_OK;
        if (seq >= bottom) diff = (top - seq) >>> 0; // ~seq + top + 1
      }
    }
    if (diff >= w) {
      this.stats.replayWindow++;
      return REPLAY_TOO_OLD;
    }
    const bit = this.bitOf(diff);
    if ((this.bmp[bit >>> 5]! >>> (bit & 31)) & 1) {
      this.stats.replay++;
      return REPLAY_DUPLICATE;
    }
    return REPLAY_OK;
  }

  /**
   * Second check after the ICV verified, right before `advance` (`xfrm_replay_recheck_esn`): the window
   * may have moved since `check` (other packets of the same batch); with ESN the seq_hi used for the AAD
   * must still be the one the window infers, else the packet counts as replay_window.
   */
  recheck(seq: number, seqHiUsed: number): ReplayVerdict {
    if (this.mode === 'esn' && this.inferSeqHi(seq) !== seqHiUsed >>> 0) {
      this.stats.replayWindow++;
      return REPLAY_TOO_OLD;
    }
    return this.check(seq);
  }

  /** Records `seq` as received (call only after the ICV verified and `recheck` passed). */
  advance(seq: number): void {
    const w = this.window;
    if (w === 0) return;
    if (this.mode === 'legacy') {
      if (seq > this.seq) {
        const diff = seq - this.seq;
        this.bmp[0] = diff < w ? ((this.bmp[0]! << diff) | 1) >>> 0 : 1;
        this.seq = seq;
      } else {
        this.bmp[0] = (this.bmp[0]! | (1 << (this.seq - seq))) >>> 0;
      }
      return;
    }
    const pos = ((this.seq - 1) >>> 0) % w;
    let wrap = 0;
    let seqHi = 0;
    if (this.mode === 'esn') {
      seqHi = this.inferSeqHi(seq);
      wrap = (seqHi - this.seqHi) | 0;
    }
    let bit: number;
    if ((wrap === 0 && seq > this.seq) || wrap > 0) {
      const diff = (seq - this.seq) >>> 0;
      if (diff < w) {
        for (let i = 1; i < diff; i++) {
          const b = (pos + i) % w;
          this.bmp[b >>> 5] = (this.bmp[b >>> 5]! & ~(1 << (b & 31))) >>> 0;
        }
      } else {
        const nr = (w - 1) >>> 5;
        for (let i = 0; i <= nr; i++) this.bmp[i] = 0;
      }
      bit = ((pos + diff) >>> 0) % w; // u32 sum, as in C
      this.seq = seq;
      if (wrap > 0) this.seqHi = (this.seqHi + 1) >>> 0;
    } else {
      bit = this.bitOf((this.seq - seq) >>> 0);
    }
    this.bmp[bit >>> 5] = (this.bmp[bit >>> 5]! | (1 << (bit & 31))) >>> 0;
  }

  /**
   * Assigns the next output sequence number (`xfrm_replay_overflow*`) and returns its low half; the
   * high half is then in `oseqHi` (ESN). Throws ReplayError('EOVERFLOW') — leaving the counter
   * unchanged — when the 32-bit counter would wrap (unless OSEQ_MAY_WRAP) or the 64-bit ESN counter would.
   */
  nextOutputSeq(): number {
    const next = (this.oseq + 1) >>> 0;
    if (this.mode === 'esn') {
      if (next === 0) {
        if (this.oseqHi === 0xffffffff) {
          throw new ReplayError(
            'EOVERFLOW',
            'ESN output sequence number exhausted (2^64 − 1 sent); rekey the SA',
          );
        }
        this.oseqHi = (this.oseqHi + 1) >>> 0;
      }
      this.oseq = next;
      return next;
    }
    if (next === 0 && !this.oseqMayWrap) {
      throw new ReplayError(
        'EOVERFLOW',
        'output sequence number would wrap past 2^32 − 1 without ESN; rekey the SA (or set OSEQ_MAY_WRAP)',
      );
    }
    this.oseq = next;
    return next;
  }

  /** The state as `struct xfrm_replay_state_esn` (the legacy bitmap is converted to the circular layout). */
  toXfrmReplayStateEsn(): XfrmReplayStateEsn {
    let bmp: number[];
    if (this.mode === 'legacy') {
      const words = new Uint32Array(1);
      const w = this.window;
      for (let d = 0; w > 0 && d < w; d++) {
        if ((this.bmp[0]! >>> d) & 1) {
          const bit = this.bitOf(d);
          words[bit >>> 5] = (words[bit >>> 5]! | (1 << (bit & 31))) >>> 0;
        }
      }
      bmp = Array.from(words);
    } else {
      bmp = Array.from(this.bmp.subarray(0, this.bmpLen));
    }
    return {
      bmpLen: this.mode === 'legacy' ? 1 : this.bmpLen,
      oseq: this.oseq,
      seq: this.seq,
      oseqHi: this.oseqHi,
      seqHi: this.seqHi,
      replayWindow: this.window,
      bmp,
    };
  }

  /** The state as `struct xfrm_replay_state` (legacy only: the bitmap is the shifting one). */
  toXfrmReplayState(): XfrmReplayState {
    if (this.mode !== 'legacy')
      throw new ReplayError('EINVAL', `a ${this.mode} window is reported as replay_state_esn`);
    return { oseq: this.oseq, seq: this.seq, bitmap: this.bmp[0]! };
  }

  /** Full 64-bit highest received sequence number. */
  get top(): bigint {
    return (BigInt(this.seqHi) << 32n) | BigInt(this.seq);
  }

  /** Full 64-bit last sent sequence number. */
  get lastSent(): bigint {
    return (BigInt(this.oseqHi) << 32n) | BigInt(this.oseq);
  }
}
