/**
 * The container creation request in Docker's own shape (POST /containers/create body):
 * the CLI translates its flags into this, the API receives it as JSON, and the engine
 * takes only this. One implementation for both doors.
 */
import type { ContainerConfig } from '../image/types.js';

export interface PortBinding { HostIp: string; HostPort: string; }

export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HostConfig {
  Binds: string[] | null;
  NetworkMode: string;
  PortBindings: Record<string, PortBinding[]> | null;
  RestartPolicy: { Name: string; MaximumRetryCount: number };
  AutoRemove: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Privileged: boolean;
  PublishAllPorts: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  Tmpfs?: Record<string, string>;
  Memory: number;
  MemorySwap?: number;
  NanoCpus: number;
  PidsLimit: number | null;
  ShmSize?: number;
  Mounts?: MountSpec[];
  Runtime?: string;
  Init?: boolean | null;
  ExtraHosts?: string[] | null;
  Dns?: string[];
  /** `--link name:alias` (legacy links, default bridge only). */
  Links?: string[] | null;
  LogConfig?: { Type: string; Config: Record<string, string> };
}

/** An EndpointConfig as clients send it (create's EndpointsConfig values, network connect's body). */
export interface EndpointRequest {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Links?: string[] | null;
  DriverOpts?: Record<string, string> | null;
}

export interface CreateRequest extends Partial<ContainerConfig> {
  Image: string;
  HostConfig?: Partial<HostConfig>;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointRequest | null> | null } | null;
}

export function defaultHostConfig(): HostConfig {
  return {
    Binds: null, NetworkMode: 'default', PortBindings: null, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false, CapAdd: null, CapDrop: null, Privileged: false, PublishAllPorts: false, ReadonlyRootfs: false,
    SecurityOpt: null, Memory: 0, NanoCpus: 0, PidsLimit: null,
  };
}
