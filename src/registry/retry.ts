/** Retry with backoff for 5xx, 429 and dropped connections. */
import { NetworkError } from './http.js';
import { RegistryError } from './endpoint.js';

interface RetryPolicy { attempts: number; baseDelayMs: number; }
export const RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250 };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export function backoff(attempt: number): number {
  return RETRY.baseDelayMs * 2 ** attempt;
}

export function isRetryable(e: unknown): boolean {
  if (e instanceof NetworkError) return e.retryable;
  if (e instanceof RegistryError) return e.status >= 500 || e.status === 429;
  return false;
}
