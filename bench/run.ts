/**
 * `npm run bench`: one line per figure (name value unit, with the floor on this machine and
 * Docker's figure where a Docker engine is installed). Sections: STRATA_BENCH=images,containers,...
 */
import { runImages } from './images.js';
import { runRegistry } from './registry.js';

const sections: Record<string, () => Promise<void>> = {
  images: runImages,
  registry: runRegistry,
};

const want = (process.env.STRATA_BENCH ?? Object.keys(sections).join(',')).split(',');
console.log(`# strata bench ${new Date().toISOString()} node ${process.version} (NODE_EXTRA_CA_CERTS unset for timed processes)`);
for (const name of want) {
  const fn = sections[name];
  if (!fn) { console.error(`unknown bench section ${name}`); process.exitCode = 1; continue; }
  await fn();
}
