import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { containerRoot, strata, strataOk, mountsUnder, CLI, PROJECT } from '../helpers.js';

describe('containers on runc + overlay', () => {
  let root: string;
  const ctx = { hooks: [] as (() => void)[], after(fn: () => void) { this.hooks.push(fn); } };
  before(() => { root = containerRoot(ctx); });
  after(() => { for (const h of ctx.hooks.reverse()) h(); });

  test('exec on the CLI\'s own stdio: stdin only with -i, stdout and stderr apart, the exit status, 128+N for a signal', () => {
    strataOk(root, ['run', '-d', '--name', 'io', 'busybox', 'sleep', '1000']);
    assert.equal(strataOk(root, ['exec', '-i', 'io', 'cat'], { input: 'piped\n' }), 'piped\n');
    assert.equal(strataOk(root, ['exec', 'io', 'cat'], { input: 'not read\n' }), '', 'without -i, stdin is /dev/null');
    const r = strata(root, ['exec', '-e', 'X=1', 'io', 'sh', '-c', 'echo out $X; echo err >&2; exit 3']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out 1\n', 'err\n']);
    assert.equal(strata(root, ['exec', 'io', 'sh', '-c', 'kill -9 $$']).code, 137);
    const bad = strata(root, ['exec', '-w', '/nope', 'io', 'true']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stderr, 'Error: OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd ("/nope") set in config.json failed: no such file or directory: unknown\n');
    // the CLI became strata-exec (execve): each exec left its record and its exit status beside
    // the bundle, nothing else, and wrote nothing to the database; the next reader of the records
    // moves them in
    const dir = path.join(root, 'containers', strataOk(root, ['inspect', '-f', '{{.Id}}', 'io']).trim());
    const left = fs.readdirSync(dir).filter((f) => f.startsWith('exec-'));
    const ids = new Set(left.map((f) => f.replace(/\.(json|exit)$/, '')));
    assert.ok(left.length === 10 && ids.size === 5 && left.every((f) => /^exec-[0-9a-f]{64}\.(json|exit)$/.test(f)), left.join(' '));
    assert.ok(left.every((f) => (fs.statSync(path.join(dir, f)).mode & 0o777) === 0o600), 'owner only: a record holds the exec\'s environment');
    const before = new Database(path.join(root, 'strata.db'), { readonly: true });
    try {
      assert.equal((before.prepare('SELECT count(*) AS n FROM execs').get() as { n: number }).n, 0);
    } finally {
      before.close();
    }
    assert.match(strataOk(root, ['commit', '--dockerfile', 'io']), /echo out \$X; echo err >&2; exit 3/);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('exec-')), []);
    const db = new Database(path.join(root, 'strata.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT argv, exit_code, running FROM execs ORDER BY created').all() as { argv: string; exit_code: number | null; running: number }[];
      assert.deepEqual(rows.map((r) => [JSON.parse(r.argv)[0], r.exit_code, r.running]), [['cat', 0, 0], ['cat', 0, 0], ['sh', 3, 0], ['sh', 137, 0], ['true', 127, 0]]);
    } finally {
      db.close();
    }
    // a command that is missing or cannot run: looked up inside the container, in Docker's words
    // and with its status, through strata-exec as through runc
    const cases: Array<[string, number, string]> = [
      ['nosuchcmd', 127, 'exec: "nosuchcmd": executable file not found in $PATH'],
      ['/nope', 127, 'exec: "/nope": stat /nope: no such file or directory'],
      ['/etc/passwd', 126, 'exec: "/etc/passwd": permission denied'],
      ['/bin', 126, 'exec: "/bin": permission denied'],
    ];
    for (const runtime of ['native', 'runc']) {
      for (const [cmd, code, detail] of cases) {
        const f = strata(root, ['exec', 'io', cmd], { env: runtime === 'runc' ? { STRATA_EXEC_RUNTIME: 'runc' } : {} });
        assert.deepEqual([f.code, f.stdout, f.stderr], [code, '', `Error: OCI runtime exec failed: exec failed: unable to start container process: ${detail}: unknown\n`], `${runtime} ${cmd}`);
      }
    }
    // the files stay few without a commit: the exec that finds 64 records moves them in first
    const records = () => fs.readdirSync(dir).filter((f) => /^exec-[0-9a-f]{64}\.json$/.test(f)).length;
    const rowCount = () => {
      const d = new Database(path.join(root, 'strata.db'), { readonly: true });
      try { return (d.prepare('SELECT count(*) AS n FROM execs').get() as { n: number }).n; } finally { d.close(); }
    };
    assert.equal(records(), 4, 'the four failures above, through strata-exec');
    const rowsBefore = rowCount();
    for (let i = 0; i < 62; i++) strataOk(root, ['exec', 'io', 'true']);
    assert.equal(records(), 2);
    assert.equal(rowCount(), rowsBefore + 64);
    strataOk(root, ['rm', '-f', 'io']);
  });

  test('a container that ended leaves no cgroup and no runtime state', () => {
    const cgroupsOf = (id: string) => fs.readdirSync('/sys/fs/cgroup').filter((h) => fs.existsSync(path.join('/sys/fs/cgroup', h, 'strata', id)));
    const runcState = (id: string) => fs.readdirSync('/run').filter((d) => d.startsWith('strata-')).some((d) => fs.existsSync(path.join('/run', d, 'runc', id)));
    const id = strataOk(root, ['run', '-d', '--name', 'ends', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']).trim();
    assert.ok(cgroupsOf(id).length > 0, 'running: in its cgroups');
    strataOk(root, ['stop', 'ends']);
    assert.deepEqual(cgroupsOf(id), [], 'stopped: its cgroups are gone');
    assert.equal(runcState(id), false, 'stopped: runc\'s state is gone');
    strataOk(root, ['rm', 'ends']);
  });

  test('the seed loop: run -d, exec writes a file, stop, start: the file stays; rm -f leaves nothing', () => {
    const id = strataOk(root, ['run', '-d', '--name', 'web', 'busybox']).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    strataOk(root, ['exec', 'web', 'sh', '-c', 'echo hi > /www/index.html']);
    assert.match(strataOk(root, ['ps']), /web\n$/);
    assert.match(strataOk(root, ['ps', '--format', '{{.Status}}']), /^Up /);
    assert.equal(strataOk(root, ['stop', '-t', '1', 'web']).trim(), 'web');
    assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Status}}']), /^Exited \(137\) /);
    assert.deepEqual(mountsUnder(root), [], 'rootfs unmounted after stop');
    strataOk(root, ['start', 'web']);
    assert.equal(strataOk(root, ['exec', 'web', 'cat', '/www/index.html']), 'hi\n');
    const st = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .State}}', 'web']));
    assert.equal(st.Status, 'running');
    assert.ok(st.Pid > 0);
    strataOk(root, ['rm', '-f', 'web']);
    assert.equal(strataOk(root, ['ps', '-aq']), '');
    assert.deepEqual(mountsUnder(root), []);
    assert.deepEqual(fs.readdirSync(path.join(root, 'containers')), []);
    const runcRoot = execFileSync('sh', ['-c', `ls /run/strata-*/runc 2>/dev/null || true`]).toString();
    assert.doesNotMatch(runcRoot, new RegExp(id));
  });

  test('isolation from inside: capabilities, seccomp, mount denied, masked and read-only /proc', () => {
    const out = strataOk(root, ['run', '--rm', 'busybox', 'sh', '-c',
      'grep CapEff /proc/self/status; grep "^Seccomp:" /proc/self/status; ' +
      'mkdir -p /mnt; mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED || echo mount-denied; ' +
      '(cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable) || echo kcore-unreadable; ' +
      '(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo procsys-writable || echo procsys-ro; ' +
      'ls /dev | tr "\\n" " "; echo; hostname; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.match(out, /CapEff:\s+00000000a80425fb/);
    assert.match(out, /Seccomp:\s+2/);
    assert.match(out, /mount-denied/);
    assert.match(out, /kcore-unreadable/);
    assert.match(out, /procsys-ro/);
    const devs = out.split('\n').find((l) => l.includes('null'))!.trim().split(' ').sort();
    for (const d of ['full', 'null', 'ptmx', 'pts', 'random', 'shm', 'tty', 'urandom', 'zero']) assert.ok(devs.includes(d), `/dev/${d}`);
    assert.ok(!devs.includes('sda') && !devs.includes('vda'), `no host disks in /dev: ${devs.join(' ')}`);
    assert.match(out, /\nsh -c /, 'pid 1 is the container command');
    const priv = strataOk(root, ['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'grep "^Seccomp:" /proc/self/status; mkdir -p /mnt; mount -t tmpfs none /mnt && echo MOUNTED']);
    assert.match(priv, /Seccomp:\s+0/);
    assert.match(priv, /MOUNTED/);
    const dropped = strataOk(root, ['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE', 'busybox', 'grep', 'CapEff', '/proc/self/status']);
    assert.match(dropped, /CapEff:\s+0000000000000400/);
  });

  test('foreground run: exit codes, stdio, -e/-w/-u, --read-only, limits', () => {
    let r = strata(root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    r = strata(root, ['run', '--rm', 'busybox', 'nosuchcmd']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /exec: "nosuchcmd": executable file not found in \$PATH/);
    assert.equal(strataOk(root, ['ps', '-aq']), '', 'a failed run leaves no container');
    assert.deepEqual(mountsUnder(root), []);
    const env = strataOk(root, ['run', '--rm', '-e', 'A=1', '-w', '/tmp', '-u', 'nobody', '--hostname', 'box', 'busybox', 'sh', '-c', 'echo $A; pwd; id -u; hostname']);
    assert.equal(env, '1\n/tmp\n65534\nbox\n');
    r = strata(root, ['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    const lim = strataOk(root, ['run', '--rm', '-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
    assert.match(lim, /^67108864\n50\n$/);
    assert.equal(strataOk(root, ['run', '--rm', '-i', 'busybox', 'cat'], { input: 'piped\n' }), 'piped\n');
  });

  test('bad input: Docker wording, non-zero exit, nothing half-created', () => {
    strataOk(root, ['create', '--name', 'taken', 'busybox']);
    const cases: [string[], RegExp, number?][] = [
      [['run', '--pull', 'never', 'nosuchimage'], /No such image: nosuchimage:latest/, 125],
      [['run', '--name', 'taken', 'busybox'], /Conflict\. The container name "\/taken" is already in use by container "[a-f0-9]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\./, 125],
      [['exec', 'taken', 'true'], /Container [a-f0-9]{64} is not running/],
      [['run', '-v', 'relative:dir', 'busybox'], /invalid volume specification: 'relative:dir'/, 125],
      [['run', '-m', 'lots', 'busybox'], /invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'/, 125],
      [['run', '-p', '99999:80', 'busybox'], /Invalid hostPort: 99999/, 125],
      [['run', '-p', 'abc', 'busybox'], /Invalid containerPort: abc/, 125],
      [['run', '--network', 'nosuchnet', 'busybox'], /network nosuchnet not found/, 125],
      [['rm', 'nosuch'], /^Error: No such container: nosuch$/],
      [['stop', 'nosuch'], /No such container: nosuch/],
      [['run', '--restart', 'sometimes', 'busybox'], /invalid restart policy format/, 125],
    ];
    for (const [args, re, code] of cases) {
      const r = strata(root, args);
      assert.notEqual(r.code, 0, args.join(' '));
      if (code !== undefined) assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim(), re, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    assert.deepEqual(strataOk(root, ['ps', '-a', '--format', '{{.Names}}']).trim().split('\n'), ['taken']);
    assert.deepEqual(mountsUnder(root), []);
    strataOk(root, ['rm', 'taken']);
  });

  test('ps, logs, wait, rename, pause/unpause, top, restart, kill', () => {
    strataOk(root, ['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'echo one; echo two >&2; echo three; trap "exit 0" TERM; while true; do sleep 0.1; done']);
    const deadline = Date.now() + 5000;
    while (!strataOk(root, ['logs', 'talker']).includes('three') && Date.now() < deadline) execFileSync('sleep', ['0.1']);
    const logs = strata(root, ['logs', 'talker']);
    assert.equal(logs.stdout, 'one\nthree\n');
    assert.equal(logs.stderr, 'two\n');
    const tail = strata(root, ['logs', '--tail', '1', 'talker']);
    assert.equal((tail.stdout + tail.stderr).split('\n').filter(Boolean).length, 1, 'one line (stdout and stderr interleave in any order, as in Docker)');
    assert.match(strataOk(root, ['logs', '-t', 'talker']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one$/m);
    strataOk(root, ['rename', 'talker', 'speaker']);
    strataOk(root, ['pause', 'speaker']);
    assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Status}} {{.State}}']), /^speaker Up .* \(Paused\) paused$/m);
    assert.match(strata(root, ['exec', 'speaker', 'true']).stderr, /is paused, unpause the container before exec/);
    strataOk(root, ['unpause', 'speaker']);
    const top = strataOk(root, ['top', 'speaker']);
    assert.match(top.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.match(top, /sh -c echo one/);
    strataOk(root, ['restart', '-t', '5', 'speaker']);
    assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.State}}']), /^speaker running$/m);
    strataOk(root, ['kill', '-s', 'TERM', 'speaker']);
    assert.equal(strataOk(root, ['wait', 'speaker']).trim(), '0');
    assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^speaker Exited \(0\) /m);
    assert.match(strataOk(root, ['ps', '-l', '--format', '{{.Names}}']), /^speaker$/m);
    assert.match(strataOk(root, ['container', 'prune', '-f']), /Deleted Containers:\n[a-f0-9]{64}\n/);
    assert.equal(strataOk(root, ['ps', '-aq']), '');
  });

  test('volumes: named and anonymous, contents outside the container layer, cp and export', () => {
    strataOk(root, ['run', '-d', '--name', 'vols', '-v', 'named:/data', '-v', '/anon', 'busybox']);
    strataOk(root, ['exec', 'vols', 'sh', '-c', 'echo kept > /data/f; echo anon > /anon/g; echo layer > /www/l']);
    const vols = strataOk(root, ['volume', 'ls', '-q']).trim().split('\n');
    assert.equal(vols.length, 2);
    assert.ok(vols.includes('named'));
    const upper = JSON.parse(strataOk(root, ['inspect', '--format', '{{json .GraphDriver.Data}}', 'vols'])).UpperDir as string;
    assert.ok(!fs.existsSync(path.join(upper, 'data/f')), 'volume contents are not in the container layer');
    assert.ok(fs.existsSync(path.join(upper, 'www/l')));
    const work = fs.mkdtempSync(path.join(root, 'cp-'));
    strataOk(root, ['cp', 'vols:/data/f', work]);
    assert.equal(fs.readFileSync(path.join(work, 'f'), 'utf8'), 'kept\n');
    fs.writeFileSync(path.join(work, 'in.txt'), 'copied in\n');
    strataOk(root, ['cp', path.join(work, 'in.txt'), 'vols:/www/']);
    assert.equal(strataOk(root, ['exec', 'vols', 'cat', '/www/in.txt']), 'copied in\n');
    // a container symlink pointing at / must not lead a copy onto the host
    strataOk(root, ['exec', 'vols', 'ln', '-s', '/', '/escape']);
    fs.writeFileSync(path.join(work, 'evil'), 'x');
    strataOk(root, ['cp', path.join(work, 'evil'), 'vols:/escape/tmp/']);
    assert.ok(!fs.existsSync('/tmp/evil'), 'copy stayed inside the container');
    assert.equal(strataOk(root, ['exec', 'vols', 'cat', '/tmp/evil']), 'x');
    const tarList = execFileSync('sh', ['-c', `node ${CLI} export vols | tar t`], { env: { ...process.env, STRATA_ROOT: root }, cwd: PROJECT }).toString();
    assert.match(tarList, /^www\/l$/m);
    assert.doesNotMatch(tarList, /^data\/f$/m);
    strataOk(root, ['rm', '-f', '-v', 'vols']);
    assert.deepEqual(strataOk(root, ['volume', 'ls', '-q']).trim().split('\n'), ['named'], 'anonymous volume removed with -v, named kept');
    strataOk(root, ['run', '--rm', '-v', 'named:/data', 'busybox', 'cat', '/data/f']);
    assert.match(strata(root, ['volume', 'rm', 'named']).stdout, /named/);
  });
});
