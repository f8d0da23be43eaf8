/** `create`: a row, a directory with the init layer and an empty upper dir. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, invalidArgument, notFound } from '../base/errors.js';
import { mkdirp, rmTree } from '../base/fs.js';
import { tx } from '../meta/db.js';
import { containerNamed, insertContainer } from '../meta/containers.js';
import { imageById } from '../meta/images.js';
import { orderContainerConfig, rfc3339Nano } from '../image/config.js';
import type { ContainerConfig } from '../image/types.js';
import type { Container } from './container-model.js';
import type { ContainerCore } from './container-core.js';
import { imageLayers, loadConfig, resolveImage, type ImageRow } from './images.js';
import { generateId, generateName, VALID_NAME } from './names.js';
import { checkLinks, parseLink } from './links.js';
import { defaultHostConfig, type CreateRequest, type HostConfig } from './create-spec.js';
import { parseMounts } from './volumes.js';
import type { StoreRoot } from './store-root.js';
import { normalizeLogConfig } from './log-config.js';
import { recordCreateEndpoints } from './endpoints.js';
import { splitAnonymousBinds } from './inspect-shape.js';

let seqCounter = 0n;

/** Docker's init layer: mount points and files that never show up in diff. */
function makeInitLayer(dir: string): void {
  for (const d of ['dev/pts', 'dev/shm', 'proc', 'sys', 'etc']) mkdirp(path.join(dir, d));
  for (const f of ['.dockerenv', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'dev/console']) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) fs.writeFileSync(p, '', { mode: 0o755 });
  }
  try { fs.symlinkSync('/proc/mounts', path.join(dir, 'etc/mtab')); } catch { /* exists */ }
}

export function createContainer(cs: ContainerCore, request: CreateRequest, name?: string): Container {
  let req = request;
  if (!req.Image) throw invalidArgument('no image specified');
  const image = resolveImage(cs.store, req.Image);
  const imgCfg = loadConfig(cs.store, image.id).config;
  const id = generateId();
  const db = cs.store.db;
  if (name !== undefined && name !== '') {
    if (!VALID_NAME.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    name = name.replace(/^\//, '');
  }
  const hc: HostConfig = { ...defaultHostConfig(), ...req.HostConfig } as HostConfig;
  const anon = splitAnonymousBinds(hc.Binds);
  if (anon.volumes.length) {
    hc.Binds = anon.binds;
    req = { ...req, Volumes: { ...(req.Volumes ?? {}), ...Object.fromEntries(anon.volumes.map((v) => [v, {}])) } };
  }
  parseMounts(hc); // Docker's -v/--mount errors, before anything is made
  hc.LogConfig = normalizeLogConfig(hc.LogConfig);
  cs.network?.validate?.(hc.NetworkMode);
  for (const n of Object.keys(req.NetworkingConfig?.EndpointsConfig ?? {})) if (n !== hc.NetworkMode && n !== 'default') cs.network?.validate?.(n);
  checkLinks(hc, cs);
  for (const ep of Object.values(req.NetworkingConfig?.EndpointsConfig ?? {})) for (const l of ep?.Links ?? []) parseLink(l);
  const cfg = mergeConfig(req, imgCfg, id);
  const dir = path.join(cs.dir, id);
  const created = rfc3339Nano();
  const seq = Number(process.hrtime.bigint() % 1000000000000n) + Date.now() * 1000 + Number(seqCounter++);
  mkdirp(dir, 0o710);
  try {
    for (const d of ['upper', 'work', 'merged', 'init']) mkdirp(path.join(dir, d), 0o755);
    makeInitLayer(path.join(dir, 'init'));
    if (cfg.WorkingDir) {
      // Docker creates the working directory at create time: it shows up in diff
      const wd = path.join(dir, 'upper', cfg.WorkingDir);
      if (!existsInLayers(cs.store, image, cfg.WorkingDir)) mkdirp(wd, 0o755);
    }
    tx(db, () => {
      // an rmi that ran since the lookup above: the same answer as if it had run before
      if (!imageById(db, image.id)) throw notFound(`No such image: ${req.Image}`);
      if (name) {
        const other = containerNamed(db, name);
        if (other) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.`);
      } else {
        name = generateName((n) => containerNamed(db, n) !== undefined);
      }
      insertContainer(db, { id, name: name!, image_id: image.id, image_ref: req.Image, created, config: JSON.stringify(cfg), host_config: JSON.stringify(hc), seq });
      recordCreateEndpoints(db, id, hc.NetworkMode, req.NetworkingConfig?.EndpointsConfig);
    });
  } catch (e) {
    rmTree(dir);
    throw e;
  }
  const made = cs.get(id);
  cs.event(made, 'create');
  return made;
}

/** Docker's Config for a new container: the image's config with the request on top. */
function mergeConfig(req: CreateRequest, img: ContainerConfig | null, id: string): ContainerConfig {
  const base = img ?? orderContainerConfig({});
  const env = [...(base.Env ?? [])];
  for (const e of req.Env ?? []) {
    const k = e.split('=')[0];
    const i = env.findIndex((x) => x.split('=')[0] === k);
    if (i >= 0) env[i] = e; else env.push(e);
  }
  let entrypoint = base.Entrypoint;
  let cmd = base.Cmd;
  if (req.Entrypoint !== undefined && req.Entrypoint !== null) {
    entrypoint = req.Entrypoint.length === 1 && req.Entrypoint[0] === '' ? null : req.Entrypoint;
    cmd = req.Cmd ?? null; // Docker: a new entrypoint drops the image's CMD
  } else if (req.Cmd && req.Cmd.length) cmd = req.Cmd;
  const exposed = { ...(base.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) };
  const volumes = { ...(base.Volumes ?? {}), ...(req.Volumes ?? {}) };
  return orderContainerConfig({
    Hostname: req.Hostname || id.slice(0, 12),
    Domainname: req.Domainname ?? '',
    User: req.User || base.User || '',
    AttachStdin: !!req.AttachStdin,
    AttachStdout: !!req.AttachStdout,
    AttachStderr: !!req.AttachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!req.Tty,
    OpenStdin: !!req.OpenStdin,
    StdinOnce: !!req.StdinOnce,
    Env: env.length ? env : null,
    Cmd: cmd,
    Image: req.Image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: req.WorkingDir || base.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: base.OnBuild ?? null,
    Labels: { ...(base.Labels ?? {}), ...(req.Labels ?? {}) },
    ...(req.StopSignal || base.StopSignal ? { StopSignal: req.StopSignal || base.StopSignal } : {}),
    ...(req.StopTimeout !== undefined ? { StopTimeout: req.StopTimeout } : {}),
  } as Partial<ContainerConfig>);
}

function existsInLayers(store: StoreRoot, image: ImageRow, p: string): boolean {
  for (const l of imageLayers(store, image.id)) {
    try { fs.lstatSync(path.join(store.layerDir(l.diffId), p)); return true; } catch { /* next */ }
  }
  return false;
}
