/** `strata stats`: Docker's columns from the container's cgroups and netns, --no-stream, --format, -a. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerRoot, strata, strataOk } from '../helpers.js';

test('stats --no-stream reads cgroups and the netns', { timeout: 120000 }, (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '-d', '--name', 'busy', '-m', '64m', 'busybox', 'sh', '-c', 'while :; do :; done']);
  strataOk(root, ['create', '--name', 'idle', 'busybox', 'true']);
  const lines = strataOk(root, ['stats', '--no-stream']).trimEnd().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
  assert.equal(lines.length, 2, 'running containers only');
  const m = /^([0-9a-f]{12})\s+busy\s+(\d+\.\d+)%\s+(\S+) \/ 64MiB\s+(\d+\.\d+)%\s+(\S+) \/ (\S+)\s+\S+ \/ \S+\s+(\d+)$/.exec(lines[1]!);
  assert.ok(m, lines[1]);
  assert.ok(Number(m[2]) > 20, `a busy loop uses CPU: ${m[2]}%`);
  assert.equal(m[7], '1');
  assert.equal(strataOk(root, ['stats', '--no-stream', '--format', '{{.Name}}:{{.PIDs}}', 'busy']), 'busy:1\n');
  assert.match(strataOk(root, ['stats', '--no-stream', '-a', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}}']), /^idle -- -- \/ --$/m);
  const r = strata(root, ['stats', '--no-stream', 'nope']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /No such container: nope/);
  strataOk(root, ['rm', '-f', 'busy', 'idle']);
});
