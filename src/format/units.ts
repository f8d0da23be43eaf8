/**
 * Human-readable sizes and durations, ported from docker/go-units (size.go,
 * duration.go), plus Go's time.ParseDuration / Duration.String.
 */

import { StrataError } from '../base/errors.js';
import { formatFloat } from './strconv.js';

const DECIMAL_ABBRS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_ABBRS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function sizeAndUnit(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i]!];
}

/**
 * go-units `HumanSizeWithPrecision`: divides by 1000 while ≥ 1000, then Go's
 * `%.<precision>g` and the unit, no space: `1.98MB`, `0B`, `1e+03kB`.
 * `docker images`/`history`/`ps -s` use precision 3.
 */
export function humanSizeWithPrecision(size: number, precision: number): string {
  const [v, unit] = sizeAndUnit(size, 1000, DECIMAL_ABBRS);
  return formatFloat(v, 'g', precision) + unit;
}

/** go-units `HumanSize`: 4 significant digits, decimal units (`1.982MB`, `5.12kB`). */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units `BytesSize`: 4 significant digits, binary units (`1KiB`, `3.42GiB`). */
export function bytesSize(size: number): string {
  const [v, unit] = sizeAndUnit(size, 1024, BINARY_ABBRS);
  return formatFloat(v, 'g', 4) + unit;
}

// ---------------------------------------------------------------------------
// Size parsing (go-units parseSize)

const KB = 1000;
const KiB = 1024;
const DECIMAL_MAP: Record<string, number> = { k: KB, m: KB ** 2, g: KB ** 3, t: KB ** 4, p: KB ** 5 };
const BINARY_MAP: Record<string, number> = { k: KiB, m: KiB ** 2, g: KiB ** 3, t: KiB ** 4, p: KiB ** 5 };

/** Go's strconv.ParseFloat, decimal forms only (plus inf/nan). */
function parseGoFloat(s: string): number | undefined {
  if (/^[+-]?(\d+(_?\d+)*\.?(\d+(_?\d+)*)?|\.\d+(_?\d+)*)([eE][+-]?\d+)?$/.test(s)) {
    if (s.includes('_')) return undefined; // underscores need a base prefix in ParseFloat
    return Number(s);
  }
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  return undefined;
}

function parseSizeWith(sizeStr: string, map: Record<string, number>): number {
  let sep = -1;
  for (let i = sizeStr.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(sizeStr[i]!)) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new StrataError('invalid_argument', `invalid size: '${sizeStr}'`);
  let num: string;
  let sfx: string;
  if (sizeStr[sep] !== ' ') {
    num = sizeStr.slice(0, sep + 1);
    sfx = sizeStr.slice(sep + 1);
  } else {
    num = sizeStr.slice(0, sep);
    sfx = sizeStr.slice(sep + 1);
  }
  const size = parseGoFloat(num);
  if (size === undefined) {
    throw new StrataError('invalid_argument', `strconv.ParseFloat: parsing ${JSON.stringify(num)}: invalid syntax`);
  }
  if (size < 0) throw new StrataError('invalid_argument', `invalid size: '${sizeStr}'`);
  if (sfx.length === 0) return Math.trunc(size);
  const bad = () => new StrataError('invalid_argument', `invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) throw bad();
    return Math.trunc(size);
  }
  const mul = map[sfx[0]!];
  if (mul === undefined) throw bad();
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size * mul);
}

/**
 * go-units `RAMInBytes`, used for `-m 512m`, `--shm-size`: binary multipliers
 * (k, m, g, t, p), case-insensitive, optional `b`/`ib` suffix, optional space
 * before the suffix. Errors as Docker words them: `invalid size: 'abc'`,
 * `invalid suffix: 'x'`.
 */
export function parseSize(s: string): number {
  return parseSizeWith(s, BINARY_MAP);
}

/** go-units `FromHumanSize`: like parseSize with decimal multipliers (`32kB` = 32000). */
export function fromHumanSize(s: string): number {
  return parseSizeWith(s, DECIMAL_MAP);
}

// ---------------------------------------------------------------------------
// Durations

/**
 * go-units `HumanDuration` for a duration in milliseconds: `Less than a
 * second`, `1 second`, `N seconds`, `About a minute`, `N minutes`, `About an
 * hour`, `N hours`, `N days`, `N weeks`, `N months`, `N years`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hoursF = ms / 3_600_000;
  const hours = Math.trunc(hoursF + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(hoursF) / 24 / 365)} years`;
}

function toMillis(t: Date | number): number {
  return typeof t === 'number' ? t : t.getTime();
}

/** `HumanDuration(now - date) + " ago"`, e.g. `3 seconds ago`. Numbers are milliseconds since the epoch. */
export function timeAgo(date: Date | number, now: Date | number = Date.now()): string {
  return humanDuration(toMillis(now) - toMillis(date)) + ' ago';
}

/**
 * CREATED column of `docker images` / `ps`: the API gives whole unix seconds,
 * so the timestamp is whole seconds while `now` is not.
 */
export function createdSince(unixSeconds: number, now: Date | number = Date.now()): string {
  return timeAgo(unixSeconds * 1000, now);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5
  'μs': 1e3, // U+03BC
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's `time.ParseDuration` (`300ms`, `-1.5h`, `2h45m`, `10m`), returning
 * milliseconds (fractional below 1 ms). Errors use Go's wording:
 * `time: invalid duration "abc"`, `time: missing unit in duration "10"`,
 * `time: unknown unit "x" in duration "10x"`.
 */
export function parseDuration(s: string): number {
  const orig = s;
  const quoted = JSON.stringify(orig);
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new StrataError('invalid_argument', `time: invalid duration ${quoted}`);
  let totalNs = 0;
  while (s !== '') {
    const m = /^(\d*)(\.(\d*))?/.exec(s)!;
    const intPart = m[1]!;
    const frac = m[3] ?? '';
    if (intPart === '' && frac === '') throw new StrataError('invalid_argument', `time: invalid duration ${quoted}`);
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === '') throw new StrataError('invalid_argument', `time: missing unit in duration ${quoted}`);
    const unit = DURATION_UNITS[u];
    if (unit === undefined) {
      throw new StrataError('invalid_argument', `time: unknown unit ${JSON.stringify(u)} in duration ${quoted}`);
    }
    s = s.slice(u.length);
    totalNs += Number(intPart || '0') * unit + (frac ? Number('0.' + frac) * unit : 0);
    if (totalNs > 9223372036854775807) throw new StrataError('invalid_argument', `time: invalid duration ${quoted}`);
  }
  const ms = totalNs / 1e6;
  return neg ? -ms : ms;
}

/**
 * Go's `time.Duration.String()` for a duration in nanoseconds: `1h2m3.5s`,
 * `1.5s`, `100ms`, `0s`.
 */
export function formatGoDuration(ns: number | bigint): string {
  let u = typeof ns === 'bigint' ? ns : BigInt(Math.round(ns));
  const neg = u < 0n;
  if (neg) u = -u;
  let out: string;
  if (u < 1_000_000_000n) {
    // Sub-second: use the smallest unit that gives a leading non-zero digit.
    if (u === 0n) return '0s';
    let unit: string;
    let prec: number;
    if (u < 1000n) {
      return (neg ? '-' : '') + `${u}ns`;
    } else if (u < 1_000_000n) {
      unit = 'µs';
      prec = 3;
    } else {
      unit = 'ms';
      prec = 6;
    }
    out = fracString(u, prec) + unit;
  } else {
    const h = u / 3_600_000_000_000n;
    const rem = u % 3_600_000_000_000n;
    const m = rem / 60_000_000_000n;
    const sNs = rem % 60_000_000_000n;
    out = fracString(sNs, 9) + 's';
    if (h > 0n || m > 0n) out = `${m}m` + out;
    if (h > 0n) out = `${h}h` + out;
  }
  return (neg ? '-' : '') + out;
}

/** v / 10^prec printed with trailing zeros (and a bare dot) removed. */
function fracString(v: bigint, prec: number): string {
  const div = 10n ** BigInt(prec);
  const whole = v / div;
  let frac = (v % div).toString().padStart(prec, '0').replace(/0+$/, '');
  if (frac) frac = '.' + frac;
  return `${whole}${frac}`;
}
