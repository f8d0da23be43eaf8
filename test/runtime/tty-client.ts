/**
 * What `strata run -it` does, run under a real pty by the tests: create the
 * container under a monitor, attach this terminal (raw mode, SIGWINCH ->
 * resize), start, exit with the container's exit code.
 * argv[2]: JSON of ForegroundOptions minus streams, plus runcRoot.
 */
import { Runc, runForeground, type ForegroundOptions } from '../../src/runtime/index.js';

const cfg = JSON.parse(process.argv[2]!) as ForegroundOptions & { runcRoot: string };
const runtime = new Runc({ root: cfg.runcRoot });
try {
  const exit = await runForeground({
    ...cfg,
    runtime,
    tty: true,
    openStdin: true,
    terminal: true,
    stdin: process.stdin,
    stdout: process.stdout,
  });
  process.exit(exit.exitCode);
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit((e as { exitCode?: number }).exitCode ?? 125);
}
