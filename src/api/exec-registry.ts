/** The API server's exec instances (in memory, as the daemon keeps them). */
import { StrataError } from '../base/errors.js';
import type { ExecHandle } from '../engine/index.js';

export interface ExecRecord {
  id: string;
  containerId: string;
  args: string[];
  env: string[];
  user: string;
  workdir: string;
  tty: boolean;
  privileged: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys: string;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  /** A resize that came before the process existed. */
  size?: { rows: number; cols: number };
  handle?: ExecHandle;
  finishedAt?: number;
}

/** In-memory, like the daemon's: finished records are dropped after a while. */
export class ExecRegistry {
  private readonly records = new Map<string, ExecRecord>();
  static readonly KEEP = 1000;

  add(r: ExecRecord): void {
    this.records.set(r.id, r);
    if (this.records.size > ExecRegistry.KEEP) {
      for (const [id, x] of this.records) {
        if (this.records.size <= ExecRegistry.KEEP) break;
        if (!x.running && (x.started || x.finishedAt)) this.records.delete(id);
      }
    }
  }

  get(id: string): ExecRecord {
    const r = this.records.get(id);
    if (!r) throw new StrataError('not_found', `No such exec instance: ${id}`);
    return r;
  }

  closeAll(): void {
    for (const r of this.records.values()) r.handle?.stdin?.destroy();
  }
}
