import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { treeJson, type TreeNode } from '../../api/json.js';
import { action, examples, zInt } from '../command.js';
import { colorName, plural } from '../output.js';

export const treeCommand = new Command('tree')
  .description('show a directory tree')
  .argument('[path]', 'vault path', '/')
  .option('-d, --depth <n>', 'descend at most n levels')
  .option('-L, --level <n>', 'the same as --depth (as tree(1) and agentvfs spell it)')
  .addHelpText('after', examples(['avfs tree', 'avfs tree /src --depth 2', 'avfs tree -L 1 --json']))
  .action(
    action({
      options: z.object({ depth: zInt(1).optional(), level: zInt(1).optional() }),
      run: ([path], opts, ctx) => {
        if (opts.depth !== undefined && opts.level !== undefined && opts.depth !== opts.level) {
          throw new AvfsError('USAGE', '--depth and -L/--level say different things; give one');
        }
        const fs = ctx.vault();
        const root = fs.stat(path!);
        const depth = opts.depth ?? opts.level;
        return { vault: fs.name, ...treeJson(root, root.type === 'd' ? fs.walk(root.path, depth) : [], depth, '--depth') };
      },
      render: (r, out) => {
        const lines: string[] = [r.tree.path === '/' ? '/' : colorName(r.tree, r.tree.path)];
        const walk = (node: TreeNode, prefix: string) => {
          const kids = node.children ?? [];
          kids.forEach((kid, i) => {
            const last = i === kids.length - 1;
            lines.push(prefix + (last ? '└── ' : '├── ') + colorName(kid));
            walk(kid, prefix + (last ? '    ' : '│   '));
          });
        };
        walk(r.tree, '');
        lines.push('', `${plural(r.directories, 'directory', 'directories')}, ${plural(r.files, 'file', 'files')}`);
        out.data(lines.join('\n') + '\n');
      },
    }),
  );
