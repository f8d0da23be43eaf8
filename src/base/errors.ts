/**
 * One error type with a closed set of codes. The CLI prints `message` as Docker
 * would; the API maps `code` to an HTTP status once (see api/).
 */
export type ErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'invalid_argument'
  | 'conflict'
  | 'failed_precondition'
  | 'corrupt'
  | 'unavailable'
  | 'not_implemented'
  | 'internal';

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'StrataError';
    this.code = code;
    if (options?.hint) this.hint = options.hint;
  }
}

export const notFound = (msg: string) => new StrataError('not_found', msg);
export const invalidArgument = (msg: string) => new StrataError('invalid_argument', msg);
export const conflict = (msg: string) => new StrataError('conflict', msg);
export const corrupt = (msg: string, cause?: unknown) => new StrataError('corrupt', msg, { cause });

export function isStrataError(e: unknown, code?: ErrorCode): e is StrataError {
  return e instanceof StrataError && (code === undefined || e.code === code);
}

/** Node's errno errors carry `code`; this narrows them. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}
