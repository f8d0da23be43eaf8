/** Timestamps as Docker writes them. */

/** Go's zero time.Time as Docker prints it (never started, never finished, no created time). */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Go's time.RFC3339Nano in UTC: fraction without trailing zeros, none when whole. `date`
 * formats exactly (to its milliseconds, or to `nanos` of its second when given); without a
 * date it is now, with the sub-millisecond part from the monotonic clock, as Docker records
 * created/started/finished times in nanoseconds.
 */
export function rfc3339Nano(date?: Date, nanos?: bigint): string {
  if (nanos === undefined) {
    if (date === undefined) {
      date = new Date();
      nanos = BigInt(date.getTime() % 1000) * 1000000n + process.hrtime.bigint() % 1000000n;
    } else {
      nanos = BigInt(((date.getTime() % 1000) + 1000) % 1000) * 1000000n;
    }
  }
  const d = date ?? new Date();
  const base = new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().slice(0, 19);
  const frac = nanos.toString().padStart(9, '0').replace(/0+$/, '');
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}
