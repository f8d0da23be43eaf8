/**
 * Trees deeper than PATH_MAX: a layer whose file sits 20 directories of 199
 * bytes deep (the whole name ~4,090 bytes, so every absolute path to it under
 * the store passes 4,096). Docker accepts such layers; import and load both
 * do, and every cleanup path (layer removal, the tmp sweep, system check)
 * removes them.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { rmTree } from '../../src/base/fs.js';
import { craftTar } from '../layer/helpers.js';
import { strata, strataOk } from '../helpers.js';

const COMPONENTS = Array.from({ length: 20 }, (_, i) => String.fromCharCode(0x61 + i).repeat(199));
const DEEP_DIR = COMPONENTS.join('/');
const FILE = DEEP_DIR + '/' + 'z'.repeat(89);

function deepTar(): Buffer {
  const entries = [];
  for (let i = 1; i <= COMPONENTS.length; i++) {
    entries.push({ name: 'long', type: '5', mode: 0o755, pax: [['path', COMPONENTS.slice(0, i).join('/') + '/']] as Array<[string, string]> });
  }
  entries.push({ name: 'long', data: 'deep\n', pax: [['path', FILE]] as Array<[string, string]> });
  entries.push({ name: 'top', data: 'top\n' });
  return craftTar(entries);
}

function root(t: { after(fn: () => void): void }): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pathmax-'));
  t.after(() => rmTree(r));
  return r;
}

/** Read a file deeper than PATH_MAX by walking down with relative cds. */
function readDeep(top: string): string {
  const script = `cd "$1" && shift && for c in "$@"; do cd -P "$c" || exit 1; done && cat ${'z'.repeat(89)}`;
  return execFileSync('sh', ['-c', script, 'sh', top, ...COMPONENTS]).toString();
}

function assertClean(r: string): void {
  const check = strata(r, ['system', 'check']);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /no problems/);
  assert.doesNotMatch(check.stdout, /garbage|reclaimable|interrupted/);
  assert.deepEqual(fs.readdirSync(path.join(r, 'tmp')), []);
}

test('a layer deeper than PATH_MAX: import and load accept it, rmi and system check clean up', (t) => {
  const work = root(t);
  assert.ok(FILE.length > 4000 && FILE.length < 4096);
  const tarPath = path.join(work, 'deep.tar');
  fs.writeFileSync(tarPath, deepTar());

  const a = path.join(work, 'a');
  const id = strataOk(a, ['import', tarPath, 'deep:1']).trim();
  assert.equal(strataOk(a, ['diff', 'deep:1', 'deep:1']), ''); // the layer dir is made when first read
  const layerDir = (r: string): string => {
    const [hex] = fs.readdirSync(path.join(r, 'layers'));
    return path.join(r, 'layers', hex!, 'diff');
  };
  assert.ok(layerDir(a).length + 1 + FILE.length > 4096, 'the path passes PATH_MAX');
  assert.equal(readDeep(layerDir(a)), 'deep\n');
  assertClean(a);

  // save and load into a second store: the same layer
  const saved = path.join(work, 'deep-img.tar');
  strataOk(a, ['save', '-o', saved, 'deep:1']);
  const b = path.join(work, 'b');
  assert.match(strataOk(b, ['load', '-i', saved]), /Loaded image: deep:1/);
  assert.equal(strataOk(b, ['images', '-q', '--no-trunc']).trim(), id);
  assert.equal(readDeep(layerDir(b)), 'deep\n');
  assertClean(b);

  // removal of the layer
  for (const r of [a, b]) {
    const out = strataOk(r, ['rmi', 'deep:1']);
    assert.match(out, /Deleted: /);
    assert.deepEqual(fs.readdirSync(path.join(r, 'layers')), []);
    assertClean(r);
  }
});

test('a deep tree left in tmp/ by an interrupted run is swept, and system check stays clean', (t) => {
  const r = root(t);
  strataOk(r, ['images']);
  // what a killed load leaves: a staging dir of a dead process holding the deep tree
  const trash = path.join(r, 'tmp', '999999999-layer-0123456789ab');
  fs.mkdirSync(trash);
  execFileSync('tar', ['-C', trash, '-xf', '-'], { input: deepTar() });
  assert.equal(readDeep(trash), 'deep\n');
  assertClean(r);
  assert.equal(fs.existsSync(trash), false);
});
