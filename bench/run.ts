/**
 * `npm run bench`: one line per figure (name value unit, with the floor on this machine and
 * Docker's figure where known). Sections: STRATA_BENCH=side,images,containers,network,api,apiload,runtime,changes,registry,build,explore,dns.
 * Every timed Node process runs with NODE_EXTRA_CA_CERTS unset.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { runChanges } from './changes.js';
import { runImages } from './images.js';
import { runApi } from './api.js';
import { runApiLoad } from './api-load.js';
import { runContainers } from './containers.js';
import { runRegistry } from './registry.js';
import { runSide } from './side.js';
import { runBuild } from './build.js';
import { runExplore } from './explore.js';
import { runDns } from './dns.js';
import { PROJECT } from './util.js';

function subprocess(file: string): () => Promise<void> {
  return async () => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync(process.execPath, [path.join(PROJECT, 'dist', 'bench', file)], { stdio: 'inherit', env });
    if (r.status !== 0) process.exitCode = 1;
  };
}

const sections: Record<string, () => Promise<void>> = {
  side: runSide,
  images: runImages,
  containers: runContainers,
  network: subprocess('network-bench.js'),
  api: runApi,
  apiload: runApiLoad,
  runtime: async () => { const m = await import('./runtime-bench.js'); await m.runRuntime(); },
  changes: runChanges,
  registry: runRegistry,
  build: runBuild,
  explore: runExplore,
  dns: runDns,
};

const want = (process.env.STRATA_BENCH ?? 'side,images,containers,network,registry,api,apiload,build,explore').split(',');
console.log(`# strata bench ${new Date().toISOString()} node ${process.version} (NODE_EXTRA_CA_CERTS unset for timed processes)`);
for (const name of want) {
  const fn = sections[name];
  if (!fn) { console.error(`unknown bench section ${name}`); process.exitCode = 1; continue; }
  console.log(`# ${name}`);
  await fn();
}
