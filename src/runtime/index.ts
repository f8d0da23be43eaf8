export {
  buildSpec,
  writeBundle,
  readBundleSpec,
  containerEnv,
  mergeEnv,
  hostDevices,
  defaultNofile,
  DEFAULT_PATH_ENV,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  DEFAULT_DEVICE_RULES,
} from './spec.js';
export type { BuildSpecOptions, MountOption, OciSpec, OciProcess, OciMount, OciDevice, OciDeviceRule } from './spec.js';
export {
  CAPABILITIES,
  DEFAULT_CAPABILITIES,
  capMask,
  capsFromMask,
  hostCapabilities,
  normalizeCapability,
  resolveCapabilities,
} from './caps.js';
export { defaultSeccompProfile, loadSeccompProfile, seccompFromProfile, seccompFromSecurityOpt, DOCKER_DEFAULT_PROFILE } from './seccomp.js';
export type { SeccompProfile, SeccompSyscall, SeccompArg, DockerSeccompProfile } from './seccomp.js';
export { resolveUser, resolveUserFrom, resolveGroups, parsePasswd, parseGroup, readRootfsFile } from './user.js';
export type { ExecUser, PasswdEntry, GroupEntry } from './user.js';
export {
  Runc,
  RuntimeError,
  runtimeDirFor,
  defaultStrataRoot,
  runtimeError,
  cleanRuncMessage,
  startErrorExitCode,
  signalNumber,
} from './runc.js';
export type { RuncOptions, ContainerState } from './runc.js';
export {
  startMonitor,
  startContainer,
  monitorPaths,
  monitorBinaryPath,
  monitorCommand,
  monitorStatus,
  resize,
  disableRestart,
  readExit,
  readState,
  waitExit,
  processAlive,
  attach,
  attachTerminal,
  runForeground,
  openAttachSocket,
  StdcopyDemuxer,
  parseDetachKeys,
  DetachKeyFilter,
} from './monitor.js';
export type {
  MonitorOptions,
  MonitorPaths,
  MonitorStarted,
  MonitorState,
  MonitorStatus,
  ExitInfo,
  AttachOptions,
  AttachSession,
  TerminalAttachOptions,
  ForegroundOptions,
} from './monitor.js';
export { readLogs, formatLogEntry, stdcopyFrame, toNanos } from './logs.js';
export type { LogEntry, ReadLogsOptions } from './logs.js';
export { execInContainer, execProcessSpec, lookPathInContainer } from './exec.js';
export type { ExecOptions, ExecHandle } from './exec.js';
