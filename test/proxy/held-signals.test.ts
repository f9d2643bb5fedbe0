import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { VaultFs } from '../../src/store/vault-fs.js';
import { proxyExec } from '../../src/proxy/run.js';
import { openTempStore } from '../helpers.js';

let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

describe('a signal to avfs while proxy exec prepares the run', () => {
  it('is held from the start and passed on once the command starts: the run is reported as one the signal stopped (Node died of it before: no document, the workspace left behind)', async () => {
    const listeners = process.listenerCount('SIGTERM');
    let started = false;
    const running = proxyExec(store, 'default', { argv: ['sh', '-c', 'sleep 3; echo late > /late.txt'], mode: 'copy', onStart: () => (started = true) });
    // Held from the start of proxyExec, before anything is prepared.
    expect(process.listenerCount('SIGTERM')).toBe(listeners + 1);
    expect(started).toBe(false);
    process.emit('SIGTERM', 'SIGTERM'); // what the kernel's delivery does, with the handlers in place
    const r = await running;
    expect(started).toBe(true);
    expect([r.exitCode, r.signal, r.changedFiles]).toEqual([143, 'SIGTERM', []]);
    expect(fs.exists('/late.txt')).toBe(false);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  it('one listener per signal serves every run in the process (two runs at once added two each, and a few runs at once made Node warn of a leak)', async () => {
    const listeners = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM'].map((s) => process.listenerCount(s));
    const runs = [1, 2, 3].map((i) => proxyExec(store, 'default', { argv: ['sh', '-c', `echo ${i} > /r${i}.txt`], mode: 'copy' }));
    expect(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM'].map((s) => process.listenerCount(s))).toEqual(listeners.map((n) => n + 1));
    for (const r of await Promise.all(runs)) expect(r.exitCode).toBe(0);
    expect(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM'].map((s) => process.listenerCount(s))).toEqual(listeners);
    expect(['/r1.txt', '/r2.txt', '/r3.txt'].map((p) => fs.readFile(p).toString())).toEqual(['1\n', '2\n', '3\n']);
  });
});
