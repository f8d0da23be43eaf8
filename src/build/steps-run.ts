/**
 * RUN: the command in a container on the stage's rootfs, with its mounts (bind, cache, tmpfs, secret).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BuildMount } from './backend.js';
import { PROXY_ARGS, emptyConfig, envMap, runFailure, setEnv, type StageRun, type StepHost } from './build-state.js';
import { copyTree, mkdirIn, resolveIn } from './fsops.js';
import { BuildError, llbError, type Instruction } from './instructions.js';
export async function runStep(b: StepHost, run: StageRun, ins: Instruction, pfx: string, env: Map<string, string>, trigger: boolean): Promise<void> {
  const n = ins.node;
  let args: string[];
  let heredocFiles: { name: string; content: string }[] = [];
  if (n.heredocs.length && !n.json) {
    const cmdline = n.args[0] ?? '';
    const h = n.heredocs[0]!;
    const content = h.content;
    if (n.heredocs.length === 1 && /^\s*\d*<<-?\s*[^<\s]+\s*$/.test(cmdline)) {
      // `RUN <<EOF` alone: the body is the script (a file run directly when it starts with #!)
      if (content.startsWith('#!')) {
        heredocFiles = [{ name: 'heredoc', content }];
        args = ['/dev/pipes/heredoc'];
      } else args = [...b.shell(run), content];
    } else {
      // BuildKit's rule for anything else (`RUN <<A <<B`, `RUN cmd <<EOF`, several commands):
      // the line and every body as written, each closed by its terminator, make one shell
      // script, so the shell itself feeds the heredocs (with its own <<- and quoting rules)
      let script = cmdline;
      for (const d of n.heredocs) script += `\n${d.raw}${d.name}`;
      args = [...b.shell(run), script];
    }
  } else args = n.json ? [...n.args] : [...b.shell(run), n.args[0]!];
  const cfg = run.state.config.config ?? emptyConfig();
  // the process env: the image's, then build args not shadowed by it, then proxy args given on the command line
  let penv = [...(cfg.Env ?? [])];
  const imgEnv = envMap(cfg.Env);
  for (const a of run.args) if (a.value !== undefined && !imgEnv.has(a.key)) penv = setEnv(penv, a.key, a.value);
  for (const p of PROXY_ARGS) {
    const v = b.o.buildArgs?.[p];
    if (v !== undefined && !run.args.some((a) => a.key === p)) penv = setEnv(penv, p, v);
  }
  const envNow = envMap(penv);
  const argStr = run.args.map((a) => `${a.key}=${envNow.get(a.key) ?? a.value ?? ''}`);
  const shown = [...(argStr.length ? [`|${argStr.length}`, ...argStr] : []), ...args].join(' ');
  const createdBy = `RUN ${shown}`;
  // flags
  const network = (ins.flags.network as string | undefined) ?? b.o.network ?? 'default';
  if (!['default', 'none', 'host'].includes(network)) throw llbError(`dockerfile parse error line ${n.startLine}: unsupported network mode ${network}`);
  const mounts = await parseMounts(b, run, ins, env);
  const mountKey = mounts.map((m) => m.key);
  const user = cfg.User ?? '';
  const cwd = cfg.WorkingDir || '/';
  const keyParts = [args, penv, user, cwd, network, mountKey, heredocFiles.map((f) => f.content)];
  await b.layerStep(run, ins, pfx, createdBy, keyParts, async (fsroot, v) => {
    const live: BuildMount[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    try {
      for (const m of mounts) {
        const made = await m.make();
        live.push(made.mount);
        if (made.release) cleanups.push(made.release);
      }
      if (heredocFiles.length) {
        const dir = b.be.scratch('heredoc');
        cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
        for (const f of heredocFiles) fs.writeFileSync(path.join(dir, f.name), f.content, { mode: 0o755 });
        live.push({ target: '/dev/pipes', type: 'bind', source: dir, readonly: true });
      }
      // WORKDIR exists before the command runs (BuildKit creates it)
      if (cwd !== '/') mkdirIn(fsroot.dir, cwd);
      const go = () => fsroot.run({
        args, env: penv, user, cwd, network: network as 'default' | 'none' | 'host', mounts: live, extraHosts: b.o.extraHosts ?? [],
        onOutput: (b) => v.output(b),
      });
      const code = await go();
      if (code !== 0) {
        const err = runFailure(args, code);
        v.error(err.message);
        throw err;
      }
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    }
  }, undefined, trigger, true, `${n.original.trim().slice(0, 80)}`);
}

async function parseMounts(b: StepHost, run: StageRun, ins: Instruction, env: Map<string, string>): Promise<{ key: unknown; make: () => Promise<{ mount: BuildMount; release?: () => Promise<void> }> }[]> {
  const out: { key: unknown; make: () => Promise<{ mount: BuildMount; release?: () => Promise<void> }> }[] = [];
  const n = ins.node;
  for (const spec of (ins.flags.mount as string[] | undefined) ?? []) {
    const f: Record<string, string> = {};
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const v = eq < 0 ? 'true' : part.slice(eq + 1);
      f[k] = b.expand(v, env, ins);
    }
    const type = f.type ?? 'bind';
    const target = f.target ?? f.dst ?? f.destination;
    const bad = (m: string) => llbError(`dockerfile parse error line ${n.startLine}: ${m}`);
    if (type !== 'secret' && type !== 'ssh' && !target) throw bad('mount destination not specified');
    const ro = f.readonly === 'true' || f.ro === 'true' || f.readonly === '' ;
    const tgt = target ? path.posix.resolve(run.state.config.config?.WorkingDir || '/', target) : '';
    if (type === 'tmpfs') {
      const size = f.size ? Number(f.size) : undefined;
      out.push({ key: ['tmpfs', tgt, size ?? null], make: async () => ({ mount: { type: 'tmpfs', target: tgt, ...(size ? { size } : {}) } }) });
    } else if (type === 'cache') {
      const id = f.id || tgt;
      const sharing = f.sharing ?? 'shared';
      if (!['shared', 'private', 'locked'].includes(sharing)) throw bad(`unsupported sharing value "${sharing}"`);
      out.push({ key: ['cache', tgt, id, ro], make: async () => {
        // held (and for `locked`, waited for) until the step is over
        const held = await b.be.cacheMount(id, sharing as 'shared' | 'private' | 'locked');
        const dir = held.dir;
        if (f.uid || f.gid || f.mode) {
          try { fs.chownSync(dir, Number(f.uid ?? 0), Number(f.gid ?? 0)); if (f.mode) fs.chmodSync(dir, parseInt(f.mode, 8)); } catch { /* best effort */ }
        }
        return { mount: { type: 'cache', target: tgt, source: dir, readonly: ro }, release: async () => held.release() };
      } });
    } else if (type === 'bind') {
      const src = f.source ?? f.src ?? '/';
      const from = f.from;
      if (from) {
        const st = b.stageRef(from, run.stage.index);
        const getState = async (): Promise<{ diffIds: string[]; key: string }> => {
          if (st) return b.stageState(st.index);
          const img = await b.be.resolveImage(from, { pull: false });
          return { diffIds: img.diffIds, key: img.id };
        };
        const s = await getState();
        out.push({ key: ['bind', tgt, s.key, src, ro], make: async () => {
          const view = await b.be.view(s.diffIds);
          const host = resolveIn(view.dir, src);
          return { mount: { type: 'bind', target: tgt, source: host, readonly: true }, release: () => view.release() };
        } });
      } else {
        const rel = path.posix.normalize('/' + src).slice(1) || '.';
        const abs = path.join(b.ctx.dir, rel);
        if (!fs.existsSync(abs)) throw new BuildError(`failed to compute cache key: "/${rel === '.' ? '' : rel}" not found: not found`);
        await b.ctx.settled();
        const sum = b.ctx.checksum(rel);
        out.push({ key: ['bind-ctx', tgt, rel, sum, ro], make: async () => {
          // a copy of the (filtered) context path, so the step cannot change the user's files
          const dir = b.be.scratch('bind');
          const dst = path.join(dir, 'src');
          copyTree(abs, dst, { keepOwner: false, skip: (r, isDir) => b.ctx.skip(rel === '.' ? r : `${rel}/${r}`, isDir) });
          return { mount: { type: 'bind', target: tgt, source: dst, readonly: ro }, release: async () => fs.rmSync(dir, { recursive: true, force: true }) };
        } });
      }
    } else if (type === 'secret') {
      const id = f.id ?? (target ? path.posix.basename(target) : '');
      const src = b.o.secrets?.[id];
      const required = f.required === 'true';
      const dst = target ? path.posix.resolve('/', target) : `/run/secrets/${id}`;
      if (!src) {
        if (required) throw new BuildError(`secret ${id} not found`);
        continue;
      }
      // the secret's content never enters the cache key
      out.push({ key: ['secret', dst, id], make: async () => {
        const dir = b.be.scratch('secret');
        const file = path.join(dir, 'secret');
        fs.copyFileSync(src, file);
        fs.chmodSync(file, f.mode ? parseInt(f.mode, 8) : 0o400);
        fs.chownSync(file, Number(f.uid ?? 0), Number(f.gid ?? 0));
        return { mount: { type: 'secret', target: dst, source: file, readonly: true }, release: async () => fs.rmSync(dir, { recursive: true, force: true }) };
      } });
    } else if (type === 'ssh') {
      throw bad('ssh mounts are not supported');
    } else throw bad(`unsupported mount type "${type}"`);
  }
  return out;
}
