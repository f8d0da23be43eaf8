/**
 * The CNI exec protocol (spec 1.0.0), as libcni drives it: for each plugin of a network
 * configuration list, run the binary named by `type` from CNI_PATH with
 *   CNI_COMMAND=ADD|DEL|CHECK, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH
 * and the plugin's config on stdin: its entry of the list plus `cniVersion`, `name`,
 * `runtimeConfig` (for the capabilities it declares) and `prevResult` (ADD: the previous
 * plugin's result; DEL/CHECK: the list's cached final result). ADD runs the plugins in
 * order, DEL in reverse. A plugin reports failure with a non-zero exit and
 * `{"code","msg","details"}` on stdout.
 */
import { StrataError } from '../base/errors.js';
import { linuxSys, sbinPath, type Sys } from '../sys/index.js';

export const CNI_VERSION = '1.0.0';
export const DEFAULT_CNI_PATH = '/usr/lib/cni';

interface CniPluginConf { type: string; capabilities?: Record<string, boolean>; [key: string]: unknown; }
export interface CniConfList { cniVersion: string; name: string; plugins: CniPluginConf[]; disableCheck?: boolean; }

interface CniInterface { name: string; mac?: string; sandbox?: string; }
interface CniIp { interface?: number; address: string; gateway?: string; }
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
}

export interface CniRuntime {
  containerId: string;
  netns: string;
  ifName: string;
  /** Values for plugins that declare the capability, e.g. `{ portMappings: [...] }`. */
  capabilityArgs?: Record<string, unknown>;
}

/** A plugin's error result, as the spec defines it. */
class CniError extends Error {
  constructor(readonly plugin: string, readonly command: string, readonly cniCode: number, readonly msg: string, readonly details?: string) {
    super(`plugin type="${plugin}" failed (${command.toLowerCase()}): ${msg}${details ? `: ${details}` : ''}`);
    this.name = 'CniError';
  }
}

interface CniOptions { cniPath?: string; timeoutMs?: number; /** the kernel door (default: linuxSys) */ sys?: Sys; }

function pluginConfig(list: CniConfList, plugin: CniPluginConf, rt: CniRuntime, prevResult: CniResult | undefined): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && rt.capabilityArgs && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** Run one plugin binary. Returns its parsed stdout (ADD), or undefined when it printed nothing. */
async function execPlugin(
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION',
  type: string,
  config: Record<string, unknown>,
  rt: CniRuntime,
  opts: CniOptions = {},
): Promise<CniResult | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new StrataError('invalid_argument', `invalid CNI plugin type "${type}"`);
  const cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
  const env: Record<string, string> = {
    PATH: sbinPath(),
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_PATH: cniPath,
  };
  const sys = opts.sys ?? linuxSys;
  const r = await sys.cniExec({ plugin: `${cniPath}/${type}`, env, stdin: JSON.stringify(config), timeoutMs: opts.timeoutMs ?? 60_000 });
  const out = r.stdout.trim();
  if (r.code !== 0) {
    let code = 999;
    let msg = (r.stderr || out).trim() || `exit status ${r.code}`;
    let details: string | undefined;
    try {
      const e = JSON.parse(out) as { code?: number; msg?: string; details?: string };
      if (typeof e.msg === 'string') { msg = e.msg; code = e.code ?? code; details = e.details || undefined; }
    } catch { /* not JSON: keep the raw text */ }
    throw new CniError(type, command, code, msg, details);
  }
  if (out === '') return undefined;
  try {
    return JSON.parse(out) as CniResult;
  } catch {
    throw new CniError(type, command, 999, `invalid result: ${out.slice(0, 200)}`);
  }
}

/**
 * Chained plugins whose ADD result is their prevResult, unchanged (portmap 1.x and firewall 1.x
 * print the result they were given), and that touch different tables (nat, filter): consecutive
 * ones run side by side on the same prevResult, which is what each would get in turn.
 */
const PASS_THROUGH = new Set(['portmap', 'firewall']);

/** ADD the whole list; returns the final result (what DEL and CHECK get as prevResult). */
export async function addNetworkList(list: CniConfList, rt: CniRuntime, opts: CniOptions = {}): Promise<CniResult> {
  let prev: CniResult | undefined;
  const plugins = list.plugins;
  for (let i = 0; i < plugins.length;) {
    let j = i + 1;
    if (prev && PASS_THROUGH.has(plugins[i]!.type)) while (j < plugins.length && PASS_THROUGH.has(plugins[j]!.type)) j++;
    const given: CniResult | undefined = prev;
    // all settle before the first error is thrown: a roll-back never races a plugin still adding
    const results = await Promise.allSettled(plugins.slice(i, j).map((p) => execPlugin('ADD', p.type, pluginConfig(list, p, rt, given), rt, opts)));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    prev = (results.at(-1) as PromiseFulfilledResult<CniResult | undefined>).value;
    i = j;
  }
  if (!prev) throw new CniError(list.plugins.at(-1)?.type ?? '?', 'ADD', 999, 'no result');
  return prev;
}

/**
 * DEL the whole list in reverse order. Every plugin is run even when one fails (a DEL must
 * release what it can); the first error is thrown at the end.
 */
export async function delNetworkList(list: CniConfList, rt: CniRuntime, prevResult: CniResult | undefined, opts: CniOptions = {}): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin('DEL', plugin.type, pluginConfig(list, plugin, rt, prevResult), rt, opts);
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}

/** CHECK the whole list (each plugin verifies what it set up). */
export async function checkNetworkList(
  list: CniConfList, rt: CniRuntime, prevResult: CniResult,
  opts: CniOptions & { tolerate?: (e: CniError) => boolean } = {},
): Promise<void> {
  for (const plugin of list.plugins) {
    try {
      await execPlugin('CHECK', plugin.type, pluginConfig(list, plugin, rt, prevResult), rt, opts);
    } catch (e) {
      if (!(e instanceof CniError) || !opts.tolerate?.(e)) throw e;
    }
  }
}
