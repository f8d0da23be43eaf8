/**
 * Starts a detached container under a monitor and exits at once, as
 * `strata run -d` does. argv[2]: JSON of MonitorOptions plus runcRoot.
 * Prints {"pid":..,"monitorPid":..}.
 */
import { Runc, startMonitor, type MonitorOptions } from '../../src/runtime/index.js';

const cfg = JSON.parse(process.argv[2]!) as MonitorOptions & { runcRoot: string };
const started = await startMonitor({ ...cfg, runtime: new Runc({ root: cfg.runcRoot }) });
process.stdout.write(JSON.stringify(started) + '\n');
