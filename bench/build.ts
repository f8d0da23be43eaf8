/**
 * `strata build`: cold build (empty build cache, base image present) and cached rebuild
 * (nothing changed) of a 10-step Dockerfile and of a 2-stage one, with a context of 10,000
 * files. When Debian's docker.io is installed, the same builds with Docker BuildKit in the
 * same run: bench/docker.ts starts a private dockerd, driven by Debian's 20.10 CLI
 * (/usr/bin/docker, whose BuildKit client is built in) with DOCKER_BUILDKIT=1. Both engines
 * build FROM the same busybox image (`strata save` loaded with `docker load`), so BuildKit
 * resolves it locally and never reaches for a registry. Strata and Docker alternate run by
 * run; one line per figure: `name strata docker ratio` (ms; ratio = strata / docker). A cold
 * build starts after `sync`, so neither side pays for what the previous one left to write back.
 * STRATA_BENCH_BUILD_FILES sets the context size, BENCH_BUILD_N the runs (default 3).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyboxTar } from '../test/helpers.js';
import { startDocker, type DockerEngine } from './docker.js';
import { previousFigures, printPair } from './side.js';
import { CLI, dropCaches, median, strataRun, strataTime, timeCmd, tmpRoot } from './util.js';

const FILES = Number(process.env.STRATA_BENCH_BUILD_FILES ?? '10000');
const RUNS = Number(process.env.BENCH_BUILD_N ?? '3');
/** Debian's docker.io 20.10 CLI: BuildKit built in (the v28 client needs the buildx plugin) */
const DOCKER_CLI = '/usr/bin/docker';

const TEN_STEPS = `FROM busybox
ENV A=1
WORKDIR /app
COPY . /app/
RUN echo one > /one
RUN ls /app | wc -l > /count
ARG X=1
LABEL purpose=bench
RUN echo three > /three
EXPOSE 80
CMD ["sh"]
`;

const TWO_STAGES = `FROM busybox AS build
COPY . /src/
RUN tar -cf /out.tar -C /src .
FROM busybox
COPY --from=build /out.tar /out.tar
CMD ["tar", "-tf", "/out.tar"]
`;

function context(dir: string): void {
  for (let i = 0; i < FILES; i++) {
    const d = path.join(dir, 'src', `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}.txt`), `file ${i}\n`.repeat(8));
  }
}

interface Side {
  prune(): void;
  build(tag: string, dir: string): number;
}

function strataSide(root: string): Side {
  return {
    prune: () => { strataRun(root, ['builder', 'prune', '-af']); },
    build: (tag, dir) => strataTime(root, ['build', '-q', '-t', tag, dir]),
  };
}

function dockerSide(d: DockerEngine): Side {
  const env = { ...d.env, DOCKER_BUILDKIT: '1' };
  const run = (args: string[]): void => {
    const r = spawnSync(DOCKER_CLI, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.toString().trim()}`);
  };
  return {
    prune: () => run(['builder', 'prune', '-af']),
    build: (tag, dir) => timeCmd(DOCKER_CLI, ['build', '-q', '-t', tag, dir], { env }),
  };
}

export async function runBuild(): Promise<void> {
  const root = tmpRoot('build');
  const work = tmpRoot('build-ctx');
  let docker: DockerEngine | undefined;
  try {
    strataRun(root, ['import', busyboxTar(), 'busybox']);
    if (fs.existsSync(DOCKER_CLI)) docker = await startDocker();
    else console.log(`# docker: no ${DOCKER_CLI} (Debian's docker.io), Docker figures skipped`);
    const sides: [string, Side][] = [['strata', strataSide(root)]];
    if (docker) {
      const archive = path.join(work, 'busybox.tar');
      strataRun(root, ['save', '-o', archive, 'busybox']);
      docker.run(['load', '-i', archive]);
      console.log(`# docker: busybox loaded from \`strata save\` (${docker.run(['images', '-q', 'busybox']).trim()}); BuildKit client ${DOCKER_CLI} with DOCKER_BUILDKIT=1`);
      sides.push(['docker', dockerSide(docker)]);
    }
    const prev = previousFigures();
    console.log(`# name strata docker ratio  (prev …)   [ms, medians of ${RUNS} runs, Strata and Docker alternating; ${FILES} files in each context]`);
    for (const [name, df] of [['10_step', TEN_STEPS], ['2_stage', TWO_STAGES]] as const) {
      const dir = path.join(work, name);
      fs.mkdirSync(dir, { recursive: true });
      context(dir);
      fs.writeFileSync(path.join(dir, 'Dockerfile'), df);
      const cold = new Map<string, number[]>(sides.map(([n]) => [n, []]));
      const cached = new Map<string, number[]>(sides.map(([n]) => [n, []]));
      for (let i = 0; i < RUNS; i++) {
        const order = i % 2 ? [...sides].reverse() : sides;
        for (const [n, s] of order) {
          s.prune();
          // what the prune and earlier builds left to write back is not the next build's cost
          dropCaches();
          cold.get(n)!.push(s.build(`bench-${name}`, dir));
          for (let j = 0; j < 2; j++) cached.get(n)!.push(s.build(`bench-${name}`, dir));
        }
      }
      const d = (m: Map<string, number[]>): number | undefined => (m.has('docker') ? median(m.get('docker')!) : undefined);
      printPair(prev, `build_cold_${name}_ms`, median(cold.get('strata')!), d(cold), 'empty build cache, base image present');
      printPair(prev, `build_cached_${name}_ms`, median(cached.get('strata')!), d(cached), 'nothing changed');
    }
  } finally {
    if (docker) await docker.stop();
    spawnSync(process.execPath, [CLI, 'system', 'reset', '--force'], { env: { ...process.env, STRATA_ROOT: root }, stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}
