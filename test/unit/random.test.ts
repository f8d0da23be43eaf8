/**
 * Random choices made without node:crypto (base/random.ts): from the kernel's generator, no
 * modulo bias; and the container names drawn with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBelow, urandom } from '../../src/base/random.js';
import { generateName } from '../../src/engine/names.js';

test('randomBelow: every value of a small range comes, none outside it', () => {
  const seen = new Map<number, number>();
  for (let i = 0; i < 600; i++) {
    const v = randomBelow(3);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 3, `${v}`);
    seen.set(v, (seen.get(v) ?? 0) + 1);
  }
  // each value ~200 times; below 100 would mean a broken draw (p < 1e-15 for a fair one)
  for (const v of [0, 1, 2]) assert.ok((seen.get(v) ?? 0) > 100, `value ${v}: ${seen.get(v) ?? 0} of 600`);
  assert.equal(randomBelow(1), 0);
  const big = randomBelow(2 ** 32);
  assert.ok(big >= 0 && big < 2 ** 32);
});

test('randomBelow refuses a range it cannot draw from', () => {
  for (const bad of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) assert.throws(() => randomBelow(bad), RangeError, String(bad));
});

test('urandom gives the bytes asked for, different each time', () => {
  const a = urandom(32);
  const b = urandom(32);
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
});

test('generateName: adjective_surname as Docker draws them, a taken one drawn again', () => {
  const first = generateName(() => false);
  assert.match(first, /^[a-z]+_[a-z]+$/);
  const taken = new Set([first]);
  for (let i = 0; i < 50; i++) {
    const n = generateName((x) => taken.has(x));
    assert.ok(!taken.has(n), `${n} was taken`);
    taken.add(n);
  }
});
