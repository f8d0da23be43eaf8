/**
 * The explorer: a small read-only HTTP server for the page in page/ and the
 * JSON it reads. It listens on loopback unless told otherwise, answers only
 * requests whose Host header names the address it listens on (so a page from
 * elsewhere cannot reach it through DNS rebinding), sends no CORS headers,
 * refuses cross-site fetches, and only ever reads the store: names, sizes and
 * metadata, plus the text of one file when the user asks for it.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../base/errors.js';
import { type Analysis, type Engine, diveExport } from '../engine/index.js';

interface ExploreOptions {
  engine: Engine;
  /** IMAGE or CONTAINER the page opens on */
  start?: string;
}

const STATIC: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * The page's directory: src/explore/page in the checkout, found from this
 * module whether it runs from dist/src/explore/ or from the one-file bundle
 * in dist/.
 */
function pageDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, 'src', 'explore', 'page');
    if (fs.existsSync(path.join(p, 'index.html'))) return p;
    dir = path.dirname(dir);
  }
  throw new StrataError('not_found', 'the explorer page (src/explore/page) is not next to this build');
}

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

export class ExploreServer {
  private readonly server: http.Server;
  private readonly analyses = new Map<string, Analysis>();
  private readonly pages: string;
  private allowedHosts = new Set<string>();
  address = '';

  constructor(private readonly opts: ExploreOptions) {
    this.pages = pageDir();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  /** Listen (port 0 = a free one); returns the URL. */
  async listen(host = '127.0.0.1', port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    const a = this.server.address() as net.AddressInfo;
    const names = new Set([host, a.address]);
    if (host === '127.0.0.1' || host === '::1' || host === 'localhost') for (const n of ['127.0.0.1', 'localhost', '::1']) names.add(n);
    this.allowedHosts = new Set([...names].map((n) => (n.includes(':') ? `[${n}]:${a.port}` : `${n}:${a.port}`)));
    const shown = a.address.includes(':') ? `[${a.address}]` : a.address;
    this.address = `http://${shown}:${a.port}/`;
    return this.address;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  }

  private json(res: http.ServerResponse, status: number, v: unknown, head = false): void {
    this.send(res, status, 'application/json; charset=utf-8', JSON.stringify(v), head);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!this.allowedHosts.has(host)) { this.json(res, 421, { message: `unexpected Host header ${JSON.stringify(req.headers.host ?? '')}` }); return; }
    if (req.headers['sec-fetch-site'] === 'cross-site') { this.json(res, 403, { message: 'cross-site requests are refused' }); return; }
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      this.json(res, 405, { message: 'the explorer is read-only' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      const file = STATIC[url.pathname];
      if (file !== undefined) {
        this.send(res, 200, TYPES[path.extname(file)]!, fs.readFileSync(path.join(this.pages, file)), head);
        return;
      }
      if (url.pathname === '/favicon.ico') { res.writeHead(204, SECURITY_HEADERS); res.end(); return; }
      if (url.pathname.startsWith('/api/')) {
        const q = url.searchParams;
        const names = ['ref', 'a', 'b'].map((k) => q.get(k)).filter((v): v is string => v !== null && v !== '');
        // an image's layer dirs are made when first read (layer-dirs.ts)
        const ready = names.length ? this.opts.engine.explore.ready(names) : undefined;
        if (!ready) { this.json(res, 200, this.api(url.pathname.slice(5), q), head); return; }
        ready.then(() => this.json(res, 200, this.api(url.pathname.slice(5), q), head)).catch((e: unknown) => this.fail(res, e, head));
        return;
      }
      this.json(res, 404, { message: 'page not found' }, head);
    } catch (e) {
      this.fail(res, e, head);
    }
  }

  private fail(res: http.ServerResponse, e: unknown, head: boolean): void {
    const code = e instanceof StrataError ? e.code : '';
    const status = code === 'not_found' ? 404 : code === 'invalid_argument' ? 400 : 500;
    this.json(res, status, { message: (e as Error).message }, head);
  }

  private analysis(ref: string): Analysis {
    const id = this.opts.engine.images.resolve(ref).id;
    let a = this.analyses.get(id);
    if (!a) {
      a = this.opts.engine.explore.analyze(id);
      this.analyses.set(id, a);
      if (this.analyses.size > 16) this.analyses.delete(this.analyses.keys().next().value!);
    }
    return a;
  }

  private api(route: string, q: URLSearchParams): unknown {
    const x = this.opts.engine.explore;
    const need = (k: string): string => {
      const v = q.get(k);
      if (v === null || v === '') throw new StrataError('invalid_argument', `missing query parameter ${k}`);
      return v;
    };
    const int = (k: string, dflt?: number): number => {
      const v = q.get(k);
      if (v === null || v === '') {
        if (dflt === undefined) throw new StrataError('invalid_argument', `missing query parameter ${k}`);
        return dflt;
      }
      if (!/^\d+$/.test(v)) throw new StrataError('invalid_argument', `${k} must be a number`);
      return Number(v);
    };
    switch (route) {
      case 'start': {
        const s = this.opts.start;
        return s ? x.resolveTarget(s) : null;
      }
      case 'images': return x.images();
      case 'image': return x.image(need('ref'));
      case 'analysis': {
        const a = this.analysis(need('ref'));
        const { image, ...rest } = a;
        return { ...rest, imageId: image.id, export: diveExport(a) };
      }
      case 'tree': return x.layerTree(need('ref'), int('layer'), q.get('path') ?? '/', { aggregate: q.get('aggregate') === '1', offset: int('offset', 0), limit: Math.min(int('limit', 1000), 5000) });
      case 'sizes': return x.dirSizes(need('ref'), int('layer'), q.get('path') ?? '/', q.get('aggregate') === '1');
      case 'file': return x.fileText(need('ref'), int('layer'), need('path'));
      case 'compare': return x.compare(need('a'), need('b'));
      case 'containers': return x.containers();
      default: throw new StrataError('not_found', `no such endpoint /api/${route}`);
    }
  }
}
