import { AvfsError } from '../errors.js';
import { ancestors, basename, dirname, normalizePath } from './paths.js';

/**
 * The reserved names of a sandbox root. When a vault is a sandbox's `/`, the sandbox mounts
 * the host's system directories and a fresh /proc, /dev and /tmp over it, and bubblewrap needs a
 * mountpoint (a directory, or an empty file for a file bind) or a symlink at each of those paths
 * before it can mount there. Those paths are the layout: every top-level name it contains is
 * reserved while the vault serves a sandbox, and is answered from the layout alone — synthetic,
 * unrecorded entries, never the vault's own entries of that name (which stay in the store,
 * untouched and unseen) — so bubblewrap finds its mountpoints ready and writes nothing, and two
 * runs in a row leave the vault unchanged.
 *
 * The layout is data: the proxy computes it from the host and the policy's binds, and the mount
 * (or copy mode) presents it.
 */

export type LayoutKind = 'dir' | 'file' | 'symlink';

export interface LayoutNode {
  /** Absolute, canonical path inside the sandbox. */
  path: string;
  kind: LayoutKind;
  /** For symlinks: the target, as the host has it (e.g. `usr/bin`). */
  target?: string;
}

export class SandboxLayout {
  private readonly nodes = new Map<string, LayoutNode>();
  private readonly kids = new Map<string, string[]>();

  /** Nodes in any order; the ancestors of every node become directories. A path may appear once. */
  constructor(nodes: readonly LayoutNode[]) {
    for (const node of nodes) {
      const path = normalizePath(node.path);
      if (path === '/') throw new AvfsError('INVALID_PATH', 'the sandbox root itself cannot be a reserved path', { path });
      if (node.kind === 'symlink' && !node.target) throw new AvfsError('INVALID_ARGUMENT', `reserved symlink ${path} has no target`, { path });
      const known = this.nodes.get(path);
      if (known && (known.kind !== node.kind || known.target !== node.target)) {
        throw new AvfsError('INVALID_ARGUMENT', `${path} is reserved twice, as a ${known.kind} and as a ${node.kind}`, { path });
      }
      for (const dir of ancestors(path).slice(1)) {
        const existing = this.nodes.get(dir);
        if (existing && existing.kind !== 'dir') {
          throw new AvfsError('INVALID_ARGUMENT', `${path} is inside ${dir}, which is reserved as a ${existing.kind}`, { path, parent: dir });
        }
        this.add({ path: dir, kind: 'dir' });
      }
      this.add({ path, kind: node.kind, ...(node.target ? { target: node.target } : {}) });
    }
    for (const list of this.kids.values()) list.sort();
  }

  private add(node: LayoutNode): void {
    if (this.nodes.has(node.path)) return;
    this.nodes.set(node.path, node);
    const parent = dirname(node.path);
    const list = this.kids.get(parent);
    if (list) list.push(basename(node.path));
    else this.kids.set(parent, [basename(node.path)]);
  }

  /** The reserved top-level names, sorted. */
  get topNames(): string[] {
    return this.kids.get('/') ?? [];
  }

  /** True when `path` (canonical) is answered by the layout: its top-level name is reserved. */
  covers(path: string): boolean {
    if (path === '/') return false;
    const slash = path.indexOf('/', 1);
    return this.nodes.has(slash === -1 ? path : path.slice(0, slash));
  }

  /** The layout node at a covered path (undefined: the path does not exist in the sandbox's view). */
  get(path: string): LayoutNode | undefined {
    return this.nodes.get(path);
  }

  /** Names of the layout nodes directly in a directory. */
  children(dir: string): string[] {
    return this.kids.get(dir) ?? [];
  }

  /** Every node, parents before children (the order to create them in). */
  all(): LayoutNode[] {
    return [...this.nodes.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  toJSON(): LayoutNode[] {
    return this.all();
  }
}
