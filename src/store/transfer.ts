import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, symlinkSync, unlinkSync, utimesSync, writeSync, chmodSync, lutimesSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AvfsError } from '../errors.js';
import { joinPath, normalizePath } from '../core/paths.js';
import { decodeUtf8, escapeBytes } from '../core/utf8.js';
import { putContentFromFd, type ContentRef } from './blobs.js';
import type { VaultFs } from './vault-fs.js';

export interface TransferSummary {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

export type Progress = (done: number, total: number) => void;

interface HostItem {
  /** The host path as bytes: a name that is not UTF-8 must reach lstat/open exactly as it is. */
  host: Buffer;
  vault: string;
  kind: 'f' | 'd' | 'l';
  mode: number;
  mtime: number;
  atime: number;
  target?: string;
}

/** What a scan found: the items to import, and the host paths that cannot become vault paths. */
interface HostScan {
  items: HostItem[];
  /** Names (or symlink targets) that are not valid UTF-8, escaped for the error. */
  invalid: Buffer[];
}

/** Lists a host tree (not following symlinks), parents before children. */
function scanHost(host: Buffer, vaultPath: string, scan: HostScan): void {
  let st;
  try {
    st = lstatSync(host);
  } catch {
    throw hostNotFound(host);
  }
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : null;
  if (!kind) return; // sockets, fifos, devices: not representable in a vault
  const item: HostItem = { host, vault: vaultPath, kind, mode: st.mode & 0o7777, mtime: st.mtimeMs, atime: st.atimeMs };
  if (kind === 'l') {
    item.target = decodeUtf8(readlinkSync(host, { encoding: 'buffer' }));
    if (item.target === undefined) return void scan.invalid.push(host);
  }
  scan.items.push(item);
  if (kind !== 'd') return;
  for (const name of readdirSync(host, { encoding: 'buffer' }).sort(Buffer.compare)) {
    const child = Buffer.concat([host, SLASH, name]);
    const text = decodeUtf8(name);
    if (text === undefined) scan.invalid.push(child);
    else scanHost(child, joinPath(vaultPath, text), scan);
  }
}

const SLASH = Buffer.from('/');

/**
 * NOT_FOUND for a missing host path, unless its last name is there as bytes that are not UTF-8:
 * a name given as an argument arrives decoded (each bad byte as U+FFFD), so it is not found as
 * typed, and the real reason is that it cannot be a vault path.
 */
function hostNotFound(host: Buffer): AvfsError {
  const text = host.toString();
  const parent = dirname(text);
  let siblings: Buffer[] = [];
  if (text.includes('\uFFFD')) {
    try {
      siblings = readdirSync(parent, { encoding: 'buffer' });
    } catch {
      // the parent is missing too
    }
  }
  const raw = siblings.filter((name) => decodeUtf8(name) === undefined && name.toString() === basename(text));
  if (raw.length > 0) return invalidNames(raw.map((name) => Buffer.concat([Buffer.from(parent), SLASH, name])));
  return new AvfsError('NOT_FOUND', `no such host file or directory: ${text}`, { host: text });
}

/** INVALID_PATH listing host paths whose names (or symlink targets) are not UTF-8, at most 100 of them. */
function invalidNames(hosts: Buffer[]): AvfsError {
  const names = hosts.map(escapeBytes);
  return new AvfsError(
    'INVALID_PATH',
    `${names.length} host name(s) are not valid UTF-8 and cannot be vault paths; rename them (e.g. with convmv) and import again. Nothing was imported: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`,
    { names: names.slice(0, 100), count: names.length },
  );
}

/**
 * Copies a host file or tree into the vault at `vaultPath`, keeping modes, mtimes and symlinks.
 * File content is stored first, chunk by chunk (never a whole large file in memory); then every
 * entry is created in one transaction, so an import is all or nothing.
 */
export function importTree(fs: VaultFs, host: string, vaultInput: string, progress?: Progress): TransferSummary {
  let root = normalizePath(vaultInput);
  // Like cp: a single file imported onto an existing directory goes inside it.
  if (!lstatSafe(host)?.isDirectory() && fs.exists(root) && fs.stat(root).type === 'd') root = joinPath(fs.stat(root).path, basename(host));
  const scan: HostScan = { items: [], invalid: [] };
  scanHost(Buffer.from(host), root, scan);
  if (scan.invalid.length > 0) throw invalidNames(scan.invalid);
  const items = scan.items;
  const contents = new Map<string, ContentRef>();
  let done = 0;
  for (const item of items) {
    if (item.kind === 'f') {
      const fd = openSync(item.host, 'r');
      try {
        contents.set(item.vault, putContentFromFd(fs.store, fd));
      } finally {
        closeSync(fd);
      }
    }
    progress?.(++done, items.length);
  }
  const summary: TransferSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  fs.store.mutate(() => {
    for (const item of items) {
      if (item.kind === 'd') {
        fs.mkdir(item.vault, { parents: true, mode: item.mode });
        fs.chmod(item.vault, item.mode);
        summary.directories++;
      } else if (item.kind === 'l') {
        if (fs.exists(item.vault)) fs.rm(item.vault, { recursive: false });
        fs.symlink(item.target!, item.vault);
        summary.symlinks++;
      } else {
        const content = contents.get(item.vault)!;
        fs.writeContent(item.vault, content, { parents: true, mode: item.mode, mtime: item.mtime, op: 'import' });
        summary.files++;
        summary.bytes += content.size;
      }
    }
    // Directory times last: creating children touches their parent's mtime.
    for (const item of items.filter((i) => i.kind === 'd').reverse()) fs.utimes(item.vault, item.atime, item.mtime);
  });
  return summary;
}

/**
 * Writes a vault file or tree to the host: a directory's contents go into `hostDir`, a file goes
 * to `hostDir/<name>`. Existing host files are refused (ALREADY_EXISTS, nothing written) unless
 * `overwrite`. Modes, mtimes and symlinks are kept; content streams chunk by chunk.
 */
export function exportTree(fs: VaultFs, vaultInput: string, hostDir: string, overwrite: boolean, progress?: Progress): TransferSummary {
  const root = fs.stat(vaultInput);
  const entries = root.type === 'd' ? fs.walk(root.path) : [root];
  const base = root.type === 'd' ? root.path : root.parent;
  const hostPath = (p: string) => join(hostDir, base === '/' ? p.slice(1) : p.slice(base.length + 1));
  if (!overwrite) {
    const clash = entries.find((e) => e.type !== 'd' && existsLstat(hostPath(e.path)));
    if (clash) {
      throw new AvfsError('ALREADY_EXISTS', `host file exists: ${hostPath(clash.path)} (use --overwrite)`, { host: hostPath(clash.path) });
    }
  }
  mkdirSync(hostDir, { recursive: true });
  const summary: TransferSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  let done = 0;
  for (const e of entries) {
    const target = hostPath(e.path);
    if (e.type === 'd') {
      mkdirSync(target, { recursive: true });
      summary.directories++;
    } else if (e.type === 'l') {
      if (existsLstat(target)) unlinkSync(target);
      symlinkSync(e.target!, target);
      summary.symlinks++;
    } else {
      if (existsLstat(target) && lstatSync(target).isSymbolicLink()) unlinkSync(target);
      const fd = openSync(target, 'w', e.mode);
      try {
        for (const chunk of fs.readChunks(e.path)) writeSync(fd, chunk);
      } finally {
        closeSync(fd);
      }
      summary.files++;
      summary.bytes += e.size;
    }
    progress?.(++done, entries.length);
  }
  // Modes and times last (deepest first), so writing children does not disturb them.
  for (const e of [...entries].reverse()) {
    const target = hostPath(e.path);
    if (e.type === 'l') {
      lutimesSync(target, e.atime / 1000, e.mtime / 1000);
      continue;
    }
    chmodSync(target, e.mode);
    utimesSync(target, e.atime / 1000, e.mtime / 1000);
  }
  return summary;
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function existsLstat(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
