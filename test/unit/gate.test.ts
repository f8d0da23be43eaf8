/**
 * The efficiency gate's rules (dive's semantics) and the history-to-Dockerfile
 * reading the explorer shows, as pure functions over real inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeLayers } from '../../src/changes/index.js';
import { evaluateGate, loadRules, parseBytes, parseRulesFile, DEFAULT_RULES } from '../../src/engine/gate.js';
import { dockerfileLine } from '../../src/engine/explore.js';

test('parseBytes reads sizes as go-humanize does', () => {
  assert.equal(parseBytes('20MB'), 20_000_000);
  assert.equal(parseBytes('20 mb'), 20_000_000);
  assert.equal(parseBytes('20MiB'), 20 * 1024 * 1024);
  assert.equal(parseBytes('1.5 GB'), 1_500_000_000);
  assert.equal(parseBytes('42'), 42);
  assert.equal(parseBytes('1k'), 1000);
  assert.throws(() => parseBytes('lots'), /invalid syntax/);
  assert.throws(() => parseBytes('5 parsecs'), /unhandled size name: parsecs/);
});

test('the gate: dive\'s rules, disabled rules skipped, a bad value misconfigures the run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-gate-'));
  try {
    // a stack wasting 10 of 110 bytes: one file written twice
    fs.mkdirSync(path.join(dir, 'l0'));
    fs.mkdirSync(path.join(dir, 'l1'));
    fs.writeFileSync(path.join(dir, 'l0', 'base'), Buffer.alloc(100));
    fs.writeFileSync(path.join(dir, 'l0', 'f'), Buffer.alloc(5));
    fs.writeFileSync(path.join(dir, 'l1', 'f'), Buffer.alloc(5));
    const a = analyzeLayers([path.join(dir, 'l0'), path.join(dir, 'l1')]);
    assert.deepEqual([a.inefficientBytes, a.efficiencyScore, a.userWastedPercent], [10, 105 / 110, 2]);
    const g = evaluateGate(a, { ...DEFAULT_RULES });
    assert.deepEqual(g.results.map((r) => [r.key, r.status]), [['highestUserWastedPercent', 'FAIL'], ['highestWastedBytes', 'SKIP'], ['lowestEfficiency', 'PASS']]);
    assert.deepEqual([g.pass, g.misconfigured, g.tally], [false, false, { total: 3, pass: 1, fail: 1, warn: 0, skip: 1 }]);
    const ok = evaluateGate(a, { lowestEfficiency: '0.95', highestWastedBytes: '10B', highestUserWastedPercent: 'disabled' });
    assert.equal(ok.pass, true);
    const over = evaluateGate(a, { lowestEfficiency: 'disabled', highestWastedBytes: '9', highestUserWastedPercent: 'disabled' });
    assert.equal(over.results.find((r) => r.key === 'highestWastedBytes')!.message, 'too many bytes wasted (wasted-bytes=10 > threshold=9)');
    const bad = evaluateGate(a, { lowestEfficiency: 'high', highestWastedBytes: '9', highestUserWastedPercent: '2' });
    assert.deepEqual([bad.pass, bad.misconfigured], [false, true]);
    assert.deepEqual(bad.results.map((r) => r.status), ['MISCONFIGURED', 'PASS', 'MISCONFIGURED']);
    // a rules file, then flags over it
    const file = path.join(dir, 'ci');
    fs.writeFileSync(file, 'plugins: []\nrules:\n  # thresholds\n  lowestEfficiency: 0.5\n  highestWastedBytes: \'1KB\'\nother:\n  lowestEfficiency: 0.99\n');
    assert.deepEqual(parseRulesFile(fs.readFileSync(file, 'utf8'), file), { lowestEfficiency: '0.5', highestWastedBytes: '1KB' });
    assert.deepEqual(loadRules({ file, flags: { highestWastedBytes: 'disabled' } }), { lowestEfficiency: '0.5', highestWastedBytes: 'disabled', highestUserWastedPercent: '0.1' });
    fs.writeFileSync(file, 'rules:\n  - lowestEfficiency\n');
    assert.throws(() => loadRules({ file }), /ci:2: cannot parse "- lowestEfficiency"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a history entry as the Dockerfile line that made it', () => {
  assert.equal(dockerfileLine('/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]'), 'CMD ["nginx" "-g" "daemon off;"]');
  assert.equal(dockerfileLine('/bin/sh -c #(nop) ADD file:ce026b62 in / '), 'ADD file:ce026b62 /');
  assert.equal(dockerfileLine('/bin/sh -c apt-get update && apt-get install -y curl'), 'RUN apt-get update && apt-get install -y curl');
  assert.equal(dockerfileLine('RUN /bin/sh -c make install # buildkit'), 'RUN make install');
  assert.equal(dockerfileLine('COPY app /app # buildkit'), 'COPY app /app');
  assert.equal(dockerfileLine('sh -c echo hi'), '');
  assert.equal(dockerfileLine(''), '');
});
