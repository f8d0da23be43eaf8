/**
 * sys/: the one door to the kernel. The `Sys` contract and its value types are in types.ts,
 * the real implementation in linux.ts, the recording fake (for tests) in fake.ts; README.md
 * lists the whole privileged surface.
 */
export type { ExecResult, MountInfo, MountRequest, NodeKind, Sys, Timespec } from './types.js';
export { linuxSys, sbinPath, sha512Hex, xattrErrno } from './linux.js';
export { SCAN_FIELDS } from './types.js';
