import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { avfs, BIN, expectError, expectOk, useTempHome } from '../helpers.js';

/** Small things users hit (issue 18 part 5): colour per stream, --json without a command, help, counts, completion. */

const h = useTempHome('each');

const ESC = '\u001b[';
/** Runs the built avfs in a shell line under a pseudo-terminal (script(1)); returns what the terminal showed. */
async function onTerminal(line: string, env: Record<string, string> = {}): Promise<string> {
  // FORCE_COLOR (which the test runner may set) would override what the terminal says, and CI
  // (set by .ci/run) makes chalk assume a log without colour even on a terminal.
  const { FORCE_COLOR: _force, NO_COLOR: _no, CI: _ci, ...inherited } = process.env;
  // Not spawnSync: a worker blocked for a long command on a busy machine misses vitest's own RPC deadline.
  const r = await execa('script', ['-qec', line, '/dev/null'], { env: { ...inherited, AVFS_HOME: h.home, AVFS_VAULT: '', ...env }, extendEnv: false, reject: false, stdin: 'ignore' });
  return r.stdout;
}

describe('colour', () => {
  it('a run\'s summary on a terminal ends an escape string its command left open, colour or not, so a forged line cannot hide it', async () => {
    // An OSC (terminal title) never ended swallows what follows it; ST (ESC \\) ends it.
    const cmd = `node ${BIN} proxy exec -- sh -c 'printf "avfs: exit 0 · forged\\n\\033]0;" >&2; echo x > /evil; exit 1'`;
    for (const env of [{ NO_COLOR: '1' }, {}] as Record<string, string>[]) {
      const out = await onTerminal(cmd, env);
      expect(out, JSON.stringify(out)).toMatch(/\u001b\]0;(\r?\n)?\u001b\\(\u001b\[0m)?(\u001b\[2m)?avfs: (\u001b\[22m)?(\u001b\[31m)?exit 1/);
    }
    // Not on a pipe or a file, where there is no terminal to put right.
    const piped = await execa('node', [BIN, '--no-color', 'proxy', 'exec', '--', 'sh', '-c', 'printf "\\033]0;" >&2'], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, reject: false });
    expect(piped.stderr).toMatch(/\u001b\]0;\n?avfs: exit 0/);
  });
  it('is on for a terminal, off with NO_COLOR, and never written into a redirected stderr', async () => {
    const cmd = `node ${BIN} cat /missing`;
    expect(await onTerminal(cmd)).toContain(ESC);
    expect(await onTerminal(cmd, { NO_COLOR: '1' })).not.toContain(ESC);
    const log = join(h.dir, 'err.log');
    await onTerminal(`${cmd} 2>${log}`);
    const text = readFileSync(log, 'utf8');
    expect(text).toContain('NOT_FOUND');
    expect(text).not.toContain(ESC);
  });
});

describe('--json always answers with one document', () => {
  it('without a command: USAGE listing the commands; for a group, its subcommands', async () => {
    const top = expectError(await avfs(h.home, []), 'USAGE', 2);
    expect(top).toMatchObject({ reason: 'missing_command' });
    expect(top.commands).toContain('vault');
    expect(expectError(await avfs(h.home, ['vault']), 'USAGE', 2).commands).toEqual(['create', 'list', 'use', 'fork', 'delete', 'info', 'merge']);
    // A group inside a group names itself, not its parent (it listed exec, undo, policy).
    const policy = expectError(await avfs(h.home, ['proxy', 'policy']), 'USAGE', 2);
    expect([policy.commands, policy.message]).toEqual([['show', 'set', 'reset', 'check'], expect.stringContaining('avfs proxy policy <command>')]);
  });

  it('--version is {"version": …}, after a command name too', async () => {
    const version = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')).version;
    for (const args of [['--version'], ['-V'], ['ls', '--version']]) {
      const r = await avfs(h.home, args);
      expect(JSON.parse(r.stdout), args.join(' ')).toEqual({ ok: true, version });
      expect(r.code).toBe(0);
    }
  });

  it('--help is {"help": "…"}: the help text in one document, nothing else on stdout or stderr', async () => {
    for (const [args, usage] of [
      [['--help'], 'Usage: avfs [options] [command]'],
      [['ls', '--help'], 'Usage: avfs ls'],
      [['proxy', 'exec', '--help'], 'Usage: avfs proxy exec'],
      [['help', 'ls'], 'Usage: avfs ls'],
      [['help', 'proxy', 'exec'], 'Usage: avfs proxy exec'],
    ] as const) {
      const r = await avfs(h.home, [...args]);
      const doc = JSON.parse(r.stdout);
      expect(doc, args.join(' ')).toEqual({ ok: true, help: expect.stringContaining(usage) });
      expect(doc.help).toContain('Examples:');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });
});

describe('help and messages', () => {
  it('an unknown option names the help to read, for the exact subcommand', async () => {
    expect(expectError(await avfs(h.home, ['proxy', 'exec', '--bogus', '--', 'true']), 'USAGE', 2).message).toContain('avfs proxy exec --help');
    expect(expectError(await avfs(h.home, ['--vault', 'v', 'proxy', 'exec', '--bogus', '--', 'true']), 'USAGE', 2).message).toContain('avfs proxy exec --help');
    const plain = await avfs(h.home, ['ls', '--bogus'], { raw: true });
    expect(plain.stderr).toContain('avfs ls --help');
    // Without --json a usage error carries its code as every other error does.
    for (const args of [['ls', '--bogus'], ['search'], ['nonsense'], ['cat', 'a', 'b']]) {
      const r = await avfs(h.home, args, { raw: true });
      expect([r.code, r.stdout, r.stderr.split('\n')[0]!.replace(/\x1b\[[0-9;]*m/g, '')], args.join(' ')).toEqual([2, '', expect.stringMatching(/^error \[USAGE\] /)]);
    }
    // Content that starts with '-' reads as an option: the message says how to give it (after --), in both forms.
    expect(expectError(await avfs(h.home, ['write', '/todo.md', '- buy milk']), 'USAGE', 2).message).toContain("goes after --, as in: avfs write /todo.md -- '- buy milk'");
    expect((await avfs(h.home, ['write', '/todo.md', '- buy milk'], { raw: true })).stderr).toContain('goes after --');
    expect((await avfs(h.home, ['ls', '--bogus'], { raw: true })).stderr).not.toContain('goes after --');
  });

  it('avfs help proxy exec shows the help of proxy exec', async () => {
    const r = await avfs(h.home, ['help', 'proxy', 'exec'], { raw: true });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain('Usage: avfs proxy exec');
  });

  it('avfs help <a word that is no command> is USAGE unknown command (it showed the whole help as "a command is needed")', async () => {
    const err = expectError(await avfs(h.home, ['help', 'bogus']), 'USAGE', 2);
    expect([err.reason, err.message]).toEqual(['unknown_command', "unknown command 'bogus' (avfs --help lists them)"]);
    expect(expectOk(await avfs(h.home, ['help', 'snapshot'])).help).toContain('Usage: avfs checkpoint|snapshot');
  });

  it('counts agree with their nouns (1 file)', async () => {
    expectOk(await avfs(h.home, ['write', '/a.txt', 'x']));
    const saved = await avfs(h.home, ['checkpoint', 'save', 'one'], { raw: true });
    expect(saved.stderr).toContain('(1 file,');
  });

  it('restoring one deleted file reports one re-created file and nothing else (the root only changed its time)', async () => {
    expectOk(await avfs(h.home, ['write', '/a.txt', 'x']));
    expectOk(await avfs(h.home, ['write', '/b.txt', 'y']));
    expectOk(await avfs(h.home, ['checkpoint', 'save', 'cp']));
    expectOk(await avfs(h.home, ['rm', '/a.txt']));
    expect(expectOk(await avfs(h.home, ['checkpoint', 'restore', 'cp']))).toMatchObject({ added: 1, modified: 0, deleted: 0 });
  });
});

/** Runs the built avfs in a shell line (for redirections execa cannot make: a closed fd, /dev/full). */
function inShell(line: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8', env: { ...process.env, AVFS_HOME: h.home, AVFS_VAULT: '', AVFS: `node ${BIN}` } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('--json with a value, and output that cannot be written', () => {
  it('--json=true, --json=1, --json=false: USAGE json_value as one JSON document (commander left stdout empty)', async () => {
    for (const args of [['--json=true', 'ls'], ['ls', '--json=1'], ['--json=false', 'ls']]) {
      const r = await avfs(h.home, args, { raw: true });
      expect(r.code, args.join(' ')).toBe(2);
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({ ok: false, error: { code: 'USAGE', reason: 'json_value' } });
      expect(r.stderr).toBe('');
    }
    // After --, it is an operand like any other.
    expectOk(await avfs(h.home, ['write', '/j.txt', '--', '--json=1']));
    expect((await avfs(h.home, ['cat', '/j.txt'], { raw: true })).stdout).toBe('--json=1');
  });

  it('--vault or --home given twice is USAGE and acts on neither (the last one was used silently)', async () => {
    for (const vault of ['a', 'b']) expectOk(await avfs(h.home, ['vault', 'create', vault]));
    for (const args of [['--vault', 'a', '--vault', 'b'], ['--vault=a', 'write', '/x', 'y', '--vault', 'b'], ['--home', h.home, '--home', h.home]]) {
      const line = args.includes('write') ? args : [...args, 'write', '/x', 'y'];
      const r = await avfs(h.home, line);
      expect(r.code, line.join(' ')).toBe(2);
      expect(r.json, line.join(' ')).toMatchObject({ ok: false, error: { code: 'USAGE', reason: 'given_twice', message: expect.stringContaining('given twice') } });
    }
    for (const vault of ['a', 'b']) expectError(await avfs(h.home, ['--vault', vault, 'cat', '/x']), 'NOT_FOUND', 3);
    // diff's own --vault (the other side) is not the global one; given twice after diff, it is
    // refused too (the first one was dropped: "work in a, compare with b" compared with b in the vault in use).
    expectOk(await avfs(h.home, ['--vault', 'a', 'diff', '--vault', 'b']));
    expect(expectError(await avfs(h.home, ['diff', '--vault', 'a', '--vault', 'b']), 'USAGE', 2)).toMatchObject({ reason: 'given_twice' });
    // So is a find filter given twice (the last one was used: --type f --type d found only directories).
    for (const twice of [['--type', 'f', '--type', 'd'], ['--name', '*.md', '--name', '*.txt'], ['--depth', '1', '--depth', '2'], ['-n', '1', '--limit', '5']]) {
      expect(expectError(await avfs(h.home, ['find', '/', ...twice]), 'USAGE', 2), twice.join(' ')).toMatchObject({ reason: 'given_twice' });
    }
  });

  it('stdout on a full device: one line on stderr and exit 1, not an uncaught ENOSPC stack trace', () => {
    for (const json of ['--json ', '']) {
      const r = inShell(`$AVFS ${json}ls > /dev/full`);
      expect(r.code, json).toBe(1);
      expect(r.stderr).toMatch(/^avfs: the output could not be written to stdout \(ENOSPC\)[^\n]*\n$/);
    }
  });
});

describe('write from stdin', () => {
  it('a directory on stdin is IS_A_DIRECTORY and writes nothing; /dev/null, read-only or read-write (subprocess.DEVNULL), is an empty file', () => {
    const dir = inShell('$AVFS --json write /x --stdin < /');
    expect([dir.code, JSON.parse(dir.stdout).error.code]).toEqual([2, 'IS_A_DIRECTORY']);
    expect(JSON.parse(inShell('$AVFS --json ls').stdout).entries).toEqual([]);
    for (const redirect of ['< /dev/null', '<> /dev/null']) {
      const empty = inShell(`$AVFS --json write /e --stdin ${redirect}`);
      expect([empty.code, JSON.parse(empty.stdout).size], redirect).toEqual([0, 0]);
    }
  });
});

describe('write --from', () => {
  it('of a host directory is IS_A_DIRECTORY (exit 2) and writes nothing, with and without -a', async () => {
    for (const extra of [[], ['-a']]) {
      const err = expectError(await avfs(h.home, ['write', '/d', '--from', h.dir, ...extra]), 'IS_A_DIRECTORY', 2);
      expect(err.file).toBe(h.dir);
    }
    expectError(await avfs(h.home, ['cat', '/d']), 'NOT_FOUND', 3);
  });

  it('of - or an empty path is USAGE pointing to stdin (- as the content, or --stdin), and writes nothing', async () => {
    for (const from of ['-', '']) {
      const err = expectError(await avfs(h.home, ['write', '/s', '--from', from]), 'USAGE', 2);
      expect(err.message).toContain('--stdin');
    }
    expectError(await avfs(h.home, ['cat', '/s']), 'NOT_FOUND', 3);
  });
});

describe('progress on long work', () => {
  it('write --from of a large host file shows a progress bar on a terminal, and none in a pipe', async () => {
    const big = join(h.dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(40 * 1024 * 1024, 7));
    const shown = await onTerminal(`node ${BIN} write /big.bin --from ${big}`);
    expect(shown).toMatch(/writing \[#*\.*\] .*MiB\/40(\.0)? MiB/);
    const piped = await avfs(h.home, ['write', '/big2.bin', '--from', big], { raw: true });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('writing [');
  });

  it('import shows the storing of the files, then the linking of the entries, each with its own bar, on a terminal', async () => {
    const tree = join(h.dir, 'import-tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(join(tree, 'sub', `f${i}.txt`), `file ${i}`);
    const shown = await onTerminal(`node ${BIN} import ${tree} /imported`);
    // 302 entries: the tree's root, sub and the 300 files; both bars end full, storing first.
    const storing = shown.search(/importing \(storing\) \[#+\] 302\/302/);
    const linking = shown.search(/importing \(linking\) \[#+\] 302\/302/);
    expect(storing, shown).toBeGreaterThanOrEqual(0);
    expect(linking, shown).toBeGreaterThan(storing);
    expect(shown).toMatch(/imported 300 files/);
  });

  it('checkpoint restore of many paths shows a progress bar on a terminal, and none in a pipe or with --json', async () => {
    const tree = join(h.dir, 'tree');
    mkdirSync(tree);
    for (let i = 0; i < 400; i++) writeFileSync(join(tree, `f${i}.txt`), `v1 ${i}`);
    expectOk(await avfs(h.home, ['import', tree, '/t']));
    expectOk(await avfs(h.home, ['checkpoint', 'save', 'one']));
    expectOk(await avfs(h.home, ['rm', '-r', '/t']));
    const shown = await onTerminal(`node ${BIN} checkpoint restore one`);
    expect(shown).toMatch(/restoring \[#+\] (\d+)\/\1/); // every path applied (the root gets its time back too)
    expect(shown).toMatch(/restored one: 401 re-created/);
    expectOk(await avfs(h.home, ['rm', '-r', '/t']));
    const piped = await avfs(h.home, ['checkpoint', 'restore', 'one'], { raw: true });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('restoring [');
    expectOk(await avfs(h.home, ['rm', '-r', '/t']));
    expect(await onTerminal(`node ${BIN} checkpoint restore one --json`)).not.toContain('restoring [');
  });

  it('sync of many changed paths shows comparing, then writing, each ending full, on a terminal; none with --json', async () => {
    const project = join(h.dir, 'project');
    mkdirSync(project);
    for (let i = 0; i < 300; i++) writeFileSync(join(project, `f${i}.txt`), `v1 ${i}`);
    expectOk(await avfs(h.home, ['import', '--track', project, '/p']));
    for (const args of [['rm', '-r', '/p'], ['mkdir', '/p']]) expectOk(await avfs(h.home, args));
    const next = join(h.dir, 'next');
    mkdirSync(next);
    for (let i = 0; i < 300; i++) writeFileSync(join(next, `f${i}.txt`), `v2 ${i}`);
    expectOk(await avfs(h.home, ['import', next, '/p/sub']));
    const shown = await onTerminal(`node ${BIN} sync /p`);
    // 300 removals and 301 new paths (sub and its files) are written; more are compared (the
    // removed files, the new ones, their directories).
    const comparing = shown.search(/syncing \(comparing\) \[#+\] (\d+)\/\1/);
    const writing = shown.search(/syncing \(writing\) \[#+\] 601\/601/);
    expect(comparing, shown).toBeGreaterThanOrEqual(0);
    expect(writing, shown).toBeGreaterThan(comparing);
    expect(readFileSync(join(project, 'sub', 'f299.txt'), 'utf8')).toBe('v2 299');
    expectOk(await avfs(h.home, ['rm', '-r', '/p/sub']));
    expect(await onTerminal(`node ${BIN} sync /p --json`)).not.toContain('syncing (');
  });

  it('vault merge of many paths shows comparing, then applying, on a terminal', async () => {
    expectOk(await avfs(h.home, ['vault', 'fork', 'default', 'try']));
    const tree = join(h.dir, 'tree');
    mkdirSync(tree);
    for (let i = 0; i < 300; i++) writeFileSync(join(tree, `f${i}.txt`), `v1 ${i}`);
    expectOk(await avfs(h.home, ['--vault', 'try', 'import', tree, '/t']));
    const shown = await onTerminal(`node ${BIN} vault merge try`);
    const comparing = shown.search(/merging \(comparing\) \[#+\] (\d+)\/\1/);
    const applying = shown.search(/merging \(applying\) \[#+\] 301\/301/);
    expect(comparing, shown).toBeGreaterThanOrEqual(0);
    expect(applying, shown).toBeGreaterThan(comparing);
    expect((await avfs(h.home, ['cat', '/t/f299.txt'], { raw: true })).stdout).toBe('v1 299');
    // Its undo, too (scale round: 8.7 s silent at 50k paths).
    const undone = await onTerminal(`node ${BIN} vault merge try --undo`);
    expect(undone).toMatch(/undoing the merge \(comparing\) \[#+\] (\d+)\/\1/);
    expect(undone).toMatch(/undoing the merge \(applying\) \[#+\] 301\/301/);
    expectError(await avfs(h.home, ['cat', '/t/f299.txt']), 'NOT_FOUND', 3);
  });
});

describe('the docs round of stop 57: what the help and README say is what happens', () => {
  it('the undo hint after merge --into names the target; diff of a path whose previous version was pruned is VERSION_NOT_FOUND version_pruned, not a new file', async () => {
    expectOk(await avfs(h.home, ['vault', 'create', 'p']));
    expectOk(await avfs(h.home, ['vault', 'fork', 'p', 'c']));
    expectOk(await avfs(h.home, ['--vault', 'p', 'write', '/f', 'from p']));
    const merged = await avfs(h.home, ['vault', 'merge', 'p', '--into', 'c'], { raw: true });
    expect(merged.code, merged.stderr).toBe(0);
    const hint = /undo: (avfs vault merge [^;]*)/.exec(merged.stderr)?.[1];
    expect(hint).toBe('avfs vault merge p --into c --undo');
    expectOk(await avfs(h.home, hint!.split(' ').slice(1)));
    for (const n of [1, 2, 3, 4]) expectOk(await avfs(h.home, ['--vault', 'p', 'write', '/g', `v${n}\n`]));
    expectOk(await avfs(h.home, ['--vault', 'p', 'prune', '/', '--keep', '1']));
    expect(expectError(await avfs(h.home, ['--vault', 'p', 'diff', '/g']), 'VERSION_NOT_FOUND', 3)).toMatchObject({ reason: 'version_pruned', version: 3 });
  });

  it('import reports where a file landed; proxy policy check names itself when the command is missing, and judges --env', async () => {
    expectOk(await avfs(h.home, ['mkdir', '/docs']));
    const notes = join(h.dir, 'notes.md');
    writeFileSync(notes, '# notes\n');
    expect(expectOk(await avfs(h.home, ['import', notes, '/docs'])).path).toBe('/docs/notes.md');
    expect(expectOk(await avfs(h.home, ['import', notes])).path).toBe('/notes.md');
    expect(expectError(await avfs(h.home, ['proxy', 'policy', 'check']), 'USAGE', 2).message).toContain('avfs proxy policy check [options]');
    expect(expectOk(await avfs(h.home, ['proxy', 'policy', 'check', '--env', 'PATH=:/usr/bin', '--', 'ls'])).decision).toMatchObject({ action: 'allow_with_checkpoint', rule: 'computed-program' });
    expect(expectOk(await avfs(h.home, ['proxy', 'policy', 'check', '--', 'ls'])).decision).toMatchObject({ action: 'allow' });
    expect(expectError(await avfs(h.home, ['proxy', 'exec', '--timeout', '1e3', '--', 'true']), 'USAGE', 2).message).toContain('milliseconds');
  });
});

describe('bash completion', () => {
  /**
   * What `avfs completion bash` offers for a command line (its last word being completed), run in
   * bash in the test's directory with the built avfs on PATH and AVFS_VAULT set to `vault`.
   */
  async function bashCompleter(vault: string): Promise<(...words: string[]) => string[]> {
    const bin = join(h.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'avfs'), `#!/bin/sh\nexec node ${BIN} "$@"\n`);
    chmodSync(join(bin, 'avfs'), 0o755);
    const script = expectOk(await avfs(h.home, ['completion', 'bash'])).script as string;
    return (...words) => {
      const r = spawnSync(
        'bash',
        ['-c', `${script}\nCOMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _avfs; printf '%s\\n' "\${COMPREPLY[@]}"`, 'complete', 'avfs', ...words],
        { encoding: 'utf8', cwd: h.dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, AVFS_HOME: h.home, AVFS_VAULT: vault } },
      );
      return r.stdout.split('\n').filter(Boolean);
    };
  }

  it('completes command words at any depth, vault names where a vault is expected, and never hidden options', async () => {
    for (const name of ['alpha', 'beta']) expectOk(await avfs(h.home, ['vault', 'create', name]));
    const complete = await bashCompleter('');
    expect(complete('vault', '')).toEqual(['create', 'list', 'use', 'fork', 'delete', 'info', 'merge']);
    expect(complete('vault', 'use', '')).toEqual(['alpha', 'beta']);
    expect(complete('--vault', 'a')).toEqual(['alpha']);
    expect(complete('proxy', 'exec', '--tim')).toEqual(['--timeout']);
    expect(complete('ls', '/x', '--al')).toEqual(['--all']);
    const mountOptions = complete('mount', '--');
    expect(mountOptions).toContain('--read-only');
    expect(mountOptions).not.toContain('--session-id');
  });

  // Twenty completions, each a bash running the CLI: 10 s on a quiet machine, 190 s when the
  // 2-core machine ran three other loads beside the suite.
  it('completes vault paths from the vault (the one --vault names), host paths where a host path goes, and nothing for other values', { timeout: 360_000 }, async () => {
    for (const name of ['alpha', 'beta']) expectOk(await avfs(h.home, ['vault', 'create', name]));
    expectOk(await avfs(h.home, ['--vault', 'alpha', 'write', '/src/main.ts', 'x', '--parents']));
    expectOk(await avfs(h.home, ['--vault', 'alpha', 'write', '/my dir/a b.txt', 'x', '--parents']));
    expectOk(await avfs(h.home, ['--vault', 'beta', 'write', '/beta-only.txt', 'x']));
    // Host files beside the shell, which a vault path must not be completed from.
    writeFileSync(join(h.dir, 'srchost.txt'), '');
    const complete = await bashCompleter('alpha');
    expect(complete('cat', '/s')).toEqual(['/src/']);
    expect(complete('cat', '/src/')).toEqual(['/src/main.ts']);
    expect(complete('cat', '/my')).toEqual(['/my dir/']);
    expect(complete('cat', '/my dir/')).toEqual(['/my dir/a b.txt']);
    expect(complete('--vault', 'beta', 'ls', '/')).toEqual(['/beta-only.txt']);
    expect(complete('mv', '/src/main.ts', '/s')).toEqual(['/src/']);
    expect(complete('import', 'srch')).toEqual(['srchost.txt']);
    expect(complete('import', 'srchost.txt', '/s')).toEqual(['/src/']);
    expect(complete('export', '/src', 'srch')).toEqual(['srchost.txt']);
    expect(complete('write', '/n.txt', '--from', 'srch')).toEqual(['srchost.txt']);
    expect(complete('write', '/n.txt', 's')).toEqual([]); // the content
    expect(complete('checkpoint', 'save', '--message', 's')).toEqual([]);
    expect(complete('vault', 'fork', 'alpha', '')).toEqual([]); // the new vault's name
    expect(complete('vault', 'merge', 'alpha', '--into', 'b')).toEqual(['beta']);
    expect(complete('proxy', 'exec', '--', 'bash', 'srch')).toEqual(['srchost.txt']);
    // A letter takes a value in one command and not in another (log -n 5; prune -n is --dry-run).
    expect(complete('prune', '-n', '/s')).toEqual(['/src/']);
    expect(complete('log', '-n', '5', '/s')).toEqual(['/src/']);
    expect(complete('log', '-n', '')).toEqual([]);
  });
});

describe('a file path that ends with "/"', () => {
  it('write, append, cp and mv refuse it (IS_A_DIRECTORY or NOT_A_DIRECTORY) and change nothing; onto a directory it still means "inside"', async () => {
    const run = (args: string[]) => avfs(h.home, args);
    expectOk(await run(['write', '/f', 'one']));
    expectOk(await run(['mkdir', '/dir']));
    const listing = async () => (await run(['ls', '/', '-a'])).json.entries.map((e: { path: string; version: number }) => [e.path, e.version]);
    const before = await listing();
    expectError(await run(['write', '/nodir/', 'x']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['write', '/nodir/.', 'x']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['write', '/f/', 'x']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['write', '/f/', 'x', '--append']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['write', '/dir/', 'x']), 'IS_A_DIRECTORY', 2);
    expectError(await run(['cp', '/f', '/new/']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['mv', '/f', '/new/']), 'NOT_A_DIRECTORY', 2);
    expect(await listing()).toEqual(before);
    expect(expectOk(await run(['cp', '/f', '/dir/']))).toMatchObject({ to: '/dir/f' });
    expect(expectOk(await run(['mv', '/f', '/dir/']))).toMatchObject({ to: '/dir/f' });
  });

  it('rm of a symlink to a directory given as link/ names the directory: refused without -r (IS_A_DIRECTORY) and with it, never the link removed in its place', async () => {
    const host = join(h.dir, 'links');
    mkdirSync(join(host, 'dir'), { recursive: true });
    writeFileSync(join(host, 'dir', 'f'), 'f');
    spawnSync('ln', ['-s', 'dir', join(host, 'dl')]);
    expectOk(await avfs(h.home, ['import', host, '/']));
    expectError(await avfs(h.home, ['rm', '/dl/']), 'IS_A_DIRECTORY', 2);
    expectError(await avfs(h.home, ['rm', '-r', '/dl/']), 'NOT_A_DIRECTORY', 2);
    expect(expectOk(await avfs(h.home, ['ls', '/'])).entries.map((e: { name: string }) => e.name)).toEqual(['dir', 'dl']);
    expect(expectOk(await avfs(h.home, ['ls', '/dir'])).entries.map((e: { name: string }) => e.name)).toEqual(['f']);
    expectOk(await avfs(h.home, ['rm', '/dl']));
  });
});

describe('-q, --quiet', () => {
  it('hides warnings as well as messages (a quota set below usage), and a warning shown ends its line', async () => {
    expectOk(await avfs(h.home, ['write', '/b', '-'], { input: 'x'.repeat(5000) }));
    const loud = await avfs(h.home, ['quota', 'set', '--max-bytes', '1KB'], { raw: true });
    expect(loud.code).toBe(0);
    expect(loud.stderr).toMatch(/^warning: vault default is over max_bytes.*\n?$/);
    expect(loud.stderr.split('\n').filter((l) => l.startsWith('warning:'))).toHaveLength(1);
    const quiet = await avfs(h.home, ['quota', 'set', '--max-bytes', '1KB', '-q'], { raw: true });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toContain('bytes');
  });
});

describe('names with control characters in human output', () => {
  // A name may hold any character but NUL and "/": a newline would forge a line of a listing, an
  // escape would send the terminal a command. People see them escaped (\xNN per UTF-8 byte, "\\"
  // for a backslash); --json keeps every name exact.
  // Invisible characters too (a zero-width space, a soft hyphen, a BOM, a tag character), so that
  // two names never look the same; a zero-width joiner inside an emoji stays.
  const names = ['/n\n  - important', '/\r\x1b[1A\x1b[2K\rx', '/bidi\u202etxt.exe', '/c1\u009b2J', '/back\\slash', '/zw\u200bsp', '/soft\u00adhy', '/bom\ufeff', '/tag\u{e0041}', '/fam\u{1f468}\u200d\u{1f467}'];
  const shown = ['/n\\x0a  - important', '/\\x0d\\x1b[1A\\x1b[2K\\x0dx', '/bidi\\xe2\\x80\\xaetxt.exe', '/c1\\xc2\\x9b2J', '/back\\\\slash', '/zw\\xe2\\x80\\x8bsp', '/soft\\xc2\\xadhy', '/bom\\xef\\xbb\\xbf', '/tag\\xf3\\xa0\\x81\\x81', '/fam\u{1f468}\u200d\u{1f467}'];
  const unsafe = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u200b\u00ad\ufeff]|\u{e0041}/u;

  it('ls, ls -l, tree, find, grep, search, log, diff and the messages of write, rm and errors show them escaped; --json is exact', async () => {
    const run = (args: string[]) => avfs(h.home, args, { raw: true });
    expectOk(await avfs(h.home, ['checkpoint', 'save', 'empty']));
    for (const name of names) {
      const w = await run(['write', name, 'needle']);
      expect(w.code).toBe(0);
      expect(w.stderr).toBe(`wrote ${shown[names.indexOf(name)]} (6 bytes, v1)`);
    }
    const sorted = [...names].sort();
    const expected = sorted.map((n) => shown[names.indexOf(n)]!);
    const lines = async (args: string[]) => {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(unsafe);
      return r.stdout.split('\n');
    };
    expect(await lines(['ls'])).toEqual(expected.map((p) => p.slice(1)));
    expect((await lines(['ls', '-l'])).map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(expected.map((p) => p.slice(1).split(' ').pop()));
    expect((await lines(['tree'])).slice(1, 1 + names.length).map((l) => l.slice(4))).toEqual(expected.map((p) => p.slice(1)));
    expect(await lines(['find', '/', '--type', 'f'])).toEqual(expected);
    expect(await lines(['grep', '-l', 'needle'])).toEqual(expected);
    expect(await lines(['grep', 'needle'])).toEqual(expected.map((p) => `${p}:needle`));
    expect((await lines(['search', 'needle'])).filter((l) => l.startsWith('/')).map((l) => l.replace(/ \(.*\)$/, '')).sort()).toEqual([...expected].sort());
    const log = await lines(['log']);
    for (const p of expected) expect(log.filter((l) => l.endsWith(`  ${p}`))).toHaveLength(1);
    expect((await lines(['diff', '--checkpoint', 'empty'])).filter((l) => l.startsWith('A')).map((l) => l.replace(/^A {2}| {2}\(.*\)$/g, ''))).toEqual(expected);
    expect((await lines(['diff', '--checkpoint', 'empty', '--patch'])).filter((l) => l.startsWith('diff avfs'))).toEqual(expected.map((p) => `diff avfs a${p} b${p}`));
    const rm = await run(['rm', names[0]!]);
    expect(rm.stderr).toBe(`removed ${shown[0]}`);
    const missing = await run(['cat', names[0]!]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(shown[0]!);
    expect(missing.stderr).not.toMatch(unsafe);

    // A host path in a message too (the export's destination).
    const dest = join(h.dir, 'out\n  - forged\x1b[5m');
    const exported = await run(['export', '/bidi\u202etxt.exe', dest]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain(`to ${join(h.dir, 'out\\x0a  - forged\\x1b[5m')}`);
    expect(exported.stderr).not.toMatch(unsafe);

    // JSON is the data: every name exactly as stored.
    const listed = expectOk(await avfs(h.home, ['ls']));
    expect(listed.entries.map((e: { path: string }) => e.path)).toEqual(sorted.filter((n) => n !== names[0]));
  });
});

describe('notes with control characters in human output', () => {
  it('a checkpoint message, a tag set with meta and a policy verdict show them escaped, so a note cannot forge a row or send the terminal escapes', async () => {
    const run = (args: string[]) => avfs(h.home, args, { raw: true });
    const note = 'ok\ngood-state  2026-12-07 13:00:00  1  1 B  forged row\x1b[31m';
    expect((await run(['checkpoint', 'save', 'real', '-m', note])).code).toBe(0);
    const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;
    const list = await run(['checkpoint', 'list']);
    expect(list.stdout.trim().split('\n')).toHaveLength(2); // the header and one row
    expect(list.stdout).toContain('ok\\x0agood-state');
    const info = await run(['checkpoint', 'info', 'real']);
    expect(info.stdout).toContain('forged row\\x1b[31m');
    for (const out of [list.stdout, info.stdout]) expect(out.replace(/\n/g, '')).not.toMatch(unsafe);
    const meta = await run(['meta', '/', 'k', 'v\x1b[2J']);
    expect(meta.stderr).toBe('/: k = v\\x1b[2J');
    const verdict = await run(['proxy', 'policy', 'check', '--shell', 'ls "$(\x1b[2J)"; \x1b[2Jrm -r x']);
    expect(verdict.stdout).toContain('\\x1b[2Jrm');
    expect(verdict.stdout.replace(/\n/g, '')).not.toMatch(unsafe);
    expect(expectOk(await avfs(h.home, ['checkpoint', 'info', 'real'])).checkpoint.message).toBe(note); // --json exact
  });
});

describe('export to `-`', () => {
  it('is USAGE (a tree has no stdout form), and makes no directory named "-"; ./- names one', async () => {
    expectOk(await avfs(h.home, ['write', '/x', 'hi']));
    const cwd = join(h.dir, 'out');
    mkdirSync(cwd);
    expectError(await avfs(h.home, ['export', '/', '-'], { cwd }), 'USAGE', 2);
    expect(spawnSync('ls', ['-A', cwd], { encoding: 'utf8' }).stdout).toBe('');
    expect(expectOk(await avfs(h.home, ['export', '/', './-'], { cwd })).destination).toBe(join(cwd, '-'));
    expect(readFileSync(join(cwd, '-', 'x'), 'utf8')).toBe('hi');
  });
});

describe('SIGUSR1', () => {
  it('opens no debugger port: a long-lived avfs (here the MCP server) ignores it (Node listens on 127.0.0.1:9229 for code to run otherwise)', async () => {
    const child = execa('node', [BIN, 'mcp'], { env: { AVFS_HOME: h.home }, reject: false, stdin: 'pipe' });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Once it answers, it has loaded the CLI (and bin/avfs.js has set its listeners).
    child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGUSR1');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(child.exitCode).toBeNull(); // still running: the signal neither ended it
    child.stdin!.end();
    await child;
    expect(stderr).not.toMatch(/Debugger listening|inspector/i); // "Starting inspector … failed" where the port is taken
  });
});
