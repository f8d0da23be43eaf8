import { invalidArgument } from '../base/errors.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from './types.js';

/** An empty container config, in Go's struct order. */
export function emptyContainerConfig(): ContainerConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

/** Re-create a config with keys in Go's struct order and Go's omitempty rules. */
export function orderContainerConfig(c: Partial<ContainerConfig> | null | undefined): ContainerConfig {
  const src = c ?? {};
  const o: Record<string, unknown> = {};
  o.Hostname = src.Hostname ?? '';
  o.Domainname = src.Domainname ?? '';
  o.User = src.User ?? '';
  o.AttachStdin = src.AttachStdin ?? false;
  o.AttachStdout = src.AttachStdout ?? false;
  o.AttachStderr = src.AttachStderr ?? false;
  if (src.ExposedPorts && Object.keys(src.ExposedPorts).length) o.ExposedPorts = sortKeys(src.ExposedPorts);
  o.Tty = src.Tty ?? false;
  o.OpenStdin = src.OpenStdin ?? false;
  o.StdinOnce = src.StdinOnce ?? false;
  o.Env = src.Env ?? null;
  o.Cmd = src.Cmd ?? null;
  if (src.Healthcheck) o.Healthcheck = src.Healthcheck;
  if (src.ArgsEscaped) o.ArgsEscaped = true;
  o.Image = src.Image ?? '';
  o.Volumes = src.Volumes ? sortKeys(src.Volumes) : null;
  o.WorkingDir = src.WorkingDir ?? '';
  o.Entrypoint = src.Entrypoint ?? null;
  if (src.NetworkDisabled) o.NetworkDisabled = true;
  if (src.MacAddress) o.MacAddress = src.MacAddress;
  o.OnBuild = src.OnBuild ?? null;
  o.Labels = src.Labels ? sortKeys(src.Labels) : (src.Labels === null || src.Labels === undefined ? null : {});
  if (src.StopSignal) o.StopSignal = src.StopSignal;
  if (src.StopTimeout !== undefined && src.StopTimeout !== null) o.StopTimeout = src.StopTimeout;
  if (src.Shell && src.Shell.length) o.Shell = src.Shell;
  return o as unknown as ContainerConfig;
}

function sortKeys<T>(m: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k]!;
  return out;
}

function orderHistory(h: HistoryEntry): HistoryEntry {
  const o: HistoryEntry = {};
  if (h.created !== undefined) o.created = h.created;
  if (h.author) o.author = h.author;
  if (h.created_by) o.created_by = h.created_by;
  if (h.comment) o.comment = h.comment;
  if (h.empty_layer) o.empty_layer = true;
  return o;
}

/** Go's json.Marshal escapes <, > and & (HTML-safe) and U+2028/2029. */
function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * The exact config bytes whose sha256 is the image ID: compact JSON, top-level keys sorted,
 * nested objects in Go's struct order, HTML-safe escapes (Docker's serialisation).
 */
export function serializeImageConfig(cfg: ImageConfig): string {
  const top: Record<string, unknown> = {};
  const src = cfg as unknown as Record<string, unknown>;
  for (const k of Object.keys(src).sort()) {
    const v = src[k];
    if (v === undefined) continue;
    if ((k === 'author' || k === 'comment' || k === 'parent' || k === 'variant' || k === 'container' || k === 'docker_version') && !v) continue;
    if (k === 'config') top[k] = v === null ? null : orderContainerConfig(v as ContainerConfig);
    else if (k === 'container_config') top[k] = orderContainerConfig(v as ContainerConfig);
    else if (k === 'history') top[k] = (v as HistoryEntry[]).map(orderHistory);
    else if (k === 'rootfs') top[k] = { type: 'layers', diff_ids: (v as ImageConfig['rootfs']).diff_ids };
    else top[k] = v;
  }
  return goJson(top);
}

export { rfc3339Nano, ZERO_TIME } from '../base/time.js';

/** Split Dockerfile-style words: quotes and backslash escapes, as in ENV/LABEL key=value forms. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) { quote = null; continue; }
      if (c === '\\' && quote === '"' && i + 1 < s.length) { cur += s[++i]; continue; }
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") { quote = c; inWord = true; continue; }
    if (c === '\\' && i + 1 < s.length) { cur += s[++i]; inWord = true; continue; }
    if (/\s/.test(c)) {
      if (inWord) { out.push(cur); cur = ''; inWord = false; }
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (quote) throw invalidArgument('unexpected end of statement while looking for matching ' + quote);
  if (inWord) out.push(cur);
  return out;
}

function parseJsonArray(rest: string): string[] | null {
  const t = rest.trim();
  if (!t.startsWith('[')) return null;
  try {
    const v = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch { /* not JSON: shell form */ }
  return null;
}

function parseKeyValues(kw: string, rest: string): [string, string][] {
  const words = splitWords(rest);
  if (words.length === 0) throw invalidArgument(`${kw} requires at least one argument`);
  const first = words[0]!;
  if (!first.includes('=')) {
    // legacy form: KEY value with spaces
    const m = /^\s*(\S+)\s+(.*)$/s.exec(rest);
    if (!m) throw invalidArgument(`${kw} must have two arguments`);
    return [[m[1]!, splitWords(m[2]!).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${kw} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)] as [string, string];
  });
}

/** Normalise an EXPOSE argument like 80, 80/udp, 8000-8001/tcp into port keys. */
function exposeKeys(arg: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(arg);
  if (!m) throw invalidArgument(`Invalid containerPort: ${arg}`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (lo < 1 || hi > 65535 || hi < lo) throw invalidArgument(`Invalid containerPort: ${arg}`);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

const IMPORT_CHANGES = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR'];
export const COMMIT_CHANGES = [...IMPORT_CHANGES, 'HEALTHCHECK'];

/**
 * Apply `--change` lines (Dockerfile instructions) to a config, in order, with Dockerfile
 * semantics. ENTRYPOINT resets Cmd unless a CMD came earlier in the same list (Docker).
 */
export function applyChanges(base: ContainerConfig, changes: readonly string[], allowed: readonly string[] = IMPORT_CHANGES): ContainerConfig {
  const c: ContainerConfig = JSON.parse(JSON.stringify(base));
  let cmdSet = false;
  for (const raw of changes) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(line)!;
    const kw = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (!allowed.includes(kw)) throw invalidArgument(`${kw.toLowerCase()} is not a valid change command`);
    switch (kw) {
      case 'CMD': {
        c.Cmd = parseJsonArray(rest) ?? ['/bin/sh', '-c', rest];
        cmdSet = true;
        break;
      }
      case 'ENTRYPOINT': {
        const arr = parseJsonArray(rest);
        c.Entrypoint = arr ?? (rest.trim() ? ['/bin/sh', '-c', rest] : null);
        if (!cmdSet) c.Cmd = null;
        break;
      }
      case 'ENV': {
        const env = c.Env ? [...c.Env] : [];
        for (const [k, v] of parseKeyValues('ENV', rest)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`; else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of parseKeyValues('LABEL', rest)) labels[k] = v;
        c.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        const words = splitWords(rest);
        if (!words.length) throw invalidArgument('EXPOSE requires at least one argument');
        for (const w of words) for (const k of exposeKeys(w)) ports[k] = {};
        c.ExposedPorts = ports;
        break;
      }
      case 'USER': {
        const w = splitWords(rest);
        if (w.length !== 1) throw invalidArgument('USER requires exactly one argument');
        c.User = w[0]!;
        break;
      }
      case 'WORKDIR': {
        const w = rest.trim();
        if (!w) throw invalidArgument('WORKDIR requires exactly one argument');
        c.WorkingDir = w.startsWith('/') ? w : `${(c.WorkingDir || '/').replace(/\/$/, '')}/${w}`;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(c.Volumes ?? {}) };
        const list = parseJsonArray(rest) ?? splitWords(rest);
        if (!list.length) throw invalidArgument('VOLUME requires at least one argument');
        for (const v of list) {
          if (!v.trim()) throw invalidArgument('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        c.Volumes = vols;
        break;
      }
      case 'ONBUILD': {
        const trig = rest.trim();
        const tkw = trig.split(/\s+/)[0]?.toUpperCase() ?? '';
        if (!trig) throw invalidArgument('ONBUILD requires at least one argument');
        if (tkw === 'ONBUILD') throw invalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (tkw === 'FROM' || tkw === 'MAINTAINER') throw invalidArgument(`${tkw} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), trig];
        break;
      }
      case 'HEALTHCHECK': {
        const arr = parseJsonArray(rest.replace(/^CMD\s+/i, ''));
        const words = rest.trim();
        if (/^NONE$/i.test(words)) c.Healthcheck = { Test: ['NONE'] };
        else c.Healthcheck = { Test: arr ? ['CMD', ...arr] : ['CMD-SHELL', words.replace(/^CMD\s+/i, '')] };
        break;
      }
    }
  }
  return c;
}
