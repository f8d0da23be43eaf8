/**
 * One streaming connection of a hijacked endpoint (attach, exec start), whichever way the
 * client asked for it:
 *  - `Connection: Upgrade` / `Upgrade: tcp` (docker CLI, dockerode with hijack): answer
 *    `101 UPGRADED` and use the raw socket both ways. Node hands the socket over in the
 *    server's `upgrade` event without reading the request body: its `Content-Length` bytes
 *    come first (in `head` and then on the socket), anything after them is stdin. The
 *    client half-closes its side when it has no (more) stdin; we keep writing until done.
 *  - a plain request (curl, dockerode without hijack): `200` and the output as the body.
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { API_VERSION, commonHeaders, errorStatus, parseJson, rawError, readBody, MAX_JSON_BODY } from './http.js';
import { StrataError } from '../base/errors.js';

export interface StreamConn {
  /** The parsed JSON request body (`{}` when empty). */
  body: Record<string, unknown>;
  /** What the client sends after the body (stdin), or null without a hijack. */
  input: Readable | null;
  /** Send the success headers (101 or 200). */
  begin(contentType: string): void;
  /** Write output; false when the client is slow (wait for `onDrain`). */
  write(chunk: Buffer): boolean;
  onDrain(fn: () => void): void;
  /** Finish the output (the client sees EOF). */
  end(): void;
  /** Answer with an error instead (only before `begin`). */
  fail(e: unknown): void;
  /** A 200 with an empty body instead of a stream (exec start with Detach). */
  empty(): void;
  /** The client went away (fully closed or reset). */
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

function readExactly(s: Readable, n: number): Promise<Buffer> {
  if (n === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const cleanup = () => { s.off('readable', tryRead); s.off('end', onEnd); s.off('error', onErr); };
    const tryRead = () => {
      const b = s.read(n) as Buffer | null;
      if (b) { cleanup(); resolve(b); }
    };
    const onEnd = () => { cleanup(); reject(new StrataError('invalid_argument', 'connection closed before the request body was complete')); };
    const onErr = (e: Error) => { cleanup(); reject(e); };
    s.on('readable', tryRead);
    s.on('end', onEnd);
    s.on('error', onErr);
    tryRead();
  });
}

function bodyObject(buf: Buffer): Record<string, unknown> {
  const v = parseJson(buf);
  return v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

/** A connection over an upgraded socket. */
export async function upgradedConn(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<StreamConn> {
  socket.setTimeout(0);
  socket.setNoDelay(true);
  let closed = false;
  const closers: (() => void)[] = [];
  socket.on('close', () => { closed = true; for (const f of closers.splice(0)) f(); });
  socket.on('error', () => { /* reported through close */ });
  // everything the client sends, in order: body first, then stdin (end = half-close)
  const input = new PassThrough();
  if (head.length) input.write(head);
  socket.pipe(input);
  const len = Number(req.headers['content-length'] ?? 0) || 0;
  if (len > MAX_JSON_BODY) {
    socket.end(rawError(400, `request body is too large (limit ${MAX_JSON_BODY} bytes)`));
    throw new StrataError('invalid_argument', 'body too large');
  }
  let body: Record<string, unknown>;
  try {
    body = bodyObject(await readExactly(input, len));
  } catch (e) {
    const { status, message } = errorStatus(e);
    if (!socket.destroyed) socket.end(rawError(status, message));
    throw e;
  }
  let begun = false;
  return {
    body,
    input,
    begin(contentType) {
      begun = true;
      socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
    },
    write: (chunk) => (closed ? true : socket.write(chunk)),
    onDrain: (fn) => { socket.once('drain', fn); },
    end: () => { if (!closed) socket.end(); },
    fail(e) {
      if (begun) { socket.destroy(); return; }
      const { status, message } = errorStatus(e);
      socket.end(rawError(status, message));
    },
    empty() {
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nApi-Version: ${API_VERSION}\r\n\r\n`);
    },
    onClose: (fn) => { if (closed) fn(); else closers.push(fn); },
    get closed() { return closed; },
  };
}

/** A connection over a plain request: output is the response body, no stdin. */
export async function plainConn(req: http.IncomingMessage, res: http.ServerResponse): Promise<StreamConn> {
  const body = bodyObject(await readBody(req));
  let closed = false;
  const closers: (() => void)[] = [];
  res.on('close', () => { closed = true; for (const f of closers.splice(0)) f(); });
  return {
    body,
    input: null,
    begin(contentType) {
      res.writeHead(200, { ...commonHeaders(), 'Content-Type': contentType, Connection: 'close' });
      res.flushHeaders();
    },
    write: (chunk) => (closed ? true : res.write(chunk)),
    onDrain: (fn) => { res.once('drain', fn); },
    end: () => { if (!closed) res.end(); },
    fail(e) {
      if (res.headersSent) { res.destroy(); return; }
      const { status, message } = errorStatus(e);
      const text = JSON.stringify({ message }) + '\n';
      res.writeHead(status, { ...commonHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    },
    empty() {
      res.writeHead(200, { ...commonHeaders(), 'Content-Length': 0 });
      res.end();
    },
    onClose: (fn) => { if (closed) fn(); else closers.push(fn); },
    get closed() { return closed; },
  };
}

/** Copy a readable to the connection with back-pressure; `frame` wraps each chunk. */
export function pump(src: Readable, conn: StreamConn, frame: (b: Buffer) => Buffer = (b) => b): void {
  src.on('data', (d: Buffer) => {
    if (conn.closed) return; // the client left: keep draining so the writer never blocks
    if (!conn.write(frame(d))) {
      src.pause();
      conn.onDrain(() => src.resume());
    }
  });
  conn.onClose(() => src.resume());
}
