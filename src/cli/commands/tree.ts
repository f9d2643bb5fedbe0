import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples, zInt } from '../command.js';
import { colorName, entryJson, plural, type EntryJson } from '../output.js';


/** The deepest level tree nests: JSON.stringify (and the text rendering) recurse once per level. */
const TREE_MAX_DEPTH = 1000;

interface TreeNode extends EntryJson {
  children?: TreeNode[];
}

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
        const maxDepth = opts.depth ?? opts.level;
        const fs = ctx.vault();
        const root = fs.stat(path!);
        const rootNode: TreeNode = { ...entryJson(root), children: [] };
        const nodes = new Map<string, TreeNode>([[root.path, rootNode]]);
        const baseDepth = root.path === '/' ? 0 : root.path.split('/').length - 1;
        let files = 0;
        let directories = 0;
        for (const e of root.type === 'd' ? fs.walk(root.path) : []) {
          const depth = e.path.split('/').length - 1 - baseDepth;
          if (maxDepth !== undefined && depth > maxDepth) continue;
          if (depth > TREE_MAX_DEPTH) {
            throw new AvfsError('INVALID_ARGUMENT', `${root.path} is more than ${TREE_MAX_DEPTH} levels deep, more than tree shows (its nesting is the document's); pass --depth ${TREE_MAX_DEPTH} or less, or list it flat with find`, {
              path: root.path,
              max_depth: TREE_MAX_DEPTH,
            });
          }
          const node: TreeNode = e.type === 'd' ? { ...entryJson(e), children: [] } : entryJson(e);
          nodes.get(e.parent)?.children?.push(node);
          nodes.set(e.path, node);
          if (e.type === 'd') directories++;
          else files++;
        }
        return { vault: fs.name, path: root.path, tree: rootNode, directories, files };
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
