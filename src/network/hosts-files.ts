/**
 * The container's /etc/hosts and /etc/resolv.conf contents. Pure: no I/O.
 *
 * Name resolution between containers: CNI has no DNS, and Docker's embedded DNS server
 * (127.0.0.11) would need a long-running process per network. Strata writes the peers of
 * every user-defined network into each member's hosts file instead (what Docker did for
 * `--link` before it had DNS). NetworkManager rewrites these files in place when a peer
 * joins or leaves, so the bind-mounted file inside a running container sees the change.
 */

export interface HostsEntry { ip: string; names: string[]; }

interface HostsFileOptions {
  /** The container's hostname (Docker: the first 12 hex digits of the id by default). */
  hostname: string;
  /** `--domainname`: adds `host.domain host`. */
  domainname?: string;
  /** The container's own addresses, one line each with the hostname. */
  ips: readonly string[];
  /** Peers on the same user-defined networks (name, aliases, short id). */
  peers?: readonly HostsEntry[];
  /** `--add-host name:ip`. */
  extraHosts?: readonly HostsEntry[];
}

/** libnetwork etchosts defaultContent. */
const DEFAULT_HOSTS: HostsEntry[] = [
  { ip: '127.0.0.1', names: ['localhost'] },
  { ip: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
  { ip: 'fe00::0', names: ['ip6-localnet'] },
  { ip: 'ff00::0', names: ['ip6-mcastprefix'] },
  { ip: 'ff02::1', names: ['ip6-allnodes'] },
  { ip: 'ff02::2', names: ['ip6-allrouters'] },
];

/**
 * Docker's order: the default block, then `--add-host` records, then the container's own
 * address with its hostname, then peers (as `--link` entries were appended). Tab between
 * address and names, one record per line.
 */
export function buildHostsFile(opts: HostsFileOptions): string {
  const lines: string[] = [];
  const rec = (e: HostsEntry) => lines.push(`${e.ip}\t${e.names.join(' ')}`);
  DEFAULT_HOSTS.forEach(rec);
  (opts.extraHosts ?? []).forEach(rec);
  let fqdn = opts.hostname;
  if (opts.domainname) fqdn = `${fqdn}.${opts.domainname}`;
  const dot = fqdn.indexOf('.');
  const own = dot > 0 ? [fqdn, fqdn.slice(0, dot)] : [fqdn];
  for (const ip of opts.ips) rec({ ip, names: own });
  (opts.peers ?? []).forEach(rec);
  return lines.join('\n') + '\n';
}

export interface ResolvConfOptions {
  /** `--dns`: replaces the host's nameservers. */
  dns?: readonly string[];
  /** `--dns-search`: replaces the host's search domains. */
  dnsSearch?: readonly string[];
  /** `--dns-option`: replaces the host's options. */
  dnsOptions?: readonly string[];
  /** Keep IPv6 nameservers (Docker drops them unless the network has IPv6). Default false. */
  ipv6?: boolean;
}

const DEFAULT_DNS_V4 = ['8.8.8.8', '8.8.4.4'];
const DEFAULT_DNS_V6 = ['2001:4860:4860::8888', '2001:4860:4860::8844'];

function isLoopbackNs(addr: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(addr) || addr === '::1';
}

function isV6(addr: string): boolean {
  return addr.includes(':');
}

/** Nameservers, search domains and options of a resolv.conf text. */
export function parseResolvConf(text: string): { nameservers: string[]; search: string[]; options: string[] } {
  const nameservers: string[] = [];
  let search: string[] = [];
  let options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const f = line.split(/\s+/);
    if (f[0] === 'nameserver' && f[1]) nameservers.push(f[1]);
    else if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) search = f.slice(1);
    else if (f[0] === 'options' && f.length > 1) options = f.slice(1);
  }
  return { nameservers, search, options };
}

/**
 * The container's resolv.conf from the host's, as libnetwork does: without DNS options
 * the host file is copied with loopback nameservers (127.x, ::1: they would point into the
 * container itself) and, without IPv6, IPv6 nameservers removed; if no nameserver is left,
 * Google's public ones are appended (Docker's fallback). With `--dns`/`--dns-search`/
 * `--dns-option` a new file is built: `search`, `nameserver` lines, `options`.
 */
export function buildResolvConf(hostResolvConf: string, opts: ResolvConfOptions = {}): string {
  const ipv6 = opts.ipv6 ?? false;
  if ((opts.dns?.length ?? 0) > 0 || (opts.dnsSearch?.length ?? 0) > 0 || (opts.dnsOptions?.length ?? 0) > 0) {
    const host = parseResolvConf(hostResolvConf);
    const ns = opts.dns?.length ? [...opts.dns] : host.nameservers.filter((a) => !isLoopbackNs(a) && (ipv6 || !isV6(a)));
    const search = opts.dnsSearch?.length ? [...opts.dnsSearch] : host.search;
    const options = opts.dnsOptions?.length ? [...opts.dnsOptions] : host.options;
    let out = '';
    if (search.length > 0 && search.join(' ').trim() !== '.') out += `search ${search.join(' ')}\n`;
    for (const n of ns) out += `nameserver ${n}\n`;
    if (options.length > 0 && options.join(' ').trim() !== '') out += `options ${options.join(' ')}\n`;
    return out;
  }
  const kept: string[] = [];
  for (const line of hostResolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)\s*$/.exec(line);
    if (m && (isLoopbackNs(m[1]!) || (!ipv6 && isV6(m[1]!)))) continue;
    kept.push(line);
  }
  let out = kept.join('\n');
  if (parseResolvConf(out).nameservers.length === 0) {
    const dns = ipv6 ? [...DEFAULT_DNS_V4, ...DEFAULT_DNS_V6] : DEFAULT_DNS_V4;
    out += '\n' + dns.map((d) => `nameserver ${d}`).join('\n');
  }
  if (!out.endsWith('\n')) out += '\n';
  return out;
}
