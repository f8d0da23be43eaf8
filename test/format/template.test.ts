import { test } from 'node:test';
import assert from 'node:assert/strict';

import { goStruct, parseTemplate, renderTemplate, TemplateError } from '../../src/format/index.js';
import { isStrataError } from '../../src/base/errors.js';

const image = {
  ID: 'sha256:2327773b64dd1234567890abcdef1234567890abcdef1234567890abcdef1234',
  Repository: 'busybox',
  Tag: 'latest',
  RepoTags: ['bbox:latest', 'bbox:v1'],
  Size: 1982436,
  Author: 'Jane Doe <jane@example.com>',
  Config: {
    Cmd: ['httpd', '-f'],
    Env: ['A=1', 'B=2'],
    Entrypoint: null,
    Labels: { b: '2', a: '1' },
    ExposedPorts: { '80/tcp': {} },
    WorkingDir: '/www',
  },
  State: 'running',
  Count: 3,
};

function run(src: string, data: unknown = image): string {
  return renderTemplate(src, data);
}

function fails(src: string, message: string, data: unknown = image): void {
  assert.throws(
    () => run(src, data),
    (e: unknown) => {
      assert.ok(e instanceof TemplateError, `expected TemplateError, got ${String(e)}`);
      assert.ok(isStrataError(e, 'invalid_argument'));
      assert.equal(e.message, message);
      return true;
    },
  );
}

const cases: Array<[string, string, unknown?]> = [
  // Docker-typical formats
  ['{{.ID}}', image.ID],
  ['{{.Repository}}:{{.Tag}}', 'busybox:latest'],
  ['{{range .RepoTags}}{{.}} {{end}}', 'bbox:latest bbox:v1 '],
  ['{{index .Config.Labels "a"}}', '1'],
  ['{{if eq .State "running"}}up{{else}}down{{end}}', 'up'],
  ['{{printf "%.12s" .ID}}', 'sha256:23277'],
  ['{{.Config.Cmd}}', '[httpd -f]'],
  ['{{json .Config.Cmd}}', '["httpd","-f"]'],
  [
    '{{json .Config}}',
    '{"Cmd":["httpd","-f"],"Env":["A=1","B=2"],"Entrypoint":null,"Labels":{"b":"2","a":"1"},"ExposedPorts":{"80/tcp":{}},"WorkingDir":"/www"}',
  ],
  ['{{json .Config.Labels}}', '{"b":"2","a":"1"}'],
  ['{{.Config.Labels}}', 'map[a:1 b:2]'],
  ['{{.Config.ExposedPorts}}', 'map[80/tcp:map[]]'],
  ['{{.Config.Env}}', '[A=1 B=2]'],
  ['{{.Size}}', '1982436'],
  ['{{json .Author}}', '"Jane Doe <jane@example.com>"'],
  ['{{.Author}}', 'Jane Doe <jane@example.com>'],
  // missing keys and nil
  ['{{.Config.Nope}}', '<no value>'],
  ['{{.Config.Labels.zz}}', '<no value>'],
  ['{{index .Config.Labels "zz"}}|', '|'],
  ['{{.Config.Entrypoint}}', '<nil>'],
  ['{{if .Config.Nope}}y{{else}}n{{end}}', 'n'],
  // variables, range forms
  ['{{range $i, $v := .RepoTags}}{{$i}}={{$v}};{{end}}', '0=bbox:latest;1=bbox:v1;'],
  ['{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}', 'a=1,b=2,'],
  ['{{range $v := .RepoTags}}<{{$v}}>{{end}}', '<bbox:latest><bbox:v1>'],
  ['{{range .Config.Entrypoint}}x{{else}}empty{{end}}', 'empty'],
  ['{{range .Nothing}}x{{else}}none{{end}}', 'none'],
  ['{{range .Count}}{{.}}{{end}}', '012'],
  ['{{range .RepoTags}}{{if eq . "bbox:v1"}}{{break}}{{end}}{{.}};{{end}}', 'bbox:latest;'],
  ['{{range .RepoTags}}{{if eq . "bbox:latest"}}{{continue}}{{end}}{{.}}{{end}}', 'bbox:v1'],
  ['{{$x := 5}}{{$x}}{{$x = 6}} {{$x}}', '5 6'],
  ['{{$n := .Repository}}{{range .RepoTags}}{{$n}}/{{.}} {{end}}', 'busybox/bbox:latest busybox/bbox:v1 '],
  ['{{range .RepoTags}}{{$.Repository}} {{end}}', 'busybox busybox '],
  // with / if / else if
  ['{{with .Config}}{{.WorkingDir}}{{end}}', '/www'],
  ['{{with .Config.Nope}}x{{else}}no{{end}}', 'no'],
  ['{{with .Nope}}a{{else with .Tag}}{{.}}{{end}}', 'latest'],
  ['{{if .Nope}}a{{else if .Count}}b{{else}}c{{end}}', 'b'],
  ['{{if and .Count (gt .Count 2)}}big{{end}}', 'big'],
  ['{{if or .Nope .Tag}}yes{{end}}', 'yes'],
  ['{{if not .Nope}}yes{{end}}', 'yes'],
  // pipelines, parentheses, literals
  ['{{.Count | printf "%05d"}}', '00003'],
  ['{{.Repository | upper | lower}}', 'busybox'],
  ['{{(index .RepoTags 1)}}', 'bbox:v1'],
  ['{{(index .Config.Cmd 0) | len}}', '5'],
  ['{{"a\\tb"}}|{{`raw\\t`}}|{{\'x\'}}|{{0x1F}}|{{1.5}}|{{true}}', 'a\tb|raw\\t|120|31|1.5|true'],
  // trim markers and comments
  ['a  {{- .Tag -}}  b', 'alatestb'],
  ['{{- /* a comment */ -}}\n  x', 'x'],
  ['x {{/* c */}} y', 'x  y'],
  ['{{-3}}', '-3'],
  // builtins
  ['{{len .RepoTags}} {{len "héllo"}} {{len .Config.Labels}}', '2 6 2'],
  ['{{slice .ID 7 19}}', '2327773b64dd'],
  ['{{index .RepoTags 1}}', 'bbox:v1'],
  ['{{print 1 2 "a" 3 "b" "c"}}', '1 2a3bc'],
  ['{{println "x" 1}}', 'x 1\n'],
  ['{{and 1 0 2}} {{or 0 "" "x"}} {{and 1 2}}', '0 x 2'],
  ['{{eq 1 2 3 1}} {{ne "a" "b"}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', 'true true true true true false'],
  ['{{html "<a href=\'x\'>&</a>"}}', '&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;'],
  ['{{js "it\'s <b>\\"q\\"</b>="}}', 'it\\\'s \\u003Cb\\u003E\\"q\\"\\u003C/b\\u003E\\u003D'],
  ['{{urlquery "a b&c=d/é"}}', 'a+b%26c%3Dd%2F%C3%A9'],
  // docker functions
  ['{{join .RepoTags ", "}}', 'bbox:latest, bbox:v1'],
  ['{{split "a,b,c" ","}}', '[a b c]'],
  ['{{upper "abc"}} {{lower "ABC"}} {{title "hello wide-world"}}', 'ABC abc Hello Wide-World'],
  ['{{pad .Tag 2 1}}|{{pad "" 2 1}}|', '  latest ||'],
  ['{{truncate .ID 10}}', 'sha256:232'],
  ['{{json .}}', '{"a":[1,2.5,null,true],"b":"x<y"}', { a: [1, 2.5, null, true], b: 'x<y' }],
  // printf verbs
  ['{{printf "%d|%5d|%-5d|%x|%X|%o|%b|%c|%q|%U" 42 42 42 255 255 8 5 65 65 65}}', '42|   42|42   |ff|FF|10|101|A|\'A\'|U+0041'],
  ['{{printf "%s|%q|%v|%x|%10s|%-10s|%.2s" "hi" "a\\"b" "v" "hi" "r" "l" "héllo"}}', 'hi|"a\\"b"|v|6869|         r|l         |hé'],
  ['{{printf "%f|%.2f|%8.3f|%e|%g|%v|%v" 3.14159 3.14159 3.14159 1234.5678 0.000012345 1.5 100000000.5}}', '3.141590|3.14|   3.142|1.234568e+03|1.2345e-05|1.5|1.000000005e+08'],
  ['{{printf "%t %v %%" true false}}', 'true false %'],
  ['{{printf "%s %d"  "x"}}', 'x %!d(MISSING)'],
  ['{{printf "%d" "x"}}', '%!d(string=x)'],
  ['{{printf "%s" 1 2}}', '%!s(int=1)%!(EXTRA int=2)'],
  ['{{printf "%v %s" .Nope .Nope}}', '<nil> %!s(<nil>)'],
  ['{{printf "%v" .Config.Cmd}} {{printf "%q" .Config.Cmd}}', '[httpd -f] ["httpd" "-f"]'],
  ['{{printf "%+d|% d|%05.1f|%+.1e" 5 5 2.25 12345.678}}', '+5| 5|002.2|+1.2e+04'],
  // method-like fields
  ['{{.Label "com.x"}}|{{.Upper}}', 'v=com.x|UP', { Label: (k: string) => `v=${k}`, Upper: () => 'UP' }],
  ['{{.Get.Name}}', 'n', { Get: () => ({ Name: 'n' }) }],
  ['{{call .F 2 3}}', '5', { F: (a: number, b: number) => a + b }],
  // Maps and class instances
  ['{{.k}} {{range $k, $v := .}}{{$k}}{{end}}', '1 ak', new Map<string, unknown>([['k', 1], ['a', 2]])],
  ['{{.}}', '{x 2}', goStruct({ A: 'x', B: 2 }, 'T')],
  ['{{.Name}} {{.Hello "you"}}', 'c hi you', new (class C { Name = 'c'; Hello(s: string) { return `hi ${s}`; } })()],
  // Multi-line templates
  ['{{.Tag}}\n{{.Repository}}\n', 'latest\nbusybox\n'],
];

for (const [src, want, data] of cases) {
  test(`template ${JSON.stringify(src)}`, () => {
    assert.equal(run(src, data === undefined ? image : data), want);
  });
}

test('template: parse errors use Go wording behind docker\'s prefix', () => {
  fails('{{nosuch}}', 'template parsing error: template: :1: function "nosuch" not defined');
  fails('{{.ID', 'template parsing error: template: :1: unclosed action');
  fails('{{.ID}', "template parsing error: template: :1: bad character U+007D '}'");
  fails('{{end}}', 'template parsing error: template: :1: unexpected {{end}}');
  fails('{{if .ID}}x', 'template parsing error: template: :1: unexpected EOF');
  fails('{{if}}{{end}}', 'template parsing error: template: :1: missing value for if');
  fails('{{$x}}', 'template parsing error: template: :1: undefined variable "$x"');
  fails('{{break}}', 'template parsing error: template: :1: {{break}} outside {{range}}');
  fails('{{/* x */ .ID}}', 'template parsing error: template: :1: comment ends before closing delimiter');
  fails('{{"abc}}', 'template parsing error: template: :1: unterminated quoted string');
  fails('line1\n{{.A | 3}}', 'template parsing error: template: :2: non executable command in pipeline stage 2');
  fails('{{.A #}}', 'template parsing error: template: :1: unexpected "#" in operand');
  fails('{{3x}}', 'template parsing error: template: :1: bad number syntax: "3x"');
});

test('template: execution errors use Go wording and positions', () => {
  fails('{{nil}}', 'template parsing error: template: :1:2: executing "" at <nil>: nil is not a command');
  fails(
    '{{index .RepoTags 5}}',
    'template parsing error: template: :1:2: executing "" at <index .RepoTags 5>: error calling index: index out of range: 5',
  );
  fails(
    '{{slice .Config.Cmd 3}}',
    'template parsing error: template: :1:2: executing "" at <slice .Config.Cmd 3>: error calling slice: index out of range: 3',
  );
  fails('{{len 1 2}}', 'template parsing error: template: :1:2: executing "" at <len>: wrong number of args for len: want 1 got 2');
  fails('{{.Config.Cmd | join}}', 'template parsing error: template: :1:16: executing "" at <join>: wrong number of args for join: want 2 got 1');
  fails('{{upper 5}}', 'template parsing error: template: :1:8: executing "" at <5>: expected string; found 5');
  fails('{{upper .Count}}', 'template parsing error: template: :1:8: executing "" at <.Count>: wrong type for value; expected string; got int');
  fails('{{.ID.Foo}}', 'template parsing error: template: :1:5: executing "" at <.ID.Foo>: can\'t evaluate field Foo in type string');
  fails('{{.Config.Entrypoint.X}}', 'template parsing error: template: :1:9: executing "" at <.Config.Entrypoint.X>: nil pointer evaluating interface {}.X');
  fails(
    '{{.Nope}}',
    'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.imageContext',
    goStruct({ ID: 'x' }, '*formatter.imageContext'),
  );
  fails('{{.Tag "x"}}', 'template parsing error: template: :1:2: executing "" at <.Tag>: Tag is not a method but has arguments');
  fails('{{eq .Config.Cmd 1}}', 'template parsing error: template: :1:2: executing "" at <eq .Config.Cmd 1>: error calling eq: incompatible types for comparison');
  fails('{{eq .Config.Cmd .Config.Env}}', 'template parsing error: template: :1:2: executing "" at <eq .Config.Cmd .Config.Env>: error calling eq: non-comparable type [A=1 B=2]: []string');
  fails('{{call .Config.Cmd}}', 'template parsing error: template: :1:2: executing "" at <call .Config.Cmd>: error calling call: non-function .Config.Cmd of type []string');
  fails('{{lt 1 "a"}}', 'template parsing error: template: :1:2: executing "" at <lt 1 "a">: error calling lt: incompatible types for comparison');
  fails('{{range .Tag}}{{end}}', 'template parsing error: template: :1:8: executing "" at <.Tag>: range can\'t iterate over latest');
  fails('{{.F}}', 'template parsing error: template: :1:2: executing "" at <.F>: error calling F: boom', { F: () => { throw new Error('boom'); } });
});

test('template: a parsed template can run many times, with extra functions', () => {
  const t = parseTemplate('{{shout .}}', { funcs: { shout: (s: string) => s.toUpperCase() + '!' } });
  assert.equal(t.execute('a'), 'A!');
  assert.equal(t.execute('b'), 'B!');
  assert.equal(t.execute('c', { shout: (s: string) => `<${s}>` }), '<c>');
});

test('template: tryExecute returns partial output with the error', () => {
  const r = parseTemplate('a{{.X}}b{{.Y.Z}}c').tryExecute({ X: 1, Y: null });
  assert.equal(r.output, 'a1b');
  assert.ok(r.error instanceof TemplateError);
  assert.match(r.error!.detail, /nil pointer evaluating interface \{\}\.Z/);
});

test('template: number formatting follows Go %v', () => {
  assert.equal(run('{{.}}', 1e21), '1000000000000000000000');
  assert.equal(run('{{.}}', 0.1), '0.1');
  assert.equal(run('{{.}}', 1234567.5), '1.2345675e+06');
  assert.equal(run('{{.}}', 0.00001), '1e-05');
  assert.equal(run('{{.}}', -2.5), '-2.5');
  assert.equal(run('{{.}}', 12n), '12');
  assert.equal(run('{{.}}', Infinity), '+Inf');
  assert.equal(run('{{.}}', NaN), 'NaN');
  assert.equal(run('{{.}}', [1, 'a', null, [true]]), '[1 a <nil> [true]]');
  assert.equal(run('{{.}}', { z: { y: 1 }, a: [] }), 'map[a:[] z:map[y:1]]');
  assert.equal(run('{{.}}', new Date(Date.UTC(2023, 10, 14, 22, 13, 20))), '2023-11-14 22:13:20 +0000 UTC');
});
