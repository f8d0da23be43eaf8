/** `diff` (container, image vs image, image vs container) and `commit`, as the doors call them. */
import * as path from 'node:path';
import { invalidArgument, StrataError } from '../base/errors.js';
import { dockerfileFor, type Change } from '../changes/index.js';
import { diffImageContainer, diffImages } from './diff.js';
import { resolveImage } from './images.js';
import { ensureImageDirs } from './layer-dirs.js';
import type { Containers } from './containers.js';
import type { StoreRoot } from './store-root.js';
import type { CommitResult } from './commit.js';

type Side = { kind: 'container'; id: string } | { kind: 'image'; id: string };

interface DiffResult {
  changes: Change[];
  /** The directory holding the newer side's files ('' for image vs image). */
  newerDir: string;
  /** True for a container's own diff (one argument). */
  single: boolean;
}

export type CommitOptions = Parameters<Containers['commit']>[1];

export class ChangeService {
  constructor(private readonly store: StoreRoot, private readonly containers: Containers) {}

  /** A name is a container first (as `docker diff` takes), else an image. */
  private side(name: string): Side {
    const c = this.containers.find(name);
    if (c) return { kind: 'container', id: c.id };
    try { return { kind: 'image', id: resolveImage(this.store, name).id }; } catch (e) {
      if (e instanceof StrataError && e.code === 'not_found') throw new StrataError('not_found', `No such container or image: ${name}`);
      throw e;
    }
  }

  /** `diff CONTAINER`, `diff IMAGE IMAGE`, `diff IMAGE CONTAINER`. */
  async diff(a: string, b?: string): Promise<DiffResult> {
    const e = this.containers;
    if (b === undefined) {
      const d = e.diff(e.get(a).id);
      return { changes: d.changes, newerDir: d.upperDir, single: true };
    }
    const x = this.side(a);
    const y = this.side(b);
    if (x.kind === 'container') throw invalidArgument('the first argument of a two-way diff must be an image');
    await ensureImageDirs(this.store, x.id);
    if (y.kind === 'image') await ensureImageDirs(this.store, y.id);
    if (y.kind === 'image') return { changes: diffImages(this.store, x.id, y.id), newerDir: '', single: false };
    const ct = e.get(y.id);
    const upperDir = path.join(ct.dir, 'upper');
    const changes = diffImageContainer(this.store, x.id, { upperDir, lowerDirs: e.lowerDirs(ct), initDir: path.join(ct.dir, 'init') }, { hide: e.hiddenMounts(ct) });
    return { changes, newerDir: upperDir, single: false };
  }

  /** A Dockerfile that reproduces the container's change from its recorded execs. */
  dockerfile(ref: string): string {
    const e = this.containers;
    const ct = e.get(ref);
    const d = e.diff(ct.id);
    return dockerfileFor({ imageRef: ct.row.image_ref, execs: e.execsOf(ct.id), changes: d.changes, upperDir: d.upperDir });
  }

  commit(ref: string, opts: CommitOptions): Promise<CommitResult> {
    return this.containers.commit(ref, opts);
  }
}
