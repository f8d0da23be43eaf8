/**
 * scripts/make-base-images.sh, tarball half (the import half is tested where `strata import`
 * lives). busybox is built from the installed busybox-static; nginx (debootstrap from the
 * Debian mirror, a few minutes) only with STRATA_TEST_DEBOOTSTRAP=1 or when STRATA_CACHE
 * already holds its tarball.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = path.join(repo, 'scripts', 'make-base-images.sh');

function runScript(cache: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [script, ...args], { env: { ...process.env, STRATA_CACHE: cache }, encoding: 'utf8', timeout: 20 * 60_000 });
  return { status: r.status, stderr: r.stderr };
}

/** `tar -tv` lines as [mode, owner, size, date time, name(+link)]. */
function listing(tarball: string): string[] {
  const r = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

test('busybox.tar: contents, modes, owners, fixed mtimes; reproducible; cached unless --force', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-base-'));
  try {
    const r1 = runScript(cache, '--tar-only', '--only', 'busybox');
    assert.equal(r1.status, 0, r1.stderr);
    const tarball = path.join(cache, 'base', 'busybox.tar');
    const lines = listing(tarball);
    const byName = new Map(lines.map((l) => {
      const f = l.split(/\s+/);
      return [f.slice(5).join(' ').replace(/ -> .*$/, ''), l] as const;
    }));
    const entry = (n: string) => { const l = byName.get(n); assert.ok(l, `missing ${n}`); return l!; };
    assert.match(entry('bin/busybox'), /^-rwxr-xr-x 0\/0 /);
    assert.match(entry('bin/sh'), /^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/);
    assert.match(entry('bin/httpd'), / bin\/httpd -> busybox$/);
    assert.match(entry('tmp/'), /^drwxrwxrwt 0\/0 /);
    assert.match(entry('root/'), /^drwx------ 0\/0 /);
    for (const d of ['etc/', 'var/', 'www/', 'dev/', 'proc/', 'sys/', 'home/', 'usr/']) entry(d);
    assert.match(entry('www/index.html'), /^-rw-r--r-- 0\/0 /);
    // Every applet has its link, and every entry is 0:0 with the fixed mtime.
    const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.trim().split('\n').filter((a) => a !== 'busybox');
    for (const a of applets) entry(`bin/${a}`);
    for (const l of lines) {
      assert.match(l, /^\S+ 0\/0 +\d+ 2023-06-10 00:00:00 /, l);
    }
    assert.ok(!lines.some((l) => / \.\/?$/.test(l)), 'no ./ root entry');
    const extract = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-base-x-'));
    try {
      assert.equal(spawnSync('tar', ['-xf', tarball, '-C', extract]).status, 0);
      assert.equal(fs.readFileSync(path.join(extract, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
      assert.equal(fs.readFileSync(path.join(extract, 'etc/group'), 'utf8'), 'root:x:0:\nnobody:x:65534:\n');
      assert.match(fs.readFileSync(path.join(extract, 'www/index.html'), 'utf8'), /It works!/);
      const v = spawnSync(path.join(extract, 'bin/busybox'), ['true']);
      assert.equal(v.status, 0, 'the extracted busybox runs');
    } finally {
      fs.rmSync(extract, { recursive: true, force: true });
    }

    // Cached: not rebuilt. --force: rebuilt, byte for byte the same.
    const first = sha256(tarball);
    const mtime = fs.statSync(tarball).mtimeMs;
    const r2 = runScript(cache, '--tar-only', '--only', 'busybox');
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stderr, /busybox\.tar cached/);
    assert.equal(fs.statSync(tarball).mtimeMs, mtime);
    const r3 = runScript(cache, '--tar-only', '--only', 'busybox', '--force');
    assert.equal(r3.status, 0, r3.stderr);
    assert.equal(sha256(tarball), first, 'same bytes on rebuild');
    // No scratch directories left in the cache.
    assert.deepEqual(fs.readdirSync(path.join(cache, 'base')), ['busybox.tar']);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('import half: without bin/strata it says so and fails; with a stub it imports once', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-base-'));
  try {
    const missing = spawnSync('bash', [script, '--only', 'busybox'], { env: { ...process.env, STRATA_CACHE: cache, STRATA_BIN: '/nonexistent/strata' }, encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /not found \(build Strata first, or use --tar-only\)/);
    // A stub CLI records its calls and "has" the image after the first import.
    const stub = path.join(cache, 'strata-stub');
    const calls = path.join(cache, 'calls');
    fs.writeFileSync(stub, `#!/bin/sh\nprintf '%s|' "$@" >> ${calls}; echo >> ${calls}\nif [ "$1" = images ] && grep -q '^import|' ${calls}; then echo 0123456789ab; fi\n`, { mode: 0o755 });
    const env = { ...process.env, STRATA_CACHE: cache, STRATA_BIN: stub };
    assert.equal(spawnSync('bash', [script, '--only', 'busybox'], { env }).status, 0);
    assert.equal(spawnSync('bash', [script, '--only', 'busybox'], { env }).status, 0);
    const log = fs.readFileSync(calls, 'utf8').trim().split('\n');
    assert.deepEqual(log, [
      'images|-q|busybox:latest|',
      `import|-c|CMD ["httpd","-f","-p","80","-h","/www"]|-c|EXPOSE 80|${path.join(cache, 'base', 'busybox.tar')}|busybox:latest|`,
      'images|-q|busybox:latest|',
    ]);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

const cachedNginx = path.join(process.env.STRATA_CACHE ?? '/var/cache/strata', 'base', 'nginx.tar');
const nginxWanted = process.env.STRATA_TEST_DEBOOTSTRAP === '1' || fs.existsSync(cachedNginx);

test('nginx.tar: debootstrapped, trimmed, logs to stdout/stderr', { skip: !nginxWanted && 'set STRATA_TEST_DEBOOTSTRAP=1 (downloads from the Debian mirror)' }, () => {
  if (!fs.existsSync(cachedNginx)) {
    const r = runScript(process.env.STRATA_CACHE ?? '/var/cache/strata', '--tar-only', '--only', 'nginx');
    assert.equal(r.status, 0, r.stderr);
  }
  const lines = listing(cachedNginx);
  const names = new Set(lines.map((l) => l.split(/\s+/).slice(5).join(' ')));
  assert.ok(names.has('usr/sbin/nginx'));
  assert.ok(names.has('var/log/nginx/access.log -> /dev/stdout'));
  assert.ok(names.has('var/log/nginx/error.log -> /dev/stderr'));
  assert.ok(names.has('var/www/html/index.html'));
  assert.ok(names.has('etc/nginx/nginx.conf'));
  assert.ok(![...names].some((n) => /^usr\/share\/(doc|man)\/./.test(n)), 'docs and man pages trimmed');
  assert.ok(![...names].some((n) => /^var\/lib\/apt\/lists\/[^p]/.test(n)), 'apt lists trimmed');
  assert.ok(!names.has('etc/resolv.conf'));
});
