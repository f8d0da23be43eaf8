import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, parseTaggedReference, canonicalString, familiarString, globMatch } from '../../src/image/reference.js';

test('normalises references as Docker does', () => {
  const cases: [string, string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest', 'nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25', 'nginx:1.25'],
    ['library/nginx', 'docker.io/library/nginx:latest', 'nginx:latest'],
    ['docker.io/library/nginx', 'docker.io/library/nginx:latest', 'nginx:latest'],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx:latest', 'nginx:latest'],
    ['user/app:v2', 'docker.io/user/app:v2', 'user/app:v2'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['localhost/a', 'localhost/a:latest', 'localhost/a:latest'],
    ['ghcr.io/o/r', 'ghcr.io/o/r:latest', 'ghcr.io/o/r:latest'],
    ['my-reg.example.com:443/x_y/z--w:1.0-rc', 'my-reg.example.com:443/x_y/z--w:1.0-rc', 'my-reg.example.com:443/x_y/z--w:1.0-rc'],
  ];
  for (const [input, canon, fam] of cases) {
    const r = parseTaggedReference(input);
    assert.equal(canonicalString(r), canon, input);
    assert.equal(familiarString(r), fam, input);
  }
});

test('digest references', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const r = parseReference(`nginx@${d}`);
  assert.equal(r.digest, d);
  assert.equal(r.tag, undefined);
  assert.equal(canonicalString(parseTaggedReference(`nginx@${d}`)), `docker.io/library/nginx@${d}`);
  assert.equal(canonicalString(parseReference(`nginx:1@${d}`)), `docker.io/library/nginx:1@${d}`);
});

test('invalid references get Docker errors', () => {
  assert.throws(() => parseReference('Nginx'), /invalid reference format: repository name must be lowercase/);
  assert.throws(() => parseReference('nginx:'), /^Error: invalid reference format$|invalid reference format/);
  assert.throws(() => parseReference(''), /invalid reference format/);
  assert.throws(() => parseReference('a//b'), /invalid reference format/);
  assert.throws(() => parseReference('-abc'), /invalid reference format/);
  assert.throws(() => parseReference('abc:tag with space'), /invalid reference format/);
  assert.throws(() => parseReference('abc@sha256:123'), /invalid reference format/);
  assert.throws(() => parseReference('a'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
  assert.throws(() => parseReference(':tag'), /invalid reference format/);
});

test('glob matching as Go path.Match', () => {
  assert.ok(globMatch('sem-*', 'sem-child'));
  assert.ok(!globMatch('sem', 'sem-child'));
  assert.ok(globMatch('a/*', 'a/b'));
  assert.ok(!globMatch('*', 'a/b'));
  assert.ok(globMatch('n?inx', 'nginx'));
});
