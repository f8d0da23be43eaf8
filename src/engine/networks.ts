/**
 * Network use cases (`network create|ls|inspect|rm|connect|disconnect|prune`) over the CNI
 * network manager the container engine starts and stops containers with.
 */
import { notFound } from '../base/errors.js';
import type { NetworkManager, NetworkInfo, CreateNetworkOptions } from '../network/index.js';
import { networkJson, stateFromAttachment } from './network-driver.js';
import type { Containers } from './containers.js';

export type { CreateNetworkOptions };

export class Networks {
  constructor(private readonly nm: NetworkManager, private readonly containers: Containers) {}

  /** The default `bridge` network exists before anything lists or uses networks. */
  ensureDefault(): Promise<NetworkInfo> { return this.nm.ensureDefault(); }

  create(name: string, opts: CreateNetworkOptions): Promise<NetworkInfo> { return this.nm.create(name, opts); }

  list(): NetworkInfo[] { return this.nm.list(); }

  /** Docker's network inspect object. */
  inspect(ref: string): Record<string, unknown> { return networkJson(this.nm.inspect(ref)); }

  remove(ref: string): Promise<void> { return this.nm.remove(ref); }

  /** Attach a running container to one more network; its recorded addresses follow. */
  async connect(containerId: string, network: string, opts: { aliases?: string[] } = {}): Promise<void> {
    await this.nm.connect(containerId, network, { aliases: opts.aliases ?? [] });
    this.refreshState(containerId);
  }

  async disconnect(containerId: string, network: string): Promise<void> {
    await this.nm.disconnect(containerId, network);
    this.refreshState(containerId);
  }

  /** `network prune`: bridge networks no container is configured for (nor attached to). */
  prune(): Promise<string[]> {
    const used = new Set(this.containers.all().map((c) => c.hostConfig.NetworkMode));
    return this.nm.prune(used);
  }

  /**
   * Undo what containers that no longer run left on the host (netns, veths, rules, address
   * and port bookings), as after a crash or a reboot; `live` are the containers still running.
   */
  async sweep(live: Set<string>): Promise<void> { await this.nm.cleanupStale(live); }

  /** Remove every network, bridge, rule and netns of this store (`system reset`). */
  destroy(): Promise<void> { return this.nm.destroy(); }

  private refreshState(id: string): void {
    const a = this.nm.get(id);
    if (!a) throw notFound(`No such container: ${id}`);
    this.containers.setNetworkState(id, stateFromAttachment(a, this.containers.get(id).hostConfig.NetworkMode));
  }
}
