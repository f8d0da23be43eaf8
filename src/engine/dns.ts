/**
 * Docker's embedded DNS on user-defined networks, served by aardvark-dns (network/aardvark.ts):
 * a container's name, its aliases (compose's service names among them) and its short ID
 * resolve from every container on the same network; a name several containers share gives
 * all their addresses; the default `bridge` network has no names (Docker). The records are
 * rebuilt from the network layer's attachments after every attach, detach, connect and
 * disconnect, so peers see a change at once, without restarting. Without aardvark-dns the
 * network layer's hosts files carry the peers instead.
 */
import * as path from 'node:path';
import { Aardvark, buildResolvConf, findAardvark, type DnsNetwork, type NetworkManager } from '../network/index.js';
import * as fs from 'node:fs';
import { linuxSys } from '../sys/index.js';

export class ContainerDns {
  readonly server: Aardvark | undefined;

  /** `nameOf`: a container's current name (after a rename), when the store knows it. */
  constructor(readonly nm: NetworkManager, readonly nameOf: (id: string) => string | undefined = () => undefined, binary = findAardvark()) {
    // only on the real kernel door: a fake one (unit tests) has no gateway to listen on
    this.server = binary && nm.sys === linuxSys ? new Aardvark(path.join(nm.stateDir, 'aardvark-dns'), binary, 53, nm.sys) : undefined;
  }

  get enabled(): boolean { return !!this.server; }

  /** The records of every user-defined network with attached containers. */
  records(): DnsNetwork[] {
    const out: DnsNetwork[] = [];
    for (const n of this.nm.list()) {
      if (n.predefined || n.driver !== 'bridge' || !n.gateway) continue;
      const info = this.nm.inspect(n.name);
      const records = Object.entries(info.containers).map(([id, e]) => {
        const ep = this.nm.get(id)?.endpoints.find((x) => x.networkId === n.id);
        return { id, ipv4: e.ipv4Address ? [e.ipv4Address.split('/')[0]!] : [], names: [this.nameOf(id) ?? e.name, ...(ep?.aliases ?? []), id.slice(0, 12)] };
      });
      out.push({ name: n.name, gateway: n.gateway, bridge: n.bridge, records });
    }
    return out;
  }

  /** Bring the server in line with the attachments; `then` runs under the server's lock after it. */
  async sync(then?: () => void): Promise<void> {
    // the records are read under the server's lock (see Aardvark.sync)
    if (this.server) await this.server.sync(() => this.records(), then);
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  /**
   * /etc/resolv.conf for a container on these networks: the gateways of its user-defined
   * networks (aardvark listens there and forwards other names upstream), the host's search
   * domains, `ndots:0` (as Docker's embedded DNS); undefined when the host's file applies.
   */
  resolvConf(networks: readonly string[], hostFile = '/etc/resolv.conf'): string | undefined {
    if (!this.server) return undefined;
    const gws: string[] = [];
    for (const name of networks) {
      try {
        const n = this.nm.inspect(name);
        if (!n.predefined && n.driver === 'bridge' && n.gateway) gws.push(n.gateway);
      } catch { /* unknown: the attach reports it */ }
    }
    if (!gws.length) return undefined;
    let host = '';
    try { host = fs.readFileSync(hostFile, 'utf8'); } catch { /* none */ }
    return buildResolvConf(host, { dns: gws, dnsOptions: ['ndots:0'] });
  }
}
