/**
 * Test fixture: a temp STRATA_ROOT with a busybox rootfs as the only layer,
 * containers as overlay mounts on it, a Runc bound to the root's own state
 * dir, and a cleanup that leaves nothing behind (runc state, mounts,
 * monitors, cgroups, temp dirs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { mountOverlay, unmount, isMounted } from '../../src/snapshot/index.js';
import {
  Runc,
  buildSpec,
  writeBundle,
  monitorPaths,
  runtimeDirFor,
  readState,
  startMonitor,
  waitExit,
  type BuildSpecOptions,
  type ExecHandle,
  type MonitorPaths,
} from '../../src/runtime/index.js';
import { linuxSys } from '../../src/sys/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

/** Build native/build/strata-monitor if needed. */
export function ensureMonitorBuilt(): void {
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'build-native.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-native.sh failed: ${r.stderr}`);
}

/** A minimal image root: static busybox, applet links, passwd/group. */
export function makeBusyboxRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'mnt', 'run', 'var', 'home/app', 'data']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'busybox') continue;
    try {
      fs.symlinkSync('busybox', path.join(dir, 'bin', a));
    } catch {
      // duplicate names in the list
    }
  }
  fs.writeFileSync(
    path.join(dir, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'etc', 'notexec'), '#!/bin/sh\necho no\n', { mode: 0o644 });
}

export interface TestContainer {
  id: string;
  dir: string;
  rootfs: string;
  paths: MonitorPaths;
  /** Write config.json for these options. */
  writeSpec(opts: Omit<BuildSpecOptions, 'rootfs'>): void;
}

export class Fixture {
  readonly root: string;
  readonly runtimeDir: string;
  readonly runc: Runc;
  readonly lower: string;
  private containers: TestContainer[] = [];

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rt-'));
    this.runtimeDir = runtimeDirFor(this.root);
    this.runc = new Runc({ strataRoot: this.root });
    this.lower = path.join(this.root, 'layers', 'busybox', 'diff');
    makeBusyboxRootfs(this.lower);
  }

  async container(): Promise<TestContainer> {
    const id = 't' + randomBytes(8).toString('hex');
    const dir = path.join(this.root, 'containers', id);
    const rootfs = path.join(dir, 'merged');
    await mountOverlay({
      lowerDirs: [this.lower],
      upperDir: path.join(dir, 'upper'),
      workDir: path.join(dir, 'work'),
      target: rootfs,
      linkDir: path.join(this.root, 'l'),
    });
    const c: TestContainer = {
      id,
      dir,
      rootfs,
      paths: monitorPaths(dir, this.runtimeDir, id),
      writeSpec: (opts) => {
        writeBundle(dir, buildSpec({ hostname: id.slice(0, 12), ...opts, id, rootfs }));
      },
    };
    this.containers.push(c);
    return c;
  }

  /** A container running `spec` under its monitor; `stop()` kills it and waits for the exit record. */
  async running(spec: Omit<BuildSpecOptions, 'rootfs'>) {
    const c = await this.container();
    c.writeSpec(spec);
    const started = await startMonitor({ ...c.paths, id: c.id, runtime: this.runc });
    const stop = async () => {
      await this.runc.kill(c.id, 'KILL').catch(() => undefined);
      await waitExit(c.paths.exitFile, { monitorPid: started.monitorPid });
    };
    return { c, ...started, stop };
  }

  /** Kill monitors, delete runc state, unmount, remove everything. */
  async cleanup(): Promise<void> {
    for (const c of this.containers) {
      const st = readState(c.paths.stateFile);
      if (st && linuxSys.processAlive(st.monitorPid)) {
        try {
          process.kill(st.monitorPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await this.runc.delete(c.id, { force: true }).catch(() => undefined);
      await unmount(c.rootfs).catch(() => undefined);
      if (isMounted(c.rootfs)) throw new Error(`still mounted: ${c.rootfs}`);
    }
    fs.rmSync(this.root, { recursive: true, force: true });
    fs.rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}

/** An exec's stdout, stderr and exit code. */
export async function execOutput(h: ExecHandle): Promise<{ code: number; out: string; err: string }> {
  const out = collector();
  const err = collector();
  h.stdout?.pipe(out.stream);
  h.stderr?.pipe(err.stream);
  const code = await h.wait();
  return { code, out: out.text(), err: err.text() };
}

/** Wait until `fn` returns a truthy value (polling), or fail after `ms`. */
export async function until<T>(fn: () => T | Promise<T>, ms = 10000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A Writable that collects what is written to it. */
export function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}
