import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

/** A busybox rootfs tarball from Debian's busybox-static (as the tests and base-image script make it). */
export function makeBusyboxTar(dir: string): string {
  const rootfs = path.join(dir, 'bb-rootfs');
  const tar = path.join(dir, 'busybox.tar');
  if (fs.existsSync(tar)) return tar;
  for (const d of ['bin', 'etc', 'www', 'tmp', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of execFileSync('/bin/busybox', ['--list']).toString().split('\n').filter((x) => x && x !== 'busybox')) {
    try { fs.symlinkSync('busybox', path.join(rootfs, 'bin', a)); } catch { /* dup */ }
  }
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(rootfs, 'www/index.html'), 'hello from strata\n');
  execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tar, '.']);
  fs.rmSync(rootfs, { recursive: true, force: true });
  return tar;
}
