/**
 * The import graph of the project's own TypeScript, read with the TypeScript parser (syntax
 * only: no type checking, so the whole tree parses in well under a second). Used by the
 * layering test (which module may import which) and by the dead-export check (exports that
 * no other file uses).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** importing file, relative to the project root (e.g. `src/cli/main.ts`) */
  from: string;
  /** imported file, relative to the project root */
  to: string;
  /** names imported; `*` for a namespace import, a side-effect import or a dynamic import used whole */
  names: string[];
  typeOnly: boolean;
  /** `export … from` (a re-export) rather than an import */
  reexport: boolean;
  /** re-exported name pairs (exported-as ← imported) for `export { a as b } from` */
  renames?: [string, string][];
}

export interface SourceInfo {
  file: string;
  /** names this file exports (declarations and `export { … }` of local names) */
  exports: Map<string, number>; // name -> line
  /** `export * from` targets */
  starFrom: string[];
}

export interface ProjectGraph {
  root: string;
  files: Map<string, SourceInfo>;
  edges: ImportEdge[];
}

function walk(dir: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p, out); }
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
}

/** `./x.js` from `src/a/b.ts` -> `src/a/x.ts` (or `x/index.ts`); undefined for packages and node: builtins. */
function resolveSpecifier(root: string, fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(path.join(root, fromFile)), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), base + '.ts', path.join(base, 'index.ts')];
  for (const c of candidates) if (fs.existsSync(c) && fs.statSync(c).isFile()) return path.relative(root, c);
  return undefined;
}

function hasExportModifier(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** Parse every .ts under the given folders of the project root. */
export function readProject(root: string, folders: string[]): ProjectGraph {
  const all: string[] = [];
  for (const f of folders) if (fs.existsSync(path.join(root, f))) walk(path.join(root, f), all);
  const files = new Map<string, SourceInfo>();
  const edges: ImportEdge[] = [];
  for (const abs of all.sort()) {
    const rel = path.relative(root, abs);
    const text = fs.readFileSync(abs, 'utf8');
    const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const info: SourceInfo = { file: rel, exports: new Map(), starFrom: [] };
    files.set(rel, info);
    const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    const namespaceLocals = new Map<string, ImportEdge>();

    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
        const to = resolveSpecifier(root, rel, st.moduleSpecifier.text);
        if (!to) continue;
        const names: string[] = [];
        const clause = st.importClause;
        const edge: ImportEdge = { from: rel, to, names, typeOnly: !!clause?.isTypeOnly, reexport: false };
        if (!clause) names.push('*');
        else {
          if (clause.name) names.push('default');
          const nb = clause.namedBindings;
          if (nb && ts.isNamespaceImport(nb)) namespaceLocals.set(nb.name.text, edge);
          else if (nb) for (const el of nb.elements) names.push((el.propertyName ?? el.name).text);
          if (nb && ts.isNamedImports(nb) && nb.elements.length && nb.elements.every((e) => e.isTypeOnly)) edge.typeOnly = true;
        }
        edges.push(edge);
      } else if (ts.isExportDeclaration(st)) {
        if (st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
          const to = resolveSpecifier(root, rel, st.moduleSpecifier.text);
          if (!to) continue;
          if (!st.exportClause) { info.starFrom.push(to); edges.push({ from: rel, to, names: [], typeOnly: st.isTypeOnly, reexport: true }); continue; }
          if (ts.isNamedExports(st.exportClause)) {
            const renames: [string, string][] = st.exportClause.elements.map((el) => [el.name.text, (el.propertyName ?? el.name).text]);
            for (const el of st.exportClause.elements) info.exports.set(el.name.text, lineOf(el));
            edges.push({ from: rel, to, names: [], typeOnly: st.isTypeOnly, reexport: true, renames });
          } else {
            // export * as ns from
            info.exports.set(st.exportClause.name.text, lineOf(st));
            edges.push({ from: rel, to, names: [], typeOnly: st.isTypeOnly, reexport: true, renames: [[st.exportClause.name.text, '*']] });
          }
        } else if (st.exportClause && ts.isNamedExports(st.exportClause)) {
          for (const el of st.exportClause.elements) info.exports.set(el.name.text, lineOf(el));
        }
      } else if (ts.isExportAssignment(st)) {
        info.exports.set('default', lineOf(st));
      } else if (hasExportModifier(st)) {
        const isDefault = (ts.getModifiers(st as ts.HasModifiers) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
        if (isDefault) info.exports.set('default', lineOf(st));
        else if (ts.isVariableStatement(st)) {
          for (const d of st.declarationList.declarations) {
            if (ts.isIdentifier(d.name)) info.exports.set(d.name.text, lineOf(d));
            else for (const el of d.name.elements) if (ts.isBindingElement(el) && ts.isIdentifier(el.name)) info.exports.set(el.name.text, lineOf(el));
          }
        } else {
          const name = (st as ts.DeclarationStatement).name;
          if (name && ts.isIdentifier(name)) info.exports.set(name.text, lineOf(st));
        }
      }
    }

    // namespace imports: record the members used (`ns.foo`); a namespace used whole counts as `*`
    // dynamic imports: `const { a } = await import('./x.js')` records a; anything else records `*`
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && namespaceLocals.has(node.text) && !ts.isNamespaceImport(node.parent)) {
        const edge = namespaceLocals.get(node.text)!;
        if (ts.isPropertyAccessExpression(node.parent) && node.parent.expression === node) edge.names.push(node.parent.name.text);
        else if (ts.isQualifiedName(node.parent) && node.parent.left === node) edge.names.push(node.parent.right.text);
        else edge.names.push('*');
      }
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        const to = resolveSpecifier(root, rel, node.arguments[0].text);
        if (to) {
          let names = ['*'];
          let p: ts.Node = node.parent;
          if (ts.isAwaitExpression(p)) p = p.parent;
          if (ts.isVariableDeclaration(p) && ts.isObjectBindingPattern(p.name)) {
            names = p.name.elements.map((el) => ((el.propertyName && ts.isIdentifier(el.propertyName)) ? el.propertyName.text : (el.name as ts.Identifier).text));
          }
          edges.push({ from: rel, to, names, typeOnly: false, reexport: false });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { root, files, edges };
}

/** The module (first folder under src/) a file belongs to; `src/engine/x.ts` -> `engine`. */
export function moduleOf(file: string): string | undefined {
  const m = /^src\/([^/]+)\//.exec(file);
  return m?.[1];
}

/** Cycles between files (strongly connected components of more than one file), type-only imports included. */
export function fileCycles(g: ProjectGraph): string[][] {
  const adj = new Map<string, string[]>();
  for (const e of g.edges) {
    if (!adj.has(e.from)) adj.set(e.from, []);
    adj.get(e.from)!.push(e.to);
  }
  // Tarjan's algorithm
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), on = new Set<string>(), stack: string[] = [];
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const f of g.files.keys()) if (!idx.has(f)) strong(f);
  return out;
}

/**
 * Exports of src/ files that no other file (in src/, test/ or bench/) uses. Re-exports count
 * as used only when their own export is used (followed to a fixpoint); `export *` passes use
 * through by name.
 */
export function unusedExports(g: ProjectGraph): { file: string; name: string; line: number }[] {
  const used = new Set<string>(); // `${file}#${name}` or `${file}#*`
  const key = (f: string, n: string) => `${f}#${n}`;
  const isUsed = (f: string, n: string) => used.has(key(f, n)) || used.has(key(f, '*'));
  for (const e of g.edges) if (!e.reexport) for (const n of e.names) used.add(key(e.to, n));
  // entry points: everything exported by a bin/ file is used by being run
  for (const f of g.files.keys()) if (f.startsWith('src/bin/')) used.add(key(f, '*'));
  let changed = true;
  while (changed) {
    changed = false;
    for (const e of g.edges) {
      if (!e.reexport) continue;
      const pairs = e.renames ?? [];
      if (!e.renames) {
        // export * from e.to: a name used on e.from that e.to declares is used on e.to
        const target = g.files.get(e.to);
        if (!target) continue;
        for (const n of target.exports.keys()) {
          if (isUsed(e.from, n) && !used.has(key(e.to, n))) { used.add(key(e.to, n)); changed = true; }
        }
        for (const deeper of target.starFrom) {
          // propagate through chains of `export *`
          for (const n of g.files.get(deeper)?.exports.keys() ?? []) {
            if (isUsed(e.from, n) && !used.has(key(e.to, n))) { used.add(key(e.to, n)); changed = true; }
          }
        }
        if (used.has(key(e.from, '*')) && !used.has(key(e.to, '*'))) { used.add(key(e.to, '*')); changed = true; }
        continue;
      }
      for (const [as, orig] of pairs) {
        if (isUsed(e.from, as) && !used.has(key(e.to, orig))) { used.add(key(e.to, orig)); changed = true; }
      }
    }
  }
  const out: { file: string; name: string; line: number }[] = [];
  for (const [f, info] of g.files) {
    if (!f.startsWith('src/') || f.startsWith('src/bin/')) continue;
    for (const [n, line] of info.exports) if (!isUsed(f, n)) out.push({ file: f, name: n, line });
  }
  return out;
}
