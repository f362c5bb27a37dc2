/**
 * Typed errors of the SA/SP engine. Each carries the errno *name* the kernel would return and, where
 * the kernel writes one, the exact extended-ack text (byte-for-byte, including a `mlx5_core: ` module
 * prefix when the message was set with `NL_SET_ERR_MSG_MOD`).
 */

/** errno names used by the engine, with their Linux x86_64 numbers. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
} as const;

export type ErrnoName = keyof typeof ERRNO;

export class XfrmError extends Error {
  override readonly name = 'XfrmError';
  /** errno name, e.g. 'EEXIST'. */
  readonly errno: ErrnoName;
  /** positive errno number (netlink carries the negative value). */
  readonly code: number;
  /** the extack message the kernel sets, if any. */
  readonly extack: string | undefined;

  constructor(errno: ErrnoName, extack?: string) {
    super(extack === undefined ? errno : `${errno}: ${extack}`);
    this.errno = errno;
    this.code = ERRNO[errno];
    this.extack = extack;
  }
}

export function isXfrmError(e: unknown): e is XfrmError {
  return e instanceof XfrmError;
}
