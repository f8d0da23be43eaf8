/**
 * BuildKit's plain progress output (`--progress=plain`, and what a non-TTY gets):
 *
 *   #4 [2/3] RUN echo hi
 *   #4 0.231 hi
 *   #4 DONE 0.3s
 *
 * Each vertex gets a number in the order it starts; a blank line separates vertices.
 * Lines of vertices running in parallel interleave, as BuildKit's do.
 */
type LineSink = (line: string) => void;

export class Progress {
  private n = 0;
  private last = 0;

  constructor(private readonly sink: LineSink, private readonly quiet = false) {}

  private write(line: string): void {
    if (!this.quiet) this.sink(line);
  }

  start(name: string): Vertex {
    const id = ++this.n;
    if (this.last !== 0) this.write('');
    this.last = id;
    this.write(`#${id} ${name}`);
    return new Vertex(id, (l) => { this.last = id; this.write(l); });
  }
}

export class Vertex {
  private readonly t0 = performance.now();
  private partial = '';

  constructor(readonly id: number, private readonly out: LineSink) {}

  private elapsed(): string { return ((performance.now() - this.t0) / 1000).toFixed(3); }

  log(text: string): void { this.out(`#${this.id} ${text}`); }

  /** Process output: whole lines, each prefixed with the time since the vertex started. */
  output(chunk: Buffer | string): void {
    const s = this.partial + chunk.toString();
    const lines = s.split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.out(`#${this.id} ${this.elapsed()} ${l.replace(/\r$/, '')}`);
  }

  private flush(): void {
    if (this.partial) { this.out(`#${this.id} ${this.elapsed()} ${this.partial}`); this.partial = ''; }
  }

  done(): void {
    this.flush();
    this.out(`#${this.id} DONE ${((performance.now() - this.t0) / 1000).toFixed(1)}s`);
  }

  cached(): void { this.out(`#${this.id} CACHED`); }

  error(msg: string): void {
    this.flush();
    this.out(`#${this.id} ERROR: ${msg}`);
  }
}
