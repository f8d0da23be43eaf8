import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';

// Imported (so the CLI bundle carries better-sqlite3's JavaScript, from its code cache) with the
// addon named directly: the package's own lookup (`bindings`) stats a dozen paths and parses a
// stack trace to find it.
const Database = BetterSqlite3;
const ADDON = 'better-sqlite3/build/Release/better_sqlite3.node';
let addon: object | undefined;
/**
 * The addon, found in the node_modules directories Node would search (nearest first) and loaded
 * with process.dlopen: Node's resolver (node:module) and require's realpath cost ~1 ms of a
 * ~50 ms `ps`. Node's own resolution is the fallback.
 */
function loadAddon(): object {
  if (!addon) {
    const m = { exports: {} };
    process.dlopen(m, addonFile());
    addon = m.exports;
  }
  return addon;
}

function addonFile(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', ADDON);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return createRequire(import.meta.url).resolve(ADDON);
  }
}

export type DB = BetterSqlite3.Database;

/**
 * Schema migrations, applied in order; PRAGMA user_version records how many ran.
 * Layer reference counts are derived (view layer_refs) rather than stored as counters,
 * so a crash can never leave a count that disagrees with the rows it counts.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE layers (
    diff_id   TEXT PRIMARY KEY,          -- sha256 of the uncompressed tar
    size      INTEGER NOT NULL,          -- Docker's layer size: non-dir st_size, symlink = target length, inodes once
    tar_size  INTEGER NOT NULL,
    created   INTEGER NOT NULL           -- unix ms
  );
  CREATE TABLE layer_blobs (             -- blobs known to carry a layer (uncompressed, gzip, zstd)
    digest     TEXT PRIMARY KEY,
    diff_id    TEXT NOT NULL REFERENCES layers(diff_id) ON DELETE CASCADE,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL
  );
  CREATE INDEX layer_blobs_diff ON layer_blobs(diff_id);
  CREATE TABLE images (
    id            TEXT PRIMARY KEY,      -- sha256 of the config bytes
    created       INTEGER NOT NULL,      -- unix seconds of config.created
    size          INTEGER NOT NULL,      -- sum of layer sizes, kept here so listings never walk the disk
    parent        TEXT,                  -- local parent link (commit), '' when unknown
    config_size   INTEGER NOT NULL,
    labels        TEXT,                  -- JSON of config.config.Labels, for filters and the API
    last_tag_time TEXT,
    inserted      INTEGER NOT NULL
  );
  CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, idx)
  );
  CREATE INDEX image_layers_diff ON image_layers(diff_id);
  CREATE TABLE tags (
    ref      TEXT PRIMARY KEY,           -- canonical: docker.io/library/nginx:latest
    image_id TEXT NOT NULL REFERENCES images(id),
    created  INTEGER NOT NULL
  );
  CREATE INDEX tags_image ON tags(image_id);
  CREATE TABLE repo_digests (
    ref      TEXT PRIMARY KEY,           -- canonical: docker.io/library/nginx@sha256:...
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
  );
  CREATE INDEX repo_digests_image ON repo_digests(image_id);
  CREATE TABLE image_manifests (         -- manifests known for an image (from load/pull/push)
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
  );
  CREATE VIEW layer_refs AS
    SELECT l.diff_id, l.size, (SELECT COUNT(DISTINCT il.image_id) FROM image_layers il WHERE il.diff_id = l.diff_id) AS refs
    FROM layers l;
  `,
  `
  CREATE TABLE containers (
    id          TEXT PRIMARY KEY,        -- 64 hex
    name        TEXT NOT NULL UNIQUE,    -- without the leading '/'
    image_id    TEXT NOT NULL REFERENCES images(id),
    image_ref   TEXT NOT NULL,           -- as the user typed it
    created     TEXT NOT NULL,           -- RFC 3339 with nanoseconds
    config      TEXT NOT NULL,           -- Docker's container Config (JSON)
    host_config TEXT NOT NULL,           -- Docker's HostConfig (JSON)
    state       TEXT NOT NULL DEFAULT 'created',  -- created|running|paused|restarting|exited|dead|removing
    pid         INTEGER NOT NULL DEFAULT 0,
    monitor_pid INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    finished_at TEXT NOT NULL DEFAULT '0001-01-01T00:00:00Z',
    restart_count INTEGER NOT NULL DEFAULT 0,
    network     TEXT NOT NULL DEFAULT '{}',  -- attachment: addresses, ports, netns (JSON)
    seq         INTEGER NOT NULL DEFAULT 0   -- creation order at ns precision for ps sorting
  );
  CREATE INDEX containers_image ON containers(image_id);
  CREATE TABLE execs (                   -- every exec, for inspect and provenance
    id           TEXT PRIMARY KEY,
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    created      TEXT NOT NULL,
    user         TEXT NOT NULL DEFAULT '',
    workdir      TEXT NOT NULL DEFAULT '',
    argv         TEXT NOT NULL,          -- JSON array
    env          TEXT NOT NULL DEFAULT '[]',
    tty          INTEGER NOT NULL DEFAULT 0,
    exit_code    INTEGER,
    running      INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX execs_container ON execs(container_id);
  CREATE TABLE volumes (
    name     TEXT PRIMARY KEY,
    created  TEXT NOT NULL,
    labels   TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    destination  TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
  );
  CREATE INDEX container_volumes_volume ON container_volumes(volume);
  `,
  `
  CREATE TABLE blob_sources (            -- registries and repositories a blob was pulled from or pushed to
    digest     TEXT NOT NULL,            -- (a hint for cross-repository mounts on push; never trusted for content)
    registry   TEXT NOT NULL,            -- reference domain: docker.io, localhost:5000
    repository TEXT NOT NULL,            -- path: library/nginx
    seen       INTEGER NOT NULL,         -- unix ms
    PRIMARY KEY (digest, registry, repository)
  );
  `,
  `
  ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;  -- the last exit was the kernel's OOM kill
  `,
  `
  CREATE TABLE build_cache (
    key         TEXT PRIMARY KEY,        -- sha256:<hex> of the step's inputs
    parent      TEXT NOT NULL,           -- the previous step's key ('' for a base)
    description TEXT NOT NULL,           -- the instruction, for builder prune / df
    config      TEXT NOT NULL,           -- the image config after the step (JSON)
    diff_ids    TEXT NOT NULL,           -- JSON array, bottom first
    layer       TEXT,                    -- the layer this step added, NULL when metadata only
    size        INTEGER NOT NULL,        -- bytes of that layer
    created     INTEGER NOT NULL,        -- unix ms
    last_used   INTEGER NOT NULL,        -- unix ms
    usage_count INTEGER NOT NULL DEFAULT 1,
    sources     TEXT NOT NULL DEFAULT '[]' -- per history entry: 'Dockerfile:LINE' ('' for the base's)
  );
  CREATE TABLE build_cache_layers (
    key     TEXT NOT NULL REFERENCES build_cache(key) ON DELETE CASCADE,
    diff_id TEXT NOT NULL,
    PRIMARY KEY (key, diff_id)
  );
  CREATE INDEX build_cache_layers_diff ON build_cache_layers(diff_id);
  CREATE TABLE image_sources (           -- provenance of a built image's history entries
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,           -- index in config.history
    source   TEXT NOT NULL,              -- 'Dockerfile:3'
    PRIMARY KEY (image_id, idx)
  );
`,
  `
  ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;  -- stopped by stop/kill since its last start (unless-stopped stays down at boot)
  ALTER TABLE containers ADD COLUMN remover_pid INTEGER NOT NULL DEFAULT 0;       -- the process removing it (state 'removing')
  `,
  `
  CREATE TABLE container_endpoints (     -- the networks a container joins (Docker's EndpointsConfig), created or running
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network      TEXT NOT NULL,          -- network name as given
    idx          INTEGER NOT NULL,       -- join order: the first is the primary (default route, published ports)
    config       TEXT NOT NULL,          -- JSON: Aliases, IPAMConfig, Links, DriverOpts
    PRIMARY KEY (container_id, network)
  );
  INSERT INTO container_endpoints (container_id, network, idx, config)
    SELECT id, CASE WHEN coalesce(json_extract(host_config, '$.NetworkMode'), '') IN ('', 'default') THEN 'bridge'
                    ELSE json_extract(host_config, '$.NetworkMode') END,
           0, '{"Aliases":null,"IPAMConfig":null,"Links":null,"DriverOpts":null}'
    FROM containers WHERE coalesce(json_extract(host_config, '$.NetworkMode'), '') NOT LIKE 'container:%';
  `,
];

export function openDb(file: string): DB {
  const db = new Database(file, { timeout: 30000, nativeBinding: loadAddon() as never });
  // connection settings (WAL persists in the file once set)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;');
  migrate(db);
  cacheStatements(db);
  return db;
}

/**
 * Reuse compiled statements: the engine prepares its SQL where it uses it, and compiling
 * costs more than running the small queries of a listing (the API serves them in a loop).
 * Statements are never iterated or switched to raw/pluck mode, so one per SQL text is safe.
 */
function cacheStatements(db: DB): void {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = prepare(sql);
      if (cache.size < 1000) cache.set(sql, st);
    }
    return st;
  }) as typeof db.prepare;
}

function migrate(db: DB): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current >= MIGRATIONS.length) return;
  const run = db.transaction(() => {
    // re-read inside the write lock: another process may have migrated meanwhile
    const v = db.pragma('user_version', { simple: true }) as number;
    for (let i = v; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  });
  run.immediate();
}

/** Run fn in a write transaction that takes the lock up front (BEGIN IMMEDIATE). */
export function tx<T>(db: DB, fn: () => T): T {
  return db.transaction(fn).immediate();
}

