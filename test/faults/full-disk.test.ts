/**
 * A full disk: the store on a small loop-mounted ext4 filled to a few MB free.
 * import, load, pull (from a local docker-registry), commit and cp into a
 * container each fail with one clear `no space left on device` line and leave
 * nothing half-made (system check clean, nothing listed, tmp/ empty); once
 * space is freed the same command succeeds. Through the Engine API a full disk
 * reads the same (POST /images/create). A chatty container with --log-opt
 * max-size/max-file cannot fill the disk.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { execFileSync } from 'node:child_process';
import { before, after, describe, test } from 'node:test';
import { busyboxTar, strata, strataOk, tempRoot, type RunResult } from '../helpers.js';
import { serve } from '../api/helpers.js';
import { clientEnv, registryAvailable, startRegistry, strataAsync, strataAsyncOk } from '../registry/helpers.js';
import { health } from './helpers.js';

/** A POST over the API's unix socket: status and body. */
function post(sock: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: p }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const NGINX = '/var/cache/strata/base/nginx.tar';
const MB = 1024 * 1024;

describe('full disk (loop-mounted ext4)', { skip: fs.existsSync(NGINX) ? false : `${NGINX} is missing (scripts/make-base-images.sh)` }, () => {
  let work: string;
  let mnt: string;
  let root: string;
  const cases: string[] = [];

  const avail = (): number => { const s = fs.statfsSync(mnt); return s.bavail * s.bsize; };
  const filler = (): string => path.join(mnt, 'filler');
  /** Leave about `free` bytes. */
  const fill = (free = 3 * MB): void => {
    fs.rmSync(filler(), { force: true });
    const size = avail() - free;
    if (size > 0) execFileSync('fallocate', ['-l', String(size), filler()]);
  };
  const unfill = (): void => fs.rmSync(filler(), { force: true });

  function expectFull(r: RunResult, what: string): void {
    assert.notEqual(r.code, 0, `${what} succeeded on a full disk`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, got: ${r.stderr}`);
    assert.match(lines[0]!, /^Error: .*: no space left on device$/, what);
  }

  function expectClean(what: string): void {
    const h = health(root);
    assert.deepEqual(h.problems, [], what);
    assert.equal(h.garbage, 0, `${what}: nothing left to reclaim`);
    assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), [], `${what}: tmp/ empty`);
  }

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fulldisk-'));
    const img = path.join(work, 'disk.img');
    execFileSync('truncate', ['-s', '320M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', img]);
    mnt = path.join(work, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    root = path.join(mnt, 'root');
    strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  });

  after(() => {
    if (root) strata(root, ['system', 'reset', '--force']);
    if (mnt) { try { execFileSync('umount', [mnt]); } catch { execFileSync('umount', ['-l', mnt]); } }
    if (work) fs.rmSync(work, { recursive: true, force: true });
    console.log(`full-disk cases: ${cases.length} (${cases.join(', ')})`);
  });

  test('import and load', () => {
    fill();
    expectFull(strata(root, ['import', NGINX, 'ng:1']), 'import');
    assert.doesNotMatch(strataOk(root, ['images']), /ng/);
    expectClean('after the failed import');
    unfill();
    strataOk(root, ['import', NGINX, 'ng:1']);
    expectClean('after the import');
    cases.push('import');

    const archive = path.join(work, 'ng.tar');
    strataOk(root, ['save', '-o', archive, 'ng:1']);
    strataOk(root, ['rmi', 'ng:1']);
    fill();
    expectFull(strata(root, ['load', '-i', archive]), 'load');
    assert.doesNotMatch(strataOk(root, ['images']), /ng/);
    expectClean('after the failed load');
    unfill();
    assert.match(strataOk(root, ['load', '-i', archive]), /Loaded image: ng:1/);
    expectClean('after the load');
    strataOk(root, ['rmi', 'ng:1']);
    cases.push('load');
  });

  test('pull from a registry, by the CLI and through the API', { skip: registryAvailable() ? false : 'docker-registry is not installed' }, async (t) => {
    const reg = await startRegistry();
    t.after(() => reg.stop());
    const env = clientEnv(work);
    const ref = `${reg.addr}/big/nginx:1`;
    // an image bigger than the free space, pushed from a root on the ordinary disk
    const seed = tempRoot(t, 'strata-fulldisk-seed-');
    strataOk(seed, ['import', NGINX, ref], { env });
    await strataAsyncOk(seed, ['push', '-q', ref], { env });
    const listed = (): boolean => strataOk(root, ['images', '--format', '{{.Repository}}']).includes('big/nginx');

    fill();
    // the CLI (async: the registry runs beside this process, but nothing here serves it)
    expectFull(await strataAsync(root, ['pull', '-q', ref], { env }), 'pull');
    assert.ok(!listed(), 'nothing listed after the failed pull');
    expectClean('after the failed pull');

    // the API: the same words, Docker's, not Node's
    const s = await serve(root, { importBusybox: false });
    t.after(() => s.stop());
    const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
    const res = await post(s.sock, `/images/create?fromImage=${encodeURIComponent(repo)}&tag=${tag}`);
    let message: string | undefined;
    if (res.status === 200) {
      const last = res.body.trim().split('\n').map((l) => JSON.parse(l) as { errorDetail?: { message: string } }).pop();
      message = last?.errorDetail?.message;
    } else message = (JSON.parse(res.body) as { message: string }).message;
    assert.match(message ?? res.body, /^\w+ \/\S+: no space left on device$/, `POST /images/create on a full disk: ${res.status} ${res.body}`);
    await s.stop();
    assert.ok(!listed(), 'nothing listed after the failed API pull');
    expectClean('after the failed API pull');

    unfill();
    await strataAsyncOk(root, ['pull', '-q', ref], { env });
    assert.ok(listed());
    expectClean('after the pull');
    strataOk(root, ['rmi', ref]);
    cases.push('pull', 'pull through the API');
  });

  test('commit and cp into a container', () => {
    strataOk(root, ['run', '-d', '--name', 'box', '--network', 'none', 'busybox', 'sleep', '600']);
    strataOk(root, ['exec', 'box', 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=20 2>/dev/null']);
    fill();
    expectFull(strata(root, ['commit', 'box', 'snap:1']), 'commit');
    assert.doesNotMatch(strataOk(root, ['images']), /snap/);
    unfill();
    assert.equal(strataOk(root, ['inspect', '--format', '{{.State.Status}}', 'box']).trim(), 'running', 'not left frozen');
    expectClean('after the failed commit');
    strataOk(root, ['commit', 'box', 'snap:1']);
    expectClean('after the commit');
    cases.push('commit');

    const big = path.join(work, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(16 * MB, 7));
    fill();
    expectFull(strata(root, ['cp', big, 'box:/big.bin']), 'cp');
    unfill();
    expectClean('after the failed cp');
    strataOk(root, ['cp', big, 'box:/big.bin']);
    assert.match(strataOk(root, ['exec', 'box', 'sh', '-c', 'wc -c < /big.bin']), /^16777216\s*$/);
    expectClean('after the cp');
    strataOk(root, ['rm', '-f', 'box']);
    strataOk(root, ['rmi', 'snap:1']);
    cases.push('cp into a container');
  });

  test('a chatty container with log rotation cannot fill the disk', () => {
    fill(8 * MB);
    const before = avail();
    // ~12 MB of output against 8 MB free
    strataOk(root, ['run', '--name', 'chatty', '--network', 'none', '--log-opt', 'max-size=256k', '--log-opt', 'max-file=2', 'busybox',
      'sh', '-c', 'i=0; while [ $i -lt 120000 ]; do echo "line $i of a chatty container, padded to about one hundred bytes........................"; i=$((i+1)); done']);
    const id = strataOk(root, ['inspect', '--format', '{{.Id}}', 'chatty']).trim();
    const dir = path.join(root, 'containers', id);
    const logs = fs.readdirSync(dir).filter((f) => f.includes('-json.log'));
    const total = logs.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(logs.length <= 2 && total < 2 * 256 * 1000 + 4096, `${logs.join(' ')}: ${total} bytes`);
    assert.ok(avail() > before - 1 * MB, 'the disk did not fill');
    assert.match(strataOk(root, ['logs', '--tail', '1', 'chatty']), /^line 119999 /);
    strataOk(root, ['rm', 'chatty']);
    unfill();
    expectClean('after the chatty container');
    cases.push('container logs');
  });
});
