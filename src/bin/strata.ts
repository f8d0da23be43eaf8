import { main } from '../cli/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Nothing left that keeps the event loop alive (timers, sockets, children, pending fs work):
  // exit now, as the loop would, without Node's teardown of the environment and its heap
  // (~5 ms of a command here).
  if (process.getActiveResourcesInfo().length === 0) process.exit(code);
});
