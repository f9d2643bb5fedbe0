import type { PolicyRule } from './policy.js';

/**
 * The built-in rules, evaluated after a policy's own rules (unless it sets `"extends": "none"`).
 * The first rule that matches a command decides for it; a command no rule matches gets the
 * policy's `default_action` with category `mutating` (an unknown program may write).
 *
 * The principle behind the actions: a change the vault can take back is allowed (with a
 * checkpoint first when it is large or hard to redo by hand); an effect outside the vault that
 * `proxy undo` cannot take back (publishing, remote shells, killing host processes) needs
 * `--approve`; leaving the boundary (privilege, host mounts, namespaces) or waiting on a terminal
 * that the proxy never provides is denied.
 *
 * Network: `curl`, `wget`, `git clone/fetch/pull` and package installs are allowed and tagged
 * `networked` (visible in `check`, in the result and in the audit). The proxy cannot stop a
 * program from opening a socket (python, node and most build tools can), so refusing the two
 * obvious downloaders would only look like network control; what it does control is undo, so
 * commands whose network effect is a remote change or a remote shell (`git push`, `ssh`, `scp`,
 * `rsync` to a host, `nc`) need approval instead.
 */
/**
 * Words naming the sandbox's own /tmp, /dev or /run (not the vault), as mv's destination or ln's
 * target. Relative names too (`tmp/`, `../tmp`, `./tmp`: from `/`, the sandbox's), and `-vt/tmp`;
 * a relative `tmp` elsewhere is a vault path, and costs only a checkpoint. Each repetition takes
 * one `/` and the dots before it, so a word is read one way only (linear time). Also `~` (the
 * sandbox's home is its /tmp), /proc/<pid>/cwd and /root (links to anywhere), a pattern in a
 * top-level name (`/t?p`), which may match one of them, and `..` after a directory
 * (`/usr/../tmp`): the words are matched as written, not normalised.
 */
const SANDBOX_OWN_DIRECTORY = [
  '/^(-[a-zA-Z]*t|--target-directory=|--t[a-z-]*=)?(\\.{0,2}\\/)*(tmp|dev|run)(\\/|$)/',
  '/^(-[a-zA-Z]*t|--target-directory=|--t[a-z-]*=)?(~|\\/+proc\\/)/',
  '/^(-[a-zA-Z]*t|--target-directory=|--t[a-z-]*=)?(\\.{0,2}\\/)+[^/]*[*?[]/',
  '/(^|\\/)\\.\\.(\\/|$)/',
];

/** What pushing or publishing is, wherever a rule finds it: outside the vault, so a person approves it. */
const PUBLISHES: Pick<PolicyRule, 'action' | 'categories' | 'reason'> = {
  action: 'require_approval',
  categories: ['networked'],
  reason: 'publishes outside the vault: proxy undo cannot take it back',
};

export const DEFAULT_RULES: PolicyRule[] = [
  // ---- leaving the boundary ---------------------------------------------------------------
  {
    name: 'privilege',
    program: ['sudo', 'sudoedit', 'su', 'doas', 'pkexec', 'runuser', 'run0', 'sg', 'newgrp'],
    action: 'deny',
    categories: ['host_escape_risk'],
    reason: 'changes user or privilege: the command would act on the host with other rights',
  },
  // The listing forms of the disk and loop-device tools denied below: they read the host's
  // devices and change nothing, and are judged first. Each names what it allows, so a form that
  // also changes something (`losetup -l /dev/loop0 file` attaches) is left to the denials.
  {
    name: 'host-disk-listing',
    program: 'fdisk',
    // -l/-x list and exit whatever else is given (fdisk's list-only mode); clustered with other flags too (not after -u or -c, whose value they would be).
    // The first run of flags holds no l or x, so the regex cannot split a cluster two ways: an argument is judged in time linear in its length.
    args_any: ['/^-[BhsvV]*[lx][BhlsvVx]*([cLu].*)?$/', '--list', '--list-details'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'lists partition tables; changes nothing',
  },
  {
    name: 'host-disk-listing',
    program: 'parted',
    args_any: ['/^-[hsmf]*l[hsmf]*$/', '--list'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'lists partition tables; changes nothing',
  },
  {
    name: 'host-disk-listing',
    program: 'parted',
    // `parted <device> print` (parted takes any unambiguous prefix of a command: `p`); every other
    // word must be an option or a word of print and unit, so no command that changes the disk is among them.
    args_any: ['/^p(r(i(nt?)?)?)?$/i'],
    args_none: ['/^(?!-|\\/dev\\/|(p|pr|pri|prin|print|free|all|devices|list|unit|u|s|b|%|cyl|chs|compact|[kmgt]i?b)$)/i'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'prints a partition table; changes nothing',
  },
  {
    name: 'host-disk-listing',
    program: 'losetup',
    // Bare, -a and -l list every loop device; any operand (`-l /dev/loop0 file` attaches) or other option is not a listing.
    args_none: ['/^(?!-[alnJv]+$|--(all|list|noheadings|json|raw|verbose|output-all)$)/'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'lists loop devices; changes nothing',
  },
  {
    name: 'host-disk-listing',
    program: 'mount',
    // Bare or with -l it lists what is mounted (`mount | grep fuse`); any operand or other option may mount.
    args_none: ['/^(?!-[lv]+$|--(show-labels|verbose)$)/'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'lists mounts; changes nothing',
  },
  {
    name: 'host-disk-listing',
    program: 'blockdev',
    // Every option a getter (`--getsize64`) or --report: the operands are the devices they read.
    args_any: ['--get*', '--report'],
    args_none: ['/^-(?!-get[a-z0-9]+$|-report$|[qv]+$)/'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'reads a block device\'s settings; changes nothing',
  },
  {
    name: 'host-system',
    program: ['mount', 'umount', 'fusermount', 'fusermount3', 'chroot', 'nsenter', 'unshare', 'mknod', 'insmod', 'rmmod', 'modprobe', 'sysctl', 'systemctl', 'service', 'reboot', 'shutdown', 'halt', 'poweroff', 'init', 'telinit', 'mkfs*', 'iptables*', 'ip6tables*', 'nft',
      'kexec', 'swapon', 'swapoff', 'losetup', 'dmsetup', 'pivot_root', 'switch_root', 'setcap', 'capsh', 'depmod', 'systemd-run'],
    action: 'deny',
    categories: ['host_escape_risk'],
    reason: 'changes the host system (mounts, namespaces, kernel, services), outside any vault',
  },
  {
    name: 'host-disk',
    program: ['fdisk', 'sfdisk', 'cfdisk', 'parted', 'gdisk', 'sgdisk', 'cgdisk', 'wipefs', 'blkdiscard', 'mkswap', 'partprobe', 'blockdev', 'hdparm'],
    args_any: ['/dev/*'],
    action: 'deny',
    categories: ['host_escape_risk'],
    reason: 'changes a disk device of the host, outside any vault',
  },
  {
    name: 'host-network',
    program: 'ip',
    // The verbs that change links, addresses, routes, rules, namespaces and IPsec state (`ip link set`, `ip addr add`, `ip netns exec`,
    // `ip xfrm state update`); `ip -batch` runs a file of them. Abbreviations (`ip l s`, `ip -ba`) are judged in full (full-commands.ts).
    args_any: ['add', 'del', 'delete', 'deleteall', 'delall', 'remove', 'change', 'chg', 'replace', 'update', 'allocspi', 'set', 'setdefault', 'flush', 'append', 'prepend', 'restore', 'exec', 'attach', 'detach', '-b', '-batch', '--batch'],
    action: 'deny',
    categories: ['host_escape_risk'],
    reason: 'changes the host\'s network configuration, outside any vault',
  },
  {
    name: 'host-processes',
    program: ['kill', 'pkill', 'killall', 'docker', 'podman', 'kubectl', 'crontab', 'at', 'batch', 'screen', 'tmux', 'setsid', 'disown', 'daemonize', 'start-stop-daemon'],
    action: 'require_approval',
    categories: ['host_escape_risk'],
    reason: 'reaches host processes or starts work meant to outlive the command (the proxy kills every process it can find when the call ends)',
  },
  // ---- interactive programs: the proxy gives no terminal, so they would wait for the timeout --
  {
    name: 'interactive-editor',
    program: ['vi', 'vim', 'nvim', 'view', 'vimdiff', 'nano', 'pico', 'emacs', 'micro', 'joe', 'ed', 'top', 'htop', 'btop', 'man', 'watch', 'tig', 'mc'],
    args_none: ['-es', '-Es', '-e', '-s', '--headless', '--batch', '-batch', '--script', '-n', '-b', '--version', '--help', '-h'],
    action: 'deny',
    categories: ['interactive'],
    reason: 'interactive program: the proxy runs commands without a terminal (output is captured), so it would wait for input until the timeout; use a non-interactive form (sed -i, vim -es, emacs --batch)',
  },
  {
    name: 'interactive-git',
    program: 'git',
    subcommand: ['add', 'rebase', 'checkout', 'reset', 'stash', 'clean', 'restore'],
    args_any: ['--interactive', '-p', '--patch', '/^-[A-Za-z]*i$/'],
    action: 'deny',
    categories: ['interactive'],
    reason: 'interactive git mode needs a terminal the proxy does not provide',
  },
  {
    name: 'interactive-git-commit',
    program: 'git',
    subcommand: 'commit',
    args_any: ['--interactive', '-p', '--patch'],
    action: 'deny',
    categories: ['interactive'],
    reason: 'interactive git mode needs a terminal the proxy does not provide',
  },
  {
    name: 'git-commit-editor',
    program: 'git',
    subcommand: 'commit',
    args_none: ['/^-[A-Za-z]*[mFCc]/', '--message*', '--file*', '--reuse-message*', '--reedit-message*', '--no-edit', '--fixup*', '--dry-run', '--help'],
    action: 'deny',
    categories: ['interactive'],
    reason: 'git commit without -m/-F opens an editor, which waits for a terminal the proxy does not provide; pass -m "message"',
  },
  // ---- remote effects proxy undo cannot take back ------------------------------------------
  {
    name: 'git-push',
    program: 'git',
    subcommand: ['push', 'send-pack', 'http-push', 'send-email', 'svn', 'p4'],
    ...PUBLISHES,
  },
  {
    name: 'git-push',
    program: 'git',
    // `git subtree push`, `git lfs push`: pushes by another command.
    subcommand: ['subtree', 'lfs'],
    args_any: ['push'],
    ...PUBLISHES,
  },
  {
    name: 'publish',
    program: ['npm', 'pnpm', 'yarn', 'bun', 'cargo', 'gem', 'twine', 'poetry', 'uv', 'flit', 'hatch'],
    subcommand: ['publish', 'unpublish', 'push', 'upload', 'yank', 'deprecate', 'owner'],
    ...PUBLISHES,
  },
  {
    name: 'publish',
    program: ['deno', 'jsr'],
    subcommand: 'publish',
    ...PUBLISHES,
  },
  {
    name: 'publish',
    // Maven and Gradle take any number of goals or tasks: `mvn clean deploy`, `gradle build publish`.
    program: ['mvn', 'mvnw', 'gradle', 'gradlew'],
    args_any: ['deploy', 'deploy:deploy', 'release:perform', 'publish'],
    ...PUBLISHES,
  },
  {
    name: 'publish',
    // `dotnet nuget push`, `nuget push` (`dotnet publish` builds into a local directory).
    program: ['dotnet', 'nuget'],
    subcommand: ['nuget', 'push'],
    args_any: ['push'],
    ...PUBLISHES,
  },
  {
    name: 'publish',
    program: ['gh', 'glab'],
    subcommand: ['release', 'repo'],
    args_any: ['create', 'upload', 'delete', 'delete-asset', 'edit', 'rename', 'archive'],
    ...PUBLISHES,
  },
  {
    name: 'remote-shell',
    program: ['ssh', 'scp', 'sftp', 'mosh', 'telnet', 'nc', 'ncat', 'netcat', 'socat', 'ftp', 'lftp'],
    action: 'require_approval',
    categories: ['networked', 'host_escape_risk'],
    reason: 'opens a connection to another host where changes are outside the vault and cannot be undone',
  },
  {
    name: 'rsync-remote',
    program: 'rsync',
    args_any: ['/^[^/]*:/', '/^rsync:\\/\\//'],
    action: 'require_approval',
    categories: ['networked', 'mutating'],
    reason: 'copies to or from another host',
  },
  // ---- large or hard-to-redo changes inside the vault: checkpoint first ----------------------
  {
    name: 'rm-recursive',
    program: ['rm'],
    // GNU getopt takes any unambiguous prefix of a long option: --r, --rec … mean --recursive.
    // The letters before the first r or R exclude it, so a cluster is read one way only (linear time).
    args_any: ['/^-[A-QS-Za-qs-z]*[rR][A-Za-z]*$/', '/^--r(e(c(u(r(s(i(ve?)?)?)?)?)?)?)?$/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'recursive removal: a checkpoint is taken first so `proxy undo` can restore the tree',
  },
  {
    name: 'mv-out-of-vault',
    program: ['mv'],
    // In the sandbox /tmp, /dev and /run are the sandbox's own, not the vault: what moves there is
    // gone from the vault when the run ends, as rm -r would leave it. A move the other way matches
    // too (a checkpoint it did not need). Outside a sandbox these are host paths (host-paths).
    args_any: SANDBOX_OWN_DIRECTORY,
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'moves files to /tmp, /dev or /run, which are not the vault: they leave it as if removed, so a checkpoint is taken first',
  },
  {
    name: 'link-out-of-vault',
    program: ['ln'],
    // A link in the vault to /tmp, /dev or /run is a door out of it: `ln -s /tmp /t && mv /src /t/`
    // moves the tree out through a name the mv rule reads as a vault path (it reads words, not
    // the tree the line is building). So the line that makes one takes the checkpoint a move
    // there would. So does a link to the root (`/`, `.`, `/.` from `/`), through which `r/tmp` is
    // /tmp. A link the other way (made in /tmp) matches too, and costs only a checkpoint.
    args_any: [...SANDBOX_OWN_DIRECTORY, '/^(-[a-zA-Z]*t|--target-directory=|--t[a-z-]*=)?[./]+$/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'links a vault name to the root, /tmp, /dev or /run, which are not the vault: what moves through it leaves the vault, so a checkpoint is taken first',
  },
  {
    name: 'link-out-of-vault',
    program: ['cp', 'rsync'],
    // /proc/self/root and /proc/<pid>/cwd are links to the root and elsewhere: copied as links
    // (cp -a, -P, -d; rsync -l), the same door. A computed word may be one of them, so a copy
    // from one the shell computes takes the checkpoint too.
    // One way to read each slash ((\.{0,2}\/)* takes `//` too): a second, `\/*`, made a run of
    // slashes split every way, 24 s of backtracking for one 128 KiB argument of them.
    args_any: ['/^(-[a-zA-Z]*t|--target-directory=|--t[a-z-]*=)?(\\.{0,2}\\/)*proc\\//'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'copies from /proc, whose links lead out of the vault (/proc/self/root is the root): what moves through such a link leaves the vault, so a checkpoint is taken first',
  },
  {
    name: 'git-discard',
    program: 'git',
    // update-ref moves or deletes a ref as it is told (`update-ref refs/heads/main HEAD~5` drops commits, as reset does).
    // read-tree -u and checkout-index -f write the index's content over the working tree, as reset --hard does.
    // maintenance and repack -d delete objects as gc and prune do.
    subcommand: ['reset', 'clean', 'restore', 'rebase', 'filter-branch', 'filter-repo', 'gc', 'prune', 'update-ref', 'read-tree', 'checkout-index', 'maintenance', 'repack'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'can discard work that git itself may not keep: a checkpoint is taken first',
  },
  {
    name: 'git-discard',
    program: 'git',
    // Deleting a ref or expiring the reflog drops the way back to commits (then gc removes them);
    // `update-ref --stdin` reads commands that may delete.
    subcommand: ['reflog', 'symbolic-ref', 'tag', 'replace', 'notes'],
    args_any: ['-d', '--delete', 'expire', 'delete', 'drop', 'remove', 'prune'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'deletes refs or history git keeps the way back to work by: a checkpoint is taken first',
  },
  {
    name: 'git-discard',
    program: 'git',
    // `--abort` puts the tree back as it was before the merge (as `reset --merge` does), dropping
    // conflict resolutions made since; `--skip` drops the change in progress from the tree.
    subcommand: ['merge', 'cherry-pick', 'revert', 'am'],
    args_any: ['--abort', '--skip'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'can discard work that git itself may not keep: a checkpoint is taken first',
  },
  {
    name: 'git-discard',
    program: 'git',
    // `submodule deinit` empties the submodules' directories.
    subcommand: 'submodule',
    args_any: ['deinit'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'empties the submodules\' working trees: a checkpoint is taken first',
  },
  {
    name: 'git-checkout-force',
    program: 'git',
    // `submodule update --force` checks the submodules out over their uncommitted work.
    subcommand: ['checkout', 'switch', 'stash', 'branch', 'submodule'],
    args_any: ['-f', '--force', '--', '.', '-D', 'drop', 'clear', '--discard-changes', '--pathspec-from-file*'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'can overwrite or drop uncommitted work: a checkpoint is taken first',
  },
  {
    name: 'git-checkout-paths',
    program: 'git',
    subcommand: 'checkout',
    // `git checkout <path>` (no `--` needed) overwrites the path's uncommitted changes; from the
    // line a path is not told from a branch, and a checkpoint costs a row, so every operand counts.
    args_any: ['/^(?!checkout$)[^-]/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'a path operand overwrites its uncommitted changes (a branch and a path look alike on the line): a checkpoint is taken first',
  },
  {
    name: 'shell-from-input',
    program: ['sh', 'bash', 'rbash', 'dash', 'zsh', 'ksh', 'ksh93', 'mksh', 'lksh', 'oksh', 'pdksh', 'posh', 'yash', 'ash', 'fish'],
    args_none: ['/^[^-]/', '/^-[A-Za-z]*c/', '--version', '--help'],
    action: 'allow_with_checkpoint',
    categories: ['mutating', 'host_escape_risk'],
    reason: 'runs a script read from its input (e.g. `curl … | sh`), which the policy cannot see: a checkpoint is taken first',
  },
  {
    name: 'find-delete',
    program: 'find',
    args_any: ['-delete'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'deletes every match: a checkpoint is taken first',
  },
  {
    name: 'find-delete',
    program: 'find',
    // `-exec rm {} +` (or rmdir, unlink, shred) removes every match, as -delete does: a whole
    // tree with `-depth -exec rm -d`.
    args_all: ['/^-(exec|execdir|ok|okdir)$/', '/(^|\\/)(rm|rmdir|unlink|shred)$/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'removes every match: a checkpoint is taken first',
  },
  {
    name: 'git-remove-tree',
    program: 'git',
    // `git rm -r` (or a pathspec pattern, `git rm 'src/*'`) removes a tree, `git worktree remove|prune` a worktree's directory.
    subcommand: ['rm', 'worktree'],
    // As in rm-recursive, the letters before the first r exclude it, so a cluster is read one way only (linear time).
    args_any: ['/^-[A-Za-qs-z]*r[A-Za-z]*$/', '/[*?[]/', 'remove', 'prune'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'removes a tree: a checkpoint is taken first',
  },
  {
    name: 'git-remove-tree',
    program: 'git',
    // Every form of `git stash` but its listings takes uncommitted (with -u, --all: untracked) work out of the tree; pop and apply bring it back over it.
    subcommand: 'stash',
    args_none: ['list', 'show', '--help', '-h'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'takes uncommitted work out of the tree or puts stashed work over it: a checkpoint is taken first',
  },
  {
    name: 'rsync-delete',
    program: 'rsync',
    // --delete and its kin (--delete-before, --delete-excluded, --del …), with getopt's abbreviations.
    // --force deletes a non-empty directory the source has a file in place of.
    args_any: ['/^--del(e(t(e(-[a-z-]*)?)?)?)?$/', '/^--forc/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'deletes what the source does not have: a checkpoint is taken first',
  },
  {
    name: 'remove-sources',
    program: ['tar', 'rsync'],
    // With getopt's abbreviations (`--remove-f`), and rsync's older name, --remove-sent-files;
    // tar's --recursive-unlink and --unlink-first (-U) empty what an extracted directory replaces.
    args_any: ['/^--remove(-[a-z-]*)?$/', '/^--(rec|unl)/', '/^-[A-Za-z]*U/'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'removes the files it archived or copied: a checkpoint is taken first',
  },
  {
    name: 'remove-sources',
    program: ['zip', '7z', '7za', '7zr'],
    // zip -m (in a cluster: `-qrm`, `-9m`; the characters before the first m exclude it, linear
    // time) and --move; 7z -sdel (its switches in any case).
    args_any: ['/^-[A-Za-ln-z0-9]*m[A-Za-z0-9]*$/', '--move', '/^-sdel$/i'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'removes the files it archived: a checkpoint is taken first',
  },
  {
    name: 'overwrite-tools',
    program: ['dd', 'shred', 'truncate', 'wipe', 'srm'],
    action: 'allow_with_checkpoint',
    categories: ['destructive'],
    reason: 'overwrites data in place: a checkpoint is taken first',
  },
  {
    name: 'rm',
    program: ['rm', 'rmdir', 'unlink'],
    action: 'allow',
    categories: ['destructive'],
    reason: 'removes named files; history keeps every removed version (`avfs log`, `avfs checkout`)',
  },
  // ---- network fetches: allowed, tagged ----------------------------------------------------
  {
    name: 'git-network',
    program: 'git',
    subcommand: ['clone', 'fetch', 'pull', 'ls-remote', 'submodule'],
    action: 'allow',
    categories: ['networked', 'mutating'],
    reason: 'fetches from a remote into the vault; what it writes is tracked and can be undone',
  },
  {
    name: 'downloaders',
    program: ['curl', 'http', 'https'],
    action: 'allow',
    categories: ['networked'],
    reason: 'network fetch; allowed because the proxy cannot control sockets anyway (see the policy docs), and tagged networked',
  },
  {
    name: 'downloaders',
    program: ['wget', 'aria2c'],
    // Not with what runs a program or reads config that may: wget's --use-askpass, -e/--execute and
    // --config (a wgetrc may set use_askpass); aria2c's --on-…-complete hooks and --conf-path.
    args_none: ['/^--use-a/', '/^-[A-Za-z]*e/', '/^--exe/', '/^--conf/', '/^--on-/'],
    action: 'allow',
    categories: ['networked'],
    reason: 'network fetch; allowed because the proxy cannot control sockets anyway (see the policy docs), and tagged networked',
  },
  // Package installs are not allowed by a rule of their own: each runs code of the project's or its
  // packages' that the line does not show (npm's lifecycle scripts, and with --ignore-scripts its
  // --git program and .npmrc; .pnpmfile.cjs; yarnPath; cargo's config; a setup.py), code from a
  // file, so they get the default action, as `npm run preinstall` does.
  // ---- read-only -----------------------------------------------------------------------------
  {
    name: 'git-read',
    program: 'git',
    subcommand: ['status', 'log', 'diff', 'show', 'blame', 'rev-parse', 'ls-files', 'ls-tree', 'cat-file', 'describe', 'shortlog', 'grep', 'version', 'help', 'config'],
    // Not what writes: config's setting forms (`git config k v` is judged as `git config set k v` too), a diff's --output file.
    args_none: ['--add', '--unset', '--unset-all', '--replace-all', '--edit', '-e', '--global', '--system', '--file', '-f', '--rename-section', '--remove-section', 'set', 'unset', 'rename-section', 'remove-section', 'edit', '--output*'],
    action: 'allow',
    categories: ['read_only'],
    reason: 'reads the repository',
  },
  // Readers with an option (or, for uniq, an operand) that writes a file they name: read-only without it.
  ...(
    [
      ['sort', ['/^-[A-Za-z]*o/', '--o*', '--compress-program*']],
      ['uniq', ['/^[^-]/']],
      ['find', ['-fprint', '-fprint0', '-fprintf', '-fls']],
      ['time', ['/^-[apqvV]*o/', '--o*']],
      ['xxd', ['/^-r/']],
      ['file', ['/^-[A-Za-z]*C/', '--compile']],
      ['less', ['/^-[A-Za-z]*[oO]/', '--log-file*', '--LOG-FILE*']],
      ['yq', ['/^-[A-Za-z]*i/', '--inplace*']],
      ['tree', ['/^-[A-Za-z]*o/']],
      ['date', ['/^-[A-Za-z]*s/', '--set*']],
      ['printf', ['-v']],
    ] as const
  ).map(([program, writes]): PolicyRule => ({
    name: 'read-only',
    program,
    args_none: [...writes],
    action: 'allow',
    categories: ['read_only'],
    reason: 'reads files or prints; writes nothing by itself',
  })),
  {
    name: 'read-only',
    program: [
      ':', 'true', 'false', 'test', '[', '[[', 'echo', 'pwd', 'ls', 'cat', 'head', 'tail', 'wc', 'grep', 'egrep', 'fgrep', 'rg', 'ag',
      'stat', 'du', 'df', 'diff', 'cmp', 'md5sum', 'sha1sum', 'sha256sum', 'sha512sum', 'b2sum', 'cksum', 'which',
      'type', 'cut', 'tr', 'jq', 'more', 'basename', 'dirname', 'realpath', 'readlink',
      'id', 'whoami', 'uname', 'env', 'printenv', 'sleep', 'seq', 'expr', 'nl', 'od', 'hexdump', 'strings', 'column',
      'comm', 'join', 'paste', 'fold', 'fmt', 'rev', 'tac', 'base64', 'locate', 'trap', 'set', 'export', 'cd', 'wait',
      'shift', 'exit', 'return', 'read', 'local', 'unset', 'alias', 'hash', 'getopts', 'nice', 'timeout', 'nohup', 'xargs',
    ],
    action: 'allow',
    categories: ['read_only'],
    reason: 'reads files or prints; writes nothing by itself',
  },
];
