/**
 * `strata build`: cold build (empty cache) and cached rebuild (nothing changed) of a
 * 10-step Dockerfile and of a 2-stage one, with a context of 10,000 files. With a Docker
 * engine present, the same builds with BuildKit in the same run (docker figures).
 * STRATA_BENCH_BUILD_FILES sets the context size.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyboxTar } from '../test/helpers.js';
import { dockerAvailable, median, printFigure, strataRun, strataTime, tmpRoot } from './util.js';

const FILES = Number(process.env.STRATA_BENCH_BUILD_FILES ?? '10000');

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

function dockerTime(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('docker', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function runBuild(): Promise<void> {
  const root = tmpRoot('build');
  const work = tmpRoot('build-ctx');
  const docker = dockerAvailable();
  try {
    strataRun(root, ['import', busyboxTar(), 'busybox']);
    if (docker) execFileSync('docker', ['import', busyboxTar(), 'busybox'], { stdio: 'ignore' });
    for (const [name, df] of [['10-step', TEN_STEPS], ['2-stage', TWO_STAGES]] as const) {
      const dir = path.join(work, name);
      fs.mkdirSync(dir, { recursive: true });
      context(dir);
      fs.writeFileSync(path.join(dir, 'Dockerfile'), df);
      const cold: number[] = [];
      const cached: number[] = [];
      const dCold: number[] = [];
      const dCached: number[] = [];
      for (let i = 0; i < 2; i++) {
        strataRun(root, ['builder', 'prune', '-af']);
        cold.push(strataTime(root, ['build', '-q', '-t', `bench-${name}`, dir]));
        for (let j = 0; j < 2; j++) cached.push(strataTime(root, ['build', '-q', '-t', `bench-${name}`, dir]));
        if (docker) {
          execFileSync('docker', ['builder', 'prune', '-af'], { stdio: 'ignore' });
          dCold.push(dockerTime(['build', '-q', '-t', `bench-${name}`, dir]));
          for (let j = 0; j < 2; j++) dCached.push(dockerTime(['build', '-q', '-t', `bench-${name}`, dir]));
        }
      }
      const note = `${FILES} files in the context`;
      printFigure({ name: `build cold ${name}`, value: median(cold), unit: 'ms', ...(docker ? { docker: median(dCold) } : {}), note });
      printFigure({ name: `build cached ${name}`, value: median(cached), unit: 'ms', ...(docker ? { docker: median(dCached) } : {}), note: `${note}, nothing changed` });
    }
  } finally {
    spawnSync(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'dist', 'strata.mjs'), 'system', 'reset', '--force'], { env: { ...process.env, STRATA_ROOT: root }, stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}
