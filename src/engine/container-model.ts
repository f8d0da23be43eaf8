/** What a container is to the engine: its row, its parsed view, and the parts it is wired to. */
import type { ContainerConfig } from '../image/types.js';
import type { MountOption, MonitorPaths } from '../runtime/index.js';
import type { PortSummary } from '../format/index.js';
import type { HostConfig } from './create-spec.js';

import type { ContainerRow } from '../meta/containers.js';
import type { NetworkManager } from '../network/index.js';

/** The parsed view of a row. */
export interface Container {
  row: ContainerRow;
  id: string;
  name: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  network: NetworkState;
  dir: string;
  paths: MonitorPaths;
}

export interface NetworkState {
  mode?: string;
  netns?: string;
  ports?: { HostIp: string; HostPort: string; ContainerPort: string }[];
  networks?: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; MacAddress: string; NetworkID?: string; EndpointID?: string; Aliases?: string[] }>;
}

/** Optional networking, wired in by the network layer (bridge, ports). */
export interface NetworkDriver {
  /**
   * `onNetns`: called once the container's netns exists, while its interfaces are being made.
   * `onReady`: called, when it can be, once the container's own side is ready (interfaces, lo,
   * hosts file) while the host's side (port rules, records) is still being done.
   */
  attach(c: Container, opts?: { onNetns?: (netnsPath: string) => void | Promise<unknown>; onReady?: () => void }): Promise<NetworkState>;
  /** Where the netns `attach` makes will be (a path known before it exists). */
  netnsPath(c: Container): string;
  detach(c: Container): Promise<void>;
  resolvConf?(c?: Container): string;
  /** A network's ID by name ('' when unknown). */
  networkId?(name: string): string;
  /** The networks a container is leaving (a disconnect begun, hidden from every view). */
  leaving?(id: string): string[];
  /** The network layer (CNI driver only). */
  readonly nm?: NetworkManager;
  /** The container was renamed (name resolution follows). */
  renamed?(c: Container): Promise<void>;
  /** Throws Docker's error for an unknown network (at create time). */
  validate?(mode: string): void;
  /** The legacy link environment at start (throws Docker's errors for targets that do not run). */
  linkEnv?(c: Container): string[];
  /** Rewrite the /etc/hosts of running containers with links (targets moved). */
  refreshLinks?(): void;
}

export interface Volumes {
  /** Mounts for a container's -v/--mount/VOLUME entries; creates named and anonymous volumes. */
  mountsFor(c: Container, imageVolumes: string[]): MountOption[];
  release(c: Container, removeAnonymous: boolean): void;
}

/** Docker's container summary (list endpoint). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: PortSummary[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: unknown[];
  SizeRw?: number;
  SizeRootFs?: number;
}

