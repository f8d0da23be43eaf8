/**
 * The explorer in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against a real store: busybox, a committed child image
 * (run + change + commit), a layer that deletes files, a 100,000-file layer,
 * and the nginx seed images when the base image cache has nginx. Asserts what a
 * person sees, and keeps a screenshot of each main view in test-output/explore/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CLI, PROJECT, containerRoot, freePort, strataOk, tempDir } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const NGINX_TAR = `${process.env.STRATA_CACHE ?? '/var/cache/strata'}/base/nginx.tar`;
const SHOTS = path.join(PROJECT, 'test-output', 'explore');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `strata explore` (or `serve --ui`) as a child; resolves with the URL it prints. */
function startServer(root: string, args: string[], from: 'stdout' | 'stderr' = 'stdout'): Promise<{ url: string; child: ChildProcess }> {
  const env: Record<string, string> = { ...process.env as Record<string, string>, STRATA_ROOT: root };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const stream = from === 'stdout' ? child.stdout! : child.stderr!;
    const timer = setTimeout(() => reject(new Error(`no URL from strata ${args.join(' ')}: ${buf}`)), 20000);
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(buf);
      if (m) { clearTimeout(timer); resolve({ url: m[1]!, child }); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`strata ${args.join(' ')} exited ${code}: ${buf}`)); });
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** A raw request with any Host header and method (fetch would not let us lie about Host). */
function raw(url: string, opts: { host?: string; method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: { Host: opts.host ?? u.host, ...opts.headers } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const rowOf = (page: Page, p: string) => page.locator(`li[role="treeitem"][data-path="${p}"]`).first();

test('explorer: images, layers, waste, compare and containers in a real browser', { skip: fs.existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: apt-get install chromium (scripts/setup.sh does)` }, async (t) => {
  const t0 = Date.now();
  const root = containerRoot(t);
  const run = (name: string, image: string, script: string): void => { strataOk(root, ['run', '--name', name, '--network', 'none', image, 'sh', '-c', script]); };
  // the seed story on busybox: a changed page committed as busybox:v2; the container stays (stopped)
  run('webserver', 'busybox', 'echo "<h1>seed</h1>" > /www/index.html');
  strataOk(root, ['commit', '-m', 'changed page', 'webserver', 'busybox:v2']);
  // a layer that writes 64 kB and a directory, and one that deletes them
  run('w1', 'busybox:v2', 'dd if=/dev/zero of=/big bs=1k count=64 2>/dev/null; mkdir -p /data; echo a > /data/a.txt; echo 7 > /var/app.pid');
  strataOk(root, ['commit', 'w1', 'wasteful:1']);
  run('w2', 'wasteful:1', 'rm /big; rm -rf /data');
  strataOk(root, ['commit', 'w2', 'wasteful:2']);
  // 100,000 files in one layer (100 directories of 1,000), imported from a tar
  const src = tempDir(t);
  for (let d = 0; d < 100; d++) {
    fs.mkdirSync(path.join(src, 'many', String(d)), { recursive: true });
    for (let f = 0; f < 1000; f++) fs.writeFileSync(path.join(src, 'many', String(d), String(f)), '');
  }
  execFileSync('tar', ['--numeric-owner', '-C', src, '-cf', path.join(src, 'many.tar'), 'many']);
  strataOk(root, ['import', path.join(src, 'many.tar'), 'many']);
  strataOk(root, ['rm', 'w1', 'w2']);
  t.diagnostic(`store with busybox, commits and the 100,000-file layer: ${Date.now() - t0} ms`);
  const nginx = fs.existsSync(NGINX_TAR);
  if (nginx) {
    strataOk(root, ['import', '-c', 'CMD ["nginx","-g","daemon off;"]', '-c', 'EXPOSE 80', NGINX_TAR, 'nginx']);
    run('nginxweb', 'nginx', 'echo "<h1>seed</h1>" > /var/www/html/index.html');
    strataOk(root, ['commit', '-m', 'changed page', 'nginxweb', 'nginx:v2']);
  }
  // a built image: its layers carry the Dockerfile lines that made them
  const bctx = tempDir(t);
  fs.writeFileSync(path.join(bctx, 'Dockerfile'), 'FROM busybox\nRUN dd if=/dev/zero of=/big bs=1k count=10\nCOPY hello.txt /hello.txt\nRUN rm /big\n');
  fs.writeFileSync(path.join(bctx, 'hello.txt'), 'hi\n');
  strataOk(root, ['build', '-t', 'built:1', bctx]);
  // a running container with a published port
  const port = await freePort();
  strataOk(root, ['run', '-d', '--name', 'web', '-p', `${port}:80`, 'busybox']);
  const wasted = JSON.parse(strataOk(root, ['image', 'analyze', '--format', 'json', 'wasteful:2'])).image.inefficientBytes as number;
  // /big and /data/a.txt written then deleted; /www/index.html (18 bytes) rewritten (14 bytes) by the first commit
  assert.equal(wasted, 65536 + 2 + 18 + 14);

  t.diagnostic(`store ready: ${Date.now() - t0} ms`);
  const { url, child } = await startServer(root, ['explore', 'wasteful:2']);
  t.after(() => stopServer(child));
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-chromium-'));
  let ctx: BrowserContext | undefined;
  // the browser first, then its profile (it writes there until it exits)
  t.after(async () => { await ctx?.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); });
  ctx = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await t.test('the page opens on the image named on the command line, with its layers and waste', async () => {
    await page.goto(url);
    await page.locator('#wasted b').waitFor();
    const layers = page.locator('.layers button');
    assert.equal(await layers.count(), 4);
    assert.match(await layers.nth(1).innerText(), /changed page/);
    assert.match(await layers.nth(2).innerText(), /dd if=\/dev\/zero of=\/big/);
    assert.match(await layers.nth(3).innerText(), /rm \/big; rm -rf \/data/);
    assert.equal(await layers.nth(3).getAttribute('aria-selected'), 'true');
    // the same figure `image analyze` prints
    assert.equal(await page.locator('#wasted b').innerText(), String(wasted));
    assert.match(await page.locator('.wasted-paths').innerText(), /\/big/);
    assert.match(await page.locator('#waste').innerText(), /layer #2: pid files and run state: 1 file, 2B \(\/var\/app\.pid\)/);
    // the top layer deleted /big: a whiteout, shown as removed
    const big = rowOf(page, '/big');
    await big.waitFor();
    assert.equal(await big.getAttribute('data-mark'), 'D');
    assert.match(await big.innerText(), /removed/);
    assert.match(await big.innerText(), /65\.5kB/);
    assert.equal(await rowOf(page, '/data').getAttribute('data-mark'), 'D');
    await shot(page, 'image');
    await page.locator('#waste').screenshot({ path: path.join(SHOTS, 'waste.png') });
  });

  await t.test('the keyboard: arrows pick a layer, walk the tree and open a directory', async () => {
    await page.locator('.layers button[aria-selected="true"]').focus();
    await page.keyboard.press('ArrowUp');
    await page.waitForFunction(() => document.querySelector('li[data-path="/big"]')?.getAttribute('data-mark') === 'A');
    assert.equal(await page.locator('.layers button').nth(2).getAttribute('aria-selected'), 'true');
    await page.locator('.tree .row').first().focus();
    // rows: big, data, var (sorted); go to data and open it
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-path')), '/data');
    await page.keyboard.press('ArrowRight');
    await rowOf(page, '/data/a.txt').waitFor();
    assert.equal(await rowOf(page, '/data').getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-path')), '/data/a.txt');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-path')), '/data');
    // the image up to this layer: the base's files unmarked, this layer's marked
    await page.getByLabel('Image up to this layer').check();
    await rowOf(page, '/www').waitFor();
    assert.equal(await rowOf(page, '/www').getAttribute('data-mark'), '');
    assert.equal(await rowOf(page, '/big').getAttribute('data-mark'), 'A');
    // filter by path and by kind
    await page.getByLabel('Filter by path').fill('big');
    assert.equal(await rowOf(page, '/www').isVisible(), false);
    assert.equal(await rowOf(page, '/big').isVisible(), true);
    await page.getByLabel('Filter by path').fill('');
    await page.getByLabel('added', { exact: true }).uncheck();
    assert.equal(await rowOf(page, '/big').isVisible(), false);
    await page.getByLabel('added', { exact: true }).check();
  });

  await t.test('a text file opens only on request, as text', async () => {
    await page.goto(`${url}#/image/${encodeURIComponent('busybox:v2')}?layer=1`);
    await page.reload();
    await rowOf(page, '/www').waitFor();
    await rowOf(page, '/www').locator('.row').first().click();
    const index = rowOf(page, '/www/index.html');
    await index.waitFor();
    assert.equal(await index.getAttribute('data-mark'), 'C');
    await index.getByRole('button', { name: 'view /www/index.html' }).click();
    await page.waitForFunction(() => document.getElementById('viewer-text')?.textContent === '<h1>seed</h1>\n');
    assert.equal(await page.locator('#viewer h1').count(), 0, 'shown as text, not markup');
    await page.locator('#viewer-close').click();
  });

  await t.test('a built image lists the Dockerfile line of each layer', async () => {
    await page.goto(`${url}#/image/${encodeURIComponent('built:1')}`);
    // a change of hash only: the previous image's view stays until this one is drawn
    await page.locator('main h2', { hasText: 'built:1' }).waitFor();
    await page.locator('#wasted b').waitFor();
    const layers = page.locator('.layers button');
    assert.equal(await layers.count(), 4);
    assert.equal(await layers.nth(1).locator('.cmd').innerText(), 'RUN dd if=/dev/zero of=/big bs=1k count=10');
    assert.equal(await layers.nth(2).locator('.cmd').innerText(), 'COPY hello.txt /hello.txt');
    assert.equal(await layers.nth(3).locator('.cmd').innerText(), 'RUN rm /big');
    assert.equal(await page.locator('#wasted b').innerText(), '10240');
  });

  await t.test('images: sizes, shared layers, and what each image sits on', async () => {
    await page.goto(`${url}#/images`);
    await page.locator('table.images').waitFor();
    const text = await page.locator('table.images').innerText();
    assert.match(text, /busybox:v2\t.*\tbusybox:latest \+ 1 layer/);
    assert.match(text, /wasteful:2\t.*\twasteful:1 \+ 1 layer/);
    assert.match(text, /many:latest\t.*\tbase/);
    if (nginx) assert.match(text, /nginx:v2\t.*\tnginx:latest \+ 1 layer/);
    assert.ok(await page.locator('#sharing .share-row').count() >= 5);
    await shot(page, 'images');
  });

  await t.test('compare: the tree of a commit, and an image against a container\'s pending changes', async () => {
    const a = nginx ? 'nginx' : 'busybox';
    const b = nginx ? 'nginx:v2' : 'busybox:v2';
    const page0 = nginx ? '/var/www/html/index.html' : '/www/index.html';
    await page.goto(`${url}#/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    await page.locator('#compare-summary').waitFor();
    assert.match(await page.locator('#compare-out h3').innerText(), new RegExp(`${a}:latest → ${b.replace(/:.*/, '')}:v2`));
    assert.equal(await rowOf(page, page0).getAttribute('data-mark'), 'C');
    assert.equal(await rowOf(page, path.dirname(page0)).getAttribute('data-mark'), 'C');
    assert.match(await page.locator("#compare-summary").innerText(), /\d+ changed, 14B/);
    await shot(page, 'compare');
    await page.goto(`${url}#/compare?a=busybox&b=webserver`);
    await page.locator('#compare-out h3', { hasText: 'webserver' }).waitFor();
    assert.match(await page.locator('#compare-out h3').innerText(), /busybox:latest → webserver \(container\)/);
    assert.equal(await rowOf(page, '/www/index.html').getAttribute('data-mark'), 'C');
  });

  await t.test('containers: image, status and pending changes, linked to their compare view', async () => {
    await page.goto(`${url}#/containers`);
    await page.locator('table.containers').waitFor();
    const row = page.locator('table.containers tr', { hasText: 'webserver' });
    assert.match(await row.innerText(), /busybox\t.*Exited \(0\)/);
    assert.match(await row.innerText(), /1 path|2 paths/);
    const web = page.locator('table.containers tr', { has: page.locator('td b', { hasText: /^web$/ }) });
    assert.match(await web.innerText(), new RegExp(`busybox\tUp .*\t0\\.0\\.0\\.0:${port}->80/tcp\t`));
    await shot(page, 'containers');
    await row.getByRole('link', { name: 'compare with its image' }).click();
    await page.locator('#compare-out h3', { hasText: 'webserver' }).waitFor();
    assert.equal(await rowOf(page, '/www/index.html').getAttribute('data-mark'), 'C');
  });

  await t.test('a 100,000-file layer opens lazily, one directory level at a time', async () => {
    const r = await raw(`${url}api/tree?ref=many&layer=0&path=/`);
    const listing = JSON.parse(r.body) as { total: number; entries: { name: string; type: string; hasChildren: boolean }[] };
    assert.deepEqual(listing.entries.map((e) => [e.name, e.type, e.hasChildren]), [['many', 'dir', true]]);
    assert.equal(listing.total, 1);
    const sub = JSON.parse((await raw(`${url}api/tree?ref=many&layer=0&path=/many&limit=10`)).body) as { total: number; entries: unknown[] };
    assert.deepEqual([sub.total, sub.entries.length], [100, 10]);
    await page.goto(`${url}#/image/many?layer=0`);
    await rowOf(page, '/many').locator('.row').first().click();
    await rowOf(page, '/many/99').waitFor();
    assert.equal(await page.locator('li[data-path^="/many/"]').count(), 100);
  });

  await t.test('safety: Host header checked, read-only, no CORS, cross-site refused, file size limit', async () => {
    const evil = await raw(`${url}api/images`, { host: `rebind.example:${new URL(url).port}` });
    assert.equal(evil.status, 421);
    const ok = await raw(`${url}api/images`, { host: `localhost:${new URL(url).port}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], undefined);
    for (const m of ['POST', 'DELETE', 'PUT']) assert.equal((await raw(`${url}api/images`, { method: m })).status, 405);
    assert.equal((await raw(`${url}api/images`, { headers: { 'Sec-Fetch-Site': 'cross-site' } })).status, 403);
    const up = await raw(`${url}api/file?ref=busybox&layer=0&path=${encodeURIComponent('/../../../../../etc/hostname')}`);
    assert.equal(up.status, 400);
    assert.equal((await raw(`${url}api/tree?ref=busybox&layer=0&path=${encodeURIComponent('/www/../..')}`)).status, 400);
    const binary = await raw(`${url}api/file?ref=busybox&layer=0&path=/bin/busybox`);
    assert.equal(binary.status, 400);
    assert.match(JSON.parse(binary.body).message, /only text files up to 262144 bytes are shown/);
    // nothing changed in the store
    assert.match(strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']), /wasteful:2/);
    assert.deepEqual(errors, []);
  });

  await t.test('serve --ui serves the same page beside the Engine API', async (tt) => {
    const sock = path.join(root, 'api.sock');
    const s = await startServer(root, ['serve', '-H', `unix://${sock}`, '--ui'], 'stderr');
    tt.after(() => stopServer(s.child));
    const r = await raw(`${s.url}api/images`);
    assert.equal(r.status, 200);
    assert.ok((JSON.parse(r.body) as { tags: string[] }[]).some((i) => i.tags.includes('busybox:v2')));
    assert.match((await raw(s.url)).body, /<title>Strata explorer<\/title>/);
  });

  await t.test('explore CONTAINER opens on the container', async (tt) => {
    const s = await startServer(root, ['explore', 'webserver']);
    tt.after(() => stopServer(s.child));
    const start = JSON.parse((await raw(`${s.url}api/start`)).body) as { kind: string; id: string };
    assert.equal(start.kind, 'container');
    await page.goto(s.url);
    await page.locator('#compare-out h3', { hasText: 'webserver' }).waitFor();
    assert.equal(await rowOf(page, '/www/index.html').getAttribute('data-mark'), 'C');
  });
});
