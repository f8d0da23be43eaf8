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
export { defaultSeccompProfile } from './seccomp.js';
export type { SeccompProfile, SeccompSyscall, SeccompArg } from './seccomp.js';
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
export { startMonitor, runForeground, monitorBinaryPath } from './monitor-launch.js';
export type { MonitorOptions, MonitorStarted, ForegroundOptions } from './monitor-launch.js';
export { startContainer, monitorCommand, monitorStatus, resize, disableRestart } from './monitor-control.js';
export type { MonitorStatus } from './monitor-control.js';
export { monitorPaths, readExit, readState, waitExit } from './monitor-files.js';
export type { MonitorPaths, MonitorState, ExitInfo } from './monitor-files.js';
export { attach, attachTerminal, openAttachSocket, StdcopyDemuxer, parseDetachKeys, DetachKeyFilter } from './attach.js';
export type { AttachOptions, AttachSession, TerminalAttachOptions } from './attach.js';
export { readLogs, formatLogEntry, stdcopyFrame, toNanos } from './logs.js';
export type { LogEntry, ReadLogsOptions } from './logs.js';
export { execInContainer, execProcessSpec, lookPathInContainer } from './exec-process.js';
export type { ExecOptions, ExecHandle } from './exec-process.js';
