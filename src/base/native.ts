/** The native helpers built by scripts/build-native.sh into native/build/ of this checkout. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const found = new Map<string, string | undefined>();

/**
 * native/build/NAME, found by walking up from this module (dist/strata.cjs,
 * dist/src/base/native.js or src/base/native.ts); undefined when it is not built.
 */
export function nativeBinary(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let hit: string | undefined;
  for (let i = 0; i < 5 && !hit; i++) {
    const candidate = path.join(dir, 'native', 'build', name);
    if (fs.existsSync(candidate)) hit = candidate;
    dir = path.dirname(dir);
  }
  found.set(name, hit);
  return hit;
}
