import * as fs from 'node:fs';

/**
 * Random bytes from the kernel's generator. node:crypto's randomBytes would load crypto, ~5 ms
 * of an `exec` that needs nothing else from it.
 */
export function urandom(n: number): Buffer {
  const b = Buffer.alloc(n);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    for (let got = 0; got < n;) got += fs.readSync(fd, b, got, n - got, null);
  } finally { fs.closeSync(fd); }
  return b;
}

/**
 * A uniform integer in [0, max) (max ≤ 2^32), from urandom without modulo bias: what
 * node:crypto's randomInt gives, without loading crypto.
 */
export function randomBelow(max: number): number {
  if (!Number.isInteger(max) || max < 1 || max > 2 ** 32) throw new RangeError(`randomBelow: ${max}`);
  const limit = 2 ** 32 - (2 ** 32 % max);
  for (;;) {
    const v = urandom(4).readUInt32LE(0);
    if (v < limit) return v % max;
  }
}
