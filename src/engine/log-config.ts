/**
 * `--log-driver` / `--log-opt` (HostConfig.LogConfig) for the json-file log
 * the monitor writes: Docker's options (max-size, max-file), its defaults (no
 * rotation; max-file 1) and its error messages. `none` writes no log.
 */
import { invalidArgument } from '../base/errors.js';
import { fromHumanSize } from '../format/index.js';

interface LogConfig { Type: string; Config: Record<string, string>; }

interface LogRotation {
  /** bytes after which the file is rotated; undefined: never */
  maxSize?: number;
  /** files kept in all (the current one included) */
  maxFile: number;
}

/** Options json-file accepts (the common attribute ones are accepted and have no effect here). */
const JSON_FILE_OPTS = new Set(['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);

/** Check a LogConfig at create time; returns the one to store (Docker's defaults filled in). */
export function normalizeLogConfig(lc: Partial<LogConfig> | null | undefined): LogConfig {
  const type = lc?.Type || 'json-file';
  const config = { ...(lc?.Config ?? {}) };
  if (type === 'none') {
    if (Object.keys(config).length > 0) throw invalidArgument(`unknown log opt '${Object.keys(config)[0]}' for none log driver`);
    return { Type: type, Config: config };
  }
  if (type !== 'json-file') throw invalidArgument(`logger: no log driver named '${type}' is registered`);
  for (const k of Object.keys(config)) if (!JSON_FILE_OPTS.has(k)) throw invalidArgument(`unknown log opt '${k}' for json-file log driver`);
  logRotation({ Type: type, Config: config });
  return { Type: type, Config: config };
}

/** The rotation a json-file LogConfig asks for (throws Docker's messages on bad values). */
function logRotation(lc: LogConfig): LogRotation {
  const out: LogRotation = { maxFile: 1 };
  const size = lc.Config['max-size'];
  if (size !== undefined) {
    let n: number;
    try { n = fromHumanSize(size); } catch (e) { throw invalidArgument((e as Error).message); }
    if (!(n > 0)) throw invalidArgument('max-size must be a positive number');
    out.maxSize = n;
  }
  const files = lc.Config['max-file'];
  if (files !== undefined) {
    if (!/^[+-]?\d+$/.test(files)) throw invalidArgument(`strconv.Atoi: parsing ${JSON.stringify(files)}: invalid syntax`);
    const n = Number(files);
    if (n < 1) throw invalidArgument('max-file cannot be less than 1');
    out.maxFile = n;
  }
  const compress = lc.Config['compress'];
  if (compress !== undefined && /^(1|t|true|TRUE|True)$/.test(compress)) {
    if (out.maxFile === 1 || out.maxSize === undefined) throw invalidArgument('compress cannot be true when max-file is less than 2 or max-size is not set');
    throw invalidArgument('compress is not supported by this json-file log driver');
  }
  return out;
}

/** What the monitor is told: rotation limits, or no log at all for the `none` driver. */
export function monitorLogOptions(lc: LogConfig | undefined): { logMaxSize?: number; logMaxFile?: number; logPath?: undefined } {
  if (!lc) return {};
  if (lc.Type === 'none') return { logPath: undefined };
  const r = logRotation(lc);
  return r.maxSize === undefined ? {} : { logMaxSize: r.maxSize, logMaxFile: r.maxFile };
}
