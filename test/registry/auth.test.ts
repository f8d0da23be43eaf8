import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createHash, createPrivateKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { busyboxTar, strataOk } from '../helpers.js';
import { clientEnv, htpasswdLine, importBusybox, registryAvailable, startRegistry, strataAsync, strataAsyncOk, tmp, type Registry } from './helpers.js';

const skip = registryAvailable() ? false : 'docker-registry is not installed';
const bcryptLine = registryAvailable() ? htpasswdLine('alice', 'wonderland') : undefined;

describe('basic auth (htpasswd): login, push, pull, logout', { skip: skip || (bcryptLine ? false : 'no bcrypt generator (python3 crypt or htpasswd)') }, () => {
  let reg: Registry;
  let work: string;
  let env: Record<string, string>;
  let root: string;
  let ref: string;

  before(async () => {
    work = tmp('strata-basic-');
    const pw = path.join(work, 'htpasswd');
    fs.writeFileSync(pw, bcryptLine + '\n');
    reg = await startRegistry({ auth: { htpasswd: pw } });
    env = clientEnv(work);
    root = tmp('strata-basic-root-');
    ref = `${reg.addr}/team/bb:v1`;
    await importBusybox(root, ref, busyboxTar(), env);
  });
  after(async () => {
    await reg?.stop();
    for (const d of [work, root]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('without credentials: push and pull are refused with a hint', async () => {
    const push = await strataAsync(root, ['push', ref], { env });
    assert.equal(push.code, 1);
    assert.equal(push.stderr.trim(), 'Error: no basic auth credentials');
    const pull = await strataAsync(root, ['pull', `${reg.addr}/team/other`], { env });
    assert.equal(pull.stderr.trim(), `Error: pull access denied for ${reg.addr}/team/other, repository does not exist or may require 'docker login': no basic auth credentials`);
  });

  test('login checks the password, stores base64 user:pass with mode 0600; logout removes it', async () => {
    const bad = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'nope\n' });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), `Error: login attempt to http://${reg.addr}/v2/ failed with status: 401 Unauthorized`);
    assert.ok(!fs.existsSync(env.STRATA_CONFIG!));
    const usage = await strataAsync(root, ['login', '--password-stdin', reg.addr], { env, input: 'x\n' });
    assert.equal(usage.stderr.trim(), 'Error: Must provide --username with --password-stdin');
    const noTty = await strataAsync(root, ['login', reg.addr], { env });
    assert.equal(noTty.stderr.trim(), 'Error: Cannot perform an interactive login from a non TTY device');

    const ok = await strataAsync(root, ['login', '-u', 'alice', '-p', 'wonderland', `http://${reg.addr}/`], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Login Succeeded\n');
    assert.match(ok.stderr, /WARNING! Using --password via the CLI is insecure. Use --password-stdin./);
    const st = fs.statSync(env.STRATA_CONFIG!);
    assert.equal(st.mode & 0o777, 0o600);
    const cfg = JSON.parse(fs.readFileSync(env.STRATA_CONFIG!, 'utf8'));
    assert.deepEqual(cfg.auths, { [reg.addr]: { auth: Buffer.from('alice:wonderland').toString('base64') } });

    assert.match(await strataAsyncOk(root, ['push', ref], { env }), /v1: digest: sha256:/);
    const fresh = tmp('strata-basic-fresh-');
    try {
      assert.equal(await strataAsyncOk(fresh, ['pull', '-q', ref], { env }), `${ref}\n`);
    } finally { fs.rmSync(fresh, { recursive: true, force: true }); }

    assert.equal(await strataAsyncOk(root, ['logout', reg.addr], { env }), `Removing login credentials for ${reg.addr}\n`);
    assert.equal(await strataAsyncOk(root, ['logout', reg.addr], { env }), `Not logged in to ${reg.addr}\n`);
    assert.deepEqual(JSON.parse(fs.readFileSync(env.STRATA_CONFIG!, 'utf8')).auths, {});
    const after = await strataAsync(root, ['push', ref], { env });
    assert.equal(after.stderr.trim(), 'Error: no basic auth credentials');
  });

  test('credentials in Docker\'s config file are used; logout leaves them and says so', async (t) => {
    const dockerCfg = path.join(env.DOCKER_CONFIG!, 'config.json');
    fs.writeFileSync(dockerCfg, JSON.stringify({ auths: { [`http://${reg.addr}`]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
    t.after(() => fs.rmSync(dockerCfg, { force: true }));
    const fresh = tmp('strata-basic-docker-');
    try {
      assert.equal(await strataAsyncOk(fresh, ['pull', '-q', ref], { env }), `${ref}\n`);
      // login without -u/-p reuses them (Docker 28)
      assert.match(await strataAsyncOk(fresh, ['login', reg.addr], { env }), /Authenticating with existing credentials\.\.\. \[Username: alice\]\nLogin Succeeded\n/);
      const lo = await strataAsync(fresh, ['logout', reg.addr], { env });
      assert.equal(lo.stdout, `Not logged in to ${reg.addr}\n`);
      assert.match(lo.stderr, /Credentials for .* in .*config\.json are left in place/);
    } finally { fs.rmSync(fresh, { recursive: true, force: true }); }
  });
});

/** libtrust's key ID (what docker-registry derives from rootcertbundle keys): base32 of 240 bits of sha256(SPKI). */
function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const bits = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  let acc = 0;
  let n = 0;
  for (const b of bits) {
    acc = (acc << 8) | b;
    n += 8;
    while (n >= 5) { out += alphabet[(acc >> (n - 5)) & 31]; n -= 5; }
  }
  return out.match(/.{4}/g)!.join(':');
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface TokenRequest { user: string | undefined; scopes: string[]; service: string | null; method?: string; grant?: string | null; clientId?: string | null; }

/** The identity (refresh) token the token server below knows as alice's. */
const ALICE_REFRESH_TOKEN = 'alice-identity-token-0123456789';

/**
 * A token server for docker-registry's `auth: token` (ES256 JWTs over a self-signed cert):
 * anonymous users get pull on everything but private/*, alice gets what she asks for.
 */
async function startTokenServer(dir: string) {
  const key = path.join(dir, 'token.key');
  const cert = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=strata-test-token'], { stdio: 'ignore' });
  const priv = createPrivateKey(fs.readFileSync(key));
  const kid = libtrustKeyId(new X509Certificate(fs.readFileSync(cert)).publicKey);
  const requests: TokenRequest[] = [];
  const issue = (res: http.ServerResponse, user: string | undefined, scopes: string[], oauth: boolean): void => {
    const access = scopes.map((s) => {
      const [type, name, actions] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')), s.slice(s.lastIndexOf(':') + 1).split(',')];
      const granted = user ? actions : name.startsWith('private/') ? [] : actions.filter((a) => a === 'pull');
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid }));
    const claims = b64url(JSON.stringify({ iss: 'strata-test-issuer', sub: user ?? '', aud: 'strata-test', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access }));
    const sig = sign('sha256', Buffer.from(`${header}.${claims}`), { key: priv, dsaEncoding: 'ieee-p1363' });
    const token = `${header}.${claims}.${b64url(sig)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const issued = new Date().toISOString();
    res.end(JSON.stringify(oauth ? { access_token: token, refresh_token: ALICE_REFRESH_TOKEN, expires_in: 300, issued_at: issued } : { token, access_token: token, expires_in: 300, issued_at: issued }));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (req.method === 'POST') {
      // OAuth2: grant_type=refresh_token (identity tokens) as a form
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const ok = form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === ALICE_REFRESH_TOKEN;
        requests.push({ user: ok ? 'alice' : undefined, scopes, service: form.get('service'), method: 'POST', grant: form.get('grant_type'), clientId: form.get('client_id') });
        if (!ok) {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end('{"error":"invalid_grant","error_description":"invalid refresh token"}');
          return;
        }
        issue(res, 'alice', scopes, true);
      });
      return;
    }
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u !== 'alice' || p !== 'wonderland') {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end('{"details":"incorrect username or password"}');
        return;
      }
      user = u;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ user, scopes, service: url.searchParams.get('service') });
    issue(res, user, scopes, false);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`, cert, requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('bearer tokens (docker-registry auth: token, JWTs from a token server in the test)', { skip }, () => {
  let reg: Registry;
  let tokens: Awaited<ReturnType<typeof startTokenServer>>;
  let work: string;
  let env: Record<string, string>;
  let root: string;

  before(async () => {
    work = tmp('strata-bearer-');
    tokens = await startTokenServer(work);
    reg = await startRegistry({ auth: { token: { realm: tokens.realm, service: 'strata-test', issuer: 'strata-test-issuer', rootcertbundle: tokens.cert } } });
    env = clientEnv(work);
    root = tmp('strata-bearer-root-');
    await importBusybox(root, `${reg.addr}/team/bb:v1`, busyboxTar(), env);
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
    for (const d of [work, root]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('anonymous: push refused, login with a wrong password refused', async () => {
    const push = await strataAsync(root, ['push', `${reg.addr}/team/bb:v1`], { env });
    assert.equal(push.code, 1);
    assert.match(push.stderr.trim(), /^Error: unauthorized: /);
    assert.ok(tokens.requests.some((r) => !r.user && r.scopes.includes('repository:team/bb:pull,push') && r.service === 'strata-test'));
    const bad = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'wrong\n' });
    assert.equal(bad.stderr.trim(), 'Error: unauthorized: incorrect username or password');
    assert.ok(!fs.existsSync(env.STRATA_CONFIG!));
  });

  test('logged in: push with one token per scope set, then a cross-repository mount', async () => {
    assert.equal(await strataAsyncOk(root, ['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'wonderland\n' }), 'Login Succeeded\n');
    tokens.requests.length = 0;
    const out = await strataAsyncOk(root, ['push', `${reg.addr}/team/bb:v1`], { env });
    assert.match(out, /: Pushed\n/);
    assert.deepEqual(tokens.requests.map((r) => [r.user, r.scopes.join(' ')]), [['alice', 'repository:team/bb:pull,push']]);
    tokens.requests.length = 0;
    await strataAsyncOk(root, ['tag', `${reg.addr}/team/bb:v1`, `${reg.addr}/team/copy:v1`], { env });
    const mount = await strataAsyncOk(root, ['push', `${reg.addr}/team/copy:v1`], { env });
    assert.match(mount, /: Mounted from team\/bb\n/);
    assert.ok(tokens.requests.some((r) => r.scopes.includes('repository:team/bb:pull') && r.scopes.includes('repository:team/copy:pull,push')), JSON.stringify(tokens.requests));
  });

  test('anonymous pull with a token; a private repository gets Docker\'s denial', async (t) => {
    const fresh = tmp('strata-bearer-fresh-');
    const anon = clientEnv(tmp('strata-bearer-anon-'));
    t.after(() => { fs.rmSync(fresh, { recursive: true, force: true }); fs.rmSync(path.dirname(anon.STRATA_CONFIG!), { recursive: true, force: true }); });
    tokens.requests.length = 0;
    assert.equal(await strataAsyncOk(fresh, ['pull', '-q', `${reg.addr}/team/bb:v1`], { env: anon }), `${reg.addr}/team/bb:v1\n`);
    assert.deepEqual(tokens.requests.map((r) => [r.user, r.scopes.join(' ')]), [[undefined, 'repository:team/bb:pull']]);
    const denied = await strataAsync(fresh, ['pull', `${reg.addr}/private/x`], { env: anon });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr.trim(), new RegExp(`^Error: pull access denied for ${reg.addr}/private/x, repository does not exist or may require 'docker login': unauthorized: `));
  });

  test('an identity token (Docker config or a credential helper\'s <token> user) is POSTed as an OAuth2 refresh token', async (t) => {
    const dir = tmp('strata-bearer-idtoken-');
    const fresh = tmp('strata-bearer-idtoken-root-');
    t.after(() => { for (const d of [dir, fresh]) fs.rmSync(d, { recursive: true, force: true }); });
    const idEnv = clientEnv(dir);
    const dockerCfg = path.join(idEnv.DOCKER_CONFIG!, 'config.json');
    // 1. auths.<registry>.identitytoken: push (needs alice) and pull work, with POSTs only
    fs.writeFileSync(dockerCfg, JSON.stringify({ auths: { [reg.addr]: { auth: '', identitytoken: ALICE_REFRESH_TOKEN } } }));
    await importBusybox(fresh, `${reg.addr}/team/idtok:v1`, busyboxTar(), idEnv);
    tokens.requests.length = 0;
    assert.match(await strataAsyncOk(fresh, ['push', `${reg.addr}/team/idtok:v1`], { env: idEnv }), /: Pushed\n/);
    assert.deepEqual(tokens.requests.map((r) => [r.method, r.grant, r.clientId, r.service, r.user, r.scopes.join(' ')]),
      [['POST', 'refresh_token', 'docker', 'strata-test', 'alice', 'repository:team/idtok:pull,push']]);
    // 2. a credential helper answering Username "<token>"
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'docker-credential-strata-test'), `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\nprintf '{"ServerURL":"%s","Username":"<token>","Secret":"${ALICE_REFRESH_TOKEN}"}' "$server"\n`, { mode: 0o755 });
    fs.writeFileSync(dockerCfg, JSON.stringify({ credHelpers: { [reg.addr]: 'strata-test' } }));
    const helperEnv = { ...idEnv, PATH: `${bin}:${process.env.PATH}` };
    strataOk(fresh, ['rmi', `${reg.addr}/team/idtok:v1`]);
    tokens.requests.length = 0;
    assert.equal(await strataAsyncOk(fresh, ['pull', '-q', `${reg.addr}/team/idtok:v1`], { env: helperEnv }), `${reg.addr}/team/idtok:v1\n`);
    assert.deepEqual(tokens.requests.map((r) => [r.method, r.user, r.scopes.join(' ')]), [['POST', 'alice', 'repository:team/idtok:pull']]);
    // 3. a stale identity token: one clear line, no anonymous fallback
    fs.writeFileSync(dockerCfg, JSON.stringify({ auths: { [reg.addr]: { identitytoken: 'revoked' } } }));
    const stale = await strataAsync(fresh, ['push', `${reg.addr}/team/idtok:v1`], { env: idEnv });
    assert.equal(stale.code, 1);
    assert.equal(stale.stderr.trim().split('\n').length, 1);
    assert.match(stale.stderr.trim(), /^Error: unauthorized: /);
  });
});
