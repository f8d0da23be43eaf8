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

/** A full disk (or quota) anywhere in the cause chain. */
function diskFull(e: unknown): NodeJS.ErrnoException | undefined {
  for (let x = e, depth = 0; x && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    const code = errnoCode(x);
    if (code === 'ENOSPC' || code === 'EDQUOT') return x as NodeJS.ErrnoException;
    if (x instanceof Error && /\bENOSPC\b|no space left on device/i.test(x.message) && !(x as { cause?: unknown }).cause) {
      return Object.assign(new Error(x.message), { code: 'ENOSPC' });
    }
  }
  return undefined;
}

/**
 * Docker's words for a full disk, the same for the CLI and the API: `write <path>: no space
 * left on device` (`root`, the store, when the failing call named no file).
 */
export function diskFullMessage(e: unknown, root: string): string | undefined {
  const full = diskFull(e);
  if (!full) return undefined;
  return `${full.syscall ?? 'write'} ${full.path ?? root}: ${full.code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device'}`;
}
