/**
 * The builder: a Dockerfile's stages dispatched with BuildKit's semantics on a BuildBackend.
 *
 *   parse -> stages (only those the target needs) -> each stage as a chain of steps, stages
 *   running in parallel as soon as what they read is built -> the target's state written as
 *   an image, tagged.
 *
 * Every step has a content key (BuildKit's cache key: the parent's key, the instruction with
 * its expanded arguments, and for COPY/ADD the checksums of what it reads, never mtimes).
 * A key found in the cache gives the step's state without running it; a miss runs the step
 * under a lock on its key (two builds of one step at once run it once) and records it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/types.js';
import type { BaseImage, BuildBackend, LayerResult, Rootfs } from './backend.js';
import { Context, mkdirIn, resolveUserIds } from './fsops.js';
import { IgnoreMatcher, parseIgnoreFile } from './ignore.js';
import { BuildError, llbError, parseStages, toInstruction, type Instruction, type Stage } from './instructions.js';
import { parseDockerfile } from './parser.js';
import { Progress, type Vertex } from './progress.js';
import { processWord, processWords, ShellError } from './shell.js';
import {
  DEFAULT_PATH, HISTORY_COMMENT, PROXY_ARGS, baseError, canonicalTag, cloneState, emptyConfig, envMap, rfc3339, setEnv, sha,
  type BuildOptions, type BuildResult, type NoiseEntry, type StageRun, type State, type StepHost,
} from './build-state.js';
import { exposeSpec, goQuoteList, healthcheck } from './config-steps.js';
import { copyStep } from './steps-copy.js';
import { runStep } from './steps-run.js';

export { BuildError } from './instructions.js';

class Builder implements StepHost {
  private readonly progress: Progress;
  private readonly log: (line: string) => void;
  ctx!: Context;
  private escape = '\\';
  private metaArgs = new Map<string, string | undefined>();
  private readonly stageDone = new Map<number, Promise<State>>();
  private stages: Stage[] = [];
  private steps = 0;
  private cachedSteps = 0;
  private readonly noise: NoiseEntry[] = [];
  private readonly usedArgs = new Set<string>();
  private dockerfileName = 'Dockerfile';

  constructor(readonly be: BuildBackend, public o: BuildOptions) {
    this.log = o.log ?? (() => undefined);
    this.progress = new Progress(this.log, !!o.quiet);
  }

  async build(): Promise<BuildResult> {
    // `--build-arg SOURCE_DATE_EPOCH=…` sets the build's epoch, as BuildKit's frontend does
    const sde = this.o.buildArgs?.SOURCE_DATE_EPOCH;
    if (sde !== undefined && sde !== '') {
      if (!/^\d+$/.test(sde)) throw new BuildError(`failed to solve with frontend dockerfile.v0: invalid SOURCE_DATE_EPOCH: ${sde}`);
      this.o = { ...this.o, epoch: Number(sde) };
    }
    const o = this.o;
    for (const t of o.tags ?? []) this.be.checkTag(t);
    // ---- the definition
    const v1 = this.progress.start('[internal] load build definition from ' + path.basename(o.dockerfile ?? 'Dockerfile'));
    let text: string;
    if (o.dockerfileText !== undefined) text = o.dockerfileText;
    else {
      const file = path.resolve(o.contextDir, o.dockerfile ?? 'Dockerfile');
      this.dockerfileName = path.basename(file);
      try { text = fs.readFileSync(file, 'utf8'); } catch {
        v1.error('failed to read dockerfile');
        throw new BuildError(`failed to solve with frontend dockerfile.v0: failed to read dockerfile: open ${path.basename(file)}: no such file or directory`);
      }
    }
    v1.log(`transferring dockerfile: ${Buffer.byteLength(text)}B done`);
    v1.done();
    const v2 = this.progress.start('[internal] load .dockerignore');
    const ignoreLines = this.readIgnore();
    v2.log(`transferring context: ${ignoreLines.bytes}B done`);
    v2.done();
    this.ctx = new Context(o.contextDir, new IgnoreMatcher(ignoreLines.patterns), o.persistHashes ? this.be.hashCacheFile(o.contextDir) : undefined, (d) => this.be.lstatDir(d), (d) => this.be.lstatDirAsync(d));
    this.ctx.prefetch();
    const parsed = parseStages(text);
    this.escape = parsed.escape;
    this.stages = parsed.stages;

    // ---- global ARGs (FROM lines see only these)
    const builtin: Record<string, string> = { TARGETPLATFORM: 'linux/amd64', TARGETOS: 'linux', TARGETARCH: 'amd64', TARGETVARIANT: '', BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '' };
    for (const [k, v] of Object.entries(builtin)) this.metaArgs.set(k, v);
    for (const ins of parsed.metaArgs) {
      for (const w of ins.node.args) {
        const eq = w.indexOf('=');
        const key = eq < 0 ? w : w.slice(0, eq);
        let value: string | undefined = eq < 0 ? undefined : this.expand(w.slice(eq + 1), this.metaEnv(), ins);
        if (o.buildArgs && key in o.buildArgs) { value = o.buildArgs[key]; this.usedArgs.add(key); }
        this.metaArgs.set(key, value);
      }
    }

    // ---- the target and what it needs
    let target = this.stages[this.stages.length - 1]!;
    if (o.target) {
      const t = this.stages.find((s) => s.name === o.target!.toLowerCase());
      if (!t) throw llbError(`target stage ${o.target} could not be found`);
      target = t;
    }
    // resolve base names now (expanded with the global ARGs), for the dependency graph
    for (const s of this.stages) {
      try {
        s.baseName = processWord(s.from.node.args[0]!, this.metaEnv(), this.escape);
      } catch (e) { throw llbError(`dockerfile parse error line ${s.from.node.startLine}: ${(e as Error).message}`); }
      if (s.platform) s.platform = processWord(s.platform, this.metaEnv(), this.escape);
      if (s.platform && !/^linux\/(amd64|x86_64)$/.test(s.platform) && s.platform !== 'linux') {
        throw llbError(`failed to parse platform ${s.platform}: the only platform is linux/amd64`);
      }
    }

    let state: State;
    try {
      state = await this.stageState(target.index);
    } finally {
      this.ctx.save();
      await this.be.finish();
    }

    // ---- export
    const v = this.progress.start('exporting to image');
    v.log('exporting layers');
    const cfg = cloneState(state).config;
    if (o.labels && Object.keys(o.labels).length) {
      cfg.config = { ...(cfg.config ?? emptyConfig()), Labels: { ...(cfg.config?.Labels ?? {}), ...o.labels } };
    }
    v.log('exporting layers done');
    const id = this.be.writeImage(cfg, state.diffIds, o.tags ?? [], state.sources);
    v.log(`writing image ${id} done`);
    for (const t of o.tags ?? []) v.log(`naming to ${canonicalTag(t)} done`);
    v.done();
    this.warnUnusedArgs();
    return { id, steps: this.steps, cached: this.cachedSteps, noise: this.noise };
  }

  /**
   * Build args no ARG declared, in the classic builder's words (BuildKit of Docker 20.10 says
   * nothing): `[Warning] One or more build-args [A B] were not consumed`. The predefined
   * proxy args, SOURCE_DATE_EPOCH and BUILDKIT_* are never reported.
   */
  private warnUnusedArgs(): void {
    if (this.o.quiet) return;
    const left = Object.keys(this.o.buildArgs ?? {})
      .filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k) && k !== 'SOURCE_DATE_EPOCH' && !k.startsWith('BUILDKIT_'))
      .sort();
    if (left.length) this.log(`[Warning] One or more build-args [${left.join(' ')}] were not consumed`);
  }

  private readIgnore(): { patterns: string[]; bytes: number } {
    const candidates: string[] = [];
    if (this.o.dockerfile) candidates.push(path.resolve(this.o.contextDir, this.o.dockerfile) + '.dockerignore');
    candidates.push(path.join(this.o.contextDir, '.dockerignore'));
    for (const f of candidates) {
      try {
        const t = fs.readFileSync(f, 'utf8');
        return { patterns: parseIgnoreFile(t), bytes: Buffer.byteLength(t) };
      } catch { /* next */ }
    }
    return { patterns: [], bytes: 2 };
  }

  private metaEnv(): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, v] of this.metaArgs) if (v !== undefined) m.set(k, v);
    return m;
  }

  expand(word: string, env: ReadonlyMap<string, string>, ins: Instruction): string {
    try {
      return processWord(word, env, this.escape);
    } catch (e) {
      if (e instanceof ShellError) throw llbError(`dockerfile parse error line ${ins.node.startLine}: ${e.message}`);
      throw e;
    }
  }

  /** A stage's final state, built once however many stages need it. */
  stageState(index: number): Promise<State> {
    let p = this.stageDone.get(index);
    if (!p) {
      p = this.runStage(this.stages[index]!);
      this.stageDone.set(index, p);
      p.catch(() => undefined);
    }
    return p;
  }

  private readonly bases = new Map<string, Promise<BaseImage>>();

  /** A base image, resolved once per build however many stages use it. */
  private baseImage(name: string, platform: string): Promise<BaseImage> {
    let p = this.bases.get(name);
    if (!p) {
      p = (async () => {
        const vm = this.progress.start(`[internal] load metadata for ${canonicalTag(name)}`);
        try {
          const img = await this.be.resolveImage(name, { pull: !!this.o.pull, ...(platform ? { platform } : {}) });
          vm.done();
          return img;
        } catch (e) {
          vm.error((e as Error).message);
          throw llbError(baseError(name, e));
        }
      })();
      this.bases.set(name, p);
      p.catch(() => undefined);
    }
    return p;
  }

  /** Find a stage by name or index (`--from`, `FROM`); undefined for an image name. */
  stageRef(name: string, before: number): Stage | undefined {
    if (/^\d+$/.test(name)) {
      const i = Number(name);
      if (i >= before) throw llbError(`invalid stage index ${i}`);
      return this.stages[i];
    }
    const s = this.stages.find((x) => x.name === name.toLowerCase());
    return s && s.index < before ? s : undefined;
  }

  private stageLabel(stage: Stage): string {
    if (this.stages.length === 1) return '';
    return (stage.name || `stage-${stage.index}`) + ' ';
  }

  /** Start the stages a stage reads (COPY --from, RUN --mount from=) before running it, so they build in parallel. */
  private prefetchDeps(stage: Stage): void {
    for (const ins of stage.commands) {
      const froms: string[] = [];
      if (typeof ins.flags.from === 'string') froms.push(ins.flags.from);
      for (const m of (ins.flags.mount as string[] | undefined) ?? []) {
        const f = /(?:^|,)from=([^,]+)/.exec(m)?.[1];
        if (f) froms.push(f);
      }
      for (const f of froms) {
        let name = f;
        try { name = processWord(f, this.metaEnv(), this.escape); } catch { /* reported at dispatch */ }
        const s = /^\d+$/.test(name) ? this.stages[Number(name)] : this.stages.find((x) => x.name === name.toLowerCase() && x.index < stage.index);
        if (s && s.index < stage.index) void this.stageState(s.index);
      }
    }
  }

  private async runStage(stage: Stage): Promise<State> {
    this.prefetchDeps(stage);
    const label = this.stageLabel(stage);
    const total = stage.commands.length + 1;
    const run: StageRun = { stage, state: undefined as unknown as State, args: [], argValues: new Map(), cmdSet: false, total, index: 1, prefix: label };
    // ---- FROM
    const base = stage.baseName;
    const parent = this.stageRef(base, stage.index);
    let state: State;
    if (parent) {
      state = cloneState(await this.stageState(parent.index));
    } else if (base === 'scratch') {
      state = { config: { architecture: 'amd64', os: 'linux', config: emptyConfig(), rootfs: { type: 'layers', diff_ids: [] }, history: [] }, diffIds: [], key: sha(['scratch', ...this.epochKey()]), sources: [] };
    } else {
      const img = await this.baseImage(base, stage.platform);
      const v = this.progress.start(`[${label}1/${total}] FROM ${canonicalTag(base)}`);
      v.done();
      const cfg: ImageConfig = {
        architecture: img.config.architecture || 'amd64', os: img.config.os || 'linux',
        config: { ...emptyConfig(), ...(img.config.config ?? {}) } as ContainerConfig,
        rootfs: { type: 'layers', diff_ids: [...img.diffIds] }, history: [...(img.config.history ?? [])],
      };
      if (img.config.variant) cfg.variant = img.config.variant;
      const c = cfg.config!;
      if (!c.Env || !c.Env.some((e) => e.startsWith('PATH='))) c.Env = [DEFAULT_PATH, ...(c.Env ?? [])];
      // fields a built image does not carry over
      c.Hostname = ''; c.Domainname = ''; c.Image = ''; c.AttachStdin = false; c.AttachStdout = false; c.AttachStderr = false;
      c.Tty = false; c.OpenStdin = false; c.StdinOnce = false;
      state = { config: cfg, diffIds: [...img.diffIds], key: sha(['from', img.id, ...this.epochKey()]), sources: (cfg.history ?? []).map(() => '') };
    }
    if (parent) {
      const v = this.progress.start(`[${label}1/${total}] FROM ${parent.name || parent.index}`);
      v.done();
    }
    run.state = state;
    // ---- ONBUILD triggers of the base run first (and leave the config)
    const triggers = state.config.config?.OnBuild ?? [];
    if (state.config.config) state.config.config.OnBuild = null;
    if (triggers.length) {
      for (const t of triggers) {
        let ins: Instruction;
        try {
          const n = parseDockerfile(t).nodes[0]!;
          // a trigger's provenance is the FROM line that ran it (BuildKit moves its location there)
          n.startLine = stage.from.node.startLine;
          n.endLine = stage.from.node.endLine;
          ins = toInstruction(n);
        } catch (e) { throw llbError(`failed to process "${t}": ${(e as Error).message}`); }
        if (ins.kind === 'onbuild' || ins.kind === 'from' || ins.kind === 'maintainer') throw llbError(`${ins.kind.toUpperCase()} isn't allowed as an ONBUILD trigger`);
        await this.dispatch(run, ins, { trigger: true });
      }
    }
    // ---- the instructions
    for (const ins of stage.commands) {
      run.index++;
      await this.dispatch(run, ins, { trigger: false });
    }
    return run.state;
  }

  /** A build with an epoch makes other layers and history times: its states are keyed apart. */
  private epochKey(): number[] {
    return this.o.epoch !== undefined ? [this.o.epoch] : [];
  }

  /** The env a stage's instructions expand with: ARG values, then ENV on top. */
  private expandEnv(run: StageRun): Map<string, string> {
    const m = new Map(run.argValues);
    for (const [k, v] of envMap(run.state.config.config?.Env)) m.set(k, v);
    return m;
  }

  shell(run: StageRun): string[] {
    const s = run.state.config.config?.Shell;
    return s && s.length ? [...s] : ['/bin/sh', '-c'];
  }

  /** Record a metadata-only step: history entry, no layer; cached like every step. */
  private async meta(run: StageRun, ins: Instruction, createdBy: string, mutate: (c: ContainerConfig) => void, trigger: boolean, withHistory = true): Promise<void> {
    const key = sha([run.state.key, 'meta', createdBy, ins.kind === 'cmd' || ins.kind === 'entrypoint' ? run.cmdSet : null, trigger]);
    const hit = !this.o.noCache ? this.be.cacheGet(key) : undefined;
    if (hit) {
      run.state = { config: hit.config, diffIds: hit.diffIds, key, sources: hit.sources };
      return;
    }
    const next = cloneState(run.state);
    next.key = key;
    next.config.config ??= emptyConfig();
    mutate(next.config.config);
    // ONBUILD triggers write history like any instruction; ONBUILD itself writes none
    if (withHistory) this.history(next, createdBy, false, ins.node.startLine);
    this.be.cachePut({ key, parent: run.state.key, description: createdBy, config: next.config, diffIds: next.diffIds, layer: undefined, size: 0, sources: next.sources });
    run.state = next;
  }

  private history(s: State, createdBy: string, layer: boolean, line = 0): void {
    s.sources = [...s.sources, line ? `${this.dockerfileName}:${line}` : ''];
    const e: HistoryEntry = { created: rfc3339(this.o.epoch), created_by: createdBy, comment: HISTORY_COMMENT };
    if (!layer) e.empty_layer = true;
    s.config.history = [...(s.config.history ?? []), e];
    s.config.created = e.created!;
  }

  private async dispatch(run: StageRun, ins: Instruction, opt: { trigger: boolean }): Promise<void> {
    const n = ins.node;
    const env = this.expandEnv(run);
    const x = (w: string) => this.expand(w, env, ins);
    const pfx = `[${run.prefix}${run.index}/${run.total}]`;
    switch (ins.kind) {
      case 'env': {
        const pairs: [string, string][] = [];
        for (let i = 0; i < n.args.length; i += 2) pairs.push([x(n.args[i]!), x(n.args[i + 1]!)]);
        await this.meta(run, ins, 'ENV ' + pairs.map(([k, v]) => `${k}=${v}`).join(' '), (c) => {
          let e = c.Env ?? [];
          for (const [k, v] of pairs) e = setEnv(e, k, v);
          c.Env = e;
        }, opt.trigger);
        return;
      }
      case 'label': {
        const pairs: [string, string][] = [];
        for (let i = 0; i < n.args.length; i += 2) pairs.push([x(n.args[i]!), x(n.args[i + 1]!)]);
        await this.meta(run, ins, 'LABEL ' + pairs.map(([k, v]) => `${k}=${v}`).join(' '), (c) => {
          c.Labels = { ...(c.Labels ?? {}) };
          for (const [k, v] of pairs) c.Labels[k] = v;
        }, opt.trigger);
        return;
      }
      case 'maintainer': {
        const who = x(n.args[0]!);
        await this.meta(run, ins, `MAINTAINER ${who}`, () => undefined, opt.trigger);
        return;
      }
      case 'arg': {
        const parts: string[] = [];
        for (const w of n.args) {
          const eq = w.indexOf('=');
          const key = eq < 0 ? w : w.slice(0, eq);
          const def = eq < 0 ? undefined : x(w.slice(eq + 1));
          let value = def;
          if (this.o.buildArgs && key in this.o.buildArgs) {
            value = this.o.buildArgs[key] ?? process.env[key];
            this.usedArgs.add(key);
          } else if (value === undefined && this.metaArgs.has(key)) value = this.metaArgs.get(key);
          parts.push(def === undefined ? key : `${key}=${def}`);
          const i = run.args.findIndex((a) => a.key === key);
          if (i >= 0) run.args.splice(i, 1);
          run.args.push({ key, value });
          if (value !== undefined) run.argValues.set(key, value); else run.argValues.delete(key);
        }
        // the values enter the key (a different --build-arg is a different state)
        const vals = run.args.map((a) => [a.key, a.value ?? null]);
        await this.metaWithExtra(run, ins, 'ARG ' + parts.join(' '), vals, opt.trigger);
        return;
      }
      case 'user': {
        const u = x(n.args[0]!);
        await this.meta(run, ins, `USER ${u}`, (c) => { c.User = u; }, opt.trigger);
        return;
      }
      case 'stopsignal': {
        const s = x(n.args[0]!);
        await this.meta(run, ins, `STOPSIGNAL ${s}`, (c) => { c.StopSignal = s; }, opt.trigger);
        return;
      }
      case 'expose': {
        const ports: string[] = [];
        for (const a of n.args) for (const w of this.words(a, env, ins)) ports.push(...exposeSpec(w));
        const uniq = [...new Set(ports)];
        const shown = [...uniq].sort();
        await this.meta(run, ins, `EXPOSE map[${shown.map((p) => `${p}:{}`).join(' ')}]`, (c) => {
          c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
          for (const p of uniq) c.ExposedPorts[p] = {};
        }, opt.trigger);
        return;
      }
      case 'volume': {
        const vols = n.json ? n.args.map(x) : n.args.flatMap((a) => this.words(a, env, ins));
        for (const v of vols) if (v.trim() === '') throw llbError(`dockerfile parse error line ${n.startLine}: VOLUME specified can not be an empty string`);
        await this.meta(run, ins, `VOLUME [${vols.join(' ')}]`, (c) => {
          c.Volumes = { ...(c.Volumes ?? {}) };
          for (const v of vols) c.Volumes[v] = {};
        }, opt.trigger);
        return;
      }
      case 'shell': {
        const sh = [...n.args];
        await this.meta(run, ins, `SHELL [${sh.join(' ')}]`, (c) => { c.Shell = sh; }, opt.trigger);
        return;
      }
      case 'cmd': case 'entrypoint': {
        const args = n.json ? [...n.args] : [...this.shell(run), n.args[0]!];
        const word = ins.kind.toUpperCase();
        const wasSet = run.cmdSet;
        await this.meta(run, ins, `${word} ${goQuoteList(args)}`, (c) => {
          if (ins.kind === 'cmd') c.Cmd = args;
          else {
            c.Entrypoint = args;
            if (!wasSet) c.Cmd = null;
          }
          c.ArgsEscaped = true;
        }, opt.trigger);
        if (ins.kind === 'cmd') run.cmdSet = true;
        return;
      }
      case 'healthcheck': {
        const hc = healthcheck(ins);
        await this.meta(run, ins, `HEALTHCHECK ${hc.text}`, (c) => { c.Healthcheck = hc.value; }, opt.trigger);
        return;
      }
      case 'onbuild': {
        // the trigger as written (BuildKit keeps the line minus the ONBUILD word), no history entry
        const text = n.original.replace(/^\s*ONBUILD\s*/i, '').trim();
        await this.meta(run, ins, `ONBUILD ${text}`, (c) => { c.OnBuild = [...(c.OnBuild ?? []), text]; }, opt.trigger, false);
        return;
      }
      case 'workdir': {
        let wd = x(n.args[0]!);
        const cur = run.state.config.config?.WorkingDir || '/';
        wd = path.posix.resolve(cur, wd);
        await this.layerStep(run, ins, pfx, `WORKDIR ${wd}`, [wd, run.state.config.config?.User ?? ''], async (fsroot) => {
          const owner = resolveUserIds(fsroot.dir, run.state.config.config?.User ?? '');
          mkdirIn(fsroot.dir, wd, owner.uid || owner.gid ? owner : undefined);
        }, (c) => { c.WorkingDir = wd; }, opt.trigger, false);
        return;
      }
      case 'run':
        await runStep(this, run, ins, pfx, env, opt.trigger);
        return;
      case 'copy': case 'add':
        await copyStep(this, run, ins, pfx, env, opt.trigger);
        return;
      default:
        throw llbError(`dockerfile parse error line ${n.startLine}: unknown instruction: ${n.cmd.toUpperCase()}`);
    }
  }

  private async metaWithExtra(run: StageRun, ins: Instruction, createdBy: string, extra: unknown, trigger: boolean): Promise<void> {
    const key = sha([run.state.key, 'meta', createdBy, extra, trigger]);
    const hit = !this.o.noCache ? this.be.cacheGet(key) : undefined;
    if (hit) { run.state = { config: hit.config, diffIds: hit.diffIds, key, sources: hit.sources }; return; }
    const next = cloneState(run.state);
    next.key = key;
    this.history(next, createdBy, false, ins.node.startLine);
    this.be.cachePut({ key, parent: run.state.key, description: createdBy, config: next.config, diffIds: next.diffIds, layer: undefined, size: 0, sources: next.sources });
    run.state = next;
  }

  private words(w: string, env: ReadonlyMap<string, string>, ins: Instruction): string[] {
    try { return processWords(w, env, this.escape); } catch (e) {
      throw llbError(`dockerfile parse error line ${ins.node.startLine}: ${(e as Error).message}`);
    }
  }

  /**
   * A step that makes a layer: a writable rootfs on the state, `work` changes it, the upper
   * dir becomes the layer. Cached by key.
   */
  async layerStep(
    run: StageRun, ins: Instruction, pfx: string, createdBy: string, keyParts: unknown,
    work: (fsroot: Rootfs, v: Vertex) => Promise<void>, mutate: ((c: ContainerConfig) => void) | undefined, trigger: boolean, buildkitSuffix: boolean,
    noiseLine?: string,
  ): Promise<void> {
    const key = sha([run.state.key, ins.kind, keyParts, trigger]);
    const orig = ins.node.original.trim();
    const title = `${pfx} ${ins.kind === 'workdir' ? createdBy : orig.replace(/^\S+/, (w) => w.toUpperCase())}`;
    const v = this.progress.start(title);
    this.steps++;
    const fromCache = (): boolean => {
      if (this.o.noCache) return false;
      const hit = this.be.cacheGet(key);
      if (!hit) return false;
      run.state = { config: hit.config, diffIds: hit.diffIds, key, sources: hit.sources };
      this.cachedSteps++;
      v.cached();
      return true;
    };
    if (fromCache()) return;
    await this.be.lock(key, async () => {
      if (fromCache()) return;
      // the context may change while this runs: later COPYs list it afresh
      this.ctx.dropPrefetched();
      const fsroot = await this.be.rootfs(run.state.diffIds);
      let layer: LayerResult;
      try {
        await work(fsroot, v);
        layer = await fsroot.commit({ excludeNoise: !!this.o.excludeNoise, ...(this.o.epoch !== undefined ? { epoch: this.o.epoch } : {}) });
      } catch (e) {
        if (!(e instanceof BuildError)) v.error((e as Error).message);
        throw e;
      } finally {
        await fsroot.release();
      }
      const next = cloneState(run.state);
      next.key = key;
      next.config.config ??= emptyConfig();
      if (mutate) mutate(next.config.config);
      if (layer.diffId) next.diffIds.push(layer.diffId);
      next.config.rootfs = { type: 'layers', diff_ids: [...next.diffIds] };
      this.history(next, createdBy + (buildkitSuffix ? ' # buildkit' : ''), !!layer.diffId, ins.node.startLine);
      if (noiseLine !== undefined) {
        for (const l of layer.noise) this.noise.push({ step: noiseLine, line: ins.node.startLine, label: l.label, count: l.count, bytes: l.bytes, paths: l.paths, excluded: l.excluded });
      }
      this.be.cachePut({ key, parent: run.state.key, description: createdBy, config: next.config, diffIds: next.diffIds, layer: layer.diffId, size: layer.size, sources: next.sources });
      run.state = next;
      v.done();
    });
  }
}

/** Run a build. */
export function build(be: BuildBackend, o: BuildOptions): Promise<BuildResult> {
  return new Builder(be, o).build();
}
