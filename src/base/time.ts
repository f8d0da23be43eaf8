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
  const base = utcSeconds(Math.floor(d.getTime() / 1000));
  const frac = nanos.toString().padStart(9, '0').replace(/0+$/, '');
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * `YYYY-MM-DDTHH:MM:SS` of a Unix time in seconds, by arithmetic (days to civil date): a
 * process's first Date#toISOString loads the time zone data (~1 ms on exec's path).
 */
function utcSeconds(t: number): string {
  const days = Math.floor(t / 86400);
  const secs = t - days * 86400;
  // civil from days (proleptic Gregorian), eras of 400 years from 0000-03-01
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(secs / 3600);
  const mm = Math.floor((secs % 3600) / 60);
  return `${year < 0 ? '-' + pad(-year, 6) : year > 9999 ? '+' + pad(year, 6) : pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hh)}:${pad(mm)}:${pad(secs % 60)}`;
}
