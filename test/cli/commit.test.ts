import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { containerRoot, strata, strataOk, httpGet, freePort } from '../helpers.js';


const du = (dir: string) => Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);

test('the seed walkthrough: run -p, exec, curl, diff, commit, images, history, run the new image on a second port', async (t) => {
  const root = containerRoot(t, 'web');
  const [p1, p2] = [await freePort(), await freePort()];
  strataOk(root, ['run', '--name', 'webserver', '-d', '-p', `${p1}:80`, 'web']);
  strataOk(root, ['exec', 'webserver', 'sh', '-c', 'echo "<h1>changed</h1>" > /www/index.html']);
  assert.equal((await httpGet(`http://127.0.0.1:${p1}/`)).body, '<h1>changed</h1>\n');
  assert.equal(strataOk(root, ['diff', 'webserver']), 'C /www\nC /www/index.html\n');
  const before = du(root);
  const id = strataOk(root, ['commit', '--author', 'Jane Doe <jane@example.com>', '--message', 'custom page', 'webserver', 'web:v2']).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  const growth = du(root) - before;
  assert.ok(growth < 200 * 1024, `store grew by ${growth} bytes for a 17-byte change`);
  const rows = strataOk(root, ['images', 'web', '--format', '{{.Repository}}:{{.Tag}}']).trim().split('\n').sort();
  assert.deepEqual(rows, ['web:latest', 'web:v2']);
  const hist = strataOk(root, ['history', 'web:v2']).split('\n');
  assert.match(hist[1]!, new RegExp(`^${id.slice(7, 19)}\\s+.* ago\\s+httpd -f -p 80 -h /www\\s+17B\\s+custom page$`));
  assert.match(hist[2]!, /Imported from -$/);
  const insp = JSON.parse(strataOk(root, ['inspect', 'web:v2']))[0];
  assert.equal(insp.Author, 'Jane Doe <jane@example.com>');
  assert.equal(insp.Comment, 'custom page');
  assert.equal(insp.Parent, strataOk(root, ['inspect', '--format', '{{.Id}}', 'web']).trim());
  assert.equal(insp.Container, strataOk(root, ['inspect', '--format', '{{.Id}}', 'webserver']).trim());
  const baseLayers = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .RootFS.Layers}}', 'web']));
  assert.deepEqual(insp.RootFS.Layers.slice(0, -1), baseLayers, 'v2 shares every base layer');
  strataOk(root, ['run', '--name', 'web2', '-d', '-p', `${p2}:80`, 'web:v2']);
  assert.equal((await httpGet(`http://127.0.0.1:${p2}/`)).body, '<h1>changed</h1>\n');
  assert.equal(strataOk(root, ['diff', 'webserver']), 'C /www\nC /www/index.html\n', 'diff still works after commit');
  // removing the base tag keeps every layer the new image needs
  strataOk(root, ['rm', '-f', 'webserver', 'web2']);
  assert.match(strataOk(root, ['rmi', 'web']), /Untagged: web:latest/);
  strataOk(root, ['run', '--rm', 'web:v2', 'cat', '/www/index.html']);
  assert.match(strataOk(root, ['system', 'check']), /no problems/);
  // save and load keep the image ID
  assert.equal(strataOk(root, ['images', '-q', '--no-trunc', 'web:v2']).trim(), id);
});

test('commit hygiene, provenance, image diffs, reproducible commits, bad input', (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '-d', '--name', 'noisy', 'busybox']);
  strataOk(root, ['exec', 'noisy', 'sh', '-c', 'echo app > /www/app.txt; echo 42 > /tmp/work.tmp; echo ls > /root/.ash_history; mkdir -p /var/log && echo x > /var/log/app.log']);
  const summary = strataOk(root, ['diff', '--summary', 'noisy']);
  assert.match(summary, /shell history: 1 file/);
  assert.match(summary, /temp files: 1 file/);
  const json = JSON.parse(strataOk(root, ['diff', '--format', 'json', 'noisy']));
  assert.ok(json.some((c: { Kind: string; Path: string }) => c.Kind === 'A' && c.Path === '/www/app.txt'));
  const r = strata(root, ['commit', 'noisy', 'noisy:raw']);
  assert.match(r.stderr, /noise in this layer/);
  assert.match(r.stderr, /\/root\/\.ash_history/);
  strataOk(root, ['commit', '--exclude-noise', 'noisy', 'noisy:clean']);
  const raw = strataOk(root, ['diff', 'busybox', 'noisy:raw']);
  const clean = strataOk(root, ['diff', 'busybox', 'noisy:clean']);
  assert.match(raw, /^A \/root\/\.ash_history$/m);
  assert.doesNotMatch(clean, /ash_history|work\.tmp|app\.log/);
  assert.match(clean, /^A \/www\/app\.txt$/m);
  assert.equal(strataOk(root, ['exec', 'noisy', 'cat', '/tmp/work.tmp']), '42\n', 'the container is untouched');
  // provenance: the exec is recorded in the image
  const label = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .Config.Labels}}', 'noisy:clean']))['org.strata.provenance'];
  assert.match(label, /echo app > \/www\/app\.txt/);
  assert.match(strataOk(root, ['commit', '--dockerfile', 'noisy']), /^FROM busybox\nRUN echo app/);
  // reproducible: the same change committed twice with a timestamp gives the same image ID
  const a = strataOk(root, ['commit', '--exclude-noise', '--timestamp', '1700000000', 'noisy']).trim();
  const b = strataOk(root, ['commit', '--exclude-noise', '--timestamp', '1700000000', 'noisy']).trim();
  assert.equal(a, b);
  // image vs container
  assert.match(strataOk(root, ['diff', 'busybox', 'noisy']), /^A \/www\/app\.txt$/m);
  // bad input
  assert.match(strata(root, ['commit', 'nosuch']).stderr, /^Error: No such container: nosuch$/m);
  assert.match(strata(root, ['commit', 'noisy', 'Bad:Tag']).stderr, /invalid reference format: repository name must be lowercase/);
  assert.match(strata(root, ['commit', '-c', 'STOPSIGNAL 9', 'noisy']).stderr, /stopsignal is not a valid change command/);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.State}}']), /^noisy running$/m, 'commit thawed the container');
});
