/** The public shapes of network/: networks, endpoints, attachments, options. */
import type { Sys } from '../sys/index.js';
import type { HostsEntry } from './hosts-files.js';
import type { PortBinding } from './ports.js';

export const DEFAULT_STATE_DIR = '/var/lib/strata/network';
/** Host-wide lock for what all roots share: subnet choice and host port allocation (under `Sys.runDir`). */
export const GLOBAL_LOCK = '/run/strata/network.lock';
export const DEFAULT_NETWORK = 'bridge';

export interface NetworkInfo {
  id: string;
  name: string;
  /** Docker's driver names: 'bridge' for CNI bridge networks, 'host' and 'null' for the built-ins. */
  driver: 'bridge' | 'host' | 'null';
  scope: 'local';
  /** RFC 3339. */
  created: string;
  /** '' for host and none. */
  subnet: string;
  gateway: string;
  internal: boolean;
  /** The Linux bridge ('' for host and none). */
  bridge: string;
  /** The `name` of its CNI configuration list (appears in iptables comments). */
  cniName: string;
  labels: Record<string, string>;
  /** bridge, host and none cannot be removed. */
  predefined: boolean;
}

export interface NetworkEndpointInfo { name: string; endpointId: string; macAddress: string; ipv4Address: string; ipv6Address: string; }
export interface NetworkInspect extends NetworkInfo { containers: Record<string, NetworkEndpointInfo>; }

export interface CreateNetworkOptions {
  /** CIDR; default: the first Docker default pool free on this host. */
  subnet?: string;
  /** Default: the first address of the subnet. */
  gateway?: string;
  /** No outside access: no default route, no masquerading, no published ports. */
  internal?: boolean;
  labels?: Record<string, string>;
}

export interface Endpoint {
  network: string;
  networkId: string;
  endpointId: string;
  /** Interface name inside the container: eth0, eth1, ... */
  ifName: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  bridge: string;
  aliases: string[];
}

export interface Attachment {
  containerId: string;
  /** 'bridge' for CNI networks (or 'none': loopback only); 'host': no namespace of its own. */
  mode: 'bridge' | 'none' | 'host';
  /** Put in the OCI spec's network namespace entry; '' in host mode. */
  netnsPath: string;
  netnsName: string;
  endpoints: Endpoint[];
  /** Published ports as set up: hostIp '0.0.0.0' for all addresses, chosen host ports filled in. */
  ports: PortBinding[];
}

export interface AttachOptions {
  /** The container's hostname for its own /etc/hosts line (default: first 12 chars of the id). */
  hostname?: string;
  domainname?: string;
  /** The container's name: what peers on user-defined networks resolve. */
  name?: string;
  /** Extra names peers resolve (network-scoped aliases in Docker). */
  aliases?: string[];
  /** A fixed IPv4 address on the (single) network attached; default: the next free one. */
  ip?: string;
  /** `--add-host` records for the hosts file. */
  extraHosts?: HostsEntry[];
  /**
   * A file to keep as the container's /etc/hosts (the engine bind-mounts it). Written now
   * and rewritten in place (same inode) whenever peers join or leave.
   */
  hostsPath?: string;
  /**
   * Called once the container's netns exists (before its interfaces are made), so that the
   * runtime can create the container in it while CNI sets it up; see NetworkManager.netnsPathFor.
   * A promise returned is waited for (its outcome ignored) before the interfaces are made: what
   * the container's creation needs first (its bundle) is not slowed by the plugins' start.
   */
  onNetns?: (netnsPath: string) => void | Promise<unknown>;
  /**
   * Called once the container's own side is ready: its interfaces, addresses and routes, `lo`,
   * and its hosts file. The host's side (published ports' rules, the records, the peers' hosts
   * files) is still being done: attach resolves when all is.
   */
  onReady?: () => void;
}

export interface NetworkManagerOptions {
  /** Per-root tag for host-global names ([a-z0-9]{1,6}); '' is the default root's. Default: derived from stateDir. */
  rootTag?: string;
  /** Subnet of the default `bridge` network; default: the first free Docker default pool. */
  defaultSubnet?: string;
  /** Where the CNI plugins are (default /usr/lib/cni). */
  cniPath?: string;
  /** The kernel door (default: linuxSys). */
  sys?: Sys;
  /**
   * Called at each step of attach/detach with its name; tests use it to crash at a precise point.
   * An attach's: record, netns, loopback, add:<network> (the interface), ports:<network> (the
   * published ports' rules; may come after the next network's add), attached.
   */
  onStep?: (step: string, containerId: string) => void;
}

export interface CleanupReport { containers: string[]; netns: string[]; reservations: number; rules: number; bridges: string[]; }
