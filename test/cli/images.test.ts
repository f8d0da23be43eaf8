import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { busyboxTar, strata, strataOk, sh } from '../helpers.js';

const BB_CHANGES = ['-c', 'CMD ["httpd","-f","-p","80","-h","/www"]', '-c', 'EXPOSE 80'];

describe('image store through the CLI', () => {
  let root: string;
  let work: string;
  let tar: string;
  let id: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-img-'));
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-img-work-'));
    tar = busyboxTar();
    id = strataOk(root, ['import', ...BB_CHANGES, tar, 'busybox']).trim();
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('import prints the image ID and the layer is the tar itself; its dir is made when first needed', () => {
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const tarDigest = 'sha256:' + sh(`sha256sum ${tar}`).split(' ')[0];
    const layers = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .RootFS.Layers}}', 'busybox']));
    assert.deepEqual(layers, [tarDigest]);
    assert.ok(fs.existsSync(path.join(root, 'blobs/sha256', tarDigest.slice(7))));
    assert.ok(!fs.existsSync(path.join(root, 'layers', tarDigest.slice(7), 'diff')));
    assert.match(strataOk(root, ['system', 'check']), /no problems/);
    // an image-to-image diff reads the layer dirs: made from the blob, which stays (it is the imported tar)
    assert.equal(strataOk(root, ['diff', 'busybox', 'busybox']), '');
    assert.ok(fs.existsSync(path.join(root, 'blobs/sha256', tarDigest.slice(7))));
    assert.ok(fs.statSync(path.join(root, 'layers', tarDigest.slice(7), 'diff/bin/busybox')).isFile());
    assert.ok(fs.lstatSync(path.join(root, 'layers', tarDigest.slice(7), 'diff/bin/sh')).isSymbolicLink());
  });

  test('images lists it in Docker columns; -q, --no-trunc and --format', () => {
    const lines = strataOk(root, ['images']).split('\n');
    assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(lines[1]!, new RegExp(`^busybox\\s+latest\\s+${id.slice(7, 19)}\\s+(Less than a second|\\d+ seconds?) ago\\s+\\d+(\\.\\d+)?MB$`));
    assert.equal(strataOk(root, ['images', '-q']).trim(), id.slice(7, 19));
    assert.equal(strataOk(root, ['images', '-q', '--no-trunc']).trim(), id);
    assert.equal(strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']).trim(), 'busybox:latest');
    const j = JSON.parse(strataOk(root, ['images', '--format', '{{json .}}']));
    assert.equal(j.ID, id.slice(7, 19));
    assert.equal(j.Repository, 'busybox');
    assert.equal(j.Digest, '<none>');
    assert.match(strataOk(root, ['images', '--format', 'table {{.ID}}\t{{.Tag}}']), /^IMAGE ID\s+TAG\n/);
    assert.match(strataOk(root, ['images', '--digests']).split('\n')[0]!, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
  });

  test('inspect has Docker\'s shape and --format works', () => {
    const [obj] = JSON.parse(strataOk(root, ['image', 'inspect', 'busybox']));
    for (const k of ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'RootFS', 'Metadata']) assert.ok(k in obj, k);
    assert.equal(obj.Id, id);
    assert.deepEqual(obj.RepoTags, ['busybox:latest']);
    assert.equal(obj.Comment, 'Imported from -');
    assert.equal(strataOk(root, ['inspect', '--format', '{{.Id}}', 'busybox']).trim(), id);
    assert.equal(strataOk(root, ['inspect', '--format', '{{.Config.Cmd}}', 'busybox']).trim(), '[httpd -f -p 80 -h /www]');
    assert.equal(strataOk(root, ['inspect', '--format', '{{json .Config.ExposedPorts}}', 'busybox']).trim(), '{"80/tcp":{}}');
    // resolution by ID prefix and full ID
    assert.equal(strataOk(root, ['inspect', '--format', '{{.Id}}', id.slice(7, 15)]).trim(), id);
    assert.equal(strataOk(root, ['inspect', '--format', '{{.Id}}', id]).trim(), id);
  });

  test('history shows the import row', () => {
    const out = strataOk(root, ['history', 'busybox']).split('\n');
    assert.match(out[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(out[1]!, new RegExp(`^${id.slice(7, 19)}\\s+.* ago\\s+\\S+MB\\s+Imported from -$`));
    assert.equal(strataOk(root, ['history', '-q', 'busybox']).trim(), id.slice(7, 19));
  });

  test('tag and rmi: untag while other tags remain, delete on the last', () => {
    strataOk(root, ['tag', 'busybox', 'localhost:5000/team/bb:v1']);
    strataOk(root, ['tag', 'busybox:latest', 'bb2']);
    const tags = strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']).trim().split('\n').sort();
    assert.deepEqual(tags, ['bb2:latest', 'busybox:latest', 'localhost:5000/team/bb:v1']);
    assert.equal(strataOk(root, ['images', 'localhost:5000/team/*', '-q']).trim(), id.slice(7, 19));
    const r = strata(root, ['rmi', id.slice(7, 19)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unable to delete [a-f0-9]{12} \(must be forced\) - image is referenced in multiple repositories/);
    assert.equal(strataOk(root, ['rmi', 'bb2']).trim(), 'Untagged: bb2:latest');
    assert.equal(strataOk(root, ['rmi', 'localhost:5000/team/bb:v1']).trim(), 'Untagged: localhost:5000/team/bb:v1');
  });

  test('save (docker and oci) is read by skopeo and umoci; load in a fresh root gives the same ID', (t) => {
    const dockerTar = path.join(work, 'bb-docker.tar');
    const ociTar = path.join(work, 'bb-oci.tar');
    strataOk(root, ['save', '-o', dockerTar, 'busybox']);
    strataOk(root, ['save', '--format', 'oci', '-o', ociTar, 'busybox:latest']);
    const sk = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${dockerTar}`]).toString());
    assert.equal(sk.Layers.length, 1);
    assert.deepEqual(sk.ExposedPorts ?? Object.keys(JSON.parse(execFileSync('skopeo', ['inspect', '--config', `docker-archive:${dockerTar}`]).toString()).config.ExposedPorts), ['80/tcp']);
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${ociTar}`]).toString());
    assert.deepEqual(cfg.config.Cmd, ['httpd', '-f', '-p', '80', '-h', '/www']);
    // umoci unpacks the OCI layout
    const layout = path.join(work, 'layout');
    fs.mkdirSync(layout);
    execFileSync('tar', ['-C', layout, '-xf', ociTar]);
    const bundle = path.join(work, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle]);
    assert.ok(fs.statSync(path.join(bundle, 'rootfs/bin/busybox')).isFile());
    assert.equal(fs.readFileSync(path.join(bundle, 'rootfs/www/index.html'), 'utf8'), 'hello from strata\n');
    // load both into fresh roots
    for (const file of [dockerTar, ociTar]) {
      const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-load-'));
      t.after(() => fs.rmSync(fresh, { recursive: true, force: true }));
      assert.equal(strataOk(fresh, ['load', '-i', file]).trim(), 'Loaded image: busybox:latest');
      assert.equal(strataOk(fresh, ['images', '-q', '--no-trunc']).trim(), id);
      assert.match(strataOk(fresh, ['system', 'check']), /no problems/);
      // load is idempotent
      assert.equal(strataOk(fresh, ['load'], { input: fs.readFileSync(file) }).trim(), 'Loaded image: busybox:latest');
    }
  });

  test('import of gzip and zstd tarballs gives the same layer diff_id', () => {
    const gz = path.join(work, 'bb.tar.gz');
    const zst = path.join(work, 'bb.tar.zst');
    sh(`gzip -c ${tar} > ${gz} && zstd -q -c ${tar} > ${zst}`);
    const want = strataOk(root, ['inspect', '--format', '{{index .RootFS.Layers 0}}', 'busybox']).trim();
    for (const [f, name] of [[gz, 'bbgz'], [zst, 'bbzst']] as const) {
      strataOk(root, ['import', f, name]);
      assert.equal(strataOk(root, ['inspect', '--format', '{{index .RootFS.Layers 0}}', name]).trim(), want);
    }
    // from stdin too
    strataOk(root, ['import', '-m', 'from stdin', '-', 'bbstdin'], { input: fs.readFileSync(gz) });
    assert.equal(strataOk(root, ['inspect', '--format', '{{.Comment}}', 'bbstdin']).trim(), 'from stdin');
  });

  test('bad input: one clear line, non-zero exit, nothing stored', () => {
    const before = strataOk(root, ['images', '-a', '-q', '--no-trunc']);
    const cases: [string[], RegExp, (string | Buffer)?][] = [
      [['inspect', 'nosuch'], /^Error: No such object: nosuch$/],
      [['image', 'inspect', 'nosuch'], /^Error: No such image: nosuch:latest$/],
      [['history', 'nosuch'], /^Error: No such image: nosuch:latest$/],
      [['rmi', 'nosuch'], /^Error: No such image: nosuch:latest$/],
      [['tag', 'busybox', 'Bad:Name'], /^Error: invalid reference format: repository name must be lowercase$/],
      [['tag', 'busybox', 'a::b'], /^Error: invalid reference format$/],
      [['images', '--bogus'], /^unknown flag: --bogus$/m],
      [['import', '/nonexistent/file.tar'], /^Error: open \/nonexistent\/file.tar: no such file or directory$/],
      [['import', '-', 'x'], /^Error: invalid archive|^Error: .*(unexpected EOF|invalid tar header|corrupt)/i, Buffer.from('this is not a tar file at all, just text\n'.repeat(20))],
      [['import', '-', 'x'], /^Error: .*(gzip|unexpected end|incorrect header|corrupt)/i, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(100, 7)])],
      [['load', '-i', tar], /^Error: .*(manifest.json|index.json)/],
      [['import', '-c', 'STOPSIGNAL 9', tar], /^Error: stopsignal is not a valid change command$/],
    ];
    for (const [args, re, input] of cases) {
      const r = strata(root, args, input !== undefined ? { input } : {});
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr.trim(), re, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.equal(strataOk(root, ['images', '-a', '-q', '--no-trunc']), before);
    assert.match(strataOk(root, ['system', 'check']), /no problems/);
  });

  test('rmi removes layers no image needs; shared layers stay', () => {
    // bbgz and bbzst share the layer with busybox
    strataOk(root, ['rmi', 'bbgz']);
    const diff = strataOk(root, ['inspect', '--format', '{{index .RootFS.Layers 0}}', 'busybox']).trim();
    assert.ok(fs.existsSync(path.join(root, 'layers', diff.slice(7))));
    const out = strataOk(root, ['rmi', 'bbzst', 'bbstdin', 'busybox']);
    assert.match(out, /Untagged: busybox:latest/);
    assert.match(out, new RegExp(`Deleted: ${diff}`));
    assert.ok(!fs.existsSync(path.join(root, 'layers', diff.slice(7))));
    assert.equal(strataOk(root, ['images', '-a', '-q']).trim(), '');
    assert.match(strataOk(root, ['system', 'check']), /no problems/);
  });
});
