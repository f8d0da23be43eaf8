/** Set-ups the build tests share. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerRoot, strataOk, tempDir } from '../helpers.js';

type Ctx = { after(fn: () => void): void };

/** A build context directory with these files (paths may have directories). */
export function ctx(t: Ctx, files: Record<string, string>): string {
  const dir = tempDir(t, 'strata-ctx-');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

/**
 * Two fresh roots holding the very same busybox image (an import's history carries the time
 * of the import, so the second root loads what the first saved).
 */
export function twoRootsWithOneBusybox(t: Ctx): [string, string] {
  const r1 = containerRoot(t);
  const r2 = containerRoot(t);
  const saved = path.join(tempDir(t), 'busybox.tar');
  strataOk(r1, ['save', '-o', saved, 'busybox']);
  strataOk(r2, ['rmi', 'busybox']);
  strataOk(r2, ['load', '-i', saved]);
  return [r1, r2];
}
