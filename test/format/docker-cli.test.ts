/**
 * Golden tests against the real docker CLI: a tiny fake Engine API on a unix
 * socket serves fixed JSON, the docker client formats it, and our formatter
 * must produce the same bytes from the same data. Skipped when no docker
 * binary is installed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import {
  commandColumn,
  createdSince,
  displayablePorts,
  ellipsis,
  formatInspect,
  formatTable,
  goStruct,
  goTimeString,
  humanSize,
  humanSizeWithPrecision,
  renderJSONMessages,
  renderTemplate,
  rfc3339Nano,
  truncateId,
  type JSONMessage,
  type PortSummary,
  type TableSpec,
} from '../../src/format/index.js';

function findDocker(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/local/bin')) {
    const p = path.join(dir, 'docker');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Skip reason, or false: the expectations were taken from the v28 client. */
function skipReason(bin: string | undefined): string | false {
  if (!bin) return 'docker CLI not found on PATH; golden tests against the real client skipped';
  let version = '';
  try {
    version = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  } catch {
    return `${bin} --version failed; golden tests against the real client skipped`;
  }
  const major = Number(/version (\d+)\./.exec(version)?.[1] ?? 0);
  if (major < 25) return `docker CLI ${version.trim()} is older than 25; golden tests skipped`;
  return false;
}

const dockerBin = findDocker();
const skip = skipReason(dockerBin);
if (skip) console.log(`# ${skip}`);

// --- fixtures ----------------------------------------------------------------

interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

const images: ImageSummary[] = [
  {
    Id: 'sha256:53e23e9e2e29a4f0c4b1d7a1f8e2b6f3c0d4e5f60718293a4b5c6d7e8f901234',
    ParentId: '',
    RepoTags: ['sem-child:latest'],
    RepoDigests: [],
    Created: 1_420_070_400,
    Size: 1_982_515,
    SharedSize: -1,
    Labels: {},
    Containers: -1,
  },
  {
    Id: 'sha256:2327773b64dd1234567890abcdef1234567890abcdef1234567890abcdef1234',
    ParentId: '',
    RepoTags: ['bbox:latest', 'bbox:v1'],
    RepoDigests: [],
    Created: 1_420_070_000,
    Size: 999_600,
    SharedSize: -1,
    Labels: {},
    Containers: -1,
  },
  {
    Id: 'sha256:4c5c6bad7b82aaaabbbbccccddddeeeeffff00001111222233334444555566667',
    ParentId: '',
    RepoTags: [],
    RepoDigests: [],
    Created: 1_420_000_000,
    Size: 2125,
    SharedSize: -1,
    Labels: {},
    Containers: -1,
  },
];

const inspect = {
  Id: 'sha256:2327773b64dd1234567890abcdef1234567890abcdef1234567890abcdef1234',
  RepoTags: ['bbox:latest', 'bbox:v1'],
  RepoDigests: [],
  Parent: '',
  Comment: 'my message',
  Created: '2015-01-01T00:06:40.123456789Z',
  DockerVersion: '',
  Author: 'Jane Doe <jane@example.com>',
  Config: {
    Hostname: 'c5f5a240c799',
    Domainname: '',
    User: 'nobody',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    // Go's struct{} values: marked as structs so that %v prints `{}` (not `map[]`).
    ExposedPorts: { '80/tcp': goStruct({}, 'struct {}'), '8080/tcp': goStruct({}, 'struct {}') },
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: ['A=1', 'B=2'],
    Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    Image: 'bbox:latest',
    Volumes: null,
    WorkingDir: '/www',
    Entrypoint: null,
    OnBuild: null,
    // The daemon writes map keys sorted (Go maps); `{{json}}` keeps object order.
    Labels: { a: '1', x: 'y' },
  },
  Architecture: 'amd64',
  Os: 'linux',
  Size: 1_982_439,
  GraphDriver: { Data: null, Name: 'overlay2' },
  RootFS: { Type: 'layers', Layers: ['sha256:aa', 'sha256:bb'] },
  Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
};

interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: PortSummary[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  SizeRw?: number;
  SizeRootFs?: number;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: unknown[];
}

const containers: ContainerSummary[] = [
  {
    Id: '9bae5595aecb0123456789abcdef0123456789abcdef0123456789abcdef0123',
    Names: ['/sem-exit3'],
    Image: 'bbox:latest',
    ImageID: 'sha256:2327773b64dd',
    Command: "sh -c 'exit 3'",
    Created: 1_420_070_400,
    Ports: [],
    Labels: { 'com.example.app-name': 'web', a: '1' },
    State: 'exited',
    Status: 'Exited (3) 2 seconds ago',
    SizeRw: 0,
    SizeRootFs: 0,
    HostConfig: { NetworkMode: 'default' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  },
  {
    Id: 'a677faf9111d0123456789abcdef0123456789abcdef0123456789abcdef0123',
    Names: ['/sem-p1'],
    Image: 'bbox:latest',
    ImageID: 'sha256:2327773b64dd',
    Command: 'sh -c \'echo "a long command line that is long\'',
    Created: 1_420_070_300,
    Ports: [
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
      { PrivatePort: 9000, Type: 'tcp' },
      { PrivatePort: 8000, Type: 'tcp' },
      { PrivatePort: 8001, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 8090, PublicPort: 8090, Type: 'tcp' },
    ],
    Labels: {},
    State: 'running',
    Status: 'Up 6 seconds',
    SizeRw: 73,
    SizeRootFs: 1_982_509,
    HostConfig: { NetworkMode: 'default' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  },
  {
    Id: 'b777faf9111d0123456789abcdef0123456789abcdef0123456789abcdef0123',
    Names: ['/cjk'],
    Image: 'bbox:latest',
    ImageID: 'sha256:2327773b64dd',
    Command: 'echo 世界世界世界世界世界世界世界',
    Created: 1_420_070_200,
    Ports: [],
    Labels: {},
    State: 'paused',
    Status: 'Up 6 seconds (Paused)',
    HostConfig: { NetworkMode: 'default' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  },
];

const history = [
  {
    Id: 'sha256:53e23e9e2e29a4f0c4b1d7a1f8e2b6f3c0d4e5f60718293a4b5c6d7e8f901234',
    Created: 1_420_070_400,
    CreatedBy: 'sh -c echo child > /child.txt',
    Tags: ['sem-child:latest'],
    Size: 6,
    Comment: 'child commit',
  },
  {
    Id: 'sha256:ec617f91a87f0123456789abcdef0123456789abcdef0123456789abcdef0123',
    Created: 1_420_070_000,
    CreatedBy: 'sh -c echo "a long command line that is definitely longer than forty-five"',
    Tags: null,
    Size: 999_600,
    Comment: '',
  },
  { Id: '<missing>', Created: 1_420_060_000, CreatedBy: '/bin/sh -c #(nop)\tCMD ["sh"] 世界世界世界世界世界世界世界世界世界世界世界世界', Tags: null, Size: 0, Comment: '' },
  { Id: '<missing>', Created: 1_420_000_000, CreatedBy: '', Tags: null, Size: 1_982_436, Comment: 'Imported from -' },
];

const pullStream: JSONMessage[] = [
  { status: 'Pulling from library/bbox', id: 'latest' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa111' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb222' },
  { status: 'Downloading', progressDetail: { current: 1_200_000, total: 3_400_000 }, progress: '[=>  ] 1.2MB/3.4MB', id: 'aaa111' },
  { status: 'Verifying Checksum', progressDetail: {}, id: 'aaa111' },
  { status: 'Download complete', progressDetail: {}, id: 'aaa111' },
  { status: 'Extracting', progressDetail: { current: 3_400_000, total: 3_400_000 }, id: 'aaa111' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaa111' },
  { status: 'Already exists', progressDetail: {}, id: 'bbb222' },
  { status: 'Digest: sha256:abc' },
  { status: 'Status: Downloaded newer image for bbox:latest' },
];

// --- fake engine -------------------------------------------------------------

let tmp = '';
let server: http.Server | undefined;

function route(method: string, p: string): string | undefined {
  if (method === 'GET' && p === '/images/json') return JSON.stringify(images);
  if (method === 'GET' && p === '/images/bbox/json') return JSON.stringify(inspect);
  if (method === 'GET' && p === '/containers/json') return JSON.stringify(containers);
  if (method === 'GET' && p === '/images/bbox/history') return JSON.stringify(history);
  if (method === 'POST' && p === '/images/create') return pullStream.map((m) => JSON.stringify(m) + '\r\n').join('');
  return undefined;
}

before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-format-'));
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    const p = url.pathname.replace(/^\/v[0-9.]+/, '');
    res.setHeader('Api-Version', '1.47');
    res.setHeader('Ostype', 'linux');
    if (p === '/_ping') {
      res.setHeader('Content-Type', 'text/plain');
      res.end(req.method === 'HEAD' ? undefined : 'OK');
      return;
    }
    if (p === '/version') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ ApiVersion: '1.47', MinAPIVersion: '1.24', Version: '27.0.0', Os: 'linux', Arch: 'amd64' }));
      return;
    }
    const body = route(req.method ?? 'GET', p);
    res.setHeader('Content-Type', 'application/json');
    if (body === undefined) {
      res.statusCode = 404;
      res.end(JSON.stringify({ message: `not in fixture: ${req.method} ${p}` }));
      return;
    }
    res.end(body);
  });
  const sock = path.join(tmp, 'docker.sock');
  await new Promise<void>((resolve) => server!.listen(sock, resolve));
});

after(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function docker(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      dockerBin!,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: tmp,
          DOCKER_HOST: `unix://${path.join(tmp, 'docker.sock')}`,
          DOCKER_CONFIG: path.join(tmp, 'config'),
          DOCKER_CLI_HINTS: 'false',
          TZ: 'UTC',
        },
        timeout: 20_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

// --- the CLI's contexts, built from the API data ------------------------------

const imageSpec: TableSpec = {
  defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}',
  headers: {
    ID: 'IMAGE ID',
    Repository: 'REPOSITORY',
    Tag: 'TAG',
    Digest: 'DIGEST',
    CreatedSince: 'CREATED',
    CreatedAt: 'CREATED AT',
    Size: 'SIZE',
    Containers: 'CONTAINERS',
    VirtualSize: 'SIZE',
    SharedSize: 'SHARED SIZE',
    UniqueSize: 'UNIQUE SIZE',
  },
  typeName: '*formatter.imageContext',
};

function imageRows(now: number): object[] {
  const rows: object[] = [];
  for (const img of images) {
    const tags = img.RepoTags.length ? img.RepoTags.map((t) => t.split(':') as [string, string]) : [['<none>', '<none>'] as [string, string]];
    for (const [repo, tag] of tags) {
      rows.push({
        ID: truncateId(img.Id),
        Repository: repo,
        Tag: tag,
        Digest: '<none>',
        CreatedSince: createdSince(img.Created, now),
        CreatedAt: goTimeString(new Date(img.Created * 1000), { utc: true }),
        Size: humanSizeWithPrecision(img.Size, 3),
        Containers: img.Containers === -1 ? 'N/A' : String(img.Containers),
        VirtualSize: humanSize(img.Size),
        SharedSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.SharedSize),
        UniqueSize: img.SharedSize === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize),
      });
    }
  }
  return rows;
}

const containerSpec: TableSpec = {
  defaultFormat: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
  headers: {
    ID: 'CONTAINER ID',
    Names: 'NAMES',
    Image: 'IMAGE',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Ports: 'PORTS',
    State: 'STATE',
    Status: 'STATUS',
    Size: 'SIZE',
    Labels: 'LABELS',
    Mounts: 'MOUNTS',
    LocalVolumes: 'LOCAL VOLUMES',
    Networks: 'NETWORKS',
  },
  typeName: '*formatter.ContainerContext',
};

function containerRows(now: number): object[] {
  return containers.map((c) => ({
    ID: truncateId(c.Id),
    Image: c.Image,
    Command: commandColumn(c.Command),
    CreatedAt: goTimeString(new Date(c.Created * 1000), { utc: true }),
    RunningFor: createdSince(c.Created, now),
    Ports: displayablePorts(c.Ports),
    State: c.State,
    Status: c.Status,
    Size:
      humanSizeWithPrecision(c.SizeRw ?? 0, 3) +
      ((c.SizeRootFs ?? 0) > 0 ? ` (virtual ${humanSizeWithPrecision(c.SizeRootFs ?? 0, 3)})` : ''),
    Names: c.Names[0]!.slice(1),
    Labels: Object.entries(c.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(','),
    Label: (name: string) => c.Labels[name] ?? '',
    Mounts: '',
    LocalVolumes: '0',
    Networks: '',
    Platform: null,
  }));
}

const historySpec: TableSpec = {
  defaultFormat: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
  headers: {
    ID: 'IMAGE',
    CreatedSince: 'CREATED',
    CreatedAt: 'CREATED AT',
    CreatedBy: 'CREATED BY',
    Size: 'SIZE',
    Comment: 'COMMENT',
  },
  typeName: '*formatter.historyContext',
};

function historyRows(now: number): object[] {
  return history.map((h) => ({
    ID: truncateId(h.Id),
    CreatedSince: createdSince(h.Created, now),
    CreatedAt: rfc3339Nano(new Date(h.Created * 1000)),
    CreatedBy: ellipsis(h.CreatedBy.replaceAll('\t', ' '), 45),
    Size: humanSizeWithPrecision(h.Size, 3),
    Comment: h.Comment,
  }));
}

// --- tests -------------------------------------------------------------------

const imageFormats = [
  '',
  'table',
  '{{json .}}',
  'json',
  'table {{.ID}}\\t{{.Size}}',
  'table {{.Repository}}:{{.Tag}}\\t{{.CreatedAt}}\\t{{.VirtualSize}}\\t{{.UniqueSize}}\\t{{.Containers}}',
  'table {{.ID}}\t{{json .Repository}}\t{{upper .Tag}}\t{{pad .Tag 2 2}}|',
  'table {{printf "%.3s" .ID}}\t{{lower .Tag}}',
  '{{.ID}}\\t{{.Repository}}',
  '{{.Repository}}:{{.Tag}} {{.Size}}',
  'table {{.Nope}}',
  '{{nosuch .ID}}',
];

for (const format of imageFormats) {
  test(`docker images --format ${JSON.stringify(format)} matches the docker CLI`, { skip }, async () => {
    const args = ['images'];
    if (format !== '') args.push('--format', format);
    const real = await docker(...args);
    const now = Date.now();
    let mine: string;
    try {
      mine = formatTable(imageRows(now), { ...imageSpec, format });
    } catch (e) {
      assert.notEqual(real.code, 0, `docker succeeded where we failed: ${real.stdout}`);
      assert.equal((e as Error).message, real.stderr.trim());
      return;
    }
    assert.equal(real.code, 0, real.stderr);
    assert.equal(mine, real.stdout);
  });
}

const psFormats = [
  '',
  '{{json .}}',
  'table {{.Names}}\\t{{.Label "com.example.app-name"}}\\t{{.Labels}}\\t{{.Size}}\\t{{.State}}',
  'table {{.ID}}\\t{{.CreatedAt}}\\t{{.Ports}}',
];

for (const format of psFormats) {
  test(`docker ps -a --format ${JSON.stringify(format)} matches the docker CLI`, { skip }, async () => {
    const args = ['ps', '-a'];
    if (format !== '') args.push('--format', format);
    const real = await docker(...args);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(formatTable(containerRows(Date.now()), { ...containerSpec, format }), real.stdout);
  });
}

for (const format of ['', '{{json .}}', 'table {{.ID}}\t{{.CreatedAt}}\t{{.Size}}']) {
  test(`docker history --format ${JSON.stringify(format)} matches the docker CLI`, { skip }, async () => {
    const args = ['history', 'bbox'];
    if (format !== '') args.push('--format', format);
    const real = await docker(...args);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(formatTable(historyRows(Date.now()), { ...historySpec, format }), real.stdout);
  });
}

const inspectTemplates = [
  '{{.Config.Cmd}}',
  '{{.Config.Env}}',
  '{{json .Config.Labels}}',
  '{{.Config.Labels}}',
  '{{index .Config.Labels "a"}}',
  '{{.Config.Labels.zz}}',
  '{{.Config.ExposedPorts}}',
  '{{json .Config.ExposedPorts}}',
  '{{range .RepoTags}}{{.}} {{end}}',
  '{{range $i, $t := .RepoTags}}{{$i}}:{{$t}},{{end}}',
  '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}',
  '{{if eq .Os "linux"}}L{{else}}other{{end}}',
  '{{printf "%.12s" .Id}}',
  '{{.Size}} {{printf "%d|%5.1f|%q" .Size 2.25 .Os}}',
  '{{len .Config.Env}} {{join .Config.Env ","}} {{upper .Os}} {{title .Architecture}}',
  '{{.Author}} {{json .Author}} {{html .Author}}',
  '{{with .Config}}{{.WorkingDir}} {{.User}}{{end}}',
  '{{- .Comment -}}\n{{/* comment */}} {{.Os}}',
  '{{$n := len .RepoTags}}{{if gt $n 1}}many{{end}}',
  '{{slice .Id 7 19}} {{index .RootFS.Layers 1}}',
  '{{.RootFS.Layers}} {{json .RootFS}}',
  '{{nosuch}}',
  '{{.Id}',
  '{{index .RepoTags 5}}',
  '{{len 1 2}}',
  '{{upper 5}}',
];

for (const tmpl of inspectTemplates) {
  test(`docker image inspect --format ${JSON.stringify(tmpl)} matches the docker CLI`, { skip }, async () => {
    const real = await docker('image', 'inspect', 'bbox', '--format', tmpl);
    let mine: string;
    try {
      mine = renderTemplate(tmpl, inspect) + '\n';
    } catch (e) {
      assert.notEqual(real.code, 0, `docker succeeded where we failed: ${real.stdout}`);
      assert.equal((e as Error).message, real.stderr.trim());
      return;
    }
    assert.equal(real.code, 0, real.stderr);
    assert.equal(mine, real.stdout);
  });
}

test('docker image inspect (no format) matches formatInspect', { skip }, async () => {
  const real = await docker('image', 'inspect', 'bbox');
  assert.equal(real.code, 0, real.stderr);
  assert.equal(formatInspect([inspect]), real.stdout);
});

test('docker pull progress (not a terminal) matches the renderer', { skip }, async () => {
  const real = await docker('pull', 'bbox');
  assert.equal(real.code, 0, real.stderr);
  const mine = renderJSONMessages(pullStream, { isTerminal: false });
  assert.equal(real.stdout, `Using default tag: latest\n${mine}docker.io/library/bbox:latest\n`);
});
