export {
  mountOverlay,
  unmount,
  isMounted,
  readMountInfo,
  overlayMountData,
  overlaySupportsIndexOff,
  ensureShortLink,
  removeShortLink,
  shortLinkName,
  MOUNT_DATA_LIMIT,
} from './overlay.js';
export type { OverlayMountOptions, MountInfo } from './overlay.js';
