/**
 * Where the oracle's kernels and the simulator may legitimately differ, each listed once with its
 * reason. The simulator models Linux 6.18 (the host's kernel); the oracle runs Debian's 6.12
 * (bookworm-security) or 6.1 (bookworm). Three mechanisms, all keyed by kernel series:
 *
 * - `EXCLUDED_REQUESTS`: requests not generated for a kernel because they measure its age (a
 *   feature it lacks), not the simulator. Cheaper than comparing and forgiving.
 * - `ALLOWED_DIFFERENCES`: a step whose normalised answers differ in a known, explained way. It is
 *   counted as "allowed", not as a divergence. When both sides are left in the same state (e.g. both
 *   refused the request) the sequence goes on; otherwise it ends there.
 * - `ORACLE_MISSING_CRYPTO`: algorithms the guest's crypto API lacks; the simulator is configured
 *   with the same contents (not a difference, a configuration).
 *
 * Anything else that differs is a divergence: a simulator bug (or a new kernel behaviour to list
 * here, with its reason).
 */
import { ALGORITHMS, type DiffOp } from '@xfrmkit/sim';

/** Kernel series the oracle can run (scripts/prepare.sh XFRMKIT_ORACLE_KERNEL). */
export type OracleKernel = '6.12' | '6.1';
export const ORACLE_KERNELS: readonly OracleKernel[] = ['6.12', '6.1'];

export function isOracleKernel(s: string): s is OracleKernel {
  return (ORACLE_KERNELS as readonly string[]).includes(s);
}

/** What a request is, for the exclusion tests: XFRM message type, fixed header, attribute types. */
interface XfrmRequestView {
  type: number;
  /** the attribute types at top level */
  attrs: number[];
  /** SA mode (usersa_info.mode) of NEWSA/UPDSA; template modes of XFRMA_TMPL */
  modes: number[];
  /** XFRMA_OFFLOAD_DEV flags, when present */
  offloadFlags?: number;
}

const FIXED: Record<number, number> = {
  16: 224,
  26: 224,
  19: 168,
  25: 168,
  20: 64,
  21: 64,
  17: 24,
  18: 24,
  22: 232,
  30: 48,
  31: 48,
  24: 232,
  28: 4,
  29: 0,
  39: 3,
  40: 3,
  35: 4,
  36: 4,
  37: 4,
};

function view(bytes: Uint8Array): XfrmRequestView | undefined {
  if (bytes.length < 16) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = dv.getUint16(4, true);
  const hdr = FIXED[type];
  if (hdr === undefined) return undefined;
  const v: XfrmRequestView = { type, attrs: [], modes: [] };
  if ((type === 0x10 || type === 0x1a) && bytes.length >= 16 + 224) v.modes.push(bytes[16 + 214]!);
  const end = Math.min(bytes.length, dv.getUint32(0, true));
  let off = 16 + ((hdr + 3) & ~3);
  while (off + 4 <= end) {
    const len = dv.getUint16(off, true);
    if (len < 4) break;
    const at = dv.getUint16(off + 2, true) & 0x3fff;
    v.attrs.push(at);
    // XFRMA_TMPL: xfrm_user_tmpl[] (64 bytes each, mode at +48)
    if (at === 5) for (let t = off + 4; t + 64 <= off + len; t += 64) v.modes.push(bytes[t + 48]!);
    if (at === 28 && len >= 12) v.offloadFlags = bytes[off + 8]!;
    off += (len + 3) & ~3;
  }
  return v;
}

export interface Exclusion {
  id: string;
  kernels: readonly OracleKernel[];
  reason: string;
  test(op: DiffOp, v: XfrmRequestView | undefined): boolean;
}

export const EXCLUDED_REQUESTS: readonly Exclusion[] = [
  {
    id: 'xfrma-newer-than-6.12',
    kernels: ['6.12', '6.1'],
    reason:
      'XFRMA_SA_PCPU (35, Linux 6.13) and the IP-TFS attributes (36..41, 6.14) are above the XFRMA_MAX the ' +
      "simulator's 6.12-era checks assume; the kernel ignores attribute types above its XFRMA_MAX.",
    test: (_op, v) => v?.attrs.some((a) => a >= 35) === true,
  },
  {
    id: 'mode-iptfs',
    kernels: ['6.12', '6.1'],
    reason:
      'XFRM_MODE_IPTFS (5, Linux 6.14): the kernel refuses modes ≥ 5 naming XFRM_MODE_MAX 5 where 6.18 says 6.',
    test: (_op, v) => v?.modes.some((m) => m >= 5) === true,
  },
  {
    id: 'xfrma-newer-than-6.1',
    kernels: ['6.1'],
    reason:
      'XFRMA_SA_DIR (33) and XFRMA_NAT_KEEPALIVE_INTERVAL (34) arrived in Linux 6.10: 6.1 (XFRMA_MAX 32) ' +
      'ignores them, so every rule the simulator applies to SA directions is absent there.',
    test: (_op, v) => v?.attrs.some((a) => a === 33 || a === 34) === true,
  },
  {
    id: 'devlink-core-6.1',
    kernels: ['6.1'],
    reason:
      "6.1's devlink core predates the one the simulator models (6.8+): a family without split ops " +
      '(MAXATTR 176, other op flags), PORT_GET dumps answered with cmd NEW and NLMSG_DONE in a datagram of ' +
      'its own, INFO_DRIVER_NAME before the versions, NL_SET_ERR_MSG_MOD texts prefixed "leftover: " (the ' +
      'core lived in net/devlink/leftover.c), no OFFS in port-function refusals. On 6.1 the netdevsim suite ' +
      'sends no devlink requests and compares no devlink notifications: crypto offload and sysfs VFs only.',
    test: (op) => op.protocol === 16,
  },
];

/** True if `op` is a request the oracle's `kernel` is too old for (not generated). */
export function excluded(kernel: OracleKernel, op: DiffOp): boolean {
  const v = op.protocol === undefined || op.protocol === 6 ? view(op.bytes) : undefined;
  return EXCLUDED_REQUESTS.some((e) => e.kernels.includes(kernel) && e.test(op, v));
}

/** What an allowed difference is matched against: one step and both sides' answers. */
export interface StepDiff {
  kernel: OracleKernel;
  op: DiffOp;
  /** the request as the kernel got it */
  request: Uint8Array;
  /** NLMSG_ERROR errno and extack message of the op's own answer (undefined: no error) */
  kernelError?: { errno: number; msg?: string };
  simError?: { errno: number; msg?: string };
  /** the two sides' normalised answers are equal once extack TLVs are removed from their errors */
  sameWithoutExtack(): boolean;
}

export interface AllowedDifference {
  id: string;
  kernels: readonly OracleKernel[];
  reason: string;
  /** both sides are in the same state afterwards: the sequence goes on */
  sameState: boolean | ((s: StepDiff) => boolean);
  match(s: StepDiff): boolean;
}

export const ALLOWED_DIFFERENCES: readonly AllowedDifference[] = [
  {
    id: 'extack-added-after-6.1',
    kernels: ['6.1'],
    reason:
      'About 40 XFRM refusals got an extack message after 6.1 (xfrm_user.c has 51 NL_SET_ERR_MSG in 6.1, 91 ' +
      'in 6.12: "NLM_F_REPLACE flag is required", "Missing required attribute for AE", …): same errno, 6.1 ' +
      'sends no text, or only the parser\'s "bytes leftover after parsing attributes" warning that the newer ' +
      'message replaces.',
    sameState: true,
    match: (s) =>
      s.kernelError !== undefined &&
      s.kernelError.errno === s.simError?.errno &&
      (s.kernelError.msg === undefined || s.kernelError.msg === 'bytes leftover after parsing attributes') &&
      s.simError.msg !== undefined &&
      s.simError.msg !== s.kernelError.msg &&
      s.sameWithoutExtack(),
  },
  {
    id: 'dump-policy-report-6.1',
    kernels: ['6.1'],
    reason:
      'A dump request failing attribute validation: 6.1 puts only the message in the NLMSG_DONE extack; newer ' +
      "kernels add the offending attribute's offset and policy (NLMSGERR_ATTR_OFFS/POLICY).",
    sameState: true,
    match: (s) =>
      s.kernelError !== undefined &&
      s.kernelError.errno === s.simError?.errno &&
      s.kernelError.msg === s.simError.msg &&
      s.sameWithoutExtack(),
  },
  {
    id: 'allocspi-spi-0-6.1',
    kernels: ['6.1'],
    reason:
      'ALLOCSPI with the range 0..0: 6.1 hands out SPI 0 (a larval SA with SPI 0); newer kernels skip SPI 0 ' +
      'and refuse with ENOENT "No SPI available in the requested range".',
    sameState: false,
    match: (s) =>
      s.request.length >= 16 + 232 &&
      new DataView(s.request.buffer, s.request.byteOffset).getUint16(4, true) === 0x16 &&
      new DataView(s.request.buffer, s.request.byteOffset).getUint32(16 + 224, true) === 0 &&
      new DataView(s.request.buffer, s.request.byteOffset).getUint32(16 + 228, true) === 0 &&
      s.kernelError === undefined &&
      s.simError?.errno === -2,
  },
  {
    id: 'offload-type-checked-first',
    kernels: ['6.12', '6.1'],
    reason:
      'xfrm_dev_state_add of 6.12 and older refuses a type without an offload implementation (AH, IPcomp: ' +
      '"Type doesn\'t support offload") before anything else; newer kernels (the simulator\'s 6.18) check it ' +
      'only after the offload flags, the SA direction and the device (a device without xfrmdev_ops, or none, ' +
      'still means a software SA there).',
    sameState: (s) => s.simError !== undefined,
    match: (s) => {
      const v = view(s.request);
      return (
        v?.offloadFlags !== undefined &&
        s.request.length >= 16 + 224 &&
        s.request[16 + 76] !== 50 &&
        s.kernelError?.msg === "Type doesn't support offload"
      );
    },
  },
  {
    id: 'offload-rx-if-id',
    kernels: ['6.12', '6.1'],
    reason:
      'Newer kernels (2025, the simulator\'s 6.18) refuse inbound offload of an SA with an if_id ("XFRM if_id ' +
      'is not supported in RX path"); 6.12 and 6.1 accept it.',
    sameState: false,
    match: (s) => s.simError?.msg === 'XFRM if_id is not supported in RX path' && s.kernelError === undefined,
  },
  {
    id: 'netdevsim-extack-6.1',
    kernels: ['6.1'],
    reason:
      "6.1's netdevsim reports its refusals of an SA only in the kernel log (netdev_err), so the core's WEAK " +
      '"Device failed to offload this state" is the extack; 6.12\'s sets "netdevsim: …" messages.',
    sameState: true,
    match: (s) =>
      s.kernelError?.msg === 'Device failed to offload this state' &&
      s.kernelError.errno === s.simError?.errno &&
      (s.simError.msg ?? '').startsWith('netdevsim: ') &&
      s.sameWithoutExtack(),
  },
  {
    id: 'offload-packet-flag-6.1',
    kernels: ['6.1'],
    reason:
      'XFRM_OFFLOAD_PACKET (packet offload, Linux 6.2): 6.1 refuses the flag as "Unrecognized flags in ' +
      'offload request" before any device is asked; the simulator (6.18) hands it to the device.',
    sameState: true,
    match: (s) =>
      (view(s.request)?.offloadFlags ?? 0) & 4
        ? s.kernelError?.errno === -22 && s.kernelError.msg === 'Unrecognized flags in offload request'
        : false,
  },
];

/** The allowed difference a differing step matches, if any. */
export function allowedDifference(s: StepDiff): AllowedDifference | undefined {
  return ALLOWED_DIFFERENCES.find((a) => a.kernels.includes(s.kernel) && a.match(s));
}

/**
 * Crypto API contents of the oracle guest: every §14 algorithm except the SM3/SM4 ones (Debian's
 * kernels build neither; the guest cannot autoload modules, see guest/modules.txt) and the IPcomp
 * compressors LZS/LZJH (no Linux implementation). Verified against the VM by the "crypto API" test
 * of test/xfrm-esp.differential.test.ts.
 */
export const ORACLE_MISSING_CRYPTO: ReadonlySet<string> = new Set([
  'hmac(sm3)',
  'sm3',
  'cbc(sm4)',
  'sm4',
  'lzs',
  'lzjh',
]);
export const oracleCrypto = (name: string) => !ORACLE_MISSING_CRYPTO.has(name);
export const ALL_ALGORITHM_NAMES = [
  ...new Set(
    Object.values(ALGORITHMS).flatMap((l) => l.flatMap((e) => (e.compat ? [e.name, e.compat] : [e.name]))),
  ),
];
