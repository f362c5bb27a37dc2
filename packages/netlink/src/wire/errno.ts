/** Linux errno numbers (asm-generic/errno-base.h + errno.h, x86_64) and their names. */
const NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  6: 'ENXIO',
  7: 'E2BIG',
  8: 'ENOEXEC',
  9: 'EBADF',
  10: 'ECHILD',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  15: 'ENOTBLK',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  25: 'ENOTTY',
  26: 'ETXTBSY',
  27: 'EFBIG',
  28: 'ENOSPC',
  29: 'ESPIPE',
  30: 'EROFS',
  31: 'EMLINK',
  32: 'EPIPE',
  33: 'EDOM',
  34: 'ERANGE',
  35: 'EDEADLK',
  36: 'ENAMETOOLONG',
  37: 'ENOLCK',
  38: 'ENOSYS',
  39: 'ENOTEMPTY',
  40: 'ELOOP',
  42: 'ENOMSG',
  43: 'EIDRM',
  61: 'ENODATA',
  62: 'ETIME',
  71: 'EPROTO',
  74: 'EBADMSG',
  75: 'EOVERFLOW',
  84: 'EILSEQ',
  90: 'EMSGSIZE',
  91: 'EPROTOTYPE',
  92: 'ENOPROTOOPT',
  93: 'EPROTONOSUPPORT',
  94: 'ESOCKTNOSUPPORT',
  95: 'EOPNOTSUPP',
  96: 'EPFNOSUPPORT',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  100: 'ENETDOWN',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  104: 'ECONNRESET',
  105: 'ENOBUFS',
  106: 'EISCONN',
  107: 'ENOTCONN',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  114: 'EALREADY',
  115: 'EINPROGRESS',
  122: 'EDQUOT',
  125: 'ECANCELED',
  524: 'ENOTSUPP',
};

const NUMBERS: Record<string, number> = Object.fromEntries(
  Object.entries(NAMES).map(([n, s]) => [s, Number(n)]),
);
NUMBERS.EWOULDBLOCK = 11;
NUMBERS.ENOTSUP = 95;

/** Name of a (positive) errno, or `E<number>` when unknown. */
export function errnoName(errno: number): string {
  return NAMES[Math.abs(errno)] ?? `E${Math.abs(errno)}`;
}

/** Number of an errno name ("EINVAL" -> 22). Throws on an unknown name. */
export function errnoNumber(name: string): number {
  const n = NUMBERS[name];
  if (n === undefined) throw new TypeError(`unknown errno name "${name}"`);
  return n;
}

/** Human text as strerror(3) gives it for the errnos netlink users meet most. */
const TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENODEV: 'No such device',
  ERANGE: 'Numerical result out of range',
  ENOSYS: 'Function not implemented',
  EOPNOTSUPP: 'Operation not supported',
  ENOMEM: 'Cannot allocate memory',
  EBUSY: 'Device or resource busy',
  EPROTONOSUPPORT: 'Protocol not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  ENOSPC: 'No space left on device',
  EMSGSIZE: 'Message too long',
  ENOBUFS: 'No buffer space available',
  ENAMETOOLONG: 'File name too long',
  EOVERFLOW: 'Value too large for defined data type',
  ENOPROTOOPT: 'Protocol not available',
  EACCES: 'Permission denied',
  EAGAIN: 'Resource temporarily unavailable',
  ENOTSUPP: 'Unknown error 524',
};

export function errnoText(errno: number): string {
  const name = errnoName(errno);
  return TEXT[name] ?? `Unknown error ${Math.abs(errno)}`;
}
