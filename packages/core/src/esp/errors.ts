/**
 * ESP errors. Batch calls report a numeric status per packet (0 = ok, negative = an error code from
 * `ESP_ERROR_CODES`); single-packet calls throw `EspError`. Messages say what failed and where (offsets,
 * lengths, SPI, sequence numbers) and never contain key material.
 */

export const ESP_ERROR_CODES = [
  'TRUNCATED',
  'MALFORMED',
  'EMPTY_PAYLOAD',
  'NOT_ESP',
  'SPI_MISMATCH',
  'INVALID_SEQ',
  'REPLAY',
  'REPLAY_WINDOW',
  'ICV_MISMATCH',
  'BAD_PADDING',
  'BAD_NEXT_HEADER',
  'DUMMY_PACKET',
  'SEQ_OVERFLOW',
  'BUFFER_TOO_SMALL',
  'OVERLAP',
  'UNSUPPORTED',
  'BAD_KEY',
  'BAD_CONFIG',
] as const;

export type EspErrorCode = (typeof ESP_ERROR_CODES)[number];

/** Batch status of a code: -(index + 1). */
export function espStatus(code: EspErrorCode): number {
  return -(ESP_ERROR_CODES.indexOf(code) + 1);
}

/** The code of a negative batch status (undefined for 0 / unknown). */
export function espStatusCode(status: number): EspErrorCode | undefined {
  return status < 0 ? ESP_ERROR_CODES[-status - 1] : undefined;
}

export const S_TRUNCATED = -1;
export const S_MALFORMED = -2;
export const S_EMPTY_PAYLOAD = -3;
export const S_NOT_ESP = -4;
export const S_SPI_MISMATCH = -5;
export const S_INVALID_SEQ = -6;
export const S_REPLAY = -7;
export const S_REPLAY_WINDOW = -8;
export const S_ICV_MISMATCH = -9;
export const S_BAD_PADDING = -10;
export const S_BAD_NEXT_HEADER = -11;
export const S_DUMMY_PACKET = -12;
export const S_SEQ_OVERFLOW = -13;
export const S_BUFFER_TOO_SMALL = -14;
export const S_OVERLAP = -15;
export const S_UNSUPPORTED = -16;

export class EspError extends Error {
  override readonly name = 'EspError';
  readonly code: EspErrorCode;
  /** Offset in the input packet the problem was found at, when meaningful. */
  readonly offset: number | undefined;
  constructor(code: EspErrorCode, message: string, offset?: number) {
    super(`${code}: ${message}`);
    this.code = code;
    this.offset = offset;
  }
}
