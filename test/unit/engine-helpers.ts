/**
 * An engine over a temporary root and a FakeSys, with a tiny imported image: what the engine
 * unit tests share. Nothing here needs root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { FakeSys } from '../../src/sys/fake.js';
import { openEngine, type Engine } from '../../src/engine/index.js';
import { craftTar } from '../layer/helpers.js';

export interface FakeEngine { root: string; sys: FakeSys; engine: Engine; imageId: string }

/** A rootfs of a few files, owned by whoever runs the test (so the unpacker may chown them). */
function rootfsTar(): Buffer {
  const uid = process.getuid!();
  const gid = process.getgid!();
  return craftTar([
    { name: 'bin/', type: '5', mode: 0o755, uid, gid },
    { name: 'bin/sh', data: '#!fake\n', mode: 0o755, uid, gid },
    { name: 'etc/', type: '5', mode: 0o755, uid, gid },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', uid, gid },
    { name: 'etc/group', data: 'root:x:0:\n', uid, gid },
    { name: 'www/', type: '5', mode: 0o755, uid, gid },
    { name: 'www/index.html', data: 'hello\n', uid, gid },
  ]);
}

export async function fakeEngine(t: { after(fn: () => Promise<void> | void): void }): Promise<FakeEngine> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-unit-engine-'));
  const sys = new FakeSys({ runDir: path.join(root, 'run') });
  const engine = openEngine({ root: path.join(root, 'root'), sys });
  t.after(async () => {
    await engine.settle();
    engine.close();
    sys.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const imageId = await engine.images.import(Readable.from([rootfsTar()]), {
    changes: ['CMD ["sh", "-c", "sleep 1000"]', 'EXPOSE 80'], reference: 'tiny:latest',
  });
  return { root, sys, engine, imageId };
}

/** Mount targets, netns and runtime containers the fake host still holds. */
export function hostState(sys: FakeSys): { mounts: string[]; netns: string[]; runtime: string[] } {
  return { mounts: [...sys.mounts.keys()], netns: sys.listNetns(), runtime: [...sys.containers.keys()] };
}
