/**
 * The CLI's bridge to format/: Docker's table, template, size and time rules.
 */
import { writeOut } from './util.js';
import { parseTemplate, humanSizeWithPrecision, humanSize, createdSince, formatTable, formatInspect, ellipsis, goTimeString } from '../format/index.js';

export const size3 = (n: number): string => humanSizeWithPrecision(n, 3);
export const size4 = (n: number): string => humanSize(n);

/** `5 minutes ago`; N/A for a zero time. Times are unix seconds. */
export function since(unixSeconds: number, now = Date.now()): string {
  return unixSeconds ? createdSince(unixSeconds, now) : 'N/A';
}

/**
 * Print rows with Docker's rules: a `table ...` format (or the default) goes through the
 * tabwriter with a header; any other template prints one line per row; `json` = `{{json .}}`.
 */
export function printRows(rows: object[], defaultFormat: string, headers: Record<string, string>, userFormat?: string): void {
  const spec: Parameters<typeof formatTable>[1] = { defaultFormat, headers };
  if (userFormat) spec.format = userFormat;
  const text = formatTable(rows, spec);
  if (text) writeOut(text);
}

export function execTemplate(tpl: string, data: unknown): string {
  return parseTemplate(tpl).execute(data);
}

export function inspectJson(items: unknown[]): string {
  return formatInspect(items);
}

export { ellipsis, goTimeString };
