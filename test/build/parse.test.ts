/**
 * Dockerfile parsing, shell-word expansion and .dockerignore matching, checked against
 * BuildKit's rules (frontend/dockerfile/parser, shell/lex.go, moby/patternmatcher).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDockerfile, ParseError } from '../../src/build/parser.js';
import { processWord, processWords, processWordWithMatches } from '../../src/build/shell.js';
import { IgnoreMatcher, parseIgnoreFile } from '../../src/build/ignore.js';
import { parseStages } from '../../src/build/instructions.js';
import { mkdirIn, resolveChown, resolveIn } from '../../src/build/fsops.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ENV = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };

test('expansion: quotes, escapes and variables as BuildKit expands them', () => {
  const cases: Array<[string, string | Error]> = [
    ['hello', 'hello'], ["he'll'o", 'hello'], ["he'llo", Error()], ["he\\'llo", "he'llo"], ["he\\\\'llo", Error()],
    ['abc\\tdef', 'abctdef'], ['"abc\\tdef"', 'abc\\tdef'], ['"abc\\\\tdef"', 'abc\\tdef'], ["'abc\\tdef'", 'abc\\tdef'],
    ['hello\\', 'hello'], ['hello\\\\', 'hello\\'], ['"hello', Error()], ['"hello\\"', Error()], ['"hel\'lo"', "hel'lo"],
    ["'hello", Error()], ["'hello\\'", 'hello\\'], ['"\'\'"', "''"], ['$.', '$.'], ['he$1x', 'hex'], ['he$.x', 'he$.x'],
    ['he$pwd.', 'he.'], ['he$PWD', 'he/home'], ['he\\$PWD', 'he$PWD'], ['he\\\\$PWD', 'he\\/home'], ['"he\\$PWD"', 'he$PWD'],
    ['"he\\\\$PWD"', 'he\\/home'], ['\\${}', '${}'], ['he\\${}xx', 'he${}xx'], ['${}', Error()], ['he${}xx', Error()],
    ['he${hi}xx', 'hexx'], ['he${PWD}', 'he/home'], ['he${.}', Error()], ['he${XXX:-000}xx', 'he000xx'],
    ['he${PWD:-000}xx', 'he/homexx'], ['he${XXX:-$PWD}xx', 'he/homexx'], ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
    ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'], ['he${XXX:YYY}', Error()], ['he${XXX?}', Error()], ['he${XXX:?}', Error()],
    ['he${PWD?}', 'he/home'], ['he${NULL?}', 'he'], ['he${NULL:?}', Error()], ['he${XXX:+${PWD}}xx', 'hexx'],
    ['he${PWD:+${SHELL}}xx', 'hebashxx'], ['he${PWD:+000}xx', 'he000xx'], ["'he${XX}'", 'he${XX}'], ['"he${PWD}"', 'he/home'],
    ['"he\'$PWD\'"', "he'/home'"], ["'$PWD'", '$PWD'], ["'\\$PWD'", '\\$PWD'], ['he${PWD', Error()], ['he${PWD:=000}xx', Error()],
    ['he${PWD:+${PWD}:}xx', 'he/home:xx'], ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'], ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
    ['안\'녕\'하세요', '안녕하세요'], ['$KOREAN', '한국어'], ['${{aaa}', Error()], ['${aaa}}', '}'], ['${aaa:-bbb}}', 'bbb}'],
    ['${aaa:-bbb', Error()], ['${aaa:-bbb ${foo}', Error()], ['${aaa:-bbb {foo}', 'bbb {foo'], ['${:}', Error()], ['${:-bbb}', Error()],
    ['$1', ''], ['${1:-bbb}', 'bbb'], ['$999aaa', 'aaa'], ['${001:-bbb}aaa', 'bbbaaa'], ['$@@@', '@@'], ['${#:-bbb}', 'bbb'],
    ['$$', ''], ['${!}', ''], ['$0', ''], ['${0:-bbb}', 'bbb'],
  ];
  for (const [input, want] of cases) {
    if (want instanceof Error) assert.throws(() => processWord(input, ENV), Error, input);
    else assert.equal(processWord(input, ENV), want, input);
  }
});

test('expansion: -, +, ? with unset and empty values; pattern forms', () => {
  const env = { FOO: 'xxx', BAR: '' };
  assert.equal(processWord('${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', env), 'xxx  ccc');
  assert.equal(processWord('${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', env), 'xxx bbb ccc');
  assert.equal(processWord('${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', env), 'aaa bbb ');
  assert.equal(processWord('${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', env), 'aaa  ');
  assert.equal(processWord('${BAR?bbb}', env), '');
  assert.throws(() => processWord('${BAZ?ccc}', env), /BAZ: ccc/);
  assert.throws(() => processWord('${BAR:?bbb}', env), /BAR: bbb/);
  assert.throws(() => processWord('${FOO=aaa}', env));
  const p = (w: string, v: Record<string, string>) => processWord(w, v);
  assert.equal(p('${FOO#*x*y}', { FOO: 'xxyy' }), 'y');
  assert.equal(p('${FOO##*x}', { FOO: 'xxyy' }), 'yy');
  assert.equal(p('${FOO%%\\**}', { FOO: 'xx**' }), 'xx');
  assert.equal(p('${FOO%%\\**\\*}', { FOO: 'a***yy*' }), 'a');
  assert.equal(p('${FOO#?\\?}', { FOO: '???y' }), '?y');
  assert.equal(p('${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }), '.xxyy.');
  assert.equal(p('${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }), '/foo.*/*.txt - /foo..*.txt');
  assert.equal(p('${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }), '/tmp/bar.txt - /bar.txt');
  assert.equal(p('${FOO/$N/$R}', { FOO: 'http://google.de', N: 'http://', R: 'https://' }), 'https://google.de');
  assert.throws(() => p('${FOO//ww}', { FOO: 'xxyy' }));
  assert.equal(p('${FOO///}', { FOO: 'xxyy' }), 'xxyy');
  const m = processWordWithMatches('x ${FOO} ${UNUSED}', { FOO: 'y' });
  assert.equal(m.word, 'x y ');
  assert.deepEqual([...m.used], ['FOO']);
});

test('expansion into words: unquoted expansions split, quoted ones do not', () => {
  assert.deepEqual(processWords('a b "c d" $V', { V: 'e  f' }), ['a', 'b', 'c d', 'e', 'f']);
  assert.deepEqual(processWords('"$V"', { V: 'e  f' }), ['e  f']);
  assert.deepEqual(processWords("'' x", {}), ['x']);
});

test('parser: directives, continuations, comments, JSON and shell forms, flags', () => {
  const r = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    '# escape=`',
    '',
    '# escape=\\',
    'FROM busybox AS Build',
    'RUN echo a `',
    '  # a comment inside',
    '',
    '  && echo b',
    'COPY --chown=1:2 --from=build ["a b", "/c"]',
    'CMD ["sh", "-c"]',
    'ENTRYPOINT [bad json',
    'ENV A=1 B="two words" C',
    'ENV legacy value with spaces',
    'label x=y',
    'HEALTHCHECK --interval=5s CMD true',
    'ONBUILD RUN echo hi',
  ].join('\n').replace('ENV A=1 B="two words" C', 'ENV A=1 B="two words"'));
  assert.equal(r.escape, '`');
  assert.deepEqual(r.directives, { syntax: 'docker/dockerfile:1', escape: '`' });
  const [from, run, copy, cmd, ep, env, legacy, label, hc, ob] = r.nodes;
  assert.deepEqual(from!.args, ['busybox', 'AS', 'Build']);
  assert.equal(run!.args[0], 'echo a   && echo b');
  assert.equal(run!.startLine, 6);
  assert.deepEqual(copy!.flags, ['--chown=1:2', '--from=build']);
  assert.deepEqual(copy!.args, ['a b', '/c']);
  assert.ok(copy!.json);
  assert.deepEqual(cmd!.args, ['sh', '-c']);
  assert.equal(ep!.json, false);
  assert.deepEqual(ep!.args, ['[bad json']);
  assert.deepEqual(env!.args, ['A', '1', 'B', '"two words"']);
  assert.deepEqual(legacy!.args, ['legacy', 'value with spaces']);
  assert.equal(label!.cmd, 'label');
  assert.deepEqual(hc!.flags, ['--interval=5s']);
  assert.deepEqual(hc!.args, ['CMD', 'true']);
  assert.equal(ob!.sub!.cmd, 'run');
  assert.throws(() => parseDockerfile('# escape=x\nFROM a'), ParseError);
  assert.throws(() => parseDockerfile('# comment only\n'), /file with no instructions/);
});

test('parser: heredocs (with chomp and quoted terminators)', () => {
  const r = parseDockerfile('FROM a\nRUN <<EOF\necho $X\nEOF\nCOPY <<-"END" /f\n\tline\n\tEND\nRUN echo done\n');
  assert.equal(r.nodes.length, 4);
  assert.deepEqual(r.nodes[1]!.heredocs.map((h) => [h.name, h.content, h.expand]), [['EOF', 'echo $X\n', true]]);
  assert.deepEqual(r.nodes[2]!.heredocs.map((h) => [h.name, h.content, h.expand, h.chomp]), [['END', 'line\n', false, true]]);
  assert.throws(() => parseDockerfile('FROM a\nRUN <<EOF\necho\n'), /unterminated heredoc/);
});

test('instructions: BuildKit errors for bad Dockerfiles', () => {
  assert.throws(() => parseStages('FROM a\nRUN true\nFROBNICATE x\n'),
    { message: 'failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: FROBNICATE' });
  assert.throws(() => parseStages('FROM a b\n'), /FROM requires either one or three arguments/);
  assert.throws(() => parseStages('RUN x\n'), /no build stage in current context/);
  assert.throws(() => parseStages('FROM a\nSHELL sh -c\n'), /SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseStages('FROM a\nONBUILD ONBUILD RUN x\n'), /Chaining ONBUILD/);
  assert.throws(() => parseStages('FROM a\nCOPY --bogus=1 a b\n'), /unknown flag: bogus/);
  const p = parseStages('ARG V=1\nFROM a AS one\nRUN x\nFROM one\nCOPY --from=one /x /y\n');
  assert.equal(p.metaArgs.length, 1);
  assert.deepEqual(p.stages.map((s) => [s.name, s.commands.length]), [['one', 1], ['', 1]]);
});

test('.dockerignore: Docker matching with **, ! exceptions, parents and cleaning', () => {
  const m = new IgnoreMatcher(parseIgnoreFile([
    '# comment', '', '  *.log  ', 'build/', '!build/keep.txt', '**/node_modules', '/abs/../docs', 'sec?et', 'a/**/z', '[ab]c',
  ].join('\n')));
  const yes = ['x.log', 'build', 'build/out.o', 'node_modules', 'a/b/node_modules', 'a/b/node_modules/x/y', 'docs/readme', 'secret', 'a/z', 'a/b/c/z', 'ac', 'bc'];
  const no = ['dir/x.log', 'build/keep.txt', 'src/main.c', 'secrets', 'abs', 'cc', 'a/zz'];
  for (const p of yes) assert.equal(m.matches(p), true, p);
  for (const p of no) assert.equal(m.matches(p), false, p);
  assert.ok(m.mayReinclude('build'));
  const all = new IgnoreMatcher(parseIgnoreFile('*\n!src\n'));
  assert.equal(all.matches('README'), true);
  assert.equal(all.matches('src'), false);
  assert.equal(all.matches('src/a.c'), false);
  assert.deepEqual(parseIgnoreFile('./a/../b/\n!/c\n'), ['b', '!c']);
});

test('COPY paths resolve inside the rootfs: absolute and relative symlinks never lead out', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-rootfs-'));
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-outside-'));
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
    fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nstaff:x:50:\n');
    fs.symlinkSync(outside, path.join(root, 'abs'));           // absolute: resolves under root
    fs.symlinkSync('../../../..', path.join(root, 'up'));      // climbs: stops at root
    fs.symlinkSync('etc', path.join(root, 'rel'));
    assert.equal(resolveIn(root, '/abs/x'), path.join(root, outside, 'x'));
    assert.equal(resolveIn(root, '/up/etc/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(resolveIn(root, '/rel/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(resolveIn(root, '/rel', false), path.join(root, 'rel'));
    const made = mkdirIn(root, '/abs/new/dir');
    assert.ok(made.startsWith(root + '/'));
    assert.deepEqual(fs.readdirSync(outside), []);
    // --chown: names from the rootfs's files; a user alone takes its primary group
    assert.deepEqual(resolveChown(root, 'app'), { uid: 1000, gid: 1001 });
    assert.deepEqual(resolveChown(root, 'app:staff'), { uid: 1000, gid: 50 });
    assert.deepEqual(resolveChown(root, '7:8'), { uid: 7, gid: 8 });
    assert.deepEqual(resolveChown(root, '7'), { uid: 7, gid: 7 });
    assert.throws(() => resolveChown(root, 'nobody'), /no such user: nobody/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

test('context checksums: the same with the one-call directory listing and with readdir + lstat; content and mode count, mtimes do not; saved hashes are reused', async (t) => {
  const { Context } = await import('../../src/build/fsops.js');
  const { linuxSys } = await import('../../src/sys/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ctx-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'src', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'a\n');
  fs.writeFileSync(path.join(dir, 'src', 'deep', 'b.txt'), 'b\n');
  fs.writeFileSync(path.join(dir, 'skip.log'), 'x\n');
  fs.symlinkSync('a.txt', path.join(dir, 'src', 'l'));
  const hashes = path.join(dir, '..', `${path.basename(dir)}.hashes`);
  t.after(() => fs.rmSync(hashes, { force: true }));
  const ignore = new IgnoreMatcher(['*.log']);
  const sums = (): string[] => {
    const listed = new Context(dir, ignore, hashes, (d) => linuxSys.lstatDir(d));
    const plain = new Context(dir, ignore);
    const r = [listed.checksum('.'), plain.checksum('.'), listed.checksum('src')];
    listed.save();
    assert.equal(r[0], r[1]);
    return r;
  };
  const first = sums();
  assert.deepEqual(sums(), first);
  // the directories listed ahead on the thread pool: the same
  const ahead = new Context(dir, ignore, hashes, (d) => linuxSys.lstatDir(d), (d) => linuxSys.lstatDirAsync(d));
  ahead.prefetch();
  await ahead.settled();
  assert.equal(ahead.checksum('.'), first[0]);
  // made ahead, then dropped (a step ran meanwhile): the checksum sees what changed since
  const stale = new Context(dir, ignore, hashes, (d) => linuxSys.lstatDir(d), (d) => linuxSys.lstatDirAsync(d));
  stale.prefetch();
  await stale.settled();
  fs.writeFileSync(path.join(dir, 'src', 'deep', 'b.txt'), 'b, longer\n');
  stale.dropPrefetched();
  assert.notEqual(stale.checksum('.'), first[0]);
  fs.writeFileSync(path.join(dir, 'src', 'deep', 'b.txt'), 'b\n');
  fs.writeFileSync(path.join(dir, 'skip.log'), 'changed\n');
  const later = new Date(Date.now() + 60000);
  fs.utimesSync(path.join(dir, 'src', 'deep', 'b.txt'), later, later);
  assert.deepEqual(sums(), first, 'an ignored file and a new mtime change nothing');
  // a file rewritten with the same size and a saved hash for its old stat: read again
  fs.writeFileSync(path.join(dir, 'src', 'deep', 'b.txt'), 'B\n');
  const changed = sums();
  assert.notEqual(changed[0], first[0]);
  assert.notEqual(changed[2], first[2]);
  fs.chmodSync(path.join(dir, 'src', 'a.txt'), 0o600);
  assert.notEqual(sums()[0], changed[0]);
});
