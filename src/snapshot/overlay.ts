/**
 * Overlay mounts for containers.
 *
 * A container's root filesystem is an overlay of the image's unpacked layer
 * directories (read-only "lower" dirs) plus a private upper dir. The kernel
 * copies the whole option string into a single page, so with long absolute
 * paths only a few dozen layers fit. Like Docker's overlay2 we give each lower
 * dir a short symlink under `linkDir` (`l/<10 chars>`) and mount from the
 * parent of `linkDir` with relative `lowerdir=l/A:l/B:...` entries: 150
 * layers take ~2 KiB of options.
 *
 * Mounting goes through the kernel door (`Sys.mount`, util-linux mount(8) in
 * the real one: Node has no mount(2), one mount per container start costs a
 * few ms, and the tool's errors are readable). Every function takes the `Sys`
 * to use, `linuxSys` by default.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError, errnoCode } from '../base/errors.js';
import { mkdirp } from '../base/fs.js';
import { sha256Hex } from '../base/sha256.js';
import { linuxSys, type MountInfo, type Sys } from '../sys/index.js';

interface OverlayMountOptions {
  /** Layer directories, top-most first (the order of the overlay `lowerdir` option). */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  /** Mount point (created if missing). */
  target: string;
  /** Directory holding the short links (`$STRATA_ROOT/l`). */
  linkDir: string;
  /** Mount read-only (no upper dir is used then). */
  readonly?: boolean;
  /** Extra overlay options (e.g. `metacopy=off`). */
  extraOptions?: string[];
  /** The kernel door (default: linuxSys). */
  sys?: Sys;
}

/** The kernel copies mount data into one page. */
export const MOUNT_DATA_LIMIT = 4096;

const SHORT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A stable 10-character link name for a lower dir (50 bits of its path's sha256). */
export function shortLinkName(lowerDir: string): string {
  // in JavaScript: node:crypto costs ~6 ms to load, on the way to every container's mount
  const h = Buffer.from(sha256Hex(path.resolve(lowerDir)), 'hex');
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of h) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 10) {
      out += SHORT_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 10) break;
  }
  return out;
}

/**
 * Ensure `linkDir/<short>` is a symlink to `lowerDir` (relative, so the store can
 * move) and return the short name. Safe to call concurrently: a link made by
 * someone else with the same target is accepted.
 */
function ensureShortLink(linkDir: string, lowerDir: string): string {
  const name = shortLinkName(lowerDir);
  const link = path.join(linkDir, name);
  const target = path.relative(linkDir, path.resolve(lowerDir)) || '.';
  try {
    if (fs.readlinkSync(link) === target) return name;
    fs.unlinkSync(link); // stale (points elsewhere): replace
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT' && errnoCode(e) !== 'EINVAL') throw e;
    if (errnoCode(e) === 'EINVAL') fs.rmSync(link, { recursive: true, force: true });
  }
  try {
    fs.symlinkSync(target, link);
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST' || fs.readlinkSync(link) !== target) throw e;
  }
  return name;
}

/** Remove the short link of a layer dir (when the layer itself is deleted). */
export function removeShortLink(linkDir: string, lowerDir: string): void {
  fs.rmSync(path.join(linkDir, shortLinkName(lowerDir)), { force: true });
}

let indexOffSupported: boolean | undefined;
/** `index=off` is known to kernels that have the overlay `index` feature (4.13+). */
function overlaySupportsIndexOff(): boolean {
  if (indexOffSupported === undefined) {
    indexOffSupported = fs.existsSync('/sys/module/overlay/parameters/index');
  }
  return indexOffSupported;
}

/** Build the overlay option string (relative to `path.dirname(linkDir)`). */
export function overlayMountData(opts: OverlayMountOptions): string {
  const linkBase = path.basename(opts.linkDir);
  mkdirp(opts.linkDir, 0o700);
  const lowers: string[] = [];
  if (opts.lowerDirs.length === 0) {
    // overlay needs at least one lower dir: an empty one stands in for `scratch`.
    const empty = path.join(opts.linkDir, '_empty');
    mkdirp(empty);
    lowers.push(`${linkBase}/_empty`);
  }
  for (const dir of opts.lowerDirs) lowers.push(`${linkBase}/${ensureShortLink(opts.linkDir, dir)}`);
  const parts = [`lowerdir=${lowers.join(':')}`];
  if (!opts.readonly) {
    parts.push(`upperdir=${path.resolve(opts.upperDir)}`, `workdir=${path.resolve(opts.workDir)}`);
  }
  if (overlaySupportsIndexOff()) parts.push('index=off');
  parts.push(...(opts.extraOptions ?? []));
  return parts.join(',');
}

/** Mount an overlay at `opts.target`. Lower dirs are given top-most first. */
export async function mountOverlay(opts: OverlayMountOptions): Promise<void> {
  for (const d of opts.lowerDirs) {
    if (!fs.statSync(d, { throwIfNoEntry: false })?.isDirectory()) {
      throw new StrataError('not_found', `overlay lower dir missing: ${d}`);
    }
  }
  mkdirp(opts.linkDir, 0o700);
  if (!opts.readonly) {
    mkdirp(opts.upperDir);
    mkdirp(opts.workDir, 0o700);
  }
  mkdirp(opts.target);
  const data = overlayMountData(opts);
  if (Buffer.byteLength(data) >= MOUNT_DATA_LIMIT) {
    throw new StrataError(
      'invalid_argument',
      `overlay mount options too long (${Buffer.byteLength(data)} bytes, ${opts.lowerDirs.length} layers)`,
    );
  }
  const sys = opts.sys ?? linuxSys;
  try {
    await sys.mount({
      type: 'overlay', source: 'overlay', data, readonly: opts.readonly, target: path.resolve(opts.target),
      cwd: path.dirname(path.resolve(opts.linkDir)),
    });
  } catch (e) {
    throw new StrataError('internal', `mount overlay on ${opts.target}: ${(e as Error).message}`, { cause: e });
  }
}

/** The mount table of this process (through `sys`). */
export function readMountInfo(sys: Sys = linuxSys): MountInfo[] {
  return sys.readMountInfo();
}

function canonical(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Whether something is mounted exactly at `target`. */
export function isMounted(target: string, sys: Sys = linuxSys): boolean {
  const t = canonical(target);
  // one statx where the kernel tells a mount's root (5.8+), instead of the whole mount table
  const root = sys.isMountRoot?.(t);
  if (root !== undefined) return root;
  return sys.readMountInfo().some((m) => m.mountPoint === t);
}

/**
 * Unmount `target`. A busy mount (a process still has its cwd inside) is
 * detached lazily instead, as containerd does with MNT_DETACH. Not mounted is
 * fine: that is the goal.
 */
export async function unmount(target: string, sys: Sys = linuxSys): Promise<void> {
  const t = canonical(target);
  while (isMounted(t, sys)) {
    try {
      await sys.unmount(t);
    } catch (e) {
      const msg = (e as Error).message;
      if (/not mounted|no mount point/i.test(msg)) return;
      if (/busy/i.test(msg)) {
        await sys.unmount(t, { detach: true });
      } else {
        throw new StrataError('internal', `unmount ${target}: ${msg}`, { cause: e });
      }
    }
  }
}
