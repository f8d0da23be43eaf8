import { buildProgram, main } from '../cli/main.js';

/**
 * Set only while scripts/snapshot.cjs makes the V8 startup snapshot of the CLI
 * (dist/strata.blob): the whole program is built into the snapshot's heap, and the command
 * runs when a process starts from it.
 */
interface SnapshotHooks { whenStarted(run: () => void): void }
const snapshot = (globalThis as { __strataSnapshot?: SnapshotHooks }).__strataSnapshot;

if (snapshot) {
  const program = buildProgram();
  snapshot.whenStarted(() => {
    main(process.argv.slice(2), program).then((code) => { process.exitCode = code; });
  });
} else {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
