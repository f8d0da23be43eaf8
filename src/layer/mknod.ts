/**
 * Device nodes and FIFOs. Node 20 has no mknod(2): they are made through the kernel door
 * (`Sys.mknod`; the real one runs coreutils' mknod by absolute path, never through PATH and
 * never a binary from an image). Device nodes are rare in layers; whiteouts, the common
 * case, are hard-linked to one template node by the unpacker.
 */
import { linuxSys, type NodeKind } from '../sys/index.js';

export type { NodeKind };

/** Create a node at `path` (an ASCII path that does not exist yet) with permission bits `mode`. */
export type MknodFn = (path: string, kind: NodeKind, mode: number, major: number, minor: number) => void;

/** The real mknod (linuxSys). */
export const mknodCli: MknodFn = (path, kind, mode, major, minor) => linuxSys.mknod(path, kind, mode, major, minor);
