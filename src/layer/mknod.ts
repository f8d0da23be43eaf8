/**
 * Device nodes and FIFOs. Node 20 has no mknod(2); until the native addon
 * exists this runs coreutils' mknod by absolute path (never through PATH, and
 * never a binary from an image). Device nodes are rare in layers; whiteouts,
 * the common case, are hard-linked to one template node by the unpacker.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { StrataError } from '../base/errors.js';

export type NodeKind = 'char' | 'block' | 'fifo';

/** Create a node at `path` (an ASCII path that does not exist yet) with permission bits `mode`. */
export type MknodFn = (path: string, kind: NodeKind, mode: number, major: number, minor: number) => void;

let mknodBin: string | undefined;

function findMknod(): string {
  if (mknodBin) return mknodBin;
  for (const p of ['/usr/bin/mknod', '/bin/mknod']) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      mknodBin = p;
      return p;
    } catch { /* try the next */ }
  }
  throw new StrataError('unavailable', 'cannot create device nodes: /usr/bin/mknod (coreutils) is missing');
}

export const mknodCli: MknodFn = (path, kind, mode, major, minor) => {
  const args = ['-m', (mode & 0o7777).toString(8), '--', path, kind === 'fifo' ? 'p' : kind === 'char' ? 'c' : 'b'];
  if (kind !== 'fifo') args.push(String(major), String(minor));
  try {
    execFileSync(findMknod(), args, { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new StrataError('internal', `mknod ${kind} ${major},${minor} failed: ${stderr || (e as Error).message}`, { cause: e });
  }
};
