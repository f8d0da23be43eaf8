/**
 * Pure formatting for Docker-compatible output: Go templates for `--format`,
 * Go fmt/JSON printing, tabwriter tables, go-units sizes and durations, the
 * CLI's list/inspect/ps conventions and the JSON progress stream renderer.
 * No I/O.
 */

export { parseTemplate, renderTemplate, TemplateError } from './template.js';

export {
  formatValue,
  goTimeString,
  rfc3339Nano,
  sprint,
  sprintf,
  sprintln,
} from './gofmt.js';
export { goJson } from './gojson.js';
export { formatFloat, goQuote } from './strconv.js';
export { GO_MARSHAL_JSON, goMap, goStruct } from './govalue.js';

export { TabFlags, TabWriter, tabwrite, type TabWriterOptions } from './tabwriter.js';
export { ellipsis } from './width.js';

export {
  bytesSize,
  createdSince,
  formatGoDuration,
  fromHumanSize,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
  parseDuration,
  parseSize,
  timeAgo,
} from './units.js';

export { commandColumn, containerCommand, displayablePorts, formatInspect, formatTable, headerLabel, jsonIndent, resolveFormat, statusString, truncateId, type PortSummary, type TableSpec } from './docker-format.js';

export { JSONMessageDecoder, JSONMessageError, ProgressRenderer, formatProgress, progressBar, renderJSONMessages, type JSONMessage } from './progress.js';
