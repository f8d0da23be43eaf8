/**
 * `strata serve`: the Docker Engine API for docker CLIs and SDKs, on the same store the
 * daemonless CLI uses (SQLite WAL; the engine re-reads state on every call).
 */
import type { Command } from 'commander';
import { StrataError } from '../base/errors.js';
import { ApiServer, isLoopback, parseHost } from '../api/server.js';
import { openEngine } from '../engine/index.js';
import { collect } from './util.js';
import { parsePort, startExplorer } from './explore.js';
import type { ExploreServer } from '../explore/server.js';

const DEFAULT_HOST = 'unix:///run/strata.sock';

export function registerServeCommand(program: Command): void {
  program.command('serve').description('Serve the Docker Engine API (unix socket by default)')
    .option('-H, --host <address>', `Address to listen on: unix:///path or tcp://HOST:PORT (repeatable; default ${DEFAULT_HOST})`, collect)
    .option('--allow-remote', 'Allow a TCP address other than loopback (no TLS: whoever reaches it is root here)')
    .option('--ui', 'Also serve the explorer page (read-only) on 127.0.0.1')
    .option('--ui-port <port>', 'Port of the explorer page (default: a free one)', parsePort)
    .action(async (o: { host?: string[]; allowRemote?: boolean; ui?: boolean; uiPort?: number }) => {
      const hosts = (o.host?.length ? o.host : [DEFAULT_HOST]).map(parseHost);
      for (const h of hosts) {
        if (h.kind === 'tcp' && !isLoopback(h.host) && !o.allowRemote) {
          throw new StrataError('invalid_argument', `refusing to listen on tcp://${h.host}:${h.port}: not a loopback address. The API has no authentication; anyone who can connect gets root on this machine. Pass --allow-remote to do it anyway.`);
        }
      }
      // handlers first: a signal that comes as soon as we say we listen must still shut down cleanly
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      const engine = openEngine();
      const api = new ApiServer({ engine });
      try {
        for (const h of hosts) {
          if (h.kind === 'unix') {
            await api.listenUnix(h.path);
          } else {
            const port = await api.listenTcp(h.host, h.port);
            process.stderr.write(
              `WARNING: the API is listening on tcp://${h.host}:${port} without TLS or authentication.\n` +
              `WARNING: anyone who can connect to it, including scripts in a web browser on this machine, gets root access.\n`);
          }
        }
      } catch (e) {
        await api.close();
        throw e;
      }
      // as dockerd at startup: reconcile with what really runs; containers whose restart policy says so come back
      const booted = await engine.system.boot();
      for (const f of booted.failed) process.stderr.write(`Error: starting ${f.name}: ${f.error}\n`);
      let ui: ExploreServer | undefined;
      try {
        if (o.ui || o.uiPort !== undefined) ui = await startExplorer(engine, o.uiPort !== undefined ? { port: o.uiPort } : {});
      } catch (e) {
        await api.close();
        throw e;
      }
      api.adoptAll();
      process.stderr.write(`strata serve: listening on ${api.listeners.map((l) => l.address).join(', ')}\n`);
      if (ui) process.stderr.write(`strata serve: explorer on ${ui.address}\n`);
      await stopped;
      await ui?.close();
      await api.close();
      await engine.settle().catch(() => undefined);
      engine.close();
      // whatever a client left running (an exec's pipes) must not keep the server alive
      setTimeout(() => process.exit(0), 2000).unref();
    });
}
