export {
  mountOverlay, unmount, isMounted, readMountInfo, overlayMountData, removeShortLink, shortLinkName, MOUNT_DATA_LIMIT,
} from './overlay.js';
