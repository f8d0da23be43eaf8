/**
 * pull, push, login, logout (and `image pull`, `image push`), with Docker's output:
 * per-layer progress redrawn in place on a terminal, plain status lines otherwise, and the
 * full reference as the last line of a pull (docker CLI 28).
 */
import * as readline from 'node:readline/promises';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { invalidArgument } from '../base/errors.js';
import { ProgressRenderer, type JSONMessage } from '../format/index.js';
import { canonicalString, fullName, parseTaggedReference } from '../image/reference.js';
import type { PullOptions, PushOptions } from '../engine/index.js';
import { engine, out } from './util.js';

/**
 * Docker's rendering of pull/push progress on a stream: one line per layer redrawn in place
 * on a terminal, plain status lines otherwise. `run`/`create` pass process.stderr (Docker
 * shows the pull of a missing image there):
 *
 *   await engine().registry.ensureImage(image, { log: (l) => process.stderr.write(l + '\n'), onProgress: progressTo(() => process.stderr) });
 */
export function progressTo(streamOf: () => NodeJS.WriteStream): (m: JSONMessage) => void {
  // the stream is made at the first message: process.stderr on a pipe is a net.Socket, whose
  // making loads net and stream (~7 ms), which a `run` of an image already here never needs
  let r: ProgressRenderer | undefined;
  return (m) => {
    if (!r) {
      const stream = streamOf();
      r = new ProgressRenderer({ isTerminal: !!stream.isTTY, write: (s) => stream.write(s), width: stream.columns || 200 });
    }
    r.push(m);
  };
}

/** A progress sink for stdout (or nothing with -q). */
function stdoutProgress(quiet: boolean | undefined): ((m: JSONMessage) => void) | undefined {
  return quiet ? undefined : progressTo(() => process.stdout);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  let muted = false;
  const sink = new Writable({ write(chunk, _e, cb) { if (!muted) process.stdout.write(chunk); cb(); } });
  const rl = readline.createInterface({ input: process.stdin, output: sink, terminal: true });
  try {
    const q = rl.question(question);
    muted = hidden;
    return await q;
  } finally {
    rl.close();
    if (hidden) process.stdout.write('\n');
  }
}

export function registerRegistryCommands(program: Command, image: Command): void {
  const addPull = (c: Command) => c
    .argument('<NAME[:TAG|@DIGEST]>')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('--disable-content-trust', 'Skip image verification (default true)')
    .action(async (name: string, o: { allTags?: boolean; quiet?: boolean; platform?: string }) => {
      const registry = engine().registry;
      const opts: PullOptions = {};
      const onProgress = stdoutProgress(o.quiet);
      if (onProgress) opts.onProgress = onProgress;
      if (o.platform) opts.platform = o.platform;
      if (o.allTags) {
        await registry.pullAllTags(name, opts);
        out(fullName(parseTaggedReference(name)));
        return;
      }
      const r = await registry.pull(name, opts);
      out(canonicalString(r.reference));
    });
  addPull(program.command('pull').description('Download an image from a registry'));
  addPull(image.command('pull').description('Download an image from a registry'));

  const addPush = (c: Command) => c
    .argument('<NAME[:TAG]>')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <string>', 'Push a platform-specific manifest (images here have one platform)')
    .option('--disable-content-trust', 'Skip image signing (default true)')
    .action(async (name: string, o: { allTags?: boolean; quiet?: boolean }) => {
      const opts: PushOptions = { allTags: !!o.allTags };
      const onProgress = stdoutProgress(o.quiet);
      if (onProgress) opts.onProgress = onProgress;
      const res = await engine().registry.push(name, opts);
      if (o.quiet) out(o.allTags ? fullName(parseTaggedReference(name)) : canonicalString(res[0]!.reference));
    });
  addPush(program.command('push').description('Upload an image to a registry'));
  addPush(image.command('push').description('Upload an image to a registry'));

  program.command('login').description('Authenticate to a registry')
    .argument('[SERVER]')
    .option('-u, --username <string>', 'Username')
    .option('-p, --password <string>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .action(async (server: string | undefined, o: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const domain = engine().registry.loginDomain(server);
      if (o.password !== undefined && o.passwordStdin) throw invalidArgument('--password and --password-stdin are mutually exclusive');
      if (o.passwordStdin && !o.username) throw invalidArgument('Must provide --username with --password-stdin');
      let username = o.username;
      let password = o.password;
      if (password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (o.passwordStdin) password = (await readStdin()).replace(/\r?\n$/, '');
      if (username === undefined && password === undefined) {
        // Docker first tries what is stored
        const have = engine().registry.storedCredentials(domain);
        if (have?.username && have.password) {
          try {
            await engine().registry.checkLogin(domain, have.username, have.password);
            out(`Authenticating with existing credentials... [Username: ${have.username}]`);
            out('Login Succeeded');
            return;
          } catch { /* ask again */ }
        }
      }
      if (username === undefined || password === undefined) {
        if (!process.stdin.isTTY) throw invalidArgument('Cannot perform an interactive login from a non TTY device');
        if (username === undefined) username = (await prompt('Username: ', false)).trim();
        if (!username) throw invalidArgument('Non-null Username Required');
        if (password === undefined) password = await prompt('Password: ', true);
      }
      if (!username) throw invalidArgument('Non-null Username Required');
      if (!password) throw invalidArgument('Password Required');
      const file = await engine().registry.login(domain, username, password);
      process.stderr.write(`WARNING! Your password will be stored unencrypted in ${file}.\n`);
      out('Login Succeeded');
    });

  program.command('logout').description('Log out from a registry')
    .argument('[SERVER]')
    .action((server: string | undefined) => {
      const domain = engine().registry.loginDomain(server);
      const name = engine().registry.serverDisplayName(domain);
      const r = engine().registry.logout(domain);
      out(r.removed ? `Removing login credentials for ${name}` : `Not logged in to ${name}`);
      if (r.dockerStillHas) process.stderr.write(`WARNING! Credentials for ${name} in ${r.dockerFile} are left in place; 'docker logout' removes them.\n`);
    });
}
