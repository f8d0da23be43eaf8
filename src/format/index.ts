/**
 * Pure formatting for Docker-compatible output: Go templates for `--format`,
 * Go fmt/JSON printing, tabwriter tables, go-units sizes and durations, the
 * CLI's list/inspect/ps conventions and the JSON progress stream renderer.
 * No I/O.
 */

export {
  parseTemplate,
  renderTemplate,
  Template,
  TemplateError,
  FuncError,
  type ExecuteResult,
  type FuncMap,
  type ParseTemplateOptions,
  type TemplateFunc,
} from './template.js';
export { builtinFuncs, dockerFuncs, headerFuncs, goTitle, htmlEscapeString, jsEscapeString, queryEscape } from './template/funcs.js';

export {
  formatValue,
  goTimeString,
  rfc3339Nano,
  sprint,
  sprintf,
  sprintln,
} from './gofmt.js';
export { goJson, goJsonString, type GoJsonOptions } from './gojson.js';
export { formatFloat, goQuote, goQuoteRune, isGoPrint } from './strconv.js';
export {
  GO_MARSHAL_JSON,
  GO_TYPE,
  GoStructView,
  compareGoStrings,
  goMap,
  goStruct,
  goTypeName,
  isTrue,
  kindOf,
  sortedEntries,
  type GoKind,
  type GoTypeInfo,
} from './govalue.js';

export { DOCKER_TABLE, TabFlags, TabWriter, tabwrite, type TabWriterOptions } from './tabwriter.js';
export { charWidthEA, ellipsis, isWide, runeCount, runeWidth, stringWidth } from './width.js';

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

export {
  commandColumn,
  containerCommand,
  displayablePorts,
  formatInspect,
  formatTable,
  headerLabel,
  jsonIndent,
  resolveFormat,
  statusString,
  truncateId,
  type ContainerState,
  type ContainerStatusInput,
  type PortSummary,
  type TableSpec,
} from './docker-format.js';

export {
  JSONMessageDecoder,
  JSONMessageError,
  ProgressRenderer,
  formatProgress,
  progressBar,
  renderJSONMessages,
  rfc3339NanoFixed,
  type JSONError,
  type JSONMessage,
  type JSONProgress,
  type ProgressFormatOptions,
  type ProgressRendererOptions,
} from './progress.js';
