/**
 * `strata image analyze` on a real store: a busybox image, a commit that writes
 * a 100 kB file and a directory, a commit that deletes them; the text report,
 * dive's JSON export shape, and the --ci gate's exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerRoot, strata, strataOk, tempDir } from '../helpers.js';

test('image analyze: text, dive JSON, and the CI gate on a stack with waste', (t) => {
  const root = containerRoot(t);
  strataOk(root, ['run', '--name', 'c1', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1k count=100 2>/dev/null; mkdir -p /data/sub; echo hello > /data/sub/a.txt; echo 1 > /var/run.pid']);
  strataOk(root, ['commit', 'c1', 'step1']);
  strataOk(root, ['run', '--name', 'c2', 'step1', 'sh', '-c', 'rm /big; rm -rf /data; echo bye > /etc/motd']);
  strataOk(root, ['commit', 'c2', 'step2']);

  const text = strataOk(root, ['image', 'analyze', 'step2']);
  assert.match(text, /^Image: step2:latest \(sha256:[0-9a-f]{64}\)$/m);
  assert.match(text, /^Wasted bytes: 102406 \(102kB\)$/m);
  assert.match(text, /^ {2}2 {6}102kB {3}\/big$/m);
  assert.match(text, /^ {2}2 {6}6B {6}\/data\/sub\/a\.txt$/m);
  assert.match(text, /^ {2}1 .* sh -c dd if=\/dev\/zero/m);
  assert.match(text, /^ {2}layer 1: pid files and run state: 1 file, 2B \(\/var\/run\.pid\)$/m);

  const j = JSON.parse(strataOk(root, ['image', 'analyze', '--format', 'json', 'step2']));
  assert.deepEqual(Object.keys(j), ['layer', 'image']);
  assert.deepEqual(j.layer.map((l: { index: number }) => l.index), [0, 1, 2]);
  for (const l of j.layer) {
    assert.deepEqual(Object.keys(l), ['index', 'id', 'digestId', 'sizeBytes', 'command']);
    assert.match(l.digestId, /^sha256:[0-9a-f]{64}$/);
  }
  assert.equal(j.layer[1].sizeBytes, 102408);
  assert.match(j.layer[2].command, /^sh -c rm \/big/);
  assert.deepEqual(Object.keys(j.image), ['sizeBytes', 'inefficientBytes', 'efficiencyScore', 'fileReference']);
  assert.equal(j.image.inefficientBytes, 102406);
  assert.deepEqual(j.image.fileReference, [{ count: 2, sizeBytes: 102400, file: '/big' }, { count: 2, sizeBytes: 6, file: '/data/sub/a.txt' }]);
  assert.equal(j.image.sizeBytes, j.layer.reduce((s: number, l: { sizeBytes: number }) => s + l.sizeBytes, 0));
  // efficiency = Σ min / Σ all references: the deleted copies' bytes are in the denominator only
  assert.ok(Math.abs(j.image.efficiencyScore - (j.image.sizeBytes - 102406) / j.image.sizeBytes) < 1e-9, String(j.image.efficiencyScore));

  // the gate: dive's default rules fail on user wasted percent
  const fail = strata(root, ['image', 'analyze', '--ci', 'step2']);
  assert.equal(fail.code, 1, fail.stderr);
  assert.match(fail.stdout, /^ {2}FAIL: highestUserWastedPercent: too many bytes wasted, relative to the user bytes added \(%-user-wasted-bytes=0\.9999\d* > threshold=0\.1\)$/m);
  assert.match(fail.stdout, /^ {2}SKIP: highestWastedBytes: rule disabled$/m);
  assert.match(fail.stdout, /^ {2}PASS: lowestEfficiency$/m);
  assert.match(fail.stdout, /^Result:FAIL \[Total:3\] \[Passed:1\] \[Failed:1\] \[Warn:0\] \[Skipped:1\]$/m);
  // flags set each rule
  const pass = strata(root, ['image', 'analyze', '--ci', '--highest-user-wasted-percent', '1', '--highest-wasted-bytes', '200kB', '--lowest-efficiency', '0.9', 'step2']);
  assert.equal(pass.code, 0, pass.stdout + pass.stderr);
  assert.match(pass.stdout, /^Result:PASS \[Total:3\] \[Passed:3\] \[Failed:0\] \[Warn:0\] \[Skipped:0\]$/m);
  const bytes = strata(root, ['image', 'analyze', '--ci', '--highest-user-wasted-percent', 'disabled', '--highest-wasted-bytes', '100KiB', 'step2']);
  assert.equal(bytes.code, 1);
  assert.match(bytes.stdout, /FAIL: highestWastedBytes: too many bytes wasted \(wasted-bytes=102406 > threshold=102400\)/);
  // a rules file in dive's .dive-ci shape, found in the working directory; flags win over it
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '.strata-ci'), '# the gate\nrules:\n  lowestEfficiency: 0.99\n  highestWastedBytes: disabled\n  highestUserWastedPercent: "disabled"\n');
  const file = strata(root, ['image', 'analyze', '--ci', 'step2'], { cwd: dir });
  assert.equal(file.code, 1);
  assert.match(file.stdout, /FAIL: lowestEfficiency: image efficiency is too low \(efficiency=0\.95\d* < threshold=0\.99\)/);
  assert.equal(strata(root, ['image', 'analyze', '--ci', '--lowest-efficiency', '0.5', 'step2'], { cwd: dir }).code, 0);
  // JSON and the gate together: JSON on stdout, the verdict on stderr and in the exit code
  const both = strata(root, ['image', 'analyze', '--ci', '--format', 'json', 'step2']);
  assert.equal(both.code, 1);
  assert.equal(JSON.parse(both.stdout).image.inefficientBytes, 102406);
  assert.match(both.stderr, /Result:FAIL/);
  // a rule value that does not parse: misconfigured, nothing evaluated, exit 1
  const bad = strata(root, ['image', 'analyze', '--ci', '--lowest-efficiency', '1.5', 'step2']);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /MISCONFIGURED: lowestEfficiency: lowestEfficiency config value is outside allowed range \(0-1\), given '1\.5'/);
  assert.match(bad.stdout, /^CI Misconfigured$/m);
  // the base image alone has nothing wasted and passes the default rules
  const base = strata(root, ['image', 'analyze', '--ci', 'busybox']);
  assert.equal(base.code, 0, base.stdout);
  assert.match(base.stdout, /^Wasted paths: none$/m);
});

test('image analyze and explore: bad input is one line and a non-zero exit', (t) => {
  const root = containerRoot(t);
  const missing = strata(root, ['image', 'analyze', 'nosuch']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'Error: No such image: nosuch:latest\n');
  const fmt = strata(root, ['image', 'analyze', '--format', 'yaml', 'busybox']);
  assert.notEqual(fmt.code, 0);
  assert.equal(fmt.stderr.trim().split('\n').length, 1);
  const explore = strata(root, ['explore', 'nosuch']);
  assert.equal(explore.code, 1);
  assert.equal(explore.stderr, 'Error: No such image or container: nosuch\n');
  const port = strata(root, ['explore', '--port', 'x80']);
  assert.notEqual(port.code, 0);
  assert.match(port.stderr, /invalid port "x80"/);
  const remote = strata(root, ['explore', '--host', '0.0.0.0']);
  assert.notEqual(remote.code, 0);
  assert.match(remote.stderr, /not a loopback address/);
  const norules = strata(root, ['image', 'analyze', '--lowest-efficiency', '0.5', 'busybox']);
  assert.notEqual(norules.code, 0);
  assert.match(norules.stderr, /with --ci/);
});
