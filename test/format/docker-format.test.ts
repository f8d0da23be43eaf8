import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  commandColumn,
  containerCommand,
  displayablePorts,
  formatInspect,
  formatTable,
  headerLabel,
  jsonIndent,
  resolveFormat,
  statusString,
  TemplateError,
  truncateId,
  type TableSpec,
} from '../../src/format/index.js';

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

const rows = [
  { ID: '53e23e9e2e29', Repository: 'sem-child', Tag: 'latest', Digest: '<none>', CreatedSince: 'Less than a second ago', Size: '1.98MB' },
  { ID: 'c23f089fb5f9', Repository: 'sem-committed', Tag: 'v1', Digest: '<none>', CreatedSince: '30 seconds ago', Size: '1.98MB' },
  { ID: '4c5c6bad7b82', Repository: '<none>', Tag: '<none>', Digest: '<none>', CreatedSince: '', Size: '1.98MB' },
];

test('formatTable: default table (docker images)', () => {
  assert.equal(
    formatTable(rows, imageSpec),
    'REPOSITORY      TAG       IMAGE ID       CREATED                  SIZE\n' +
      'sem-child       latest    53e23e9e2e29   Less than a second ago   1.98MB\n' +
      'sem-committed   v1        c23f089fb5f9   30 seconds ago           1.98MB\n' +
      '<none>          <none>    4c5c6bad7b82   N/A                      1.98MB\n',
  );
  assert.equal(formatTable(rows, { ...imageSpec, format: 'table' }), formatTable(rows, imageSpec));
  assert.equal(formatTable(rows, { ...imageSpec, format: '' }), formatTable(rows, imageSpec));
});

test('formatTable: no rows prints only the header', () => {
  assert.equal(formatTable([], imageSpec), 'REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n');
});

test('formatTable: custom table format', () => {
  assert.equal(
    formatTable(rows.slice(0, 2), { ...imageSpec, format: 'table {{.ID}}\\t{{.Size}}' }),
    'IMAGE ID       SIZE\n53e23e9e2e29   1.98MB\nc23f089fb5f9   1.98MB\n',
  );
  // header functions keep the names intact; pad applies to the header too
  assert.equal(
    formatTable(rows.slice(0, 1), { ...imageSpec, format: 'table {{.ID}}\t{{json .Repository}}\t{{upper .Tag}}\t{{pad .Tag 2 2}}|' }),
    'IMAGE ID       REPOSITORY    TAG         TAG  |\n53e23e9e2e29   "sem-child"   LATEST      latest  |\n',
  );
  // a table format without tabs: single cells are not padded
  assert.equal(
    formatTable(rows.slice(0, 1), { ...imageSpec, format: 'table {{.ID}} {{.Tag}}' }),
    'IMAGE ID TAG\n53e23e9e2e29 latest\n',
  );
});

test('formatTable: json and plain formats', () => {
  assert.equal(
    formatTable(rows.slice(0, 1), { ...imageSpec, format: '{{json .}}' }),
    '{"CreatedSince":"Less than a second ago","Digest":"\\u003cnone\\u003e","ID":"53e23e9e2e29","Repository":"sem-child","Size":"1.98MB","Tag":"latest"}\n',
  );
  assert.equal(formatTable(rows.slice(0, 1), { ...imageSpec, format: 'json' }), formatTable(rows.slice(0, 1), { ...imageSpec, format: '{{json .}}' }));
  assert.equal(formatTable(rows, { ...imageSpec, format: '{{.ID}}' }), '53e23e9e2e29\nc23f089fb5f9\n4c5c6bad7b82\n');
  // a literal "\t" in a plain format becomes a tab, without alignment
  assert.equal(formatTable(rows.slice(0, 1), { ...imageSpec, format: '{{.ID}}\\t{{.Tag}}' }), '53e23e9e2e29\tlatest\n');
  // leading spaces: not a table
  assert.equal(formatTable(rows.slice(0, 1), { ...imageSpec, format: '  table {{.Tag}}  ' }), 'table latest\n');
});

test('formatTable: unknown field is an error naming the context type', () => {
  assert.throws(
    () => formatTable(rows, { ...imageSpec, format: 'table {{.Nope}}' }),
    (e: unknown) =>
      e instanceof TemplateError &&
      e.message ===
        'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.imageContext',
  );
  assert.throws(() => formatTable(rows, { ...imageSpec, format: '{{nosuch .ID}}' }), /function "nosuch" not defined/);
});

test('formatTable: methods with arguments and the Label header', () => {
  const spec: TableSpec = { defaultFormat: 'table {{.Names}}', headers: { Names: 'NAMES', Labels: 'LABELS' } };
  const labels: Record<string, string> = { 'com.example.app-name': 'web' };
  const row = { Names: 'c1', Labels: 'com.example.app-name=web', Label: (k: string) => labels[k] ?? '' };
  assert.equal(
    formatTable([row], { ...spec, format: 'table {{.Names}}\t{{.Label "com.example.app-name"}}\t{{.Labels}}' }),
    'NAMES     app name   LABELS\nc1        web        com.example.app-name=web\n',
  );
  assert.equal(formatTable([row], { ...spec, format: '{{json .}}' }), '{"Labels":"com.example.app-name=web","Names":"c1"}\n');
  assert.equal(headerLabel('com.docker.compose.project'), 'project');
  assert.equal(headerLabel('my_label-x'), 'my label x');
});

test('formatTable: class instances as rows (getters and methods are fields)', () => {
  class Row {
    constructor(private readonly id: string) {}
    get ID() {
      return this.id.slice(0, 3);
    }
    Tag() {
      return 'v' + this.id.length;
    }
  }
  const spec: TableSpec = { defaultFormat: 'table {{.ID}}\t{{.Tag}}', headers: { ID: 'ID', Tag: 'TAG' } };
  assert.equal(formatTable([new Row('abcdef')], spec), 'ID        TAG\nabc       v6\n');
  assert.equal(formatTable([new Row('abcdef')], { ...spec, format: 'json' }), '{"ID":"abc","Tag":"v6"}\n');
});

test('resolveFormat', () => {
  assert.deepEqual(resolveFormat(undefined, 'table {{.ID}}'), { template: '{{.ID}}', table: true });
  assert.deepEqual(resolveFormat('json', 'table {{.ID}}'), { template: '{{json .}}', table: false });
  assert.deepEqual(resolveFormat('table   {{.A}}\\t{{.B}}\\n ', 'x'), { template: '{{.A}}\t{{.B}}\n', table: true });
});

test('truncateId', () => {
  assert.equal(truncateId('sha256:2327773b64dd1234567890abcdef1234567890abcdef1234567890abcdef1234'), '2327773b64dd');
  assert.equal(truncateId('2327773b64dd1234567890'), '2327773b64dd');
  assert.equal(truncateId('<missing>'), '<missing>');
  assert.equal(truncateId('abc'), 'abc');
});

test('jsonIndent / formatInspect', () => {
  assert.equal(jsonIndent({ Author: 'Jane Doe <jane@example.com>', Tags: [] }), '{\n    "Author": "Jane Doe <jane@example.com>",\n    "Tags": []\n}');
  assert.equal(jsonIndent({ a: '<' }, { escapeHTML: true }), '{\n    "a": "\\u003c"\n}');
  assert.equal(formatInspect([]), '[]\n');
  assert.equal(formatInspect([{ Id: 'x' }]), '[\n    {\n        "Id": "x"\n    }\n]\n');
});

test('statusString: daemon STATUS texts', () => {
  const now = Date.UTC(2026, 10, 28, 6, 12, 12);
  const ago = (ms: number) => new Date(now - ms);
  assert.equal(statusString({ state: 'running', startedAt: ago(3000) }, now), 'Up 3 seconds');
  assert.equal(statusString({ state: 'running', startedAt: ago(200) }, now), 'Up Less than a second');
  assert.equal(statusString({ state: 'paused', startedAt: ago(3000) }, now), 'Up 3 seconds (Paused)');
  assert.equal(statusString({ state: 'running', startedAt: ago(7200_000), health: 'healthy' }, now), 'Up 2 hours (healthy)');
  assert.equal(statusString({ state: 'running', startedAt: ago(1000), health: 'starting' }, now), 'Up 1 second (health: starting)');
  assert.equal(statusString({ state: 'exited', exitCode: 0, startedAt: ago(5000), finishedAt: ago(2000) }, now), 'Exited (0) 2 seconds ago');
  assert.equal(statusString({ state: 'exited', exitCode: 137, startedAt: ago(5000), finishedAt: ago(100) }, now), 'Exited (137) Less than a second ago');
  assert.equal(statusString({ state: 'restarting', exitCode: 1, startedAt: ago(5000), finishedAt: ago(2000) }, now), 'Restarting (1) 2 seconds ago');
  assert.equal(statusString({ state: 'created' }, now), 'Created');
  assert.equal(statusString({ state: 'exited', exitCode: 127, startedAt: '0001-01-01T00:00:00Z', finishedAt: ago(1) }, now), 'Created');
  assert.equal(statusString({ state: 'removing' }, now), 'Removal In Progress');
  assert.equal(statusString({ state: 'dead' }, now), 'Dead');
  assert.equal(statusString({ state: 'exited', startedAt: new Date(now - 90_000).toISOString(), finishedAt: ago(61_000) }, now), 'Exited (0) About a minute ago');
});

test('containerCommand / commandColumn', () => {
  assert.equal(containerCommand('sh', ['-c', 'exit 3']), "sh -c 'exit 3'");
  assert.equal(containerCommand('httpd', []), 'httpd');
  assert.equal(commandColumn("sh -c 'exit 3'"), '"sh -c \'exit 3\'"');
  assert.equal(commandColumn('httpd -f -p 80 -h /www'), '"httpd -f -p 80 -h /…"');
  assert.equal(commandColumn('nginx -g \'daemon off;\''), '"nginx -g \'daemon of…"');
  assert.equal(commandColumn('sh -c \'echo "a long line\''), '"sh -c \'echo \\"a long…"');
  assert.equal(commandColumn('echo 世界世界世界世界世界世界世界'), '"echo 世界世界世界世…"');
  assert.equal(commandColumn('httpd -f -p 80 -h /www', true), '"httpd -f -p 80 -h /www"');
});

test('displayablePorts', () => {
  assert.equal(displayablePorts([]), '');
  assert.equal(displayablePorts([{ PrivatePort: 80, Type: 'tcp' }]), '80/tcp');
  assert.equal(
    displayablePorts([
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
    ]),
    '0.0.0.0:18083->80/tcp, [::]:18083->80/tcp',
  );
  assert.equal(
    displayablePorts([
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 18083, Type: 'tcp' },
      { PrivatePort: 9000, Type: 'tcp' },
      { PrivatePort: 8000, Type: 'tcp' },
      { PrivatePort: 8001, Type: 'tcp' },
      { PrivatePort: 8002, Type: 'udp' },
      { IP: '127.0.0.1', PrivatePort: 8090, PublicPort: 8090, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 8091, PublicPort: 8091, Type: 'tcp' },
    ]),
    '8000-8001/tcp, 9000/tcp, 8002/udp, 127.0.0.1:8090-8091->8090-8091/tcp, 0.0.0.0:18083->80/tcp, [::]:18083->80/tcp',
  );
  assert.equal(
    displayablePorts([
      { PrivatePort: 9000, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 80, PublicPort: 32768, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 8090, PublicPort: 18090, Type: 'tcp' },
    ]),
    '9000/tcp, 127.0.0.1:32768->80/tcp, 127.0.0.1:18090->8090/tcp',
  );
});
