import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, execFileSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as net from 'node:net';
import { runtimeDirFor } from '../src/runtime/runc.js';

export const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The CLI as users run it: the bundle when built, else the module tree. */
export const CLI = fs.existsSync(path.join(PROJECT, 'dist', 'strata.mjs')) ? path.join(PROJECT, 'dist', 'strata.mjs') : path.join(PROJECT, 'dist', 'src', 'bin', 'strata.js');

interface Ctx { after(fn: () => void | Promise<void>): void; }

/** A fresh STRATA_ROOT removed after the test (or suite). */
export function tempRoot(t: Ctx, prefix = 'strata-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // a root that ran a container (`run --rm`) also has its runtime dir under /run
  const run = runtimeDirFor(dir);
  t.after(() => { fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(run, { recursive: true, force: true }); });
  return dir;
}

export function tempDir(t: Ctx, prefix = 'strata-tmp-'): string {
  return tempRoot(t, prefix);
}

export interface RunResult { code: number; stdout: string; stderr: string; }

/** Run the real CLI in a child process. */
export function strata(root: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): RunResult {
  const env: Record<string, string> = { ...process.env as Record<string, string>, STRATA_ROOT: root, ...opts.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [CLI, ...args], {
    env, input: opts.input, cwd: opts.cwd ?? PROJECT, maxBuffer: 1 << 30,
  });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Like strata() but fails the test on a non-zero exit. */
export function strataOk(root: string, args: string[], opts: Parameters<typeof strata>[2] = {}): string {
  const r = strata(root, args, opts);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const CACHE = path.join(os.tmpdir(), 'strata-test-cache');

/**
 * A busybox rootfs tarball from Debian's busybox-static: /bin/busybox and applet links,
 * /etc/passwd, /etc/group, /www/index.html, /tmp, /root. Fixed mtimes and owners, so the
 * tarball (and the image ID imported from it) is the same on every run.
 */
export function busyboxTar(): string {
  const tar = path.join(CACHE, 'busybox-rootfs.tar');
  if (fs.existsSync(tar)) return tar;
  fs.mkdirSync(CACHE, { recursive: true });
  const dir = fs.mkdtempSync(path.join(CACHE, 'bb-'));
  try {
    buildBusyboxRootfs(dir);
    const tmp = `${tar}.${process.pid}.tmp`;
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '--sort=name', '-C', dir, '-cf', tmp, '.']);
    fs.renameSync(tmp, tar);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return tar;
}

export function buildBusyboxRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'www', 'tmp', 'root', 'var', 'dev', 'proc', 'sys', 'usr/bin', 'sbin']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list']).toString().split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) {
    try { fs.symlinkSync('busybox', path.join(dir, 'bin', a)); } catch { /* duplicate */ }
  }
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'www/index.html'), 'hello from strata\n');
}

export function sh(cmd: string): string {
  return execFileSync('sh', ['-c', cmd]).toString();
}

/**
 * A STRATA_ROOT with the busybox image imported; on cleanup `system reset` releases every
 * container, mount, netns, bridge and rule the root made, then the directory goes.
 */
export function containerRoot(t: Ctx, name = 'busybox'): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ct-'));
  t.after(() => {
    strata(root, ['system', 'reset', '--force']);
    fs.rmSync(root, { recursive: true, force: true });
  });
  strataOk(root, ['import', '-c', 'CMD ["httpd","-f","-p","80","-h","/www"]', '-c', 'EXPOSE 80', busyboxTar(), name]);
  return root;
}

/** Mounts under a path, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir));
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
