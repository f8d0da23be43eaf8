import type { Command } from 'commander';
import * as fs from 'node:fs';
import { invalidArgument } from '../base/errors.js';
import type { ImageListRow, ListOptions, ImportOptions } from '../engine/index.js';
import { engine, openInput, collect, out, writeOut, ExitError, writeFileAtomicStream } from './util.js';
import { printRows, since, size3, execTemplate, inspectJson, ellipsis, goTimeString } from './output.js';

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}


function imageRowView(r: ImageListRow, noTrunc: boolean): Record<string, unknown> {
  return {
    Containers: 'N/A',
    // computed when a format asks for it: a Go time string needs the zone's name
    get CreatedAt() { return goTimeString(new Date(r.created * 1000)); },
    CreatedSince: since(r.created),
    Digest: r.digest,
    ID: noTrunc ? r.id : shortId(r.id),
    Repository: r.repository,
    SharedSize: 'N/A',
    Size: size3(r.size),
    Tag: r.tag,
    UniqueSize: 'N/A',
    VirtualSize: size3(r.size),
  };
}

const IMAGE_HEADERS = { Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' };

function listAction(repo: string | undefined, o: { all?: boolean; quiet?: boolean; trunc?: boolean; digests?: boolean; filter?: string[]; format?: string }): void {
  const opts: ListOptions = { all: !!o.all, filters: o.filter ?? [] };
  if (repo) opts.reference = repo;
  const rows = engine().images.list(opts);
  const noTrunc = o.trunc === false;
  if (o.quiet) {
    for (const r of rows) out(noTrunc ? r.id : shortId(r.id));
    return;
  }
  const def = o.digests
    ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
    : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  printRows(rows.map((r) => imageRowView(r, noTrunc)), def, IMAGE_HEADERS, o.format);
}

export function registerImageCommands(program: Command, image: Command): void {
  const addList = (c: Command) => c
    .argument('[REPOSITORY[:TAG]]')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('-q, --quiet', 'Only show image IDs')
    .option('--no-trunc', "Don't truncate output")
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .action(listAction);
  addList(program.command('images').description('List images'));
  addList(image.command('ls').alias('list').description('List images'));

  const addImport = (c: Command) => c
    .argument('<file|->').argument('[REPOSITORY[:TAG]]')
    .option('-c, --change <change>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'Set commit message for imported image')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .action(async (file: string, ref: string | undefined, o: { change?: string[]; message?: string }) => {
      // a regular file is read by the import itself, into reused buffers
      const input = openInput(file, { regularFileFd: true });
      const opts: ImportOptions = { changes: o.change ?? [] };
      if (o.message) opts.message = o.message;
      if (ref) opts.reference = ref;
      try {
        out(await engine().images.import(input, opts));
      } finally {
        // the descriptor openInput returned (a stream has `pipe`; no instanceof: that loads node:stream)
        if ('fd' in input && !('pipe' in input)) fs.closeSync(input.fd);
      }
    });
  addImport(program.command('import').description('Import the contents from a tarball to create a filesystem image'));
  addImport(image.command('import').description('Import the contents from a tarball to create a filesystem image'));

  const addLoad = (c: Command) => c
    .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(async (o: { input?: string; quiet?: boolean }) => {
      const input = openInput(o.input);
      const res = await engine().images.load(input);
      if (!o.quiet) for (const m of res.messages) out(m);
    });
  addLoad(program.command('load').description('Load an image from a tar archive or STDIN'));
  addLoad(image.command('load').description('Load an image from a tar archive or STDIN'));

  const addSave = (c: Command) => c
    .argument('<image...>')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .option('--format <format>', 'Archive format: docker (docker save) or oci (OCI image layout)', 'docker')
    .action(async (names: string[], o: { output?: string; format: string }) => {
      if (o.format !== 'docker' && o.format !== 'oci') throw invalidArgument(`invalid --format "${o.format}": use docker or oci`);
      const images = engine().images;
      if (!o.output) {
        if (process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
        await images.save(names, process.stdout, o.format);
        return;
      }
      await writeFileAtomicStream(o.output, (ws) => images.save(names, ws, o.format as 'docker' | 'oci'));
    });
  addSave(program.command('save').description('Save one or more images to a tar archive (streamed to STDOUT by default)'));
  addSave(image.command('save').description('Save one or more images to a tar archive (streamed to STDOUT by default)'));

  const addTag = (c: Command) => c.argument('<source>').argument('<target>')
    .action((src: string, dst: string) => engine().images.tag(src, dst));
  addTag(program.command('tag').description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE'));
  addTag(image.command('tag').description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE'));

  const addRmi = (c: Command) => c.argument('<image...>')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action((names: string[], o: { force?: boolean; prune?: boolean }) => {
      let failed = false;
      for (const n of names) {
        try {
          const res = engine().images.remove(n, { force: !!o.force, noPrune: o.prune === false });
          for (const u of res.untagged) out(`Untagged: ${u}`);
          for (const d of res.deleted) out(`Deleted: ${d}`);
        } catch (e) {
          failed = true;
          process.stderr.write(`Error: ${(e as Error).message}\n`);
        }
      }
      if (failed) throw new ExitError(1);
    });
  addRmi(program.command('rmi').description('Remove one or more images'));
  addRmi(image.command('rm').alias('remove').description('Remove one or more images'));

  const addHistory = (c: Command) => c.argument('<image>')
    .option('-H, --human [bool]', 'Print sizes and dates in human readable format', (v: string) => v !== 'false', true)
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .option('--format <string>', 'Format output using a custom template')
    .option('--source', 'Show the Dockerfile line each step was built from')
    .action((name: string, o: { human: boolean; trunc?: boolean; quiet?: boolean; format?: string; source?: boolean }) => {
      const rows = engine().images.history(name);
      const noTrunc = o.trunc === false;
      const id = (i: string) => (i === '<missing>' || noTrunc ? i : shortId(i));
      if (o.quiet) { for (const r of rows) out(id(r.id)); return; }
      const views = rows.map((r) => {
        let by = r.createdBy.replace(/\t/g, ' ');
        if (!noTrunc) by = ellipsis(by, 45);
        return {
          Comment: r.comment,
          CreatedAt: o.human ? goTimeString(new Date(r.created * 1000)) : new Date(r.created * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
          CreatedBy: by,
          CreatedSince: o.human ? since(r.created) : new Date(r.created * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
          ID: id(r.id),
          Size: o.human ? size3(r.size) : String(r.size),
          Source: r.source,
        };
      });
      const def = (o.human
        ? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
        : 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}') + (o.source ? '\t{{.Source}}' : '');
      printRows(views, def, { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT', Source: 'SOURCE' }, o.format);
    });
  addHistory(program.command('history').description('Show the history of an image'));
  addHistory(image.command('history').description('Show the history of an image'));

  image.command('inspect').argument('<image...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action((names: string[], o: { format?: string }) => printInspect(names, o.format, (n) => engine().images.inspect(n)));

  image.command('prune').description('Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect)
    .action((o: { all?: boolean; filter?: string[] }) => {
      const res = engine().images.prune({ all: !!o.all, filters: o.filter ?? [] });
      if (res.untagged.length || res.deleted.length) out('Deleted Images:');
      for (const u of res.untagged) out(`untagged: ${u}`);
      for (const d of res.deleted) out(`deleted: ${d}`);
      if (res.untagged.length || res.deleted.length) out('');
      out(`Total reclaimed space: ${size3(res.reclaimed)}`);
    });
}

/** Docker's `inspect`: a JSON array with 4-space indents, or the template applied to each object. */
export function printInspect(names: string[], format: string | undefined, lookup: (name: string) => unknown): void {
  const found: unknown[] = [];
  let failed: Error | undefined;
  for (const n of names) {
    try { found.push(lookup(n)); } catch (e) { failed = e as Error; process.stderr.write(`Error: ${(e as Error).message}\n`); }
  }
  if (format) {
    for (const f of found) out(execTemplate(format, f));
  } else if (found.length || !failed) {
    writeOut(inspectJson(found));
  }
  if (failed) throw new ExitError(1);
}

