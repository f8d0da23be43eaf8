import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges, emptyContainerConfig, serializeImageConfig, splitWords, COMMIT_CHANGES } from '../../src/image/config.js';
import { chainIds, sha256 } from '../../src/image/digest.js';

test('config serialisation: sorted top-level keys, Go struct order, HTML-safe escapes', () => {
  const config = applyChanges(emptyContainerConfig(), ['CMD ["sh","-c","echo a > /b && c"]', 'LABEL x=y', 'EXPOSE 80']);
  const s = serializeImageConfig({
    os: 'linux', architecture: 'amd64', author: 'Jane <j@x>', config,
    created: '2026-11-28T06:12:12.653983786Z', history: [{ created: '2026-11-28T06:12:12.653983786Z', comment: 'Imported from -' }],
    rootfs: { type: 'layers', diff_ids: ['sha256:' + '1'.repeat(64)] },
  });
  assert.ok(s.startsWith('{"architecture":"amd64","author":"Jane \\u003cj@x\\u003e","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false'), s);
  assert.ok(s.includes('"Cmd":["sh","-c","echo a \\u003e /b \\u0026\\u0026 c"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"x":"y"}}'), s);
  assert.ok(s.endsWith('"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:' + '1'.repeat(64) + '"]}}'), s);
  assert.equal(sha256(s), sha256(s));
});

test('--change parsing with Dockerfile semantics', () => {
  let c = applyChanges(emptyContainerConfig(), ['CMD echo hi', 'ENV A=1 B="two words"', 'ENV C 3 4', 'WORKDIR /w', 'WORKDIR sub', 'USER nobody', 'VOLUME ["/data"]', 'VOLUME /a /b', 'EXPOSE 8000-8001/udp 9000']);
  assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(c.Env, ['A=1', 'B=two words', 'C=3 4']);
  assert.equal(c.WorkingDir, '/w/sub');
  assert.equal(c.User, 'nobody');
  assert.deepEqual(Object.keys(c.Volumes!).sort(), ['/a', '/b', '/data']);
  assert.deepEqual(Object.keys(c.ExposedPorts!).sort(), ['8000/udp', '8001/udp', '9000/tcp']);
  c = applyChanges(c, ['ENTRYPOINT ["/bin/httpd"]']);
  assert.equal(c.Cmd, null, 'ENTRYPOINT resets Cmd');
  c = applyChanges(c, ['CMD ["-f"]', 'ENTRYPOINT ["/bin/x"]']);
  assert.deepEqual(c.Cmd, ['-f'], 'CMD earlier in the same list survives');
  assert.throws(() => applyChanges(c, ['STOPSIGNAL SIGKILL'], COMMIT_CHANGES), /^Error: stopsignal is not a valid change command$|stopsignal is not a valid change command/);
  assert.throws(() => applyChanges(c, ['FROM x']), /from is not a valid change command/);
  assert.throws(() => applyChanges(c, ['EXPOSE abc']), /Invalid containerPort: abc/);
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g`), ['a', 'b c', 'd e', 'f g']);
});

test('chain IDs follow the OCI definition', () => {
  const a = 'sha256:' + 'a'.repeat(64);
  const b = 'sha256:' + 'b'.repeat(64);
  const ch = chainIds([a, b]);
  assert.equal(ch[0], a);
  assert.equal(ch[1], sha256(`${a} ${b}`));
});
