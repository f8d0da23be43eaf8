import { nativeBinary } from '../base/native.js';
import { main } from '../cli/main.js';

/**
 * Whether anything still keeps the event loop alive (timers, sockets, children, pending fs
 * work) besides the standard streams: stdout and stderr on a pipe or a terminal are handles
 * too, but their writes are synchronous here (Linux), so nothing waits on them.
 */
function busy(): boolean {
  const kinds = process.getActiveResourcesInfo();
  if (kinds.length === 0) return false;
  if (kinds.some((k) => k !== 'PipeWrap' && k !== 'TTYWrap')) return true;
  const p = process as unknown as { _getActiveHandles(): unknown[] };
  return p._getActiveHandles().some((h) => h !== process.stdout && h !== process.stderr);
}

/** strata-load.node's quickExit (native/load.c): the exit without its address space's teardown. */
function quickExit(): ((code: number) => void) | undefined {
  // Node's own flags (a CPU profile, a heap profile) and coverage write their files in the teardown
  if (process.execArgv.length > 0 || process.env.NODE_V8_COVERAGE) return undefined;
  const file = nativeBinary('strata-load.node');
  if (!file) return undefined;
  try {
    const m = { exports: {} as { quickExit?: (code: number) => void } };
    process.dlopen(m, file);
    return m.exports.quickExit;
  } catch { return undefined; }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // the last 'exit' listener: those registered before it (a terminal's mode restored, a
  // temporary file removed, the launcher's code cache written) have run
  const fast = quickExit();
  if (fast) process.on('exit', (c) => fast(typeof c === 'number' ? c : code));
  // Nothing left to wait for: exit now, as the loop would, without Node's teardown of the
  // environment and its heap.
  if (!busy()) process.exit(code);
});
