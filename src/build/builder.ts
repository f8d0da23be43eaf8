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
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/types.js';
import { formatGoDuration, parseDuration } from '../format/index.js';
import type { BaseImage, BuildBackend, BuildMount, LayerResult, Rootfs } from './backend.js';
import { archiveKind, Context, copyTree, mkdirIn, resolveChown, resolveIn, resolveUserIds } from './fsops.js';
import { IgnoreMatcher, parseIgnoreFile } from './ignore.js';
import { BuildError, llbError, parseStages, toInstruction, type Instruction, type Stage } from './instructions.js';
import { parseDockerfile } from './parser.js';
import { Progress, type Vertex } from './progress.js';
import { processWord, processWords, ShellError } from './shell.js';

export { BuildError } from './instructions.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HISTORY_COMMENT = 'buildkit.dockerfile.v0';
const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

export interface BuildOptions {
  /** the context directory (tar contexts are extracted by the caller) */
  contextDir: string;
  /** the Dockerfile's path (absolute, or relative to the context); default Dockerfile */
  dockerfile?: string;
  /** the Dockerfile's text, when it does not come from a file */
  dockerfileText?: string;
  tags?: string[];
  buildArgs?: Record<string, string | undefined>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  network?: 'default' | 'none' | 'host';
  /** `--secret id=ID,src=FILE` */
  secrets?: Record<string, string>;
  platform?: string;
  extraHosts?: string[];
  excludeNoise?: boolean;
  /** SOURCE_DATE_EPOCH / --timestamp: clamp times for reproducible images */
  epoch?: number;
  /** progress lines (plain BuildKit format) */
  log?: (line: string) => void;
  quiet?: boolean;
  /** keep the context's file hashes for the next build (a user's directory, not a temporary one) */
  persistHashes?: boolean;
}

interface NoiseEntry { step: string; line: number; label: string; count: number; bytes: number; paths: string[]; excluded: boolean }

export interface BuildResult {
  id: string;
  steps: number;
  cached: number;
  noise: NoiseEntry[];
}

interface State {
  config: ImageConfig;
  diffIds: string[];
  key: string;
  /** provenance per history entry ('' for the base's entries) */
  sources: string[];
}

interface BuildArg { key: string; value: string | undefined }

interface StageRun {
  stage: Stage;
  state: State;
  args: BuildArg[];
  /** ARG values in scope (name -> value) */
  argValues: Map<string, string>;
  cmdSet: boolean;
  total: number;
  index: number;
  prefix: string;
}

function sha(parts: unknown): string {
  return 'sha256:' + createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

function envMap(env: readonly string[] | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) { const i = e.indexOf('='); if (i < 0) m.set(e, ''); else m.set(e.slice(0, i), e.slice(i + 1)); }
  return m;
}

function setEnv(env: string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => e === key || e.startsWith(key + '='));
  if (i >= 0) out[i] = `${key}=${value}`; else out.push(`${key}=${value}`);
  return out;
}

/** Go's %q for a string (strconv.Quote). */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 7) out += '\\a'; else if (c === 8) out += '\\b'; else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n'; else if (c === 13) out += '\\r'; else if (c === 9) out += '\\t'; else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}
const goQuoteList = (l: readonly string[]) => `[${l.map(goQuote).join(' ')}]`;

function rfc3339(epoch: number | undefined): string {
  if (epoch !== undefined) return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const d = new Date();
  const ns = String(d.getMilliseconds() * 1_000_000 + Number(process.hrtime.bigint() % 1_000_000n)).padStart(9, '0').replace(/0+$/, '');
  return d.toISOString().slice(0, 19) + (ns ? `.${ns}` : '') + 'Z';
}

function emptyConfig(): ContainerConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: [DEFAULT_PATH], Cmd: null, Image: '', Volumes: null,
    WorkingDir: '/', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

function cloneState(s: State): State {
  return { config: JSON.parse(JSON.stringify(s.config)) as ImageConfig, diffIds: [...s.diffIds], key: s.key, sources: [...s.sources] };
}

/** The error text BuildKit gives a failed RUN. */
function runFailure(args: readonly string[], code: number): BuildError {
  return new BuildError(`executor failed running [${args.join(' ')}]: exit code: ${code}`);
}

class Builder {
  private readonly progress: Progress;
  private readonly log: (line: string) => void;
  private ctx!: Context;
  private escape = '\\';
  private metaArgs = new Map<string, string | undefined>();
  private readonly stageDone = new Map<number, Promise<State>>();
  private stages: Stage[] = [];
  private steps = 0;
  private cachedSteps = 0;
  private readonly noise: NoiseEntry[] = [];
  private readonly usedArgs = new Set<string>();
  private dockerfileName = 'Dockerfile';

  constructor(private readonly be: BuildBackend, private readonly o: BuildOptions) {
    this.log = o.log ?? (() => undefined);
    this.progress = new Progress(this.log, !!o.quiet);
  }

  async build(): Promise<BuildResult> {
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
    this.ctx = new Context(o.contextDir, new IgnoreMatcher(ignoreLines.patterns), o.persistHashes ? this.be.hashCacheFile(o.contextDir) : undefined);
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
    return { id, steps: this.steps, cached: this.cachedSteps, noise: this.noise };
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

  private expand(word: string, env: ReadonlyMap<string, string>, ins: Instruction): string {
    try {
      return processWord(word, env, this.escape);
    } catch (e) {
      if (e instanceof ShellError) throw llbError(`dockerfile parse error line ${ins.node.startLine}: ${e.message}`);
      throw e;
    }
  }

  /** A stage's final state, built once however many stages need it. */
  private stageState(index: number): Promise<State> {
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
  private stageRef(name: string, before: number): Stage | undefined {
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
      state = { config: { architecture: 'amd64', os: 'linux', config: emptyConfig(), rootfs: { type: 'layers', diff_ids: [] }, history: [] }, diffIds: [], key: sha(['scratch']), sources: [] };
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
      state = { config: cfg, diffIds: [...img.diffIds], key: sha(['from', img.id]), sources: (cfg.history ?? []).map(() => '') };
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

  /** The env a stage's instructions expand with: ARG values, then ENV on top. */
  private expandEnv(run: StageRun): Map<string, string> {
    const m = new Map(run.argValues);
    for (const [k, v] of envMap(run.state.config.config?.Env)) m.set(k, v);
    return m;
  }

  private shell(run: StageRun): string[] {
    const s = run.state.config.config?.Shell;
    return s && s.length ? [...s] : ['/bin/sh', '-c'];
  }

  /** Record a metadata-only step: history entry, no layer; cached like every step. */
  private async meta(run: StageRun, ins: Instruction, createdBy: string, mutate: (c: ContainerConfig) => void, trigger: boolean): Promise<void> {
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
    if (!trigger) this.history(next, createdBy, false, ins.node.startLine);
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
        const hc = this.healthcheck(ins);
        await this.meta(run, ins, `HEALTHCHECK ${hc.text}`, (c) => { c.Healthcheck = hc.value; }, opt.trigger);
        return;
      }
      case 'onbuild': {
        const expr = n.args[0]!.trim();
        const sub = n.sub!;
        const text = sub.original.trim().replace(/^\S+/, (w) => w.toUpperCase());
        await this.meta(run, ins, `ONBUILD ${text}`, (c) => { c.OnBuild = [...(c.OnBuild ?? []), text]; }, opt.trigger);
        void expr;
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
        await this.runStep(run, ins, pfx, env, opt.trigger);
        return;
      case 'copy': case 'add':
        await this.copyStep(run, ins, pfx, env, opt.trigger);
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
    if (!trigger) this.history(next, createdBy, false, ins.node.startLine);
    this.be.cachePut({ key, parent: run.state.key, description: createdBy, config: next.config, diffIds: next.diffIds, layer: undefined, size: 0, sources: next.sources });
    run.state = next;
  }

  private words(w: string, env: ReadonlyMap<string, string>, ins: Instruction): string[] {
    try { return processWords(w, env, this.escape); } catch (e) {
      throw llbError(`dockerfile parse error line ${ins.node.startLine}: ${(e as Error).message}`);
    }
  }

  private healthcheck(ins: Instruction): { text: string; value: Record<string, unknown> } {
    const n = ins.node;
    const typ = n.args[0]!.toUpperCase();
    if (typ === 'NONE') {
      if (n.args.length > 1) throw llbError(`dockerfile parse error line ${n.startLine}: HEALTHCHECK NONE takes no arguments`);
      return { text: '&{["NONE"] "0s" "0s" "0s" \'\\x00\'}', value: { Test: ['NONE'] } };
    }
    if (typ !== 'CMD') throw llbError(`dockerfile parse error line ${n.startLine}: Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
    const rest = n.args.slice(1);
    if (rest.length === 0) throw llbError(`dockerfile parse error line ${n.startLine}: Missing command after HEALTHCHECK CMD`);
    const test = n.json ? ['CMD', ...rest] : ['CMD-SHELL', rest[0]!];
    const dur = (name: string): number => {
      const v = ins.flags[name] as string | undefined;
      if (v === undefined || v === '') return 0;
      let ms: number;
      try { ms = parseDuration(v); } catch (e) { throw llbError(`dockerfile parse error line ${n.startLine}: ${(e as Error).message}`); }
      if (ms < 0) throw llbError(`dockerfile parse error line ${n.startLine}: Interval "${name}" cannot be negative`);
      if (ms !== 0 && ms < 1) throw llbError(`dockerfile parse error line ${n.startLine}: Interval "${name}" cannot be less than 1ms`);
      return Math.round(ms * 1e6);
    };
    const interval = dur('interval');
    const timeout = dur('timeout');
    const start = dur('start-period');
    let retries = 0;
    if (ins.flags.retries !== undefined) {
      retries = Number(ins.flags.retries);
      if (!Number.isInteger(retries)) throw llbError(`dockerfile parse error line ${n.startLine}: strconv.ParseInt: parsing "${ins.flags.retries}": invalid syntax`);
      if (retries < 0) throw llbError(`dockerfile parse error line ${n.startLine}: --retries cannot be negative (${retries})`);
    }
    const value: Record<string, unknown> = { Test: test };
    if (interval) value.Interval = interval;
    if (timeout) value.Timeout = timeout;
    if (start) value.StartPeriod = start;
    if (retries) value.Retries = retries;
    const rq = retries < 0x20 || retries === 0x7f ? `'\\x${retries.toString(16).padStart(2, '0')}'` : `'${String.fromCodePoint(retries).replace(/'/g, "\\'")}'`;
    const text = `&{${goQuoteList(test)} ${goQuote(formatGoDuration(interval))} ${goQuote(formatGoDuration(timeout))} ${goQuote(formatGoDuration(start))} ${rq}}`;
    return { text, value };
  }

  /**
   * A step that makes a layer: a writable rootfs on the state, `work` changes it, the upper
   * dir becomes the layer. Cached by key.
   */
  private async layerStep(
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
      if (!trigger) this.history(next, createdBy + (buildkitSuffix ? ' # buildkit' : ''), !!layer.diffId, ins.node.startLine);
      if (noiseLine !== undefined) {
        for (const l of layer.noise) this.noise.push({ step: noiseLine, line: ins.node.startLine, label: l.label, count: l.count, bytes: l.bytes, paths: l.paths, excluded: l.excluded });
      }
      this.be.cachePut({ key, parent: run.state.key, description: createdBy, config: next.config, diffIds: next.diffIds, layer: layer.diffId, size: layer.size, sources: next.sources });
      run.state = next;
      v.done();
    });
  }

  // ------------------------------------------------------------------ RUN

  private async runStep(run: StageRun, ins: Instruction, pfx: string, env: Map<string, string>, trigger: boolean): Promise<void> {
    const n = ins.node;
    let args: string[];
    let heredocFiles: { name: string; content: string }[] = [];
    if (n.heredocs.length && !n.json) {
      const cmdline = n.args[0] ?? '';
      const h = n.heredocs[0]!;
      const content = h.expand ? h.content : h.content;
      if (n.heredocs.length === 1 && /^\s*\d*<<-?\s*\S+\s*$/.test(cmdline)) {
        if (content.startsWith('#!')) {
          heredocFiles = [{ name: 'heredoc', content }];
          args = ['/dev/pipes/heredoc'];
        } else args = [...this.shell(run), content];
      } else {
        // the heredocs become the command's stdin/files: run the whole script through the shell
        let script = cmdline;
        for (const d of n.heredocs) script += `\n${d.content}${d.name}`;
        args = [...this.shell(run), script];
      }
    } else args = n.json ? [...n.args] : [...this.shell(run), n.args[0]!];
    const cfg = run.state.config.config ?? emptyConfig();
    // the process env: the image's, then build args not shadowed by it, then proxy args given on the command line
    let penv = [...(cfg.Env ?? [])];
    const imgEnv = envMap(cfg.Env);
    for (const a of run.args) if (a.value !== undefined && !imgEnv.has(a.key)) penv = setEnv(penv, a.key, a.value);
    for (const p of PROXY_ARGS) {
      const v = this.o.buildArgs?.[p];
      if (v !== undefined && !run.args.some((a) => a.key === p)) penv = setEnv(penv, p, v);
    }
    const envNow = envMap(penv);
    const argStr = run.args.map((a) => `${a.key}=${envNow.get(a.key) ?? a.value ?? ''}`);
    const shown = [...(argStr.length ? [`|${argStr.length}`, ...argStr] : []), ...args].join(' ');
    const createdBy = `RUN ${shown}`;
    // flags
    const network = (ins.flags.network as string | undefined) ?? this.o.network ?? 'default';
    if (!['default', 'none', 'host'].includes(network)) throw llbError(`dockerfile parse error line ${n.startLine}: unsupported network mode ${network}`);
    const mounts = await this.parseMounts(run, ins, env);
    const mountKey = mounts.map((m) => m.key);
    const user = cfg.User ?? '';
    const cwd = cfg.WorkingDir || '/';
    const keyParts = [args, penv, user, cwd, network, mountKey, heredocFiles.map((f) => f.content)];
    await this.layerStep(run, ins, pfx, createdBy, keyParts, async (fsroot, v) => {
      const live: BuildMount[] = [];
      const cleanups: (() => Promise<void>)[] = [];
      try {
        for (const m of mounts) {
          const made = await m.make();
          live.push(made.mount);
          if (made.release) cleanups.push(made.release);
        }
        if (heredocFiles.length) {
          const dir = this.be.scratch('heredoc');
          cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
          for (const f of heredocFiles) fs.writeFileSync(path.join(dir, f.name), f.content, { mode: 0o755 });
          live.push({ target: '/dev/pipes', type: 'bind', source: dir, readonly: true });
        }
        // WORKDIR exists before the command runs (BuildKit creates it)
        if (cwd !== '/') mkdirIn(fsroot.dir, cwd);
        const go = () => fsroot.run({
          args, env: penv, user, cwd, network: network as 'default' | 'none' | 'host', mounts: live, extraHosts: this.o.extraHosts ?? [],
          onOutput: (b) => v.output(b),
        });
        // `sharing=locked` cache mounts: one user at a time, across builds
        const locked = mounts.flatMap((m) => (m.lockKey ? [m.lockKey] : []));
        const withLocks = (i: number): Promise<number> => (i < locked.length ? this.be.lock(locked[i]!, () => withLocks(i + 1)) : go());
        const code = await withLocks(0);
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

  private async parseMounts(run: StageRun, ins: Instruction, env: Map<string, string>): Promise<{ key: unknown; lockKey?: string; make: () => Promise<{ mount: BuildMount; release?: () => Promise<void> }> }[]> {
    const out: { key: unknown; lockKey?: string; make: () => Promise<{ mount: BuildMount; release?: () => Promise<void> }> }[] = [];
    const n = ins.node;
    for (const spec of (ins.flags.mount as string[] | undefined) ?? []) {
      const f: Record<string, string> = {};
      for (const part of spec.split(',')) {
        const eq = part.indexOf('=');
        const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
        const v = eq < 0 ? 'true' : part.slice(eq + 1);
        f[k] = this.expand(v, env, ins);
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
        out.push({ key: ['cache', tgt, id, ro], ...(sharing === 'locked' ? { lockKey: `cache-mount-${id}` } : {}), make: async () => {
          const dir = this.be.cacheMountDir(id);
          if (f.uid || f.gid || f.mode) {
            try { fs.chownSync(dir, Number(f.uid ?? 0), Number(f.gid ?? 0)); if (f.mode) fs.chmodSync(dir, parseInt(f.mode, 8)); } catch { /* best effort */ }
          }
          return { mount: { type: 'cache', target: tgt, source: dir, readonly: ro } };
        } });
      } else if (type === 'bind') {
        const src = f.source ?? f.src ?? '/';
        const from = f.from;
        if (from) {
          const st = this.stageRef(from, run.stage.index);
          const getState = async (): Promise<{ diffIds: string[]; key: string }> => {
            if (st) return this.stageState(st.index);
            const img = await this.be.resolveImage(from, { pull: false });
            return { diffIds: img.diffIds, key: img.id };
          };
          const s = await getState();
          out.push({ key: ['bind', tgt, s.key, src, ro], make: async () => {
            const view = await this.be.view(s.diffIds);
            const host = resolveIn(view.dir, src);
            return { mount: { type: 'bind', target: tgt, source: host, readonly: true }, release: () => view.release() };
          } });
        } else {
          const rel = path.posix.normalize('/' + src).slice(1) || '.';
          const abs = path.join(this.ctx.dir, rel);
          if (!fs.existsSync(abs)) throw new BuildError(`failed to compute cache key: "/${rel === '.' ? '' : rel}" not found: not found`);
          const sum = this.ctx.checksum(rel);
          out.push({ key: ['bind-ctx', tgt, rel, sum, ro], make: async () => {
            // a copy of the (filtered) context path, so the step cannot change the user's files
            const dir = this.be.scratch('bind');
            const dst = path.join(dir, 'src');
            copyTree(abs, dst, { keepOwner: false, skip: (r, isDir) => this.ctx.skip(rel === '.' ? r : `${rel}/${r}`, isDir) });
            return { mount: { type: 'bind', target: tgt, source: dst, readonly: ro }, release: async () => fs.rmSync(dir, { recursive: true, force: true }) };
          } });
        }
      } else if (type === 'secret') {
        const id = f.id ?? (target ? path.posix.basename(target) : '');
        const src = this.o.secrets?.[id];
        const required = f.required === 'true';
        const dst = target ? path.posix.resolve('/', target) : `/run/secrets/${id}`;
        if (!src) {
          if (required) throw new BuildError(`secret ${id} not found`);
          continue;
        }
        // the secret's content never enters the cache key
        out.push({ key: ['secret', dst, id], make: async () => {
          const dir = this.be.scratch('secret');
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

  // ------------------------------------------------------------------ COPY / ADD

  private async copyStep(run: StageRun, ins: Instruction, pfx: string, env: Map<string, string>, trigger: boolean): Promise<void> {
    const n = ins.node;
    const isAdd = ins.kind === 'add';
    const x = (w: string) => this.expand(w, env, ins);
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
      const st = this.stageRef(fromName, run.stage.index);
      if (st) fromState = await this.stageState(st.index);
      else {
        let img;
        try { img = await this.be.resolveImage(fromName, { pull: !!this.o.pull }); } catch (e) { throw llbError(baseError(fromName, e)); }
        fromState = { diffIds: img.diffIds, key: img.id };
      }
      keySrc.push(['from', fromState.key]);
    }
    for (const s of srcs) {
      if (isAdd && /^https?:\/\//.test(s)) { sources.push({ kind: 'url', url: s }); continue; }
      if (fromState) { sources.push({ kind: 'view', rel: s }); keySrc.push(['path', s]); continue; }
      const { rels, wildcard } = this.ctx.expand(s);
      if (rels.length === 0 && !wildcard) {
        const shownPath = '/' + path.posix.normalize('/' + s).slice(1).replace(/\/$/, '');
        throw new BuildError(`failed to compute cache key: "${shownPath === '/' ? '/' : shownPath}" not found: not found`);
      }
      for (const rel of rels) { sources.push({ kind: 'ctx', rel }); keySrc.push(['ctx', rel, this.ctx.checksum(rel)]); }
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
        const dir = this.be.scratch('add-url');
        scratchDirs.push(dir);
        const f = await download(s.url, dir, checksum);
        fetched.set(s.url, f);
        keySrc.push(['url', s.url, f.digest]);
      }
      const keyParts = [keySrc, destAbs, chown ?? null, chmod ?? null, !!ins.flags.link, isAdd];
      await this.layerStep(run, ins, pfx, createdBy, keyParts, async (fsroot) => {
        const owner = chown ? resolveChown(fsroot.dir, chown) : undefined;
        const copyOpts = { ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}), ...(this.o.epoch !== undefined ? { epoch: this.o.epoch } : {}) };
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
        if (fromState) view = await this.be.view(fromState.diffIds);
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
              srcHost = path.join(this.ctx.dir, s.rel);
              const base = s.rel;
              skip = (r, isDir) => this.ctx.skip(base === '.' ? r : `${base}/${r}`, isDir);
            } else {
              const matches = globIn(view!.dir, s.rel);
              if (matches.length === 0) {
                if (/[*?[]/.test(s.rel)) continue;
                const shownPath = '/' + path.posix.normalize('/' + s.rel).slice(1).replace(/\/$/, '');
                throw new BuildError(`failed to compute cache key: "${shownPath}" not found: not found`);
              }
              if (matches.length > 1) {
                for (const m of matches) copyOne(m, ensureDestDir(), true, { ...copyOpts, keepOwner: !owner }, undefined, isAdd);
                continue;
              }
              srcHost = matches[0]!;
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

/** `EXPOSE 80`, `80/udp`, `8000-8002/tcp` -> port keys. */
function exposeSpec(w: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
  if (!m) throw new BuildError(`invalid containerPort: ${w}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

function canonicalTag(name: string): string {
  let n = name;
  const slash = n.indexOf('/');
  const first = slash < 0 ? '' : n.slice(0, slash);
  if (slash < 0 || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    n = `docker.io/${slash < 0 ? 'library/' : ''}${n}`;
  }
  const last = n.slice(n.lastIndexOf('/') + 1);
  if (!last.includes(':') && !last.includes('@')) n += ':latest';
  return n;
}

function baseError(name: string, e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  if (/No such image|not found|manifest unknown/i.test(msg)) return `${canonicalTag(name)}: not found`;
  return msg;
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

/** Run a build. */
export function build(be: BuildBackend, o: BuildOptions): Promise<BuildResult> {
  return new Builder(be, o).build();
}
