/**
 * What builds share across processes: step locks (one build runs a step, the others wait and
 * find it cached) and `RUN --mount=type=cache` directories with BuildKit's sharing modes.
 * Both live under the store: build-locks/ (lock files, mount users) and build-mounts/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { mkdirp } from '../base/fs.js';
import type { StoreRoot } from './store-root.js';

let seq = 0;

/**
 * Run fn holding the lock of key: chained in this process (`chains`, per key), and across
 * processes an exclusive lock file, stale when its owner is gone.
 */
export async function withStepLock<T>(store: StoreRoot, chains: Map<string, Promise<unknown>>, key: string, fn: () => Promise<T>): Promise<T> {
  const prev = chains.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => { release = r; });
  const chained = prev.then(() => mine);
  chains.set(key, chained);
  await prev;
  const dir = path.join(store.root, 'build-locks');
  mkdirp(dir, 0o700);
  const file = path.join(dir, key.replace(/[^a-zA-Z0-9]/g, '_'));
  // the lock file appears with its owner's pid already in it (written aside, then linked
  // into place), so a reader never takes a lock being created for an abandoned one
  const aside = `${file}.${process.pid}.${++seq}`;
  fs.writeFileSync(aside, String(process.pid));
  try {
    for (;;) {
      try {
        fs.linkSync(aside, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let owner = 0;
        try { owner = Number(fs.readFileSync(file, 'utf8') || 0); } catch { continue; /* released meanwhile */ }
        if (!owner || !store.sys.processAlive(owner)) { fs.rmSync(file, { force: true }); continue; }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    fs.rmSync(aside, { force: true });
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
    release();
    if (chains.get(key) === chained) chains.delete(key);
  }
}

/**
 * A cache mount's directory, held until release(). `shared`: the one directory of the id,
 * whoever else uses it; `locked`: the same, once no other step uses it (waits); `private`: the
 * directory when nobody uses it, else another directory of the id that nobody uses (a new,
 * empty one when there is none; kept for later builds like the first).
 */
export async function takeCacheMount(
  store: StoreRoot, id: string, sharing: 'shared' | 'private' | 'locked',
  lock: <T>(key: string, fn: () => Promise<T>) => Promise<T>,
): Promise<{ dir: string; release(): void }> {
  const name = createHash('sha256').update(id).digest('hex').slice(0, 32);
  const users = path.join(store.root, 'build-locks', `mount-${name}`);
  // one marker file per user of a directory (<dir name>.<pid>.<n>); a dead process's markers do not count
  const inUse = (dirName: string): boolean => {
    let names: string[] = [];
    try { names = fs.readdirSync(users); } catch { return false; }
    let used = false;
    for (const m of names) {
      if (!m.startsWith(`${dirName}.`)) continue;
      const pid = Number(m.slice(dirName.length + 1).split('.')[0]);
      if (pid && (pid === process.pid || store.sys.processAlive(pid))) used = true;
      else fs.rmSync(path.join(users, m), { force: true });
    }
    return used;
  };
  const take = (dirName: string): { dir: string; release(): void } => {
    mkdirp(users, 0o700);
    const marker = path.join(users, `${dirName}.${process.pid}.${++seq}`);
    fs.writeFileSync(marker, '');
    const dir = path.join(store.root, 'build-mounts', dirName);
    mkdirp(dir, 0o755);
    return { dir, release: () => fs.rmSync(marker, { force: true }) };
  };
  for (;;) {
    // the choice and the marker under one lock, so two builds never both see a directory free
    const got = await lock(`mount-${name}`, async () => {
      if (sharing === 'shared') return take(name);
      if (sharing === 'locked') return inUse(name) ? undefined : take(name);
      for (let i = 0; ; i++) {
        const dirName = i === 0 ? name : `${name}-private-${i}`;
        if (!inUse(dirName)) return take(dirName);
      }
    });
    if (got) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}
