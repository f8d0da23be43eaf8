import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import * as dns from 'node:dns/promises';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { busyboxTar } from '../helpers.js';
import { clientEnv, importBusybox, registryAvailable, startRegistry, strataAsync, strataAsyncOk, tmp, type Registry } from './helpers.js';
import { StoreRoot } from '../../src/engine/store-root.js';
import { ensureImage } from '../../src/engine/pull.js';
import { commitContainer } from '../../src/engine/commit.js';
import { isRepackable } from '../../src/engine/layer-tar.js';
import type { JSONMessage } from '../../src/format/index.js';
import { ensureImageDirs } from '../../src/engine/layer-dirs.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** An OCI layout with a two-platform index (amd64, arm64), each image one tiny layer. */
function makeMultiArchLayout(dir: string): { ids: Record<string, string> } {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => { const d = sha(b); fs.writeFileSync(path.join(blobs, d.slice(7)), b); return { digest: d, size: b.length }; };
  const manifests = [];
  const ids: Record<string, string> = {};
  for (const arch of ['amd64', 'arm64']) {
    const src = path.join(dir, `src-${arch}`);
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'arch'), `${arch}\n`);
    const tarFile = path.join(dir, `${arch}.tar`);
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '-C', src, '-cf', tarFile, 'arch']);
    const layer = put(fs.readFileSync(tarFile));
    const cfg = Buffer.from(JSON.stringify({
      architecture: arch, os: 'linux', created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/arch'] }, rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }));
    const c = put(cfg);
    ids[arch] = c.digest;
    const man = put(Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    })));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man, platform: { architecture: arch, os: 'linux' } });
  }
  const index = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
  }));
  return { ids };
}

describe('push and pull against docker-registry', { skip }, () => {
  let reg: Registry;
  let work: string;
  let env: Record<string, string>;
  let root: string;
  let id: string;
  let repo: string;
  let pushedDigest: string;

  before(async () => {
    reg = await startRegistry();
    work = tmp('strata-reg-work-');
    env = clientEnv(work);
    root = tmp('strata-reg-root-');
    repo = `${reg.addr}/team/bb`;
    id = await importBusybox(root, `${repo}:v1`, busyboxTar(), env);
  });
  after(async () => {
    await reg?.stop();
    for (const d of [work, root]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('push prints Docker\'s lines; a second push finds every layer and gives the same digest', async () => {
    const out = await strataAsyncOk(root, ['push', `${repo}:v1`], { env });
    const lines = out.trim().split('\n');
    assert.equal(lines[0], `The push refers to repository [${repo}]`);
    assert.match(lines[1]!, /^[a-f0-9]{12}: Preparing$/);
    assert.match(lines[2]!, /^[a-f0-9]{12}: Pushed$/);
    const m = /^v1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/.exec(lines[3]!);
    assert.ok(m, out);
    pushedDigest = m[1]!;
    const again = await strataAsyncOk(root, ['push', `${repo}:v1`], { env });
    assert.match(again, /: Layer already exists\n/);
    assert.match(again, new RegExp(`v1: digest: ${pushedDigest} size: ${m[2]}`));
    // the RepoDigest is recorded after a push
    const dig = await strataAsyncOk(root, ['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}'], { env });
    assert.equal(dig.trim(), `${repo} v1 ${pushedDigest}`);
  });

  test('skopeo reads what Strata pushed', () => {
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${repo}:v1`]).toString());
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(raw.config.digest, id);
    assert.equal(raw.layers.length, 1);
    assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const info = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${repo}:v1`]).toString());
    assert.equal(info.Digest, pushedDigest);
    assert.equal(info.Architecture, 'amd64');
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${repo}:v1`]).toString());
    assert.deepEqual(cfg.config.Cmd, ['sh']);
  });

  test('pull into a fresh root: same image ID and manifest digest; up to date the second time', async (t) => {
    const fresh = tmp('strata-reg-fresh-');
    t.after(() => fs.rmSync(fresh, { recursive: true, force: true }));
    const out = await strataAsyncOk(fresh, ['pull', `${repo}:v1`], { env });
    const lines = out.trim().split('\n');
    assert.equal(lines[0], 'v1: Pulling from team/bb');
    assert.match(lines[1]!, /^[a-f0-9]{12}: Pulling fs layer$/);
    assert.ok(lines.some((l) => /^[a-f0-9]{12}: Pull complete$/.test(l)), out);
    assert.equal(lines.at(-3), `Digest: ${pushedDigest}`);
    assert.equal(lines.at(-2), `Status: Downloaded newer image for ${repo}:v1`);
    assert.equal(lines.at(-1), `${repo}:v1`);
    assert.equal((await strataAsyncOk(fresh, ['images', '-q', '--no-trunc'], { env })).trim(), id);
    const dig = await strataAsyncOk(fresh, ['images', '--digests'], { env });
    assert.match(dig.split('\n')[0]!, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    assert.match(dig.split('\n')[1]!, new RegExp(`^${repo.replace(/\./g, '\\.')}\\s+v1\\s+${pushedDigest}\\s+${id.slice(7, 19)}`));
    const inspect = JSON.parse(await strataAsyncOk(fresh, ['image', 'inspect', `${repo}:v1`], { env }))[0];
    assert.deepEqual(inspect.RepoDigests, [`${repo}@${pushedDigest}`]);
    assert.match(await strataAsyncOk(fresh, ['system', 'check'], { env }), /no problems/);
    const again = await strataAsyncOk(fresh, ['pull', `${repo}:v1`], { env });
    assert.equal(again, `v1: Pulling from team/bb\nDigest: ${pushedDigest}\nStatus: Image is up to date for ${repo}:v1\n${repo}:v1\n`);
    // every tag of the repository
    assert.equal(await strataAsyncOk(fresh, ['pull', '-a', repo], { env }), `v1: Pulling from team/bb\nDigest: ${pushedDigest}\nStatus: Image is up to date for ${repo}\n${repo}\n`);
    // pulling by digest, quietly
    assert.equal(await strataAsyncOk(fresh, ['pull', '-q', `${repo}@${pushedDigest}`], { env }), `${repo}@${pushedDigest}\n`);
    // the pulled image pushes byte for byte: same manifest digest from the fresh root
    const re = await strataAsyncOk(fresh, ['push', `${repo}:v1`], { env });
    assert.match(re, new RegExp(`v1: digest: ${pushedDigest} `));
    // rmi of the tag removes the digest reference and the image, as Docker does
    const rmi = await strataAsyncOk(fresh, ['rmi', `${repo}:v1`], { env });
    assert.match(rmi, new RegExp(`^Untagged: ${repo}:v1\nUntagged: ${repo}@${pushedDigest}\nDeleted: ${id}\n`));
    assert.equal((await strataAsyncOk(fresh, ['images', '-a', '-q'], { env })).trim(), '');
  });

  test('cross-repository mount, chunked upload, uncompressed and zstd pushes', async () => {
    const other = `${reg.addr}/other/bb`;
    await strataAsyncOk(root, ['tag', `${repo}:v1`, `${other}:v2`], { env });
    const out = await strataAsyncOk(root, ['push', `${other}:v2`], { env });
    assert.match(out, /: Mounted from team\/bb\n/);
    assert.match(out, new RegExp(`v2: digest: ${pushedDigest} `));
    // a new root: the layer is held uncompressed only; PATCH in 256 KiB chunks, no compression
    const r2 = tmp('strata-reg-r2-');
    try {
      const plainEnv = { ...env, STRATA_PUSH_CHUNK_SIZE: String(256 << 10), STRATA_PUSH_COMPRESSION: 'none' };
      const id2 = await importBusybox(r2, `${reg.addr}/plain/bb:v1`, busyboxTar(), env);
      const p = await strataAsyncOk(r2, ['push', `${reg.addr}/plain/bb:v1`], { env: plainEnv });
      assert.match(p, /: Pushed\n/);
      const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.addr}/plain/bb:v1`]).toString());
      assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
      const diff = JSON.parse(await strataAsyncOk(r2, ['inspect', '--format', '{{json .RootFS.Layers}}', `${reg.addr}/plain/bb:v1`], { env }));
      assert.equal(raw.layers[0].digest, diff[0]);
      const r3 = tmp('strata-reg-r3-');
      try {
        await strataAsyncOk(r3, ['pull', '-q', `${reg.addr}/plain/bb:v1`], { env });
        assert.equal((await strataAsyncOk(r3, ['images', '-q', '--no-trunc'], { env })).trim(), id2);
      } finally { fs.rmSync(r3, { recursive: true, force: true }); }
    } finally { fs.rmSync(r2, { recursive: true, force: true }); }
    // zstd at push, pulled back
    const z1 = tmp('strata-reg-z1-');
    const z2 = tmp('strata-reg-z2-');
    try {
      const idz = await importBusybox(z1, `${reg.addr}/zstd/bb:v1`, busyboxTar(), env);
      await strataAsyncOk(z1, ['push', '-q', `${reg.addr}/zstd/bb:v1`], { env: { ...env, STRATA_PUSH_COMPRESSION: 'zstd' } });
      const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.addr}/zstd/bb:v1`]).toString());
      assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
      await strataAsyncOk(z2, ['pull', '-q', `${reg.addr}/zstd/bb:v1`], { env });
      assert.equal((await strataAsyncOk(z2, ['images', '-q', '--no-trunc'], { env })).trim(), idz);
    } finally { for (const d of [z1, z2]) fs.rmSync(d, { recursive: true, force: true }); }
  });

  test('a committed layer kept only as its directory is packed again for the push', async (t) => {
    const croot = tmp('strata-reg-commit-');
    const upper = tmp('strata-reg-upper-');
    const fresh = tmp('strata-reg-commit-pull-');
    t.after(() => { for (const d of [croot, upper, fresh]) fs.rmSync(d, { recursive: true, force: true }); });
    const baseId = await importBusybox(croot, 'base:v1', busyboxTar(), env);
    fs.mkdirSync(path.join(upper, 'data'));
    fs.writeFileSync(path.join(upper, 'data', 'hello.txt'), 'committed\n');
    const store = new StoreRoot(croot);
    let res: Awaited<ReturnType<typeof commitContainer>>;
    try {
      res = await commitContainer(store, {
        upperDir: upper, imageId: baseId, imageRef: 'base:v1', containerId: 'c'.repeat(64),
        containerConfig: { Cmd: ['sh'] }, reference: `${reg.addr}/committed:v1`, timestamp: 1700000000,
      });
      // its dir made (as a first container would), the tar is dropped
      await ensureImageDirs(store, res.id);
      assert.ok(isRepackable(store, res.diffId!) && !store.content.has(res.diffId!), 'the layer has no blob');
    } finally { store.close(); }
    const out = await strataAsyncOk(croot, ['push', `${reg.addr}/committed:v1`], { env });
    assert.equal(out.match(/: Pushed\n/g)?.length, 2, out);
    const digest = /v1: digest: (sha256:[a-f0-9]{64})/.exec(out)![1];
    // the second push sends the same bytes (the compressed blob was kept)
    assert.match(await strataAsyncOk(croot, ['push', `${reg.addr}/committed:v1`], { env }), new RegExp(`v1: digest: ${digest} `));
    await strataAsyncOk(fresh, ['pull', '-q', `${reg.addr}/committed:v1`], { env });
    assert.equal((await strataAsyncOk(fresh, ['images', '-q', '--no-trunc', `${reg.addr}/committed`], { env })).trim(), res.id);
    assert.equal(fs.readFileSync(path.join(fresh, 'layers', res.diffId!.slice(7), 'diff', 'data', 'hello.txt'), 'utf8'), 'committed\n');
  });

  test('a multi-platform index: linux/amd64 by default, --platform picks another', async (t) => {
    const layout = tmp('strata-reg-layout-');
    const fresh = tmp('strata-reg-multi-');
    t.after(() => { fs.rmSync(layout, { recursive: true, force: true }); fs.rmSync(fresh, { recursive: true, force: true }); });
    const { ids } = makeMultiArchLayout(layout);
    // skopeo compresses the layers on the way, so the index the registry holds is its own
    execFileSync('skopeo', ['copy', '--all', '--quiet', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${reg.addr}/multi:v1`]);
    const indexDigest = sha(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.addr}/multi:v1`]));
    const out = await strataAsyncOk(fresh, ['pull', `${reg.addr}/multi:v1`], { env });
    assert.match(out, new RegExp(`Digest: ${indexDigest}\n`));
    assert.equal((await strataAsyncOk(fresh, ['inspect', '--format', '{{.Id}} {{.Architecture}}', `${reg.addr}/multi:v1`], { env })).trim(), `${ids.amd64} amd64`);
    await strataAsyncOk(fresh, ['pull', '--platform', 'linux/arm64', `${reg.addr}/multi:v1`], { env });
    assert.equal((await strataAsyncOk(fresh, ['inspect', '--format', '{{.Id}} {{.Architecture}} {{json .RepoDigests}}', `${reg.addr}/multi:v1`], { env })).trim(),
      `${ids.arm64} arm64 ["${reg.addr}/multi@${indexDigest}"]`);
    const bad = await strataAsync(fresh, ['pull', '--platform', 'linux/s390x', `${reg.addr}/multi:v1`], { env });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'Error: no matching manifest for linux/s390x in the manifest list entries');
    assert.match(await strataAsyncOk(fresh, ['system', 'check'], { env }), /no problems/);
  });

  test('bad input: Docker\'s messages, nothing stored', async (t) => {
    const fresh = tmp('strata-reg-bad-');
    t.after(() => fs.rmSync(fresh, { recursive: true, force: true }));
    const cases: [string[], RegExp][] = [
      [['pull', `${reg.addr}/nope`], new RegExp(`^Error: manifest for ${reg.addr}/nope:latest not found: manifest unknown: manifest unknown$`)],
      [['pull', `${repo}:nope`], new RegExp(`^Error: manifest for ${repo}:nope not found: manifest unknown: manifest unknown$`)],
      [['pull', 'nosuch.invalid/x'], /^Error: Get "https:\/\/nosuch.invalid\/v2\/": dial tcp: lookup nosuch.invalid: no such host$/],
      [['pull', `${reg.addr}/Bad`], /^Error: invalid reference format: repository name must be lowercase$/],
      [['push', `${reg.addr}/nope2`], new RegExp(`^Error: An image does not exist locally with the tag: ${reg.addr}/nope2$`)],
      [['pull', '--platform', 'linux/arm64', `${repo}:v1`], /^Error: image with reference .* was found but its platform \(linux\/amd64\) does not match the specified platform \(linux\/arm64\)$/],
    ];
    for (const [args, re] of cases) {
      const r = await strataAsync(fresh, args, { env });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr.trim(), re, args.join(' '));
    }
    assert.equal((await strataAsyncOk(fresh, ['images', '-a', '-q'], { env })).trim(), '');
    assert.match(await strataAsyncOk(fresh, ['system', 'check'], { env }), /checked 0 images, 0 layers, 0 blobs: no problems/);
  });

  test('a registry named in STRATA_INSECURE_REGISTRIES: HTTPS refused, then plain HTTP', async (t) => {
    const host = os.hostname();
    const addr = await dns.lookup(host).then((a) => a.address, () => '');
    if (addr !== '127.0.0.1' || /^localhost$|^127\./.test(host)) { t.skip(`${host} does not resolve to 127.0.0.1`); return; }
    const fresh = tmp('strata-reg-insecure-');
    t.after(() => fs.rmSync(fresh, { recursive: true, force: true }));
    const name = `${host}:${reg.port}/team/bb:v1`;
    const refused = await strataAsync(fresh, ['pull', name], { env });
    assert.equal(refused.stderr.trim(), `Error: Get "https://${host}:${reg.port}/v2/": http: server gave HTTP response to HTTPS client`);
    assert.equal(await strataAsyncOk(fresh, ['pull', '-q', name], { env: { ...env, STRATA_INSECURE_REGISTRIES: `other.example, ${host}:${reg.port}` } }), `${name}\n`);
  });

  test('ensureImage pulls a missing image as run does', async (t) => {
    const fresh = tmp('strata-reg-ensure-');
    t.after(() => fs.rmSync(fresh, { recursive: true, force: true }));
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const store = new StoreRoot(fresh);
    try {
      const logs: string[] = [];
      const msgs: JSONMessage[] = [];
      const got = await ensureImage(store, `${repo}:v1`, { log: (l) => logs.push(l), onProgress: (m) => msgs.push(m) });
      assert.equal(got, id);
      assert.deepEqual(logs, [`Unable to find image '${repo}:v1' locally`]);
      assert.ok(msgs.some((m) => m.status === `Status: Downloaded newer image for ${repo}:v1`));
      assert.ok(msgs.some((m) => m.status === 'Downloading' && m.progressDetail?.total), 'progress messages carry current/total');
      // present: no pull, no message
      logs.length = 0;
      assert.equal(await ensureImage(store, `${repo}:v1`, { log: (l) => logs.push(l) }), id);
      assert.deepEqual(logs, []);
      await assert.rejects(ensureImage(store, `${reg.addr}/none:x`, { pull: 'never' }), /No such image/);
    } finally {
      store.close();
      for (const k of Object.keys(env)) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; }
    }
  });
});
