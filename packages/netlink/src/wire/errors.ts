import { errnoName, errnoText } from './errno.ts';

/**
 * Malformed bytes: says what was wrong and where (byte offset from the start of the buffer being
 * decoded, and the path of the structure, e.g. `NEWSA > XFRMA_ALG_AEAD`). Never carries payload bytes.
 */
export class NetlinkDecodeError extends Error {
  override readonly name = 'NetlinkDecodeError';
  constructor(
    readonly what: string,
    readonly offset: number,
    readonly path: string = '',
  ) {
    super(`${path ? `${path}: ` : ''}${what} (at byte ${offset})`);
  }
}

/** A value that cannot be encoded (out of range, wrong type, unknown name). */
export class NetlinkEncodeError extends Error {
  override readonly name = 'NetlinkEncodeError';
  constructor(
    readonly what: string,
    readonly path: string = '',
  ) {
    super(`${path ? `${path}: ` : ''}${what}`);
  }
}

/** Extended-ack TLVs of an NLMSG_ERROR / NLMSG_DONE message. */
export interface ExtAck {
  msg?: string;
  offs?: number;
  cookie?: Uint8Array;
  /** NLMSGERR_ATTR_POLICY, nested: raw payload (decode with `decodePolicyTlv`). */
  policy?: Uint8Array;
  missType?: number;
  missNest?: number;
}

/** The kernel (or simulator) refused a request. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  readonly errnoName: string;
  constructor(
    /** positive errno */
    readonly errno: number,
    readonly extack: ExtAck = {},
    /** what the request was, e.g. "XFRM_MSG_NEWSA" */
    readonly request = '',
  ) {
    const name = errnoName(errno);
    const parts = [`${name} (${errnoText(errno)})`];
    if (extack.msg) parts.push(`: ${extack.msg}`);
    if (extack.offs !== undefined) parts.push(` [at request byte ${extack.offs}]`);
    super(`${request ? `${request}: ` : ''}${parts.join('')}${missingCapHint(errno)}`);
    this.errnoName = name;
  }
}

function missingCapHint(errno: number): string {
  return errno === 1
    ? ' — the kernel requires CAP_NET_ADMIN in this network namespace for XFRM and devlink changes (run as root or grant cap_net_admin)'
    : '';
}
