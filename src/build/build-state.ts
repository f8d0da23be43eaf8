/**
 * What the builder and its steps share: options and results, the state a stage carries, and small helpers.
 */
import { createHash } from 'node:crypto';
import type { ContainerConfig, ImageConfig } from '../image/types.js';
import type { BuildBackend, Rootfs } from './backend.js';
import type { Context } from './fsops.js';
import { BuildError, type Instruction, type Stage } from './instructions.js';
import type { Vertex } from './progress.js';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';
export const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

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

export interface NoiseEntry { step: string; line: number; label: string; count: number; bytes: number; paths: string[]; excluded: boolean }

export interface BuildResult {
  id: string;
  steps: number;
  cached: number;
  noise: NoiseEntry[];
}

export interface State {
  config: ImageConfig;
  diffIds: string[];
  key: string;
  /** provenance per history entry ('' for the base's entries) */
  sources: string[];
}

interface BuildArg { key: string; value: string | undefined }

export interface StageRun {
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

export function sha(parts: unknown): string {
  return 'sha256:' + createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export function envMap(env: readonly string[] | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) { const i = e.indexOf('='); if (i < 0) m.set(e, ''); else m.set(e.slice(0, i), e.slice(i + 1)); }
  return m;
}

export function setEnv(env: string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => e === key || e.startsWith(key + '='));
  if (i >= 0) out[i] = `${key}=${value}`; else out.push(`${key}=${value}`);
  return out;
}

export function rfc3339(epoch: number | undefined): string {
  if (epoch !== undefined) return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const d = new Date();
  const ns = String(d.getMilliseconds() * 1_000_000 + Number(process.hrtime.bigint() % 1_000_000n)).padStart(9, '0').replace(/0+$/, '');
  return d.toISOString().slice(0, 19) + (ns ? `.${ns}` : '') + 'Z';
}

export function emptyConfig(): ContainerConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: [DEFAULT_PATH], Cmd: null, Image: '', Volumes: null,
    WorkingDir: '/', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

export function cloneState(s: State): State {
  return { config: JSON.parse(JSON.stringify(s.config)) as ImageConfig, diffIds: [...s.diffIds], key: s.key, sources: [...s.sources] };
}

/** The error text BuildKit gives a failed RUN. */
export function runFailure(args: readonly string[], code: number): BuildError {
  return new BuildError(`executor failed running [${args.join(' ')}]: exit code: ${code}`);
}

export function canonicalTag(name: string): string {
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

export function baseError(name: string, e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  if (/No such image|not found|manifest unknown/i.test(msg)) return `${canonicalTag(name)}: not found`;
  return msg;
}

/** What the RUN and COPY/ADD steps use of the builder. */
export interface StepHost {
  readonly be: BuildBackend;
  readonly o: BuildOptions;
  readonly ctx: Context;
  expand(word: string, env: ReadonlyMap<string, string>, ins: Instruction): string;
  shell(run: StageRun): string[];
  stageRef(name: string, before: number): Stage | undefined;
  stageState(index: number): Promise<State>;
  layerStep(
    run: StageRun, ins: Instruction, pfx: string, createdBy: string, keyParts: unknown,
    work: (fsroot: Rootfs, v: Vertex) => Promise<void>, mutate: ((c: ContainerConfig) => void) | undefined, trigger: boolean, buildkitSuffix: boolean,
    noiseLine?: string,
  ): Promise<void>;
}
