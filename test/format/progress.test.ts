import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  formatProgress,
  JSONMessageDecoder,
  JSONMessageError,
  progressBar,
  ProgressRenderer,
  renderJSONMessages,
  type JSONMessage,
} from '../../src/format/index.js';

const pull: JSONMessage[] = [
  { status: 'Pulling from library/bbox', id: 'latest' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa111' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb222' },
  { status: 'Downloading', progressDetail: { current: 1200000, total: 3400000 }, progress: '[=>   ] 1.2MB/3.4MB', id: 'aaa111' },
  { status: 'Downloading', progressDetail: { current: 500, total: 1000 }, progress: 'x', id: 'bbb222' },
  { status: 'Verifying Checksum', progressDetail: {}, id: 'aaa111' },
  { status: 'Download complete', progressDetail: {}, id: 'aaa111' },
  { status: 'Extracting', progressDetail: { current: 3400000, total: 3400000 }, id: 'aaa111' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaa111' },
  { status: 'Pull complete', progressDetail: {}, id: 'bbb222' },
  { status: 'Digest: sha256:abc' },
  { status: 'Status: Downloaded newer image for bbox:latest' },
];

test('progressBar / formatProgress: the CLI progress text', () => {
  assert.equal(progressBar(1200000, 3400000), '[=================>                                 ]    1.2MB/3.4MB');
  assert.equal(progressBar(500, 1000), '[=========================>                         ]     500B/1kB');
  assert.equal(progressBar(3400000, 3400000), '[==================================================>]    3.4MB/3.4MB');
  assert.equal(progressBar(1200000, 3400000, 80), '   1.2MB/3.4MB');
  assert.equal(formatProgress({ current: 0, total: 0 }), '');
  assert.equal(formatProgress({}), '');
  assert.equal(formatProgress({ current: 5000 }), '     5kB');
  assert.equal(formatProgress({ current: 4000, total: 3000 }), '[==================================================>]      4kB');
  assert.equal(formatProgress({ current: 3, total: 10, units: 'files' }), '[===============>                                   ] 3/10 files');
  assert.equal(formatProgress({ current: 3, total: 10, hidecounts: true }), '[===============>                                   ] ');
  // time left: 10 s for the first half, so 10 s for the second
  const now = 1_700_000_010_000;
  assert.equal(formatProgress({ current: 50, total: 100, start: 1_700_000_000 }, { now }), '[=========================>                         ]      50B/100B 10s');
});

test('non-terminal output: progress lines are skipped (docker pull | cat)', () => {
  assert.equal(
    renderJSONMessages(pull, { isTerminal: false }),
    [
      'latest: Pulling from library/bbox',
      'aaa111: Pulling fs layer',
      'bbb222: Pulling fs layer',
      'aaa111: Verifying Checksum',
      'aaa111: Download complete',
      'aaa111: Pull complete',
      'bbb222: Pull complete',
      'Digest: sha256:abc',
      'Status: Downloaded newer image for bbox:latest',
      '',
    ].join('\n'),
  );
});

test('terminal output: one line per layer, rewritten in place', () => {
  const up = (n: number) => `\x1b[${n}A`;
  const down = (n: number) => `\x1b[${n}B`;
  const line = (s: string) => `\x1b[2K\r${s}\r`;
  const expected =
    'latest: Pulling from library/bbox\n' +
    '\n' + up(1) + line('aaa111: Pulling fs layer ') + down(1) +
    '\n' + up(1) + line('bbb222: Pulling fs layer ') + down(1) +
    up(2) + line('aaa111: Downloading [=================>                                 ]    1.2MB/3.4MB') + down(2) +
    up(1) + line('bbb222: Downloading [=========================>                         ]     500B/1kB') + down(1) +
    up(2) + line('aaa111: Verifying Checksum ') + down(2) +
    up(2) + line('aaa111: Download complete ') + down(2) +
    up(2) + line('aaa111: Extracting [==================================================>]    3.4MB/3.4MB') + down(2) +
    up(2) + line('aaa111: Pull complete ') + down(2) +
    up(1) + line('bbb222: Pull complete ') + down(1) +
    'Digest: sha256:abc\n' +
    'Status: Downloaded newer image for bbox:latest\n';
  assert.equal(renderJSONMessages(pull, { isTerminal: true, width: 200 }), expected);
});

test('stream, aux and error messages', () => {
  const aux: JSONMessage[] = [];
  let out = '';
  const r = new ProgressRenderer({ isTerminal: false, write: (s) => (out += s), onAux: (m) => aux.push(m) });
  r.push({ stream: 'Step 1/2 : FROM busybox\n' });
  r.push({ aux: { ID: 'sha256:abc' } });
  r.push({ status: 'Loaded image: bbox:latest' });
  assert.equal(out, 'Step 1/2 : FROM busybox\nLoaded image: bbox:latest\n');
  assert.equal(aux.length, 1);
  assert.throws(
    () => r.push({ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }),
    (e: unknown) => e instanceof JSONMessageError && e.message === 'manifest unknown',
  );
});

test('JSONMessageDecoder splits concatenated JSON values across chunks', () => {
  const d = new JSONMessageDecoder();
  assert.deepEqual(d.push('{"status":"a"}\r\n{"status":"b {'), [{ status: 'a' }]);
  assert.equal(d.idle, false);
  assert.deepEqual(d.push('}\\""}{"id":"x"}'), [{ status: 'b {}"' }, { id: 'x' }]);
  assert.equal(d.idle, true);
  assert.throws(() => d.push('nope'), SyntaxError);
});
