/**
 * Provenance of a committed change (beyond Docker): the execs the engine
 * recorded in the container, kept in the image as a label, and a Dockerfile
 * that reproduces the change as far as the record allows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath, toBin } from '../layer/index.js';
import type { Change } from './diff.js';

/** One `exec` the engine recorded (created: RFC 3339). */
export interface ExecRecord {
  created: string;
  user?: string;
  workdir?: string;
  argv: string[];
}

export const PROVENANCE_LABEL = 'org.strata.provenance';

/** The label value: compact JSON `{"base":"sha256:...","execs":[{created,user,workdir,argv}]}`. */
export function provenanceLabel(baseImageId: string, execs: readonly ExecRecord[]): string {
  return JSON.stringify({
    base: baseImageId,
    execs: execs.map((e) => ({ created: e.created, user: e.user ?? '', workdir: e.workdir ?? '', argv: e.argv })),
  });
}

const SHELLS = new Set(['sh', '/bin/sh']);

function shellScript(argv: readonly string[]): string | undefined {
  return argv.length === 3 && SHELLS.has(argv[0]!) && argv[1] === '-c' ? argv[2] : undefined;
}

/** An exec as a short text for the history comment: the script of `sh -c`, else the words. */
function describeExec(e: ExecRecord): string {
  return shellScript(e.argv) ?? e.argv.join(' ');
}

/** The history comment used when the user gave no message and execs were recorded. */
export function provenanceComment(execs: readonly ExecRecord[], max = 200): string {
  let s = `exec: ${execs.map(describeExec).join('; ')}`;
  if (s.length > max) s = s.slice(0, max - 1) + '…';
  return s;
}

/** A RUN line: shell form for `sh -c SCRIPT` (multi-line scripts as heredoc-free continuation), else exec form. */
export function runLine(argv: readonly string[]): string {
  const script = shellScript(argv);
  if (script !== undefined && !script.includes('\n')) return `RUN ${script}`;
  return `RUN ${JSON.stringify(argv)}`;
}

function copyLine(p: string): string {
  const src = '.' + p;
  return /[\s"\\]/.test(p) ? `COPY ${JSON.stringify([src, p])}` : `COPY ${src} ${p}`;
}

interface DockerfileInput {
  /** the image as the user named it (goes after FROM) */
  imageRef: string;
  execs?: readonly ExecRecord[];
  /** the container's changes (diffUpper) */
  changes: readonly Change[];
  /** the upper dir, to tell regular files from the rest */
  upperDir: string;
}

/**
 * A Dockerfile that reproduces a container's change, honest about what the
 * record explains: `FROM`, then one `RUN` per recorded exec (with `USER` /
 * `WORKDIR` when they change). Without execs, added or changed regular files
 * become `COPY ./path /path` lines (the build context being the container's
 * files, e.g. from `strata cp CONTAINER:/ ctx`) and deletions one `RUN rm -rf`;
 * with execs, those files are listed in a comment, since the execs probably
 * made them. Other kinds (symlinks, devices, metadata-only changes) are listed
 * in a comment: a Dockerfile cannot express them without a shell step.
 */
export function dockerfileFor(input: DockerfileInput): string {
  const out = [`FROM ${input.imageRef}`];
  const execs = input.execs ?? [];
  let user = '';
  let workdir = '/';
  for (const e of execs) {
    if ((e.user ?? '') !== user) { user = e.user ?? ''; out.push(`USER ${user || 'root'}`); }
    if ((e.workdir ?? '') !== workdir && e.workdir) { workdir = e.workdir; out.push(`WORKDIR ${workdir}`); }
    out.push(runLine(e.argv));
  }
  const files: string[] = [];
  const other: string[] = [];
  const deleted: string[] = [];
  for (const c of input.changes) {
    if (c.kind === 'D') { deleted.push(c.path); continue; }
    const st = fs.lstatSync(fsPath(toBin(path.join(input.upperDir, c.path))), { throwIfNoEntry: false });
    if (!st || st.isDirectory()) continue;
    if (st.isFile()) files.push(c.path);
    else other.push(`${c.kind} ${c.path}`);
  }
  if (execs.length === 0) {
    if (user) out.push('USER root');
    for (const f of files) out.push(copyLine(f));
    if (deleted.length) out.push(`RUN ${JSON.stringify(['rm', '-rf', ...deleted])}`);
  } else {
    if (files.length) {
      out.push('# files changed by the execs above (not replayed):');
      for (const f of files) out.push(`#   ${f}`);
    }
    if (deleted.length) {
      out.push('# deleted by the execs above:');
      for (const d of deleted) out.push(`#   ${d}`);
    }
  }
  if (other.length) {
    out.push('# not reproduced (not regular files):');
    for (const o of other) out.push(`#   ${o}`);
  }
  return out.join('\n') + '\n';
}
