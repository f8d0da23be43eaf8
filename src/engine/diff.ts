/**
 * diff use cases over the store: image vs image, image vs container. A
 * container's own `docker diff` is changes/'s diffUpper(upperDir,
 * [initDir, ...imageStack], { hide: volume and tmpfs mount points }).
 */
import { type Change, type DiffOptions, diffLayerStacks, diffStackVsUpper } from '../changes/index.js';
import { imageLayers } from './images.js';
import type { StoreRoot } from './store-root.js';

/** An image's layer dirs, top-most first (the order overlay's lowerdir and changes/ take). */
export function imageStack(store: StoreRoot, imageId: string): string[] {
  return imageLayers(store, imageId).map((l) => store.layerDir(l.diffId)).reverse();
}

/** `diff IMAGE IMAGE`: what the second image changes relative to the first (shared layers are not walked). */
export function diffImages(store: StoreRoot, olderImageId: string, newerImageId: string, opts: DiffOptions = {}): Change[] {
  return diffLayerStacks(imageStack(store, olderImageId), imageStack(store, newerImageId), opts);
}

/**
 * `diff IMAGE CONTAINER`: the container's view against an image. `lowerDirs` is
 * the container's lower stack (init dir first, then its image's layers);
 * `initDir` counts the init files as present on the image side too.
 */
export function diffImageContainer(
  store: StoreRoot,
  imageId: string,
  container: { upperDir: string; lowerDirs: readonly string[]; initDir?: string },
  opts: DiffOptions = {},
): Change[] {
  const o: DiffOptions & { initDir?: string } = { ...opts };
  if (container.initDir !== undefined) o.initDir = container.initDir;
  return diffStackVsUpper(imageStack(store, imageId), container.upperDir, container.lowerDirs, o);
}
