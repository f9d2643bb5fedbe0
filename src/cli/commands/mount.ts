import { Command, Option } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples, MAX_TIMER_MS, zInt } from '../command.js';
import type { CliContext } from '../context.js';
import { printable, table, type Output } from '../output.js';
import type { MountSessionInfo } from '../../mount/index.js';
import type { LayoutNode } from '../../core/sandbox-layout.js';
import { envMs } from '../../core/units.js';

// The mount code loads fuse-native; it is imported only when one of these commands runs.
const mountApi = () => import('../../mount/index.js');

/** What `mount --list` and `mounts` report per session (stable JSON field names). */
function sessionJson(s: MountSessionInfo) {
  return {
    session_id: s.session_id,
    vault: s.vault,
    dir: s.dir,
    pid: s.pid,
    state: s.state,
    since: s.since,
    read_only: s.read_only,
    exec_id: s.exec_id,
    views: !!s.views,
    log: s.log,
  };
}

/** How long the proxy views server stays up without a view: AVFS_VIEWS_IDLE_MS, else 2 minutes. */
const viewsIdleMs = (): number => envMs(process.env.AVFS_VIEWS_IDLE_MS, 120_000);

async function listSessions(ctx: CliContext) {
  const { listMounts, cleanStaleSessions } = await mountApi();
  const home = ctx.store.home;
  const cleaned = await cleanStaleSessions(home);
  return { mounts: listMounts(home).map(sessionJson), cleaned_stale: cleaned.map((s) => s.dir) };
}

function renderList(r: Awaited<ReturnType<typeof listSessions>>, out: Output) {
  for (const dir of r.cleaned_stale) out.info(`cleaned up the dead mount on ${printable(dir)} (its server had exited)`);
  if (r.mounts.length === 0) return out.info('no live mounts');
  const rows = [['VAULT', 'DIR', 'PID', 'STATE', 'SINCE'].map((h) => chalk.dim(h))];
  for (const m of r.mounts) {
    rows.push([m.views ? '(proxy views)' : m.vault, printable(m.dir), String(m.pid), m.state + (m.read_only ? ' (ro)' : ''), m.since.replace('T', ' ').slice(0, 19)]);
  }
  out.data(table(rows));
}

export const mountCommand = new Command('mount')
  .summary('mount the vault on a host directory (FUSE) for real tools')
  .description(
    'mount the vault on an empty host directory (FUSE) so real tools (git, npm, editors) work in it; ' +
      'everything written lands in the vault history. Served by a background process until `avfs unmount`. ' +
      `Changes made with the CLI while mounted show up in the mount within 1 s (the kernel's attribute cache). ` +
      'Needs FUSE: apt-get install -y libfuse2 fuse3',
  )
  .argument('[dir]', 'empty host directory to mount on')
  .option('--foreground', 'serve in this process until SIGINT/SIGTERM, then unmount')
  .option('--read-only', 'mount read-only')
  .option('--allow-other', 'let other users use the mount too (always so as root; otherwise needs user_allow_other in /etc/fuse.conf); the kernel checks their access by mode and owner')
  .option('--list', 'list live mounts (same as `avfs mounts`)')
  .option('--timeout <ms>', 'how long to wait for the mount to answer', '20000')
  .addOption(new Option('--session-id <id>', 'session id chosen by the parent process').hideHelp())
  .addOption(new Option('--owner <pid:start>', 'the process this mount serves; the server unmounts when it dies').hideHelp())
  .addOption(new Option('--scratch-dir <dir>', "the owner's temporary directory holding the mountpoint; removed with it if the owner dies").hideHelp())
  .addOption(new Option('--views <socket>', 'serve proxy exec views of the home, controlled over this socket').hideHelp())
  .addHelpText(
    'after',
    examples([
      'mkdir -p /tmp/work && avfs mount /tmp/work',
      'avfs mount /tmp/ro --vault main --read-only --json',
      'avfs mount /tmp/work --foreground        # Ctrl-C unmounts',
      'avfs mount --list',
      'avfs unmount /tmp/work',
    ]),
  )
  .action(
    action({
      options: z.object({
        foreground: z.boolean().optional(),
        readOnly: z.boolean().optional(),
        allowOther: z.boolean().optional(),
        list: z.boolean().optional(),
        timeout: zInt(100, MAX_TIMER_MS),
        sessionId: z.string().regex(/^[a-z0-9-]{1,64}$/).optional(),
        owner: z
          .string()
          .regex(/^\d+:\d*$/, 'expected <pid>:<start time>')
          .transform((v) => ({ pid: Number(v.split(':')[0]), pid_start: v.split(':')[1] ? Number(v.split(':')[1]) : null }))
          .optional(),
        scratchDir: z.string().min(1).optional(),
        views: z.string().min(1).optional(),
      }),
      run: async ([dir], opts, ctx): Promise<Record<string, unknown>> => {
        if (opts.list || dir === undefined) {
          if (dir !== undefined) throw new AvfsError('USAGE', '--list takes no directory');
          if (!opts.list) throw new AvfsError('USAGE', 'missing the directory to mount on (or --list)');
          ctx.refuseVaultOptionWith('--list', undefined, 'lists the mounts of every vault in the home');
          return { action: 'list', ...(await listSessions(ctx)) };
        }
        const home = ctx.store.home;
        // A views server serves every vault of the home (one per exec's view).
        const vault = opts.views ? '' : ctx.vaultName();
        const execId = process.env.AVFS_EXEC_ID || undefined;
        if (opts.foreground) {
          const { serveMount } = await import('../../mount/server.js');
          const session = await serveMount({
            home,
            vault,
            dir,
            readOnly: opts.readOnly,
            allowOther: opts.allowOther,
            sessionId: opts.sessionId,
            execId,
            owner: opts.owner,
            scratchDir: opts.scratchDir,
            // Set by the proxy for a private mount that is a sandbox's root (src/mount/sandbox-view.ts).
            ...(process.env.AVFS_SANDBOX_LAYOUT ? { layout: JSON.parse(process.env.AVFS_SANDBOX_LAYOUT) as LayoutNode[] } : {}),
            ...(opts.views ? { views: { socket: opts.views, idleMs: viewsIdleMs() } } : {}),
            info: (m) => ctx.out.info(m),
          });
          // fuse-native keeps a libuv handle referenced after the kernel mount is gone: end the
          // process once the result is printed (stdout to a file, pipe or terminal is written
          // synchronously on Linux; a no-op if the process is exiting anyway).
          setTimeout(() => process.exit(), 20).unref();
          return { action: 'serve', ...sessionJson(session) };
        }
        const { mountVault } = await mountApi();
        const session = await mountVault({ home, vault, dir, readOnly: opts.readOnly, allowOther: opts.allowOther, execId, timeoutMs: opts.timeout });
        return { action: 'mount', ...sessionJson(session) };
      },
      render: (r, out) => {
        if (r.action === 'list') return renderList(r as unknown as Awaited<ReturnType<typeof listSessions>>, out);
        if (r.action === 'serve') return out.info(`session ${r.session_id} ended: ${r.state}`);
        out.info(`mounted vault ${r.vault} on ${printable(String(r.dir))} (pid ${r.pid}${r.read_only ? ', read-only' : ''}); unmount with: avfs unmount ${printable(String(r.dir))}`);
      },
    }),
  );

export const unmountCommand = new Command('unmount')
  .alias('umount')
  .summary('unmount a vault mounted with `avfs mount`')
  .description(
    'unmount a vault mounted with `avfs mount`: files still open make it busy (CONFLICT) unless --lazy. ' +
      'Unmounting what is not mounted is harmless; a mount whose server died is cleaned up.',
  )
  .argument('<dir>', 'the mounted directory')
  .option('-l, --lazy', 'detach now even if busy; open files keep working until closed')
  .option('--timeout <ms>', 'how long to wait for the server to save and exit', '20000')
  .addHelpText('after', examples(['avfs unmount /tmp/work', 'avfs unmount /tmp/work --lazy --json']))
  .action(
    action({
      options: z.object({ lazy: z.boolean().optional(), timeout: zInt(100, MAX_TIMER_MS) }),
      run: async ([dir], opts, ctx) => {
        ctx.refuseVaultOptionWith('unmount', undefined, 'names the mount by its directory');
        const { unmountDir } = await mountApi();
        return { ...(await unmountDir({ home: ctx.store.home, dir: dir!, lazy: opts.lazy, timeoutMs: opts.timeout })) };
      },
      render: (r, out) => {
        if (!r.was_mounted) return out.info(`${printable(r.dir)} was not mounted`);
        if (r.state === 'unmounting') return out.info(`detached ${printable(r.dir)}; its server exits when the files still open in it are closed`);
        out.info(`unmounted ${printable(r.dir)}${r.stale ? ' (its server had died; cleaned up the dead mount)' : ''}`);
      },
    }),
  );

export const mountsCommand = new Command('mounts')
  .summary('list live mounts')
  .description('list live mounts: vault, directory, server pid, since, state (same as `avfs mount --list`)')
  .addHelpText('after', examples(['avfs mounts', 'avfs mounts --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: async (_args, _opts, ctx) => {
        ctx.refuseVaultOptionWith('mounts', undefined, 'lists the mounts of every vault in the home');
        return listSessions(ctx);
      },
      render: renderList,
    }),
  );
