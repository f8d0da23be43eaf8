/**
 * The docker CLI's output conventions: `--format` handling for list commands
 * (table / json / custom templates), short IDs, `docker inspect` JSON, and
 * the `ps` STATUS, PORTS and COMMAND strings.
 */

import { goQuote } from './strconv.js';
import { goJson } from './gojson.js';
import { GoStructView, goMap, isPlainObject } from './govalue.js';
import { tabwrite } from './tabwriter.js';
import { type FuncMap, headerFuncs } from './template/funcs.js';
import { parseTemplate } from './template.js';
import { humanDuration } from './units.js';
import { ellipsis } from './width.js';

// ---------------------------------------------------------------------------
// --format for list commands

export interface TableSpec {
  /** The command's default, e.g. `table {{.Repository}}\t{{.Tag}}\t{{.ID}}`. */
  defaultFormat: string;
  /** Column header for each field: `{ ID: 'IMAGE ID', Repository: 'REPOSITORY' }`. */
  headers: Record<string, string>;
  /**
   * The user's `--format`. Empty/undefined or `table` selects the default,
   * `json` means `{{json .}}`, anything else is a template (a table when it
   * starts with `table`).
   */
  format?: string;
  /** Go type name used in errors for unknown fields, e.g. `*formatter.imageContext`. */
  typeName?: string;
  /** Extra template functions. */
  funcs?: FuncMap;
}

/** The header of a `{{.Label "com.example.name"}}` column: the last dotted part, `-`/`_` as spaces. */
export function headerLabel(name: string): string {
  const parts = name.split('.');
  return parts[parts.length - 1]!.replace(/[-_]/g, ' ');
}

/**
 * The JSON docker's format contexts marshal to: an object of the row's fields
 * and argument-less methods (for class instances, the capitalized fields,
 * methods and getters), with sorted keys and `<>&` escaped.
 */
function marshalRow(row: object): string {
  // Class instances are like Go structs: only capitalized (exported) names count.
  const plain = isPlainObject(row);
  const keys = new Set(Object.keys(row).filter((k) => plain || /^[A-Z]/.test(k)));
  for (let p = Object.getPrototypeOf(row) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const k of Object.getOwnPropertyNames(p)) if (/^[A-Z]/.test(k)) keys.add(k);
  }
  const m: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (row as Record<string, unknown>)[k];
    if (typeof v === 'function') {
      if (v.length === 0) m[k] = (v as () => unknown).call(row);
    } else {
      m[k] = v;
    }
  }
  return goJson(goMap(m), { escapeHTML: true });
}

/** Docker's Format.IsTable / preFormat: the template to run, and whether it is a table. */
export function resolveFormat(format: string | undefined, defaultFormat: string): { template: string; table: boolean } {
  let f = format === undefined || format === '' || format === 'table' ? defaultFormat : format;
  if (f === 'json') f = '{{json .}}';
  const table = f.startsWith('table');
  let body = table ? f.slice('table'.length) : f;
  body = body.replace(/^ +| +$/g, '');
  body = body.replace(/\\[tn]/g, (m) => (m === '\\t' ? '\t' : '\n'));
  return { template: body, table };
}

/**
 * Renders list output as the docker CLI does (formatter.Context.Write):
 * each row runs through the template followed by a newline; for `table`
 * formats a header row comes first (the same template run over the header
 * names, with json/join/split/title/lower/upper/truncate passing the name
 * through) and everything is aligned by the tabwriter (min width 10, padding 3).
 * Template errors throw TemplateError (`template parsing error: ...`).
 */
export function formatTable(rows: readonly object[], spec: TableSpec): string {
  const { template, table } = resolveFormat(spec.format, spec.defaultFormat);
  const tmpl = parseTemplate(template, spec.funcs ? { funcs: spec.funcs } : {});
  // Rows behave like docker's format contexts: structs (unknown fields are
  // errors) whose JSON is `marshalRow`.
  const typeName = spec.typeName ?? 'struct';
  let body = '';
  for (const row of rows) body += tmpl.execute(new GoStructView(row, typeName, marshalRow)) + '\n';
  if (!table) return body;
  const headerData: Record<string, unknown> = { ...spec.headers };
  if (!('Label' in headerData)) headerData.Label = headerLabel;
  // Docker ignores errors while rendering the header and keeps what was written.
  const header = tmpl.tryExecute(headerData, headerFuncs).output;
  return tabwrite(header + '\n' + body);
}

// ---------------------------------------------------------------------------
// IDs and inspect

/** Short ID: drops an `algo:` prefix and keeps 12 characters (`<missing>` stays). */
export function truncateId(id: string): string {
  const i = id.indexOf(':');
  if (i >= 0) id = id.slice(i + 1);
  return id.length > 12 ? id.slice(0, 12) : id;
}

/**
 * Go's `json.MarshalIndent(v, "", "    ")`. HTML characters are left alone by
 * default, matching what `docker inspect` prints (the daemon encodes without
 * HTML escaping); pass `escapeHTML: true` for json.Marshal's behaviour.
 */
export function jsonIndent(value: unknown, opts: { escapeHTML?: boolean; indent?: string } = {}): string {
  return goJson(value, { indent: opts.indent ?? '    ', escapeHTML: opts.escapeHTML ?? false });
}

/** `docker inspect` output for a list of objects: an indented JSON array and a newline (`[]` when empty). */
export function formatInspect(items: readonly unknown[]): string {
  return jsonIndent(items) + '\n';
}

// ---------------------------------------------------------------------------
// ps columns

type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

interface ContainerStatusInput {
  state: ContainerState;
  exitCode?: number;
  /** Start time; null/undefined/zero time means never started. */
  startedAt?: Date | number | string | null;
  /** Finish time; null/undefined/zero time means never finished. */
  finishedAt?: Date | number | string | null;
  /** Health status of a running container, if it has a health check. */
  health?: 'starting' | 'healthy' | 'unhealthy' | 'none' | null;
}

const GO_ZERO_TIME = -62_135_596_800_000; // 0001-01-01T00:00:00Z

function timeMs(t: Date | number | string | null | undefined): number | undefined {
  if (t === null || t === undefined || t === '') return undefined;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  if (Number.isNaN(ms) || ms <= GO_ZERO_TIME) return undefined;
  return ms;
}

/**
 * The STATUS text the daemon computes (container State.String()):
 * `Up 3 seconds`, `Up 3 seconds (Paused)`, `Up 2 hours (healthy)`,
 * `Up 1 second (health: starting)`, `Restarting (1) 2 seconds ago`,
 * `Exited (0) 2 seconds ago`, `Created`, `Removal In Progress`, `Dead`.
 */
export function statusString(s: ContainerStatusInput, now: Date | number = Date.now()): string {
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const started = timeMs(s.startedAt);
  const finished = timeMs(s.finishedAt);
  const code = s.exitCode ?? 0;
  const since = (t: number | undefined) => humanDuration(nowMs - (t ?? GO_ZERO_TIME));
  switch (s.state) {
    case 'running':
    case 'paused':
    case 'restarting': {
      if (s.state === 'paused') return `Up ${since(started)} (Paused)`;
      if (s.state === 'restarting') return `Restarting (${code}) ${since(finished)} ago`;
      const h = s.health;
      if (h && h !== 'none') return `Up ${since(started)} (${h === 'starting' ? 'health: starting' : h})`;
      return `Up ${since(started)}`;
    }
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
  }
  if (started === undefined) return 'Created';
  if (finished === undefined) return '';
  return `Exited (${code}) ${since(finished)} ago`;
}

/**
 * The `Command` the daemon reports for a container: the path plus its
 * arguments joined by spaces, arguments containing a space wrapped in single
 * quotes (without escaping).
 */
export function containerCommand(path: string, args: readonly string[]): string {
  if (args.length === 0) return path;
  return `${path} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

/** The COMMAND column: truncated to 20 columns with `…` (unless `noTrunc`), then Go-quoted. */
export function commandColumn(command: string, noTrunc = false): string {
  return goQuote(noTrunc ? command : ellipsis(command, 20));
}

export interface PortSummary {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The PORTS column (DisplayablePorts): runs of consecutive unpublished (or
 * same-numbered published) ports collapse into ranges; host mappings come
 * last: `8000-8001/tcp, 9000/tcp, 0.0.0.0:18083->80/tcp, [::]:18083->80/tcp`.
 */
export function displayablePorts(ports: readonly PortSummary[]): string {
  const sorted = [...ports].sort((a, b) => {
    if (a.PrivatePort !== b.PrivatePort) return a.PrivatePort - b.PrivatePort;
    const ia = a.IP ?? '';
    const ib = b.IP ?? '';
    if (ia !== ib) return ia < ib ? -1 : 1;
    const pa = a.PublicPort ?? 0;
    const pb = b.PublicPort ?? 0;
    if (pa !== pb) return pa - pb;
    return a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0;
  });
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = String(first);
    if (first !== last) group += `-${last}`;
    if (ip !== '') group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of sorted) {
    const current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== current) {
        hostMappings.push(`${joinHostPort(p.IP, String(p.PublicPort ?? 0))}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === g.last + 1) {
      g.last = current;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    g.first = current;
    g.last = current;
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  result.push(...hostMappings);
  return result.join(', ');
}
