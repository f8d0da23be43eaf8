/**
 * COPY and ADD: sources from the context, another stage or a URL, into the stage's rootfs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { baseError, type StageRun, type StepHost } from './build-state.js';
import { archiveKind, copyTree, mkdirIn, resolveChown, resolveIn } from './fsops.js';
import { IgnoreMatcher } from './ignore.js';
import { BuildError, llbError, type Instruction } from './instructions.js';
export async function copyStep(b: StepHost, run: StageRun, ins: Instruction, pfx: string, env: Map<string, string>, trigger: boolean): Promise<void> {
  const n = ins.node;
  const isAdd = ins.kind === 'add';
  const x = (w: string) => b.expand(w, env, ins);
  const words = n.args.map((a) => (n.json ? a : x(a)));
  const heredocs = n.heredocs;
  let dest = words[words.length - 1]!;
  let srcs = words.slice(0, -1);
  if (heredocs.length && !n.json) {
    // `COPY <<EOF /dest`: the heredoc marker is one of the sources
    srcs = srcs.filter((s) => !/^\d*<<-?/.test(s));
    const last = n.args[n.args.length - 1]!;
    dest = x(last);
  }
  const shown = `${ins.kind.toUpperCase()} ${n.args.map((a) => (n.json ? a : a)).join(' ')}`;
  const createdBy = `${ins.kind.toUpperCase()} ${[...srcs, dest].join(' ')}`;
  void shown;
  const chown = ins.flags.chown !== undefined ? x(ins.flags.chown as string) : undefined;
  const chmodStr = ins.flags.chmod !== undefined ? x(ins.flags.chmod as string) : undefined;
  let chmod: number | undefined;
  if (chmodStr !== undefined) {
    if (!/^[0-7]{1,4}$/.test(chmodStr)) throw llbError(`dockerfile parse error line ${n.startLine}: invalid chmod parameter: ${chmodStr}`);
    chmod = parseInt(chmodStr, 8);
  }
  // Dockerfile 1.7: --parents is refused (one error, never ignored); --exclude is honoured
  if (ins.flags.parents !== undefined) throw llbError(`dockerfile parse error line ${n.startLine}: ${ins.kind.toUpperCase()} --parents is not supported`);
  const excludes = ((ins.flags.exclude as string[] | undefined) ?? []).map((e) => x(e));
  // patterns match below each source, with .dockerignore's rules (the source itself is never excluded)
  const exclude = excludes.length ? new IgnoreMatcher(excludes) : undefined;
  const excluded = (r: string, isDir: boolean): boolean => !!exclude && exclude.matches(r) && !(isDir && exclude.mayReinclude(r));
  const checksum = ins.flags.checksum as string | undefined;
  if (checksum && !isAdd) throw llbError(`dockerfile parse error line ${n.startLine}: unknown flag: checksum`);
  const wd = run.state.config.config?.WorkingDir || '/';
  const destDir = dest.endsWith('/') || (srcs.length + heredocs.length > 1 && false);
  const destAbs = path.posix.resolve(wd, dest) + (dest.endsWith('/') && dest !== '/' ? '/' : '');

  // ---- the sources: context, another stage/image, URLs, heredocs
  const fromName = ins.flags.from !== undefined ? x(ins.flags.from as string) : undefined;
  type Src = { kind: 'ctx'; rel: string } | { kind: 'view'; rel: string } | { kind: 'url'; url: string } | { kind: 'heredoc'; name: string; content: string };
  const sources: Src[] = [];
  const keySrc: unknown[] = [];
  let fromState: { diffIds: string[]; key: string } | undefined;
  if (fromName !== undefined) {
    if (isAdd) throw llbError(`dockerfile parse error line ${n.startLine}: unknown flag: from`);
    const st = b.stageRef(fromName, run.stage.index);
    if (st) fromState = await b.stageState(st.index);
    else {
      let img;
      try { img = await b.be.resolveImage(fromName, { pull: !!b.o.pull }); } catch (e) { throw llbError(baseError(fromName, e)); }
      fromState = { diffIds: img.diffIds, key: img.id };
    }
    keySrc.push(['from', fromState.key]);
  }
  for (const s of srcs) {
    if (isAdd && /^https?:\/\//.test(s)) { sources.push({ kind: 'url', url: s }); continue; }
    if (fromState) { sources.push({ kind: 'view', rel: s }); keySrc.push(['path', s]); continue; }
    await b.ctx.settled();
    const { rels, wildcard } = b.ctx.expand(s);
    if (rels.length === 0 && !wildcard) {
      const shownPath = '/' + path.posix.normalize('/' + s).slice(1).replace(/\/$/, '');
      throw new BuildError(`failed to compute cache key: "${shownPath === '/' ? '/' : shownPath}" not found: not found`);
    }
    for (const rel of rels) { sources.push({ kind: 'ctx', rel }); keySrc.push(['ctx', rel, b.ctx.checksum(rel)]); }
  }
  for (const h of heredocs) {
    const content = h.expand ? x(h.content) : h.content;
    sources.push({ kind: 'heredoc', name: h.name, content });
    keySrc.push(['heredoc', h.name, content]);
  }
  // URLs are fetched before the key is known: their content is part of it
  const fetched = new Map<string, { file: string; name: string; mtime: number }>();
  const scratchDirs: string[] = [];
  try {
    for (const s of sources) {
      if (s.kind !== 'url') continue;
      const dir = b.be.scratch('add-url');
      scratchDirs.push(dir);
      const f = await download(s.url, dir, checksum);
      fetched.set(s.url, f);
      keySrc.push(['url', s.url, f.digest]);
    }
    const keyParts = [keySrc, destAbs, chown ?? null, chmod ?? null, !!ins.flags.link, isAdd, ...(excludes.length ? [excludes] : [])];
    await b.layerStep(run, ins, pfx, createdBy, keyParts, async (fsroot) => {
      const owner = chown ? resolveChown(fsroot.dir, chown) : undefined;
      const copyOpts = { ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}), ...(b.o.epoch !== undefined ? { epoch: b.o.epoch } : {}) };
      // the destination is a directory when it ends in / (or is the workdir itself)
      const wantDir = destAbs.endsWith('/') || destDir;
      const destPath = destAbs.replace(/(.)\/$/, '$1');
      let destIsDir = wantDir;
      if (!destIsDir) {
        try { destIsDir = fs.statSync(resolveIn(fsroot.dir, destPath)).isDirectory(); } catch { destIsDir = false; }
      }
      // a destination directory this step creates holds nothing from the lower layers: files
      // go straight into the upper dir, not through overlayfs (the rootfs is unmounted before
      // the layer is taken, so the merged view never sees them stale)
      let fresh: boolean;
      try { fs.lstatSync(resolveIn(fsroot.dir, destPath)); fresh = false; } catch { fresh = true; }
      let destHost: string | undefined;
      const ensureDestDir = (): string => {
        if (destHost) return destHost;
        const merged = mkdirIn(fsroot.dir, destPath, owner);
        const upperTwin = path.join(fsroot.upper, path.relative(fsroot.dir, merged));
        destHost = fresh && fs.statSync(upperTwin, { throwIfNoEntry: false })?.isDirectory() ? upperTwin : merged;
        return destHost;
      };
      let view: { dir: string; release(): Promise<void> } | undefined;
      if (fromState) view = await b.be.view(fromState.diffIds);
      try {
        for (const s of sources) {
          if (s.kind === 'heredoc') {
            const dirp = destIsDir ? ensureDestDir() : mkdirIn(fsroot.dir, path.posix.dirname(destPath));
            const file = destIsDir ? path.join(dirp, s.name) : resolveIn(fsroot.dir, destPath);
            fs.rmSync(file, { force: true, recursive: true });
            fs.writeFileSync(file, s.content);
            fs.chmodSync(file, chmod ?? 0o644);
            if (owner) fs.chownSync(file, owner.uid, owner.gid);
            continue;
          }
          if (s.kind === 'url') {
            const f = fetched.get(s.url)!;
            const dirp = destIsDir ? ensureDestDir() : mkdirIn(fsroot.dir, path.posix.dirname(destPath));
            const file = destIsDir ? path.join(dirp, f.name) : resolveIn(fsroot.dir, destPath);
            fs.rmSync(file, { force: true, recursive: true });
            fs.copyFileSync(f.file, file);
            fs.chmodSync(file, chmod ?? 0o600);
            fs.chownSync(file, owner?.uid ?? 0, owner?.gid ?? 0);
            if (f.mtime) fs.utimesSync(file, f.mtime, f.mtime);
            continue;
          }
          let srcHost: string;
          let skip: ((r: string, isDir: boolean) => boolean) | undefined;
          if (s.kind === 'ctx') {
            srcHost = path.join(b.ctx.dir, s.rel);
            const base = s.rel;
            skip = (r, isDir) => b.ctx.skip(base === '.' ? r : `${base}/${r}`, isDir) || excluded(r, isDir);
          } else {
            const matches = globIn(view!.dir, s.rel);
            if (matches.length === 0) {
              if (/[*?[]/.test(s.rel)) continue;
              const shownPath = '/' + path.posix.normalize('/' + s.rel).slice(1).replace(/\/$/, '');
              throw new BuildError(`failed to compute cache key: "${shownPath}" not found: not found`);
            }
            if (matches.length > 1) {
              for (const m of matches) copyOne(m, ensureDestDir(), true, { ...copyOpts, keepOwner: !owner }, exclude ? excluded : undefined, isAdd);
              continue;
            }
            srcHost = matches[0]!;
            if (exclude) skip = excluded;
          }
          // several sources into a path without a trailing slash: BuildKit writes each to that path (the last one stays)
          copyOne(srcHost, destIsDir ? ensureDestDir() : destPath, destIsDir, { ...copyOpts, keepOwner: s.kind === 'view' && !owner }, skip, isAdd && s.kind === 'ctx', fsroot.dir);
        }
      } finally {
        await view?.release();
      }
    }, undefined, trigger, true);
  } finally {
    for (const d of scratchDirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** Copy one source (host path) into a destination inside the rootfs. `intoDir`: dest is a directory (host path already made). */
function copyOne(src: string, dest: string, intoDir: boolean, opts: Parameters<typeof copyTree>[2], skip: ((r: string, isDir: boolean) => boolean) | undefined, extract: boolean, root?: string): void {
  const st = fs.lstatSync(src);
  const o = { ...opts, ...(skip ? { skip } : {}) };
  if (st.isDirectory()) {
    // directory contents semantics: the dir's children go into dest
    const target = intoDir ? dest : mkdirIn(root!, dest, opts.owner);
    for (const n of fs.readdirSync(src).sort()) {
      if (skip?.(n, fs.lstatSync(path.join(src, n)).isDirectory())) continue;
      copyTree(path.join(src, n), path.join(target, n), { ...o, ...(skip ? { skip: (r: string, d: boolean) => skip(`${n}/${r}`, d) } : {}) });
    }
    return;
  }
  if (extract && st.isFile()) {
    const kind = archiveKind(src);
    if (kind) {
      const target = intoDir ? dest : mkdirIn(root!, dest, opts.owner);
      // extracted into an empty dir first: tar would follow the image's symlinks out of the rootfs
      const tmp = fs.mkdtempSync(path.join(path.dirname(root!), 'extract-'));
      try {
        const r = spawnSync('tar', ['-x', '-f', src, '-C', tmp, ...(kind === 'gzip' ? ['-z'] : kind === 'bzip2' ? ['-j'] : kind === 'xz' ? ['-J'] : [])], { encoding: 'utf8' });
        if (r.status !== 0) throw new BuildError(`failed to extract ${path.basename(src)}: ${(r.stderr || '').trim()}`);
        for (const n of fs.readdirSync(tmp).sort()) copyTree(path.join(tmp, n), path.join(target, n), { ...opts, keepOwner: !opts.owner });
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      return;
    }
  }
  const file = intoDir ? path.join(dest, path.basename(src)) : (root ? resolveTargetFile(root, dest) : dest);
  copyTree(src, file, o);
}

function resolveTargetFile(root: string, dest: string): string {
  mkdirIn(root, path.posix.dirname(dest));
  return path.join(resolveIn(root, path.posix.dirname(dest)), path.posix.basename(dest));
}

/** Wildcard expansion inside a (read-only) rootfs view, for COPY --from. */
function globIn(root: string, pattern: string): string[] {
  const clean = path.posix.normalize('/' + pattern);
  if (!/[*?[]/.test(clean)) {
    const host = resolveIn(root, clean);
    try { fs.lstatSync(host); return [host]; } catch { return []; }
  }
  const parts = clean.split('/').filter(Boolean);
  let found = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of found) {
      if (!/[*?[]/.test(part)) { next.push(path.posix.join(base, part)); continue; }
      const re = new RegExp('^' + part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
      let names: string[] = [];
      try { names = fs.readdirSync(resolveIn(root, base)); } catch { /* none */ }
      for (const nm of names.sort()) if (re.test(nm)) next.push(path.posix.join(base, nm));
    }
    found = next;
  }
  return found.map((p) => resolveIn(root, p, false)).filter((h) => { try { fs.lstatSync(h); return true; } catch { return false; } });
}

/** ADD of a URL: GET it into dir; returns the file, its name and digest. */
async function download(url: string, dir: string, checksum: string | undefined): Promise<{ file: string; name: string; mtime: number; digest: string }> {
  let res: Response;
  try { res = await fetch(url, { redirect: 'follow' }); } catch (e) {
    throw new BuildError(`failed to load cache key: ${(e as Error).message}`);
  }
  if (!res.ok) throw new BuildError(`failed to load cache key: invalid response status ${res.status}`);
  const buf = Buffer.from(await res.arrayBuffer());
  const digest = 'sha256:' + createHash('sha256').update(buf).digest('hex');
  if (checksum) {
    if (!/^sha256:[a-f0-9]{64}$/.test(checksum)) throw new BuildError(`invalid checksum digest format: ${checksum}`);
    if (checksum !== digest) throw new BuildError(`digest mismatch ${digest}: ${checksum}`);
  }
  let name = path.posix.basename(new URL(url).pathname) || '__unnamed__';
  if (name === '/' || name === '') name = '__unnamed__';
  const file = path.join(dir, 'download');
  fs.writeFileSync(file, buf);
  const lm = res.headers.get('last-modified');
  const mtime = lm ? Math.floor(Date.parse(lm) / 1000) : 0;
  return { file, name, mtime: Number.isFinite(mtime) ? mtime : 0, digest };
}
