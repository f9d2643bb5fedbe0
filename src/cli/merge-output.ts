import chalk from 'chalk';
import type { ChangeJson, ConflictJson } from '../store/merge.js';
import { printable, type Output } from './output.js';

const MARK = { added: chalk.green('A'), modified: chalk.yellow('M'), deleted: chalk.red('D') } as const;

/**
 * The lines of a merge or sync report (`vault merge`, `sync`): one per change, then one per
 * conflict. A sync's lines name host paths (`path`/`host` are its vault and host roots), the other
 * end of a move too.
 */
export function renderMergeLines(r: { changes: Array<ChangeJson & { host_path?: string }>; conflicts: ConflictJson[]; path?: string; host?: string }, out: Output): void {
  const shown = (vaultPath: string) => (r.host !== undefined && r.path !== undefined ? r.host + vaultPath.slice(r.path === '/' ? 0 : r.path.length) : vaultPath);
  for (const c of r.changes) {
    const notes = [
      c.renamed_from ? `moved from ${printable(shown(c.renamed_from))}` : '',
      c.renamed_to ? `moved to ${printable(shown(c.renamed_to))}` : '',
      c.class === 'merged' ? 'merged' : '',
      c.link_of ? `a hard link of ${printable(shown(c.link_of))}` : '',
    ].filter(Boolean);
    out.data(`${MARK[c.action]}  ${printable(c.host_path ?? c.path)}${notes.length ? chalk.dim(` (${notes.join(', ')})`) : ''}\n`);
  }
  for (const c of r.conflicts) {
    const how = c.resolution ? `resolved: ${c.resolution}` : chalk.red('unresolved');
    out.data(`${chalk.red('C')}  ${printable(c.path)}  ${c.kind.replace('_', '/')}${c.binary ? ' (binary)' : ''}, ${how}\n`);
  }
}

/** "1 added, 2 modified, 0 deleted, 0 conflict(s)" */
export const countsLine = (s: { added: number; modified: number; deleted: number; conflicts: number }) =>
  `${s.added} added, ${s.modified} modified, ${s.deleted} deleted, ${s.conflicts} conflict(s)`;
