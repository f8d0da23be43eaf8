/**
 * Network use cases (`network create|ls|inspect|rm|connect|disconnect|prune`) over the CNI
 * network manager the container engine starts and stops containers with. Connections are
 * recorded per container (engine/endpoints.ts), names are served by the resolver
 * (engine/dns.ts), listings take Docker's filters (engine/listing.ts).
 */
import { PRUNE_FILTERS, pruneFilter } from './filters.js';
import type { NetworkManager, NetworkInfo, NetworkInspect, CreateNetworkOptions } from '../network/index.js';
import { networkJson } from './network-driver.js';
import type { Containers } from './containers.js';
import { connectContainer, disconnectContainer, settleLeaving, type EndpointRequest } from './endpoints.js';
import { listNetworks } from './listing.js';
import { ContainerDns } from './dns.js';
import { networksInUse } from '../meta/container-endpoints.js';

export type { CreateNetworkOptions, EndpointRequest };

export class Networks {
  constructor(private readonly nm: NetworkManager, private readonly containers: Containers) {}

  /** The default `bridge` network exists before anything lists or uses networks. */
  ensureDefault(): Promise<NetworkInfo> { return this.nm.ensureDefault(); }

  create(name: string, opts: CreateNetworkOptions): Promise<NetworkInfo> { return this.nm.create(name, opts); }

  list(): NetworkInfo[] { return this.nm.list(); }

  /** `network ls --filter` / `GET /networks?filters=`: Docker's keys and rules. */
  query(filters: readonly string[] = []): Promise<NetworkInspect[]> { return listNetworks(this.containers, this.nm, filters); }

  /** Docker's network inspect object. */
  inspect(ref: string): Record<string, unknown> { return networkJson(this.nm.inspect(ref)); }

  /** Docker's network object for one listed network. */
  json(n: NetworkInspect): Record<string, unknown> { return networkJson(n); }

  /** `network rm`: disconnects begun and killed are finished first (they no longer count as endpoints). */
  async remove(ref: string): Promise<void> {
    for (const id of this.nm.leavingFrom(ref)) await settleLeaving(this.containers, this.nm, id);
    return this.nm.remove(ref);
  }

  /** `network connect`: at once for a running container, at its next start otherwise; aliases and a fixed IPv4 address per network. */
  connect(containerRef: string, network: string, req: EndpointRequest = {}): Promise<void> {
    return connectContainer(this.containers, this.nm, containerRef, network, req);
  }

  /** `network disconnect [--force]`. */
  disconnect(containerRef: string, network: string, force = false): Promise<void> {
    return disconnectContainer(this.containers, this.nm, containerRef, network, force);
  }

  /** `network prune [--filter label=…|label!=…|until=…]`: bridge networks no container is configured for (nor attached to). */
  prune(filters?: readonly string[]): Promise<string[]> {
    const pf = pruneFilter(filters, PRUNE_FILTERS.networks);
    const used = new Set([...this.containers.all().map((c) => c.hostConfig.NetworkMode), ...networksInUse(this.containers.store.db)]);
    return this.nm.prune(used, (n) => pf.labels(n.labels) && pf.before(n.created));
  }

  /**
   * Undo what containers that no longer run left on the host (netns, veths, rules, address
   * and port bookings), as after a crash or a reboot; `live` are the containers still running.
   */
  async sweep(live: Set<string>): Promise<void> { await this.nm.cleanupStale(live); }

  /** Remove every network, bridge, rule, netns and the name resolver of this store (`system reset`). */
  async destroy(): Promise<void> {
    await new ContainerDns(this.nm).stop();
    await this.nm.destroy();
  }
}
