import { Command } from 'commander';
import { z } from 'zod/v3';
import { revertPath } from '../../store/history.js';
import { action, examples } from '../command.js';
import { entryJson, printable } from '../output.js';
import { versionJson } from './log.js';

export const revertCommand = new Command('revert')
  .summary('undo a path\'s latest change, as a new version')
  .description(
    "undo a path's latest change, as a new version (so a revert can be reverted too): a modified file gets its previous content, a deleted file or directory comes back (with what that change removed from it), a just-created one is removed (refused with CONFLICT if later changes put something into a just-created directory). Undoing a move moves the tree back as it is now (later edits travel with it); refused with CONFLICT if the old place is taken.",
  )
  .argument('<path>', 'vault path (a deleted path too)')
  .addHelpText('after', examples(['avfs revert /notes.md', 'avfs rm -r /src && avfs revert /src', 'avfs revert /notes.md --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: ([path], _opts, ctx) => {
        const fs = ctx.vault();
        const r = revertPath(fs, path!);
        return {
          vault: fs.name,
          path: r.path,
          reverted: versionJson(r.reverted),
          restored_version: r.restored_version,
          deleted: r.entry === null,
          new_version: r.entry?.version ?? null,
          entry: r.entry ? entryJson(r.entry) : null,
          changed_paths: r.changed_paths,
          paired: r.paired,
        };
      },
      render: (r, out) => {
        const undone = `undid v${r.reverted.version} (${r.reverted.op})`;
        const restored = r.restored_version !== null ? ` (= v${r.restored_version})` : '';
        const now = r.paired ? `moved back ${r.deleted ? 'to' : 'from'} ${printable(r.paired)}` : r.deleted ? 'removed' : `now v${r.new_version}${restored}`;
        out.info(`${printable(r.path)}: ${undone}; ${now}${r.changed_paths > 1 ? ` (${r.changed_paths} entries changed)` : ''}`);
      },
    }),
  );
