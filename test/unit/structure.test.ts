/**
 * The house rules, checked on the source: which module may import which (dependencies run
 * downward; doors reach the system only through the engine), no import cycles, no exports
 * that nothing uses. Reads src/, test/ and bench/ of the checkout with the TypeScript parser.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readProject, moduleOf, fileCycles, unusedExports, type ProjectGraph } from './import-graph.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Allowed imports between modules (folders under src/). Read from the bottom up:
 * `base` is the leaf; `sys` is the one door to the kernel; services sit above them; `engine`
 * composes the services; `cli`, `api` and `explore` are doors onto the engine; `bin` starts
 * the CLI. A module may always import itself.
 */
const ALLOWED: Record<string, string[]> = {
  base: [],
  sys: ['base'],
  image: ['base'],
  format: ['base'],
  content: ['base', 'image'],
  meta: ['base', 'image'],
  layer: ['base', 'sys', 'image'],
  changes: ['base', 'sys', 'layer', 'image'],
  snapshot: ['base', 'sys', 'image'],
  runtime: ['base', 'sys', 'image'],
  network: ['base', 'sys', 'image'],
  registry: ['base', 'image', 'format'],
  build: ['base', 'image', 'format'],
  engine: ['base', 'sys', 'image', 'format', 'content', 'meta', 'layer', 'changes', 'snapshot', 'runtime', 'network', 'registry', 'build'],
  api: ['base', 'image', 'format', 'engine'],
  explore: ['base', 'image', 'format', 'engine'],
  cli: ['base', 'image', 'format', 'engine', 'api', 'explore'],
  bin: ['cli', 'base'],
};

let graph: ProjectGraph | undefined;
const project = () => (graph ??= readProject(ROOT, ['src', 'test', 'bench']));

test('every module under src/ has a place in the layering', () => {
  const modules = new Set([...project().files.keys()].map(moduleOf).filter((m): m is string => !!m));
  const unknown = [...modules].filter((m) => !(m in ALLOWED));
  assert.deepEqual(unknown, [], `modules without layering rules: ${unknown.join(', ')} (add them to ALLOWED)`);
});

test('imports run downward only: no upward import, no door reaching past the engine', () => {
  const bad: string[] = [];
  for (const e of project().edges) {
    const from = moduleOf(e.from), to = moduleOf(e.to);
    if (!from || !to || from === to) continue;
    if (!(ALLOWED[from] ?? []).includes(to)) bad.push(`${e.from} -> ${e.to}`);
  }
  assert.deepEqual(bad, [], `imports against the layering:\n  ${bad.join('\n  ')}`);
});

test('no import cycles between files', () => {
  const cycles = fileCycles(project()).filter((c) => c.some((f) => f.startsWith('src/')));
  assert.deepEqual(cycles, [], `cycles:\n  ${cycles.map((c) => c.join(' <-> ')).join('\n  ')}`);
});

test('no cycles between modules', () => {
  const adj = new Map<string, Set<string>>();
  for (const e of project().edges) {
    const from = moduleOf(e.from), to = moduleOf(e.to);
    if (!from || !to || from === to || e.typeOnly) continue;
    if (!adj.has(from)) adj.set(from, new Set());
    adj.get(from)!.add(to);
  }
  const reach = (a: string, b: string, seen = new Set<string>()): boolean => {
    for (const n of adj.get(a) ?? []) {
      if (n === b) return true;
      if (!seen.has(n)) { seen.add(n); if (reach(n, b, seen)) return true; }
    }
    return false;
  };
  const bad = [...adj.keys()].filter((m) => reach(m, m));
  assert.deepEqual(bad, [], `modules on a cycle: ${bad.join(', ')}`);
});

test('no exported name that no other file uses', () => {
  const dead = unusedExports(project()).map((d) => `${d.file}:${d.line} ${d.name}`);
  assert.deepEqual(dead, [], `unused exports (drop the export, or the code):\n  ${dead.join('\n  ')}`);
});

test('the checker itself: reads imports, re-exports, namespaces and dynamic imports', () => {
  const g = project();
  assert.ok(g.files.size > 100, 'reads the source tree');
  assert.ok(g.edges.some((e) => e.from === 'src/bin/strata.ts'), 'sees the entry point\'s imports');
  assert.ok(g.files.get('src/base/errors.ts')?.exports.has('StrataError'), 'sees exported classes');
});
