/**
 * rmi of the last tag of an image a container uses: refused like Docker,
 * also when the image has a child image (a commit made from it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busyboxTar, containerRoot, strata, strataOk } from '../helpers.js';

test('rmi of the last tag of an image a container uses is refused, child image or not', (t) => {
  const root = containerRoot(t);
  const id = strataOk(root, ['import', '-c', 'ENV WHO=x', busyboxTar(), 'x:latest']).trim();
  const cid = strataOk(root, ['create', '--name', 'user', 'x', 'true']).trim();
  const refused = (): void => {
    const r = strata(root, ['rmi', 'x:latest']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `Error: conflict: unable to remove repository reference "x:latest" (must force) - container ${cid.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`);
    assert.match(strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']), /^x:latest$/m, 'still tagged');
  };
  refused();
  // a child image (committed from a container of x) does not change the answer
  strataOk(root, ['commit', 'user', 'child:1']);
  const parent = strataOk(root, ['inspect', '--format', '{{.Parent}}', 'child:1']).trim();
  assert.equal(parent, id);
  refused();
  // another tag in another repository: untagging one is fine
  strataOk(root, ['tag', 'x:latest', 'other:1']);
  assert.equal(strataOk(root, ['rmi', 'x:latest']).trim(), 'Untagged: x:latest');
  refused2(root, cid, id);
  // forced: untagged, the image stays for the container and the child
  assert.equal(strataOk(root, ['rmi', '-f', 'other:1']).trim(), 'Untagged: other:1');
  assert.equal(strataOk(root, ['inspect', '--format', '{{.Id}}', id]).trim(), id);
});

function refused2(root: string, cid: string, id: string): void {
  const r = strata(root, ['rmi', 'other:1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`unable to remove repository reference "other:1" \\(must force\\) - container ${cid.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`));
}
