/**
 * network/: container networking on the CNI reference plugins (bridge, host-local,
 * portmap, firewall, loopback), driven by Strata with one configuration list per network.
 * See manager.ts for the lifecycle and the on-disk layout, README.md beside this file for
 * the decisions.
 */
export {
  NetworkManager, deriveRootTag, canBind, DEFAULT_STATE_DIR, DEFAULT_NETWORK, GLOBAL_LOCK,
  type NetworkInfo, type NetworkInspect, type NetworkEndpointInfo, type CreateNetworkOptions,
  type Endpoint, type Attachment, type AttachOptions, type NetworkManagerOptions, type CleanupReport,
} from './manager.js';
export {
  parsePublish, parsePublishAll, parseExpose, parseExposedKey, publishAllSpecs, exposedKeys, formatPorts,
  type PortSpec, type PortBinding, type Protocol, type FormatPortsOptions,
} from './ports.js';
export {
  buildHostsFile, buildResolvConf, parseResolvConf,
  type HostsEntry, type HostsFileOptions, type ResolvConfOptions,
} from './hosts-files.js';
export {
  execPlugin, addNetworkList, delNetworkList, checkNetworkList, CniError, CNI_VERSION, DEFAULT_CNI_PATH,
  type CniConfList, type CniPluginConf, type CniResult, type CniRuntime,
} from './cni.js';
export { Aardvark, findAardvark, type DnsNetwork, type DnsRecord } from './aardvark.js';
