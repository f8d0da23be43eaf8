/**
 * `strata build` end to end: real builds on the busybox image (RUN in runc containers,
 * layers from overlay upper dirs), each image run afterwards; failures, the cache,
 * multi-stage, mounts, ADD, reproducibility.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI, containerRoot, strata, strataOk, tempDir } from '../helpers.js';
import { ctx, twoRootsWithOneBusybox } from './helpers.js';


function build(root: string, dir: string, args: string[] = [], env: Record<string, string> = {}) {
  return strata(root, ['build', '--progress', 'plain', ...args, dir], { env });
}

function buildOk(root: string, dir: string, args: string[] = [], env: Record<string, string> = {}): { id: string; log: string } {
  const r = build(root, dir, args, env);
  if (r.code !== 0) throw new Error(`build failed (${r.code}): ${r.stderr}`);
  const m = /writing image (sha256:[0-9a-f]{64})/.exec(r.stderr);
  assert.ok(m, r.stderr);
  return { id: m[1]!, log: r.stderr };
}

function inspect(root: string, ref: string): Record<string, any> {
  return JSON.parse(strataOk(root, ['image', 'inspect', ref]))[0];
}

function history(root: string, ref: string): string[] {
  return strataOk(root, ['history', '--no-trunc', '--format', '{{.CreatedBy}}', ref]).replace(/\n$/, '').split('\n');
}

test('every instruction: config, history and files as BuildKit makes them', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    'Dockerfile': [
      '# syntax=docker/dockerfile:1',
      'FROM busybox',
      'ARG A=1',
      'ARG B',
      'ENV FOO=bar \\',
      '    BAZ="x y"',
      'LABEL version="1.0" "with space"=yes',
      'WORKDIR app',
      'WORKDIR sub',
      'COPY hello.txt ./',
      'COPY dir/ /copied/',
      'COPY --chown=nobody:nogroup --chmod=600 hello.txt /owned.txt',
      'RUN echo "$FOO $A [$B]" > out.txt && id -u > /uid-before',
      'RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]',
      'USER nobody',
      'RUN id -u > /tmp/uid',
      'EXPOSE 80 8000-8001/udp',
      'VOLUME ["/data"]',
      'STOPSIGNAL SIGQUIT',
      'HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- localhost || exit 1',
      'ONBUILD RUN echo from-trigger > /tmp/trigger',
      'SHELL ["/bin/sh", "-ec"]',
      'ENTRYPOINT ["/bin/sh", "-c", "exec \\"$0\\" \\"$@\\""]',
      'CMD cat /app/sub/out.txt',
      '',
    ].join('\n'),
    'hello.txt': 'hello\n',
    'dir/a.txt': 'a\n',
    'dir/nested/b.txt': 'b\n',
  });
  const { id } = buildOk(root, dir, ['-t', 'every', '--build-arg', 'B=bee', '--label', 'extra=1']);
  const img = inspect(root, 'every');
  assert.equal(img.Id, id);
  const c = img.Config;
  assert.deepEqual(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=bar', 'BAZ=x y']);
  assert.equal(c.WorkingDir, '/app/sub');
  assert.equal(c.User, 'nobody');
  assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '8000/udp': {}, '8001/udp': {} });
  assert.deepEqual(c.Volumes, { '/data': {} });
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O- localhost || exit 1'], Interval: 30e9, Timeout: 3e9 });
  assert.deepEqual(c.OnBuild, ['RUN echo from-trigger > /tmp/trigger']);
  assert.deepEqual(c.Shell, ['/bin/sh', '-ec']);
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', 'exec "$0" "$@"']);
  assert.deepEqual(c.Cmd, ['/bin/sh', '-ec', 'cat /app/sub/out.txt']);
  assert.equal(c.ArgsEscaped, true);
  assert.deepEqual(c.Labels, { version: '1.0', 'with space': 'yes', extra: '1' });
  const h = history(root, 'every').reverse().slice(1);
  assert.deepEqual(h, [
    'ARG A=1',
    'ARG B',
    'ENV FOO=bar BAZ=x y',
    'LABEL version=1.0 with space=yes',
    'WORKDIR /app',
    'WORKDIR /app/sub',
    'COPY hello.txt ./ # buildkit',
    'COPY dir/ /copied/ # buildkit',
    'COPY hello.txt /owned.txt # buildkit',
    'RUN |2 A=1 B=bee /bin/sh -c echo "$FOO $A [$B]" > out.txt && id -u > /uid-before # buildkit',
    'RUN |2 A=1 B=bee /bin/sh -c echo exec-form > /exec.txt # buildkit',
    'USER nobody',
    'RUN |2 A=1 B=bee /bin/sh -c id -u > /tmp/uid # buildkit',
    'EXPOSE map[80/tcp:{} 8000/udp:{} 8001/udp:{}]',
    'VOLUME [/data]',
    'STOPSIGNAL SIGQUIT',
    'HEALTHCHECK &{["CMD-SHELL" "wget -q -O- localhost || exit 1"] "30s" "3s" "0s" \'\\x00\'}',
    'SHELL [/bin/sh -ec]',
    'ENTRYPOINT ["/bin/sh" "-c" "exec \\"$0\\" \\"$@\\""]',
    'CMD ["/bin/sh" "-ec" "cat /app/sub/out.txt"]',
  ]);
  // one layer per RUN, COPY and WORKDIR
  assert.equal(img.RootFS.Layers.length, 1 + 2 + 3 + 3);
  // run it: CMD through the ENTRYPOINT
  assert.equal(strataOk(root, ['run', '--rm', 'every']), 'bar 1 [bee]\n');
  const files = strataOk(root, ['run', '--rm', '--entrypoint', 'sh', 'every', '-c',
    'cat /app/sub/hello.txt /copied/a.txt /copied/nested/b.txt /exec.txt /tmp/uid /uid-before; stat -c "%u:%g %a" /owned.txt; stat -c "%U" /app']);
  assert.equal(files, 'hello\na\nb\nexec-form\n65534\n0\n65534:65534 600\nroot\n');

  // ONBUILD writes no history entry (BuildKit); its trigger runs in the child and writes the
  // entry any RUN writes, with the stage's shell
  const child = ctx(t, { Dockerfile: 'FROM every\nUSER root\nRUN cat /tmp/trigger\n' });
  buildOk(root, child, ['-t', 'child']);
  assert.equal(inspect(root, 'child').Config.OnBuild, null);
  assert.deepEqual(history(root, 'child').slice(0, 3).reverse(), [
    'RUN /bin/sh -ec echo from-trigger > /tmp/trigger # buildkit',
    'USER root',
    'RUN /bin/sh -ec cat /tmp/trigger # buildkit',
  ]);
  assert.equal(inspect(root, 'child').RootFS.Layers.length, 9 + 2);
  assert.equal(strataOk(root, ['run', '--rm', '--entrypoint', 'cat', 'child', '/tmp/trigger']), 'from-trigger\n');
});

test('failures: BuildKit words, exit 1, nothing tagged', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const cases: Array<[string, string[], string]> = [
    ['FROM busybox\nRUN echo before && exit 3\n', [], 'executor failed running [/bin/sh -c echo before && exit 3]: exit code: 3'],
    ['FROM busybox\nRUN ["sh", "-c", "exit 7"]\n', [], 'executor failed running [sh -c exit 7]: exit code: 7'],
    ['FROM busybox\nCOPY missing.txt /\n', [], 'failed to compute cache key: "/missing.txt" not found: not found'],
    ['FROM busybox\nRUN true\nFROBNICATE x\n', [], 'failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: FROBNICATE'],
    ['FROM busybox AS a\nRUN true\n', ['--target', 'nosuchstage'], 'failed to solve with frontend dockerfile.v0: failed to create LLB definition: target stage nosuchstage could not be found'],
    ['FROM 127.0.0.1:1/nosuchimage\nRUN true\n', [], 'failed to solve with frontend dockerfile.v0: failed to create LLB definition: '],
  ];
  for (const [df, args, words] of cases) {
    const dir = ctx(t, { Dockerfile: df });
    const r = build(root, dir, ['-t', 'failed', ...args]);
    assert.equal(r.code, 1, df);
    const last = r.stderr.trim().split('\n').pop()!;
    if (words.endsWith(': ')) assert.ok(last.startsWith(words), last);
    else assert.equal(last, words, df);
    assert.equal(strata(root, ['image', 'inspect', 'failed']).code, 1);
  }
  // the output of the failing RUN is shown
  const r = build(root, ctx(t, { Dockerfile: 'FROM busybox\nRUN echo before && exit 3\n' }));
  assert.match(r.stderr, /#\d+ [0-9.]+ before\n/);
});

test('cache: unchanged rebuild runs nothing, same ID; content changes rerun from the first reader; --no-cache', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    Dockerfile: 'FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n',
    'a.txt': 'a\n', 'b.txt': 'b\n', 'ignored.txt': 'x\n', '.dockerignore': 'ignored.txt\n',
  });
  const first = buildOk(root, dir, ['-t', 'cached']);
  assert.doesNotMatch(first.log, /CACHED/);
  const again = buildOk(root, dir);
  assert.equal(again.id, first.id);
  assert.equal((again.log.match(/#\d+ CACHED/g) ?? []).length, 4);
  assert.doesNotMatch(again.log, /#\d+ [0-9.]+ /); // no process ran
  // a new mtime alone, or an ignored file, invalidates nothing
  const later = new Date(Date.now() + 60000);
  fs.utimesSync(path.join(dir, 'a.txt'), later, later);
  fs.writeFileSync(path.join(dir, 'ignored.txt'), 'changed\n');
  assert.equal(buildOk(root, dir).id, first.id);
  // new content in a.txt: RUN one stays cached, COPY a.txt and everything after reruns
  fs.writeFileSync(path.join(dir, 'a.txt'), 'A\n');
  const changed = buildOk(root, dir, ['-t', 'cached']);
  assert.notEqual(changed.id, first.id);
  const cachedSteps = [...changed.log.matchAll(/#(\d+) \[(\d)\/5\] (RUN|COPY)[^\n]*\n(?:#\1 CACHED)?/g)].map((m) => `${m[2]} ${m[0].includes('CACHED') ? 'cached' : 'ran'}`);
  assert.deepEqual(cachedSteps, ['2 cached', '3 ran', '4 ran', '5 ran']);
  assert.equal(strataOk(root, ['run', '--rm', 'cached', 'cat', '/copy']), 'A\n');
  // --no-cache runs everything again
  const nc = buildOk(root, dir, ['--no-cache']);
  assert.doesNotMatch(nc.log, /CACHED/);
  // the cache shows in system df, and builder prune empties it
  assert.match(strataOk(root, ['system', 'df']), /Build Cache\s+[1-9]/);
  assert.match(strataOk(root, ['builder', 'prune', '-a', '-f']), /Total reclaimed space/);
  assert.match(strataOk(root, ['system', 'df']), /Build Cache\s+0\s/);
  // images built before still run (their layers are theirs)
  assert.equal(strataOk(root, ['run', '--rm', 'cached', 'cat', '/one']), 'one\n');
  assert.doesNotMatch(buildOk(root, dir).log, /CACHED/);
  // system prune removes the build cache too
  assert.match(strataOk(root, ['system', 'prune', '-f']), /Deleted build cache objects:/);
  assert.match(strataOk(root, ['system', 'df']), /Build Cache\s+0\s/);
});

test('multi-stage: only needed stages, in parallel; --target; COPY --from name, index and image', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    Dockerfile: [
      'FROM busybox AS left',
      'RUN sleep 1 && echo left > /left',
      'FROM busybox AS right',
      'RUN sleep 1 && echo right > /right',
      'FROM busybox AS broken',
      'RUN exit 1',
      'FROM busybox',
      'COPY --from=left /left /out/',
      'COPY --from=1 /right /out/',
      'COPY --from=busybox /etc/passwd /out/passwd',
      'CMD ["cat", "/out/left", "/out/right"]',
    ].join('\n'),
  });
  const { log } = buildOk(root, dir, ['-t', 'multi']);
  assert.doesNotMatch(log, /exit 1/); // the unused stage is never built
  // both RUNs start before either is done
  const lines = log.split('\n');
  const startL = lines.findIndex((l) => /\[left 2\/2\] RUN/.test(l));
  const startR = lines.findIndex((l) => /\[right 2\/2\] RUN/.test(l));
  const firstDone = lines.findIndex((l, i) => i > Math.min(startL, startR) && /^#\d+ DONE/.test(l) && (l.startsWith(lines[startL]!.split(' ')[0]!) || l.startsWith(lines[startR]!.split(' ')[0]!)));
  assert.ok(startL > 0 && startR > 0 && firstDone > Math.max(startL, startR), log);
  assert.equal(strataOk(root, ['run', '--rm', 'multi']), 'left\nright\n');
  assert.match(strataOk(root, ['run', '--rm', 'multi', 'cat', '/out/passwd']), /^root:/);
  // --target builds only that stage and what it needs
  const tl = buildOk(root, dir, ['--target', 'right', '-t', 'right']).log;
  assert.doesNotMatch(tl, /\[left/);
  assert.equal(strataOk(root, ['run', '--rm', 'right', 'cat', '/right']), 'right\n');
});

test('RUN mounts: cache kept between builds, bind from context and stage, tmpfs, secret; --network none', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const secret = path.join(tempDir(t), 'token');
  fs.writeFileSync(secret, 's3cret');
  const dir = ctx(t, {
    Dockerfile: [
      'FROM busybox AS src',
      'RUN echo from-stage > /staged',
      'FROM busybox',
      'ARG N=1',
      'RUN --mount=type=cache,target=/cache echo $N >> /cache/runs && cat /cache/runs | wc -l > /runs',
      'RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /from-bind',
      'RUN --mount=type=bind,from=src,source=/staged,target=/mnt/staged cat /mnt/staged > /from-stage',
      'RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs-list',
      'RUN --mount=type=secret,id=token cat /run/secrets/token > /secret-copy-is-bad-practice && ls /run/secrets',
      'RUN --network=none sh -c "ls /sys/class/net | sort | tr \'\\n\' \' \'" > /nets',
    ].join('\n'),
    'data.txt': 'bound\n',
  });
  buildOk(root, dir, ['-t', 'mounts', '--secret', `id=token,src=${secret}`]);
  const read = (f: string) => strataOk(root, ['run', '--rm', 'mounts', 'cat', f]);
  assert.equal(read('/runs').trim(), '1');
  assert.equal(read('/from-bind'), 'bound\n');
  assert.equal(read('/from-stage'), 'from-stage\n');
  assert.equal(read('/tmpfs-list'), 'x\n');
  assert.equal(read('/secret-copy-is-bad-practice'), 's3cret');
  assert.equal(read('/nets').trim(), 'lo');
  // mount points leave nothing in the layers
  assert.equal(strata(root, ['run', '--rm', 'mounts', 'ls', '/cache', '/scratch', '/run/secrets/token']).code, 1);
  // the cache mount keeps its content for the next build
  buildOk(root, dir, ['-t', 'mounts', '--build-arg', 'N=2', '--secret', `id=token,src=${secret}`]);
  assert.equal(read('/runs').trim(), '2');
});

test('ADD: local archives extracted, URL with --checksum from a local server', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, { 'payload/inner.txt': 'inner\n' });
  execFileSync('tar', ['-czf', path.join(dir, 'p.tgz'), '-C', path.join(dir, 'payload'), 'inner.txt']);
  execFileSync('tar', ['-cJf', path.join(dir, 'p.txz'), '-C', path.join(dir, 'payload'), 'inner.txt']);
  const body = 'served over http\n';
  const sum = 'sha256:' + createHash('sha256').update(body).digest('hex');
  // in its own process: the CLI runs synchronously here
  const server = spawn(process.execPath, ['-e', `require('http').createServer((q, r) => { r.writeHead(200, { 'Last-Modified': 'Wed, 01 Jan 2020 00:00:00 GMT' }); r.end(${JSON.stringify(body)}); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { server.kill(); });
  const port = await new Promise<number>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), [
    'FROM busybox',
    'ADD p.tgz /gz/',
    'ADD p.txz /xz',
    `ADD --checksum=${sum} http://127.0.0.1:${port}/files/remote.txt /remote/`,
  ].join('\n'));
  buildOk(root, dir, ['-t', 'adds']);
  assert.equal(strataOk(root, ['run', '--rm', 'adds', 'cat', '/gz/inner.txt', '/xz/inner.txt', '/remote/remote.txt']), `inner\ninner\n${body}`);
  assert.equal(strataOk(root, ['run', '--rm', 'adds', 'stat', '-c', '%a %Y', '/remote/remote.txt']), '600 1577836800\n');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/x /x\n`);
  const bad = build(root, dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /digest mismatch/);
});

test('SOURCE_DATE_EPOCH: two clean builds in two roots give the same image ID', { timeout: 180000 }, (t) => {
  const dir = ctx(t, { Dockerfile: 'FROM busybox\nCOPY f /f\nRUN echo built > /built && touch /stamp\nENV X=1\n', f: 'content\n' });
  const [r1, r2] = twoRootsWithOneBusybox(t);
  const ids = [r1, r2].map((root) => buildOk(root, dir, [], { SOURCE_DATE_EPOCH: '1700000000' }).id);
  assert.equal(ids[0], ids[1]);
});

test('hygiene report, --exclude-noise, provenance in history, heredocs', { timeout: 180000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    Dockerfile: [
      'FROM busybox',
      'RUN mkdir -p /var/log /var/cache/apk && echo x > /var/log/app.log && echo y > /var/cache/apk/APKINDEX && echo keep > /kept',
      'RUN <<EOF',
      'echo heredoc-ran > /heredoc',
      'echo second-line >> /heredoc',
      'EOF',
      'COPY <<EOT /etc/motd',
      'welcome',
      'EOT',
      'COPY a.txt b.txt /onefile',
    ].join('\n'),
    'a.txt': 'a\n', 'b.txt': 'b\n',
  });
  const noisy = build(root, dir, ['-t', 'noisy']);
  assert.equal(noisy.code, 0, noisy.stderr);
  assert.match(noisy.stderr, /Noise captured in the image's layers/);
  assert.match(noisy.stderr, /line 2 RUN mkdir[^\n]*\n\s+logs: 1 file, 2B/);
  assert.match(noisy.stderr, /package caches and lists: 1 file, 2B/);
  assert.equal(strataOk(root, ['run', '--rm', 'noisy', 'cat', '/var/log/app.log', '/heredoc', '/etc/motd', '/onefile']), 'x\nheredoc-ran\nsecond-line\nwelcome\nb\n');
  const clean = build(root, dir, ['-t', 'clean', '--exclude-noise', '--no-cache']);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stderr, /logs: 1 file, 2B \(excluded\)/);
  assert.equal(strata(root, ['run', '--rm', 'clean', 'cat', '/var/log/app.log']).code, 1);
  assert.equal(strataOk(root, ['run', '--rm', 'clean', 'cat', '/kept']), 'keep\n');
  // provenance: each step's Dockerfile line
  const src = strataOk(root, ['history', '--format', '{{.Source}}', 'noisy']).split('\n').filter(Boolean);
  assert.deepEqual(src, ['Dockerfile:10', 'Dockerfile:7', 'Dockerfile:3', 'Dockerfile:2']);
  assert.match(strataOk(root, ['history', '--source', 'noisy']).split('\n')[0]!, /SOURCE$/);
});

test('two builds of the same steps at once: each step runs once, both get the same image', { timeout: 120000 }, async (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, { Dockerfile: 'FROM busybox\nRUN --mount=type=cache,target=/c,sharing=locked sleep 1 && echo run >> /c/count && cp /c/count /count\n' });
  const run = () => new Promise<{ code: number; out: string }>((resolve) => {
    const env = { ...process.env, STRATA_ROOT: root } as Record<string, string>;
    delete env.NODE_EXTRA_CA_CERTS;
    const p = spawn(process.execPath, [CLI, 'build', '-q', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => resolve({ code: code ?? -1, out: out.trim() }));
  });
  const [a, b] = await Promise.all([run(), run()]);
  assert.equal(a.code, 0);
  assert.equal(b.code, 0);
  assert.equal(a.out, b.out);
  assert.equal(strataOk(root, ['run', '--rm', a.out, 'cat', '/count']), 'run\n');
});

test('.dockerignore in the build: excluded dirs, ! exceptions inside them, ** patterns', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  const dir = ctx(t, {
    Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort > /list\n',
    '.dockerignore': 'build\n!build/keep.txt\n**/*.tmp\nDockerfile\n',
    'build/out.o': 'o', 'build/keep.txt': 'k', 'src/a.c': 'a', 'src/deep/x.tmp': 'x', 'top.tmp': 't',
  });
  buildOk(root, dir, ['-t', 'ignored']);
  assert.equal(strataOk(root, ['run', '--rm', 'ignored', 'cat', '/list']), './.dockerignore\n./build/keep.txt\n./src/a.c\n');
});
