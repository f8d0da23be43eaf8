/**
 * network/: container networking on the CNI reference plugins (bridge, host-local,
 * portmap, firewall, loopback), driven by Strata with one configuration list per network.
 * See manager.ts for the lifecycle and the on-disk layout, README.md beside this file for
 * the decisions.
 */
export {
  NetworkManager, deriveRootTag, canBind, GLOBAL_LOCK,
  type NetworkInfo, type NetworkInspect, type CreateNetworkOptions, type Attachment, type NetworkManagerOptions,
} from './manager.js';
export {
  parsePublish, parsePublishAll, parseExpose, publishAllSpecs, exposedKeys, formatPorts, type PortSpec,
} from './ports.js';
export { buildHostsFile, buildResolvConf } from './hosts-files.js';
export { Aardvark, findAardvark, type DnsNetwork } from './aardvark.js';
