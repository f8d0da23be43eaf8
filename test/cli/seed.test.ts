/**
 * The seed walkthrough on the nginx image (built offline from Debian packages by
 * scripts/make-base-images.sh, which .ci/run runs first): run with -p, exec to change the page,
 * curl shows it, diff, commit with author and message, images, history, the new image on a
 * second port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { strata, strataOk, httpGet, freePort } from '../helpers.js';

const NGINX_TAR = `${process.env.STRATA_CACHE ?? '/var/cache/strata'}/base/nginx.tar`;


async function until200(url: string): Promise<string> {
  const end = Date.now() + 15000;
  for (;;) {
    try { const r = await httpGet(url); if (r.status === 200) return r.body; } catch { /* starting */ }
    if (Date.now() > end) throw new Error(`no answer from ${url}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('seed walkthrough on nginx: webserver, change, diff, commit nginx:v2, web2 on a second port', { skip: fs.existsSync(NGINX_TAR) ? false : `no ${NGINX_TAR}: run scripts/make-base-images.sh --tar-only (as .ci/run does)` }, async (t) => {
  // reset before the directory goes (after-hooks run in the order they were added): the
  // root's bridge, rules and /run/strata-<hash> are released through the root itself
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-seed-'));
  t.after(() => {
    strata(root, ['system', 'reset', '--force']);
    fs.rmSync(root, { recursive: true, force: true });
  });
  strataOk(root, ['import', '-c', 'CMD ["nginx","-g","daemon off;"]', '-c', 'EXPOSE 80', NGINX_TAR, 'nginx']);
  const [p1, p2] = [await freePort(), await freePort()];
  strataOk(root, ['run', '--name', 'webserver', '-d', '-p', `${p1}:80`, 'nginx']);
  assert.match(await until200(`http://127.0.0.1:${p1}/`), /Welcome to nginx!/);
  strataOk(root, ['exec', 'webserver', 'sh', '-c', 'echo "<h1>seed</h1>" > /var/www/html/index.html']);
  assert.equal(await until200(`http://127.0.0.1:${p1}/`), '<h1>seed</h1>\n');
  const diff = strataOk(root, ['diff', 'webserver']).trim().split('\n');
  for (const line of ['C /var/www/html', 'C /var/www/html/index.html', 'A /run/nginx.pid']) assert.ok(diff.includes(line), `${line} in\n${diff.join('\n')}`);
  const id = strataOk(root, ['commit', '--author', 'Seed <seed@example.com>', '--message', 'changed page', 'webserver', 'nginx:v2']).trim();
  assert.deepEqual(strataOk(root, ['images', 'nginx', '--format', '{{.Tag}}']).trim().split('\n').sort(), ['latest', 'v2']);
  const hist = strataOk(root, ['history', 'nginx:v2']).split('\n');
  assert.match(hist[1]!, new RegExp(`^${id.slice(7, 19)}\\s.*nginx -g daemon off;\\s+\\d+B\\s+changed page$`));
  strataOk(root, ['run', '--name', 'web2', '-d', '-p', `${p2}:80`, 'nginx:v2']);
  assert.equal(await until200(`http://127.0.0.1:${p2}/`), '<h1>seed</h1>\n');
  assert.match(await until200(`http://127.0.0.1:${p1}/`), /seed/, 'both serve side by side');
  strataOk(root, ['stop', 'webserver']);
  strataOk(root, ['start', 'webserver']);
  assert.equal(await until200(`http://127.0.0.1:${p1}/`), '<h1>seed</h1>\n', 'the change survives stop/start');
  strataOk(root, ['rm', '-f', 'webserver', 'web2']);
  assert.equal(strataOk(root, ['ps', '-aq']), '');
});
