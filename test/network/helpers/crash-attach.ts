/**
 * Child process for the crash tests: attach a container and SIGKILL itself at a given step,
 * leaving whatever a real crash at that point would leave.
 *   node crash-attach.js STATE_DIR ROOT_TAG CONTAINER_ID STEP PORTS_JSON
 */
import { NetworkManager, type PortSpec } from '../../../src/network/index.js';

const [stateDir, tag, id, step, portsJson] = process.argv.slice(2);
// Picked up by a test runner scanning test/ directories: nothing to do without arguments.
if (!stateDir || !tag || !id || !step || !portsJson) process.exit(0);
const nm = new NetworkManager(stateDir!, {
  rootTag: tag!,
  onStep: (s) => { if (s === step) process.kill(process.pid, 'SIGKILL'); },
});
await nm.attach(id!, ['bridge'], JSON.parse(portsJson!) as PortSpec[], { name: 'victim' });
// Reaching here means the step never came.
process.exit(3);
