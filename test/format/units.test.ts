import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  bytesSize,
  createdSince,
  formatGoDuration,
  fromHumanSize,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
  parseDuration,
  parseSize,
  timeAgo,
} from '../../src/format/index.js';
import { isStrataError } from '../../src/base/errors.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

test('humanDuration: go-units test table', () => {
  const cases: Array<[number, string]> = [
    [450, 'Less than a second'],
    [1 * SEC, '1 second'],
    [45 * SEC, '45 seconds'],
    [46 * SEC, '46 seconds'],
    [59 * SEC, '59 seconds'],
    [60 * SEC, 'About a minute'],
    [1 * MIN, 'About a minute'],
    [3 * MIN, '3 minutes'],
    [35 * MIN, '35 minutes'],
    [35 * MIN + 40 * SEC, '35 minutes'],
    [45 * MIN, '45 minutes'],
    [45 * MIN + 40 * SEC, '45 minutes'],
    [46 * MIN, '46 minutes'],
    [59 * MIN, '59 minutes'],
    [1 * HOUR, 'About an hour'],
    [1 * HOUR + 29 * MIN, 'About an hour'],
    [1 * HOUR + 31 * MIN, '2 hours'],
    [1 * HOUR + 59 * MIN, '2 hours'],
    [3 * HOUR, '3 hours'],
    [3 * HOUR + 29 * MIN, '3 hours'],
    [3 * HOUR + 31 * MIN, '4 hours'],
    [3 * HOUR + 59 * MIN, '4 hours'],
    [3 * HOUR + 60 * MIN, '4 hours'],
    [24 * HOUR, '24 hours'],
    [1 * DAY + 12 * HOUR, '36 hours'],
    [2 * DAY, '2 days'],
    [7 * DAY, '7 days'],
    [13 * DAY + 5 * HOUR, '13 days'],
    [2 * WEEK, '2 weeks'],
    [2 * WEEK + 4 * DAY, '2 weeks'],
    [3 * WEEK, '3 weeks'],
    [4 * WEEK, '4 weeks'],
    [4 * WEEK + 3 * DAY, '4 weeks'],
    [1 * MONTH, '4 weeks'],
    [1 * MONTH + 2 * WEEK, '6 weeks'],
    [2 * MONTH, '2 months'],
    [2 * MONTH + 2 * WEEK, '2 months'],
    [3 * MONTH, '3 months'],
    [3 * MONTH + 1 * WEEK, '3 months'],
    [5 * MONTH + 2 * WEEK, '5 months'],
    [13 * MONTH, '13 months'],
    [23 * MONTH, '23 months'],
    [24 * MONTH, '24 months'],
    [24 * MONTH + 2 * WEEK, '2 years'],
    [3 * YEAR + 2 * MONTH, '3 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `humanDuration(${ms})`);
  assert.equal(humanDuration(-5 * SEC), 'Less than a second');
});

test('timeAgo / createdSince', () => {
  const now = Date.UTC(2026, 10, 28, 6, 12, 12, 900);
  assert.equal(timeAgo(now - 3 * SEC, now), '3 seconds ago');
  assert.equal(timeAgo(new Date(now - 90 * SEC), new Date(now)), 'About a minute ago');
  assert.equal(timeAgo(now, now), 'Less than a second ago');
  // whole-second API timestamps: the 0.9 s of "now" counts
  assert.equal(createdSince(Math.floor(now / 1000), now), 'Less than a second ago');
  assert.equal(createdSince(Math.floor(now / 1000) - 1, now), '1 second ago');
});

test('humanSize / humanSizeWithPrecision / bytesSize: go-units tests', () => {
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(1024), '1.024kB');
  assert.equal(humanSize(1000000), '1MB');
  assert.equal(humanSize(1048576), '1.049MB');
  assert.equal(humanSize(2 * 1000 * 1000), '2MB');
  assert.equal(humanSize(3.42 * 1e9), '3.42GB');
  assert.equal(humanSize(5.372 * 1e12), '5.372TB');
  assert.equal(humanSize(2.22 * 1e15), '2.22PB');
  assert.equal(humanSize(10000000000000 * 1e15), '1e+04YB');

  assert.equal(bytesSize(1024), '1KiB');
  assert.equal(bytesSize(1024 * 1024), '1MiB');
  assert.equal(bytesSize(2 * 1024 * 1024), '2MiB');
  assert.equal(bytesSize(3.42 * 1024 ** 3), '3.42GiB');
  assert.equal(bytesSize(5.372 * 1024 ** 4), '5.372TiB');
  assert.equal(bytesSize(2.22 * 1024 ** 5), '2.22PiB');
  assert.equal(bytesSize(1024 ** 5 * 1024 ** 5), '1.049e+06YiB');
});

test('humanSizeWithPrecision(3): values seen in docker output', () => {
  assert.equal(humanSizeWithPrecision(1982436, 3), '1.98MB');
  assert.equal(humanSizeWithPrecision(1982515, 3), '1.98MB');
  assert.equal(humanSizeWithPrecision(0, 3), '0B');
  assert.equal(humanSizeWithPrecision(6, 3), '6B');
  assert.equal(humanSizeWithPrecision(73, 3), '73B');
  assert.equal(humanSizeWithPrecision(1000, 3), '1kB');
  assert.equal(humanSizeWithPrecision(1500, 3), '1.5kB');
  assert.equal(humanSizeWithPrecision(5120, 3), '5.12kB');
  assert.equal(humanSizeWithPrecision(999600, 3), '1e+03kB'); // Go %g switches to exponent form
  assert.equal(humanSizeWithPrecision(2125, 3), '2.12kB'); // exact tie rounds to even
  assert.equal(humanSizeWithPrecision(2135, 3), '2.13kB');
  assert.equal(humanSizeWithPrecision(224e6, 3), '224MB');
  assert.equal(humanSize(2982000), '2.982MB');
  assert.equal(humanSize(999600), '999.6kB');
});

test('parseSize (RAMInBytes): go-units tests', () => {
  const KiB = 1024;
  const ok: Array<[string, number]> = [
    ['32', 32],
    ['32b', 32],
    ['32B', 32],
    ['32k', 32 * KiB],
    ['32K', 32 * KiB],
    ['32kb', 32 * KiB],
    ['32Kb', 32 * KiB],
    ['32Kib', 32 * KiB],
    ['32KIB', 32 * KiB],
    ['32Mb', 32 * KiB ** 2],
    ['32Gb', 32 * KiB ** 3],
    ['32Tb', 32 * KiB ** 4],
    ['32Pb', 32 * KiB ** 5],
    ['32PB', 32 * KiB ** 5],
    ['32P', 32 * KiB ** 5],
    ['32.3', 32],
    ['32.3 mb', Math.trunc(32.3 * KiB ** 2)],
    ['0.3MB', Math.trunc(0.3 * KiB ** 2)],
    ['512m', 512 * KiB ** 2],
  ];
  for (const [s, want] of ok) assert.equal(parseSize(s), want, `parseSize(${JSON.stringify(s)})`);
  for (const bad of ['', 'hello', '-32', ' 32 ', '32m b', '32bm', 'abc', '1x', '32kbx']) {
    assert.throws(() => parseSize(bad), (e: unknown) => isStrataError(e, 'invalid_argument'), `parseSize(${JSON.stringify(bad)})`);
  }
  assert.throws(() => parseSize('abc'), { message: "invalid size: 'abc'" });
  assert.throws(() => parseSize('-32'), { message: "invalid size: '-32'" });
  assert.throws(() => parseSize('10x'), { message: "invalid suffix: 'x'" });
});

test('fromHumanSize: decimal units', () => {
  assert.equal(fromHumanSize('32'), 32);
  assert.equal(fromHumanSize('32kb'), 32000);
  assert.equal(fromHumanSize('32Mb'), 32e6);
  assert.equal(fromHumanSize('32.5kB'), 32500);
  assert.equal(fromHumanSize('32.5 kB'), 32500);
  assert.equal(fromHumanSize('32.5 B'), 32);
  assert.equal(fromHumanSize('0.3 K'), 300);
  assert.throws(() => fromHumanSize('.3kB.'));
});

test('parseDuration: Go time.ParseDuration', () => {
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('300ms'), 300);
  assert.equal(parseDuration('-2s'), -2000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('1us'), 0.001);
  assert.equal(parseDuration('1µs'), 0.001);
  assert.equal(parseDuration('.5s'), 500);
  assert.throws(() => parseDuration('10'), { message: 'time: missing unit in duration "10"' });
  assert.throws(() => parseDuration('abc'), { message: 'time: invalid duration "abc"' });
  assert.throws(() => parseDuration('10x'), { message: 'time: unknown unit "x" in duration "10x"' });
  assert.throws(() => parseDuration(''), { message: 'time: invalid duration ""' });
});

test('formatGoDuration: Go Duration.String', () => {
  assert.equal(formatGoDuration(0), '0s');
  assert.equal(formatGoDuration(1), '1ns');
  assert.equal(formatGoDuration(1100), '1.1µs');
  assert.equal(formatGoDuration(2_200_000), '2.2ms');
  assert.equal(formatGoDuration(1_500_000_000), '1.5s');
  assert.equal(formatGoDuration(60e9), '1m0s');
  assert.equal(formatGoDuration(3_723_000_000_000n), '1h2m3s');
  assert.equal(formatGoDuration(-5e9), '-5s');
});
