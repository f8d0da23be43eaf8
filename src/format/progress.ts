/**
 * Rendering of Docker's JSON message streams (pull, push, load, build output),
 * as the CLI's jsonmessage.DisplayJSONMessagesStream does it:
 *
 * - On a terminal, every layer id gets its own line; progress updates move the
 *   cursor up to that line, erase it (`ESC[2K`), rewrite it and move back down.
 * - Elsewhere, messages are printed one per line as they come, and messages
 *   whose progress bar is non-empty are skipped.
 *
 * `formatProgress` produces the progress text itself:
 * `[==========>                                        ]  1.2MB/3.4MB`.
 */

import { humanSize, formatGoDuration } from './units.js';

interface JSONProgress {
  current?: number;
  total?: number;
  /** Unix seconds when the operation started (for the time-left estimate). */
  start?: number;
  /** Don't show the x/y counts. */
  hidecounts?: boolean;
  /** Units of current/total; empty means bytes. */
  units?: string;
}

interface JSONError {
  code?: number;
  message?: string;
}

export interface JSONMessage {
  stream?: string;
  status?: string;
  progressDetail?: JSONProgress;
  /** Pre-rendered progress text (deprecated by the API, still sent by daemons). */
  progress?: string;
  id?: string;
  from?: string;
  time?: number;
  timeNano?: number;
  errorDetail?: JSONError;
  /** Deprecated error text; daemons send it alongside errorDetail. */
  error?: string;
  aux?: unknown;
}

/** A message carried an error; the CLI prints `message` and exits 1. */
export class JSONMessageError extends Error {
  readonly code?: number;
  constructor(message: string, code?: number) {
    super(message);
    this.name = 'JSONMessageError';
    if (code !== undefined) this.code = code;
  }
}

interface ProgressFormatOptions {
  /** Terminal width; the bar is shown only when wider than 110 columns. Default 200 (the CLI's fallback). */
  width?: number;
  /** Current time in ms (for the time-left estimate). Default Date.now(). */
  now?: number;
}

function padLeft8(s: string): string {
  return s.length >= 8 ? s : ' '.repeat(8 - s.length) + s;
}

/** JSONProgress.String(): bar, counts and time left. Empty when there is nothing to show. */
export function formatProgress(p: JSONProgress, opts: ProgressFormatOptions = {}): string {
  const width = opts.width ?? 200;
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  const units = p.units ?? '';
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) {
    return units === '' ? padLeft8(humanSize(current)) : `${current} ${units}`;
  }
  let percentage = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (percentage > 50) percentage = 50;
  let pbBox = '';
  if (width > 110) {
    const numSpaces = Math.max(50 - percentage, 0);
    pbBox = `[${'='.repeat(Math.max(percentage, 0))}>${' '.repeat(numSpaces)}] `;
  }
  let numbersBox = '';
  if (p.hidecounts) {
    // nothing
  } else if (units === '') {
    const cur = humanSize(current);
    numbersBox = current > total ? padLeft8(cur) : `${padLeft8(cur)}/${humanSize(total)}`;
  } else {
    numbersBox = current > total ? `${current} ${units}` : `${current}/${total} ${units}`;
  }
  let timeLeftBox = '';
  const start = p.start ?? 0;
  if (current > 0 && start > 0 && percentage < 50 && width > 50) {
    const nowNs = BigInt(Math.round((opts.now ?? Date.now()) * 1e6));
    const fromStart = nowNs - BigInt(start) * 1_000_000_000n;
    const perEntry = fromStart / BigInt(Math.trunc(current));
    let left = BigInt(Math.trunc(total - current)) * perEntry;
    left = (left / 1_000_000_000n) * 1_000_000_000n;
    timeLeftBox = ' ' + formatGoDuration(left);
  }
  return pbBox + numbersBox + timeLeftBox;
}

/** The bar for `current` of `total` bytes as a terminal of `width` columns shows it. */
export function progressBar(current: number, total: number, width = 200): string {
  return formatProgress({ current, total }, { width });
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Go layout `2006-01-02T15:04:05.000000000Z07:00` in local time. */
function rfc3339NanoFixed(unixNanos: bigint): string {
  const ms = Number(unixNanos / 1_000_000n);
  const d = new Date(ms);
  const offMin = -d.getTimezoneOffset();
  const local = new Date(ms + offMin * 60_000);
  const ns = ((unixNanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const date =
    `${String(local.getUTCFullYear()).padStart(4, '0')}-${pad2(local.getUTCMonth() + 1)}-${pad2(local.getUTCDate())}` +
    `T${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())}` +
    `.${ns.toString().padStart(9, '0')}`;
  if (offMin === 0) return date + 'Z';
  const a = Math.abs(offMin);
  return `${date}${offMin < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}

interface ProgressRendererOptions {
  /** Output is a terminal: use cursor movement. */
  isTerminal: boolean;
  /** Receives the output. */
  write: (s: string) => void;
  /** Terminal width for the progress bar (default 200). */
  width?: number;
  /** Called for messages with an `aux` field (which are not displayed). */
  onAux?: (msg: JSONMessage) => void;
  /** Clock for the time-left estimate, in ms. */
  now?: () => number;
}

/** Stateful renderer for one message stream. */
export class ProgressRenderer {
  private ids = new Map<string, number>();

  constructor(private readonly opts: ProgressRendererOptions) {}

  /** Displays one message. Throws JSONMessageError when the message reports an error. */
  push(jm: JSONMessage): void {
    const { isTerminal, write } = this.opts;
    if (jm.aux !== undefined && jm.aux !== null) {
      this.opts.onAux?.(jm);
      return;
    }
    let diff = 0;
    if (jm.id && (jm.progressDetail || jm.progress)) {
      let line = this.ids.get(jm.id);
      if (line === undefined) {
        // One line per id; the number of ids seen gives the distance from the bottom.
        line = this.ids.size;
        this.ids.set(jm.id, line);
        if (isTerminal) write('\n');
      }
      diff = this.ids.size - line;
      if (isTerminal && diff > 0) write(`\x1b[${diff}A`);
    } else {
      // Anything else ends the current block of progress lines.
      this.ids.clear();
    }
    let err: JSONMessageError | undefined;
    try {
      this.display(jm);
    } catch (e) {
      if (!(e instanceof JSONMessageError)) throw e;
      err = e;
    }
    if (jm.id && isTerminal && diff > 0) write(`\x1b[${diff}B`);
    if (err) throw err;
  }

  private display(jm: JSONMessage): void {
    const { isTerminal, write } = this.opts;
    if (jm.errorDetail && (jm.errorDetail.message || jm.errorDetail.code)) {
      throw new JSONMessageError(jm.errorDetail.message ?? '', jm.errorDetail.code);
    }
    if (jm.error) throw new JSONMessageError(jm.error);
    const progressText = () =>
      formatProgress(jm.progressDetail ?? {}, {
        width: this.opts.width ?? 200,
        ...(this.opts.now ? { now: this.opts.now() } : {}),
      });
    let endl = '';
    let out = '';
    if (isTerminal && !jm.stream && jm.progressDetail) {
      out += '\x1b[2K\r';
      endl = '\r';
    } else if (jm.progressDetail && progressText() !== '') {
      return; // no progress bars when not on a terminal
    }
    if (jm.timeNano) out += rfc3339NanoFixed(BigInt(jm.timeNano)) + ' ';
    else if (jm.time) out += rfc3339NanoFixed(BigInt(jm.time) * 1_000_000_000n) + ' ';
    if (jm.id) out += `${jm.id}: `;
    if (jm.from) out += `(from ${jm.from}) `;
    const status = jm.status ?? '';
    if (jm.progressDetail && isTerminal) out += `${status} ${progressText()}${endl}`;
    else if (jm.progress) out += `${status} ${jm.progress}${endl}`;
    else if (jm.stream) out += `${jm.stream}${endl}`;
    else out += `${status}${endl}\n`;
    write(out);
  }
}

/**
 * Splits a byte/text stream of concatenated JSON values (as the API sends
 * progress) into parsed messages. Feed chunks with `push`; complete values
 * are returned as they close.
 */
export class JSONMessageDecoder {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  push(chunk: string): JSONMessage[] {
    this.buf += chunk;
    const out: JSONMessage[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          out.push(JSON.parse(this.buf.slice(this.start, i + 1)) as JSONMessage);
          this.buf = this.buf.slice(i + 1);
          i = -1;
          this.start = -1;
        }
      } else if (this.depth === 0 && !/\s/.test(c)) {
        throw new SyntaxError(`invalid character '${c}' looking for beginning of value`);
      }
    }
    this.scanned = this.buf.length;
    return out;
  }

  /** True when no partial value is buffered. */
  get idle(): boolean {
    return this.depth === 0 && this.buf.trim() === '';
  }
}

/** Renders a whole list of messages to a string (convenience for tests and non-streaming callers). */
export function renderJSONMessages(
  messages: Iterable<JSONMessage>,
  opts: Omit<ProgressRendererOptions, 'write'>,
): string {
  let out = '';
  const r = new ProgressRenderer({ ...opts, write: (s) => (out += s) });
  for (const m of messages) r.push(m);
  return out;
}
