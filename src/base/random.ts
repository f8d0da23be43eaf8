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
