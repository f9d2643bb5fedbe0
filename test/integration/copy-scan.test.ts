import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VaultFs } from '../../src/store/vault-fs.js';
import { dispose, materialize, syncBack } from '../../src/proxy/copy.js';
import { openTempStore, tempDir } from '../helpers.js';

/** Copy mode's scan of the copy (store/host-tree.ts, the walk import uses too), seen through syncBack. */
let fs: VaultFs;
let close: () => void;
let parent: { dir: string; cleanup: () => void };
beforeEach(() => {
  ({ fs, close } = openTempStore());
  parent = tempDir();
});
afterEach(() => {
  close();
  parent.cleanup();
});

describe('copy mode scan', () => {
  it('imports what the command changed, parents first, and leaves a name that is not UTF-8 out (reported), not failing the run', () => {
    fs.writeFile('/a', 'a');
    fs.mkdir('/d');
    const session = materialize(fs, parent.dir);
    try {
      writeFileSync(Buffer.concat([Buffer.from(join(session.root, 'bad-')), Buffer.from([0xff])]), 'x');
      mkdirSync(join(session.root, 'd', 'e'));
      writeFileSync(join(session.root, 'd', 'e', 'f'), 'f');
      const summary = syncBack(fs, session);
      expect(summary.skipped).toEqual([{ path: '/bad-\\xff', reason: 'name is not valid UTF-8' }]);
      expect(summary.added).toBe(2);
      expect(fs.walk('/').map((e) => e.path)).toEqual(['/a', '/d', '/d/e', '/d/e/f']);
    } finally {
      dispose(session);
    }
  });
});
