import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { finishExec, insertExec, recordExecDied } from '../../src/store/execs.js';
import { createVault, currentSeq, deleteVault, forkVault, getVault } from '../../src/store/vaults.js';
import { proxyUndo } from '../../src/proxy/undo.js';
import { saveCheckpoint } from '../../src/store/checkpoints.js';
import { prune } from '../../src/store/prune.js';
import { openTempStore, thrownError } from '../helpers.js';

let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

/** Starts an exec row (as proxy exec does) and returns a VaultFs writing as it. */
function startExec(id: string, checkpoint: string | null = null, vaultName = 'default'): VaultFs {
  const vault = getVault(store, vaultName);
  store.mutate(() =>
    insertExec(store, { id, vault_id: vault.id, vault: vaultName, command: '{"argv":["x"]}', cwd: '/', mode: 'mount', decision: '{}', checkpoint, seq_before: currentSeq(store), pid: process.pid, pid_start: null }),
  );
  return new VaultFs(store, vaultName, { source: 'proxy', execId: id });
}

const finish = (id: string) => store.mutate(() => finishExec(store, id, { seqAfter: currentSeq(store), exitCode: 0, signal: null, timedOut: false }));
const actor = { source: 'sdk' as const };

/** An exec (with its checkpoint) that rewrote /a and /b, and a person's later edit of /b. */
function execThenLaterEdit(id: string): void {
  fs.writeFile('/a', 'a orig');
  fs.writeFile('/b', 'b orig');
  const exec = startExec(id, `proxy-${id}`);
  saveCheckpoint(exec, `proxy-${id}`);
  exec.writeFile('/a', 'a by exec');
  exec.writeFile('/b', 'b by exec');
  finish(id);
  fs.writeFile('/b', 'edited after the exec');
}

describe("an exec's change window", () => {
  it('nothing is attributed to an exec once it ended (finished or found dead), so nothing lands after its report or its undo; its undo still writes', async () => {
    const exec = startExec('e1');
    exec.writeFile('/during.txt', 'in the window\n');
    store.mutate(() => finishExec(store, 'e1', { seqAfter: currentSeq(store), exitCode: 0, signal: null, timedOut: false }));
    const versions = store.db.prepare('SELECT count(*) AS n FROM versions').get();
    const late = thrownError(() => exec.writeFile('/late.txt', 'after the end\n'));
    expect([late?.code, late?.data.reason, late?.errno]).toEqual(['DENIED', 'exec_ended', 'EACCES']);
    expect(thrownError(() => exec.rm('/during.txt'))?.code).toBe('DENIED');
    expect(store.db.prepare('SELECT count(*) AS n FROM versions').get()).toEqual(versions);
    expect(fs.exists('/late.txt')).toBe(false);
    // Others write as before.
    fs.writeFile('/other.txt', 'x');

    // Found dead: the same.
    fs.writeFile('/keep.txt', 'before\n');
    const dying = startExec('e2', 'proxy-e2');
    saveCheckpoint(dying, 'proxy-e2');
    dying.writeFile('/keep.txt', 'changed by e2\n');
    expect(recordExecDied(store, { id: 'e2', vault: 'default', pid: process.pid })).toBe(true);
    expect(thrownError(() => dying.writeFile('/keep.txt', 'stuck write landing late\n'))?.code).toBe('DENIED');
    // Its undo is not refused: it puts back what the exec changed.
    await proxyUndo(store, 'e2');
    expect(fs.readFile('/keep.txt').toString()).toBe('before\n');
  });
});

describe('proxy undo after prune and vault deletion', () => {
  it('prune keeps the versions an exec that can still be undone recorded: undo still owes its CONFLICT, and --force puts every path back', async () => {
    execThenLaterEdit('e1');
    prune(store, { scope: { all: true }, keep: 1, actor });
    const refused = await proxyUndo(store, 'e1').catch((e) => e);
    expect([refused.code, refused.data.later_changes, refused.data.paths]).toEqual(['CONFLICT', 1, ['/b']]);
    const undone = await proxyUndo(store, 'e1', { force: true });
    expect(undone.discardedChanges).toBe(1);
    expect([fs.readFile('/a').toString(), fs.readFile('/b').toString()]).toEqual(['a orig', 'b orig']);
  });

  it('once its checkpoint goes (here pruned in the same run), the exec cannot be undone and prune lets its versions go', async () => {
    execThenLaterEdit('e1');
    saveCheckpoint(fs, 'later');
    prune(store, { scope: { all: true }, keep: 1, checkpoints: true, actor });
    expect(store.db.prepare("SELECT count(*) AS n FROM versions WHERE exec_id = 'e1'").get()).toEqual({ n: 1 }); // /a's, still its newest
    expect((await proxyUndo(store, 'e1').catch((e) => e)).code).toBe('CHECKPOINT_NOT_FOUND');
  });

  it('refuses to undo an exec whose vault was deleted, kept for its forks or gone, even when a new vault has its name and a checkpoint of that name', async () => {
    for (const keptForFork of [true, false]) {
      createVault(store, 'p', actor);
      const exec = startExec(`e-${keptForFork}`, 'proxy-e', 'p');
      saveCheckpoint(exec, 'proxy-e');
      exec.writeFile('/x', 'by exec');
      finish(`e-${keptForFork}`);
      if (keptForFork) forkVault(store, 'p', 'p-fork', actor);
      deleteVault(store, 'p', true, actor);
      createVault(store, 'p', actor);
      const p = new VaultFs(store, 'p', actor);
      p.writeFile('/x', 'the new vault’s own');
      saveCheckpoint(p, 'proxy-e');
      const refused = await proxyUndo(store, `e-${keptForFork}`).catch((e) => e);
      // Kept for its fork, the exec's record names a deleted vault; gone for good, its record went with it.
      expect(refused.code).toBe(keptForFork ? 'VAULT_NOT_FOUND' : 'NOT_FOUND');
      expect(p.readFile('/x').toString()).toBe('the new vault’s own');
      deleteVault(store, 'p', true, actor);
    }
  });
});
