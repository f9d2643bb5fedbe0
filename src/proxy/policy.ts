import { totalmem } from 'node:os';
import { posix } from 'node:path';
import { z } from 'zod/v3';
import { AvfsError } from '../errors.js';
import { compileGlob, compileRegExp, invalidPattern, type Matcher } from '../core/glob.js';
import { commandsOf, computedAtRunTime, computedOptionWord, globbed, mayBeAnyOption, programName, quoteArgv, subcommandOf, UNLISTED_EXPANSION, UNREADABLE_LINE, type SimpleCommand } from './command-line.js';
import { DEFAULT_RULES } from './default-policy.js';
import { ARITHMETIC_EXPANSION } from './runtime-values.js';
import { avfsArgv, avfsBeyondContent, avfsWords, changesAvfsEnvironment } from './avfs-inside.js';
import { bindDestinationProblem, FILE_SIZE_BLOCK, type NetworkMode } from './sandbox.js';

/**
 * Proxy policy: which commands may run in a vault, and how.
 *
 * FORMAT (JSON, every field optional; `avfs proxy policy show` prints the effective policy):
 *
 *   {
 *     "version": 1,
 *     "extends": "default",            // "default": the built-in rules run after yours; "none": only yours
 *     "default_action": "allow",       // for a command no rule matches
 *     "timeout_ms": 300000,            // default --timeout
 *     "kill_after_ms": 2000,           // default --kill-after: SIGTERM → SIGKILL grace
 *     "max_output_bytes": 1048576,     // stdout and stderr are each cut after this many bytes
 *     "auto_checkpoint": false,        // checkpoint before every exec, whatever the decision
 *     "host_paths": { "action": "deny", "allow": ["/dev/null", …], "exempt_programs": ["avfs"] },
 *     "env": { "pass": ["PATH", "HOME", "LANG", "LC_*", …], "set": { "CI": "1" } },
 *     "rules": [
 *       { "name": "no-npm-publish", "program": "npm", "subcommand": "publish",
 *         "action": "deny", "categories": ["networked"], "reason": "we never publish from agents" }
 *     ],
 *     "sandbox": {                     // src/proxy/sandbox.ts; README "Boundary"
 *       "mode": "auto",                // auto | required | off
 *       "network": "none",             // none | host
 *       "binds": [{ "source": "/opt/toolchain", "dest": "/opt/toolchain", "writable": false, "optional": false }],
 *       "limits": { "max_processes": 4096, "max_file_size": null, "memory": null }
 *     }
 *   }
 *
 * A rule matches a simple command when all its conditions hold:
 *   program     pattern(s) for the program's name (argv[0] without its directory)
 *   subcommand  pattern(s) for the first non-option argument (`git -C x reset` → reset)
 *   args_any    at least one argument matches one of these patterns
 *   args_all    every pattern matches at least one argument
 *   args_none   no argument matches any of these patterns
 * A pattern is a glob (core/glob.ts: `*`, `?`, `[abc]`, `{a,b}`, `\x`) matched against the whole
 * word, in which `/` is an ordinary character, or a regular expression written `/…/flags`. Rules
 * are tried in order; the first match decides for that command.
 *
 * A request may run several commands (`--shell "a && b"`, `sh -c`, wrappers like `env`, `xargs`,
 * `find -exec`); each is judged, and the most severe action wins: deny > require_approval >
 * allow_with_checkpoint > allow. Categories are the union over every command.
 *
 * Host paths: a word that names a host path outside the vault — an absolute path not under the
 * mountpoint and not in `host_paths.allow`, `~`/`$HOME` in shell syntax, or a relative path whose
 * `..` climbs above the vault root from the working directory — gets `host_paths.action`
 * (default deny) with category host_escape_risk. The program itself (argv[0]) may be an absolute
 * path: running /usr/bin/python3 is not a reference to host data. Not checked either: the
 * arguments of programs in `exempt_programs` (default: avfs, whose paths are vault paths), what
 * echo/printf print, and the pattern or script of grep/sed/awk/jq; redirections always are.
 * A `file://` URL is a host path. An absolute path is normalised (`.`/`..` resolved lexically,
 * slashes collapsed) before it is matched, so it is judged by where it lands; a path through the
 * kernel's links into the host (`/proc/<pid>/root`, `/proc/<pid>/cwd`, anything below
 * `/proc/<pid>/fd/<n>` or `/dev/fd/<n>`) is a host path whatever `allow` says (throughHostLink). For an
 * exempt program, the words of its host-touching subcommands (`avfs import/export/sync/mount`,
 * `proxy policy set`) and `--from`/`--home` values are still checked (exemptArguments). avfs
 * itself may touch only its own vault's content in an unsandboxed run (avfs-inside.ts: rule
 * `avfs-inside`, deny, judged before host paths).
 * The check reads the command line only: a path computed at run time is not seen (a word the
 * shell computes gets the default action instead: computedAtRunTime), nor a script's contents
 * or a host symlink. In the sandbox there is no host to name
 * (the vault is `/`), so the host-path check applies to unsandboxed runs only.
 *
 * The policy is the first, explainable gate, and it is advisory: it reads the command line. The
 * sandbox is what enforces (README "Boundary").
 */

export const ACTIONS = ['allow', 'allow_with_checkpoint', 'require_approval', 'deny'] as const;
export const CATEGORIES = ['read_only', 'mutating', 'destructive', 'networked', 'host_escape_risk', 'interactive'] as const;
export type PolicyAction = (typeof ACTIONS)[number];
export type Category = (typeof CATEGORIES)[number];

/** Compiled patterns, shared by every evaluation in the process. */
const compiled = new Map<string, Matcher>();

const SEVERITY: Record<PolicyAction, number> = { allow: 0, allow_with_checkpoint: 1, require_approval: 2, deny: 3 };
const CATEGORY_WEIGHT: Record<Category, number> = { read_only: 0, mutating: 1, networked: 2, interactive: 3, destructive: 4, host_escape_risk: 5 };

const zPattern = z.string().min(1);
const zPatterns = z.union([zPattern, z.array(zPattern).min(1)]);

const zRule = z
  .object({
    name: z.string().min(1).max(100),
    program: zPatterns,
    subcommand: zPatterns.optional(),
    args_any: z.array(zPattern).optional(),
    args_all: z.array(zPattern).optional(),
    args_none: z.array(zPattern).optional(),
    action: z.enum(ACTIONS),
    categories: z.array(z.enum(CATEGORIES)).default([]),
    reason: z.string().optional(),
  })
  .strict();

export type PolicyRule = z.input<typeof zRule>;

export const DEFAULT_HOST_ALLOW = [
  '/dev/null',
  '/dev/zero',
  '/dev/random',
  '/dev/urandom',
  '/dev/stdin',
  '/dev/stdout',
  '/dev/stderr',
  '/dev/fd/*',
  '/proc/self/**',
];

/** Programs whose absolute arguments are vault paths, not host paths: avfs itself (`avfs cat /notes.md`). */
export const DEFAULT_HOST_EXEMPT = ['avfs'];

/** Variables passed from the proxy's environment by default; AVFS_* are always set by the proxy. */
export const DEFAULT_ENV_PASS = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_*',
  'TZ',
  'TERM',
  'TMPDIR',
  'NO_COLOR',
  'FORCE_COLOR',
  'CI',
  'GIT_AUTHOR_*',
  'GIT_COMMITTER_*',
  'npm_config_*',
  'NODE_OPTIONS',
  'PYTHONPATH',
  'VIRTUAL_ENV',
  'CARGO_HOME',
  'RUSTUP_HOME',
  'GOPATH',
  'GOCACHE',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

const zHostPath = z.string().min(1).refine((p) => p.startsWith('/'), 'expected an absolute path');
const zLimit = z.number().int().positive().nullable();

/**
 * The most of stdout and of stderr each that a run keeps: the JSON document carries both (as
 * text, or base64 at 4/3 of the bytes) and must stay under the longest string JavaScript makes
 * (about 512 MiB); past it, `proxy exec --json` failed with INTERNAL after the command had run.
 */
export const MAX_OUTPUT_BYTES = 128 * 1024 * 1024;

/** Default process limit of a sandboxed run: no build needs more, a fork bomb stops here. */
export const DEFAULT_MAX_PROCESSES = 4096;

/**
 * Default memory limit of a run: half the machine's memory (whole MiB). A leak, a memory bomb or a
 * sandbox /tmp filled up (tmpfs is memory) is then OOM-killed inside the run's own cgroup and
 * reported as a violation, instead of pushing the host into its own OOM killer, which may pick
 * anything (the agent, the views server). Builds fit well under it; `none` turns it off.
 */
export const DEFAULT_MEMORY_BYTES = Math.floor(totalmem() / 2 / 2 ** 20) * 2 ** 20;

const zSandbox = z
  .object({
    mode: z.enum(['auto', 'required', 'off']).default('auto'),
    network: z.enum(['none', 'host']).default('none'),
    binds: z
      .array(
        z
          .object({ source: zHostPath, dest: zHostPath.optional(), writable: z.boolean().default(false), optional: z.boolean().default(false) })
          .strict()
          .superRefine((b, ctx) => {
            const problem = b.source.startsWith('/') && bindDestinationProblem(b.dest ?? b.source);
            if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [b.dest === undefined ? 'source' : 'dest'], message: problem });
          }),
      )
      .default([]),
    limits: z
      .object({
        max_processes: zLimit.default(DEFAULT_MAX_PROCESSES),
        // Set in 512-byte blocks (launch.ts): a smaller limit would be raised to one.
        max_file_size: z.number().int().min(FILE_SIZE_BLOCK).nullable().default(null),
        memory: zLimit.default(DEFAULT_MEMORY_BYTES),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export const policySchema = z
  .object({
    version: z.literal(1).default(1),
    extends: z.enum(['default', 'none']).default('default'),
    default_action: z.enum(ACTIONS).default('allow'),
    timeout_ms: z.number().int().positive().max(7 * 24 * 3600_000).default(300_000),
    kill_after_ms: z.number().int().min(0).max(600_000).default(2_000),
    max_output_bytes: z.number().int().min(0).max(MAX_OUTPUT_BYTES).default(1024 * 1024),
    auto_checkpoint: z.boolean().default(false),
    host_paths: z
      .object({
        action: z.enum(ACTIONS).default('deny'),
        allow: z.array(zPattern).default(DEFAULT_HOST_ALLOW),
        exempt_programs: z.array(zPattern).default(DEFAULT_HOST_EXEMPT),
      })
      .strict()
      .default({ action: 'deny', allow: DEFAULT_HOST_ALLOW, exempt_programs: DEFAULT_HOST_EXEMPT }),
    env: z
      .object({ pass: z.array(zPattern).default(DEFAULT_ENV_PASS), set: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().refine((v) => !v.includes('\0'), 'contains a NUL byte')).default({}) })
      .strict()
      .default({ pass: DEFAULT_ENV_PASS, set: {} }),
    rules: z.array(zRule).default([]),
    sandbox: zSandbox,
  })
  .strict();

export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;
type Rule = z.output<typeof zRule>;

/** Where the effective policy came from. */
export type PolicySource = 'vault' | 'home' | 'default';

/** Validates a policy document (parsed JSON); INVALID_ARGUMENT names the first bad field. */
export function parsePolicy(input: unknown, origin = 'policy'): Policy {
  const parsed = policySchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0]!;
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${origin}: ${first.path || '(root)'}: ${first.message}`, { issues });
  }
  for (const rule of parsed.data.rules) for (const p of patternsOf(rule)) compilePattern(p, false);
  for (const p of parsed.data.host_paths.allow) compilePattern(p, true);
  for (const p of parsed.data.host_paths.exempt_programs) compilePattern(p, false);
  return parsed.data;
}

/** Parses policy JSON text. */
export function parsePolicyText(text: string, origin = 'policy'): Policy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${origin}: not JSON: ${(err as Error).message}`);
  }
  return parsePolicy(json, origin);
}

/** The built-in policy: every default, and the built-in rules. */
export const DEFAULT_POLICY: Policy = parsePolicy({});

/** The rules a policy evaluates, in order: its own, then the built-in ones unless it opts out. */
export function effectiveRules(policy: Policy): Rule[] {
  // Not parsed with zRule: that took ~7 ms of every proxy exec for data typed and fixed at build
  // time; test/proxy/policy.test.ts checks that the schema accepts every built-in rule as written.
  builtinRules ??= DEFAULT_RULES.map((r) => ({ ...r, categories: r.categories ?? [] }));
  return policy.extends === 'default' ? [...policy.rules, ...builtinRules] : policy.rules;
}
let builtinRules: Rule[] | undefined;

function patternsOf(rule: Rule): string[] {
  const list = (p: string | string[] | undefined) => (p === undefined ? [] : Array.isArray(p) ? p : [p]);
  return [...list(rule.program), ...list(rule.subcommand), ...(rule.args_any ?? []), ...(rule.args_all ?? []), ...(rule.args_none ?? [])];
}

// ---- patterns ---------------------------------------------------------------------------------

/**
 * A glob (core/glob.ts), matched against the whole word, or a `/regex/flags` RegExp, which
 * matches where its author anchors it. For host paths (`pathMode`), `*` stays inside one path component and `**` crosses them (as a whole
 * segment also zero of them: `/tmp/**` covers `/tmp`); for words, `/` is an ordinary character.
 */
export function compilePattern(pattern: string, pathMode: boolean): Matcher {
  const key = `${pathMode ? 'p' : 'w'}:${pattern}`;
  let re = compiled.get(key);
  if (re) return re;
  const regex = /^\/(.+)\/([dgimsuy]*)$/.exec(pattern);
  try {
    if (regex && !pathMode) {
      // g and y make test() stateful (it resumes at lastIndex), and a compiled pattern is shared:
      // `/^push$/g` would match every other command. A whole-word test needs neither.
      re = compileRegExp(regex[1]!, regex[2]!.replace(/[gy]/g, ''));
    } else {
      re = compileGlob(pattern, { words: !pathMode });
    }
  } catch (err) {
    if (err instanceof AvfsError) throw err; // core/glob's INVALID_PATTERN already names the pattern
    throw invalidPattern('pattern', pattern, err);
  }
  compiled.set(key, re);
  return re;
}

const matchesAny = (word: string, patterns: string[]) => patterns.some((p) => compilePattern(p, false).test(word));
const asList = (p: string | string[]) => (Array.isArray(p) ? p : [p]);

/**
 * Whether `rule` matches `cmd`. A word that may be any option once the shell computes it
 * (mayBeAnyOption) is read as written, or, for `reading`, as matching every pattern of the rule
 * or none of them: the two ends of what it may turn out to be.
 */
function ruleMatches(rule: Rule, cmd: SimpleCommand, reading?: 'every' | 'none'): boolean {
  const argv0 = cmd.argv[0]!;
  const name = programName(argv0);
  if (!asList(rule.program).some((p) => compilePattern(p, false).test(name) || (p.includes('/') && compilePattern(p, false).test(argv0)))) return false;
  const args = cmd.argv.slice(1);
  const matches = (word: string, patterns: string[]) => (reading !== undefined && mayBeAnyOption(word, cmd.splits) ? reading === 'every' : matchesAny(word, patterns));
  if (rule.subcommand !== undefined) {
    const sub = subcommandOf(args, name);
    if (sub === undefined || !matches(sub, asList(rule.subcommand))) return false;
  }
  if (rule.args_any && !args.some((a) => matches(a, rule.args_any!))) return false;
  if (rule.args_all && !rule.args_all.every((p) => args.some((a) => matches(a, [p])))) return false;
  if (rule.args_none && args.some((a) => matches(a, rule.args_none!))) return false;
  return true;
}

/**
 * The rule that decides for `cmd`, and the word that made it another than the one its words as
 * written match. A word the shell computes where an option may stand (`rm ${R:--rf} d`,
 * `find d $(echo -delete)`, `sort "$@"`) may be any option, so the command is judged by the most
 * severe rule some value of it could make decide: in order, each rule that matches with the word
 * matching every pattern or none, up to the first that matches either way (no value gets past
 * it: a policy's own `allow` of the program still decides), or the default action when none does.
 * So `parted -s "$DEV" mklabel gpt` is judged by host-disk, not by the listing rule before it, and
 * a read-only rule that needs an option absent does not vouch for it. An interactive rule is not
 * assumed that way: what it guards against is a wait for a terminal, which the timeout ends.
 * `undefined` for the rule is the default action.
 */
function decidingRule(rules: Rule[], cmd: SimpleCommand, defaultAction: PolicyAction): { rule: Rule | undefined; computed?: string } {
  const written = rules.find((r) => ruleMatches(r, cmd));
  const computed = cmd.shell ? computedOptionWord(programName(cmd.argv[0]!), cmd.argv.slice(1), cmd.splits) : undefined;
  if (computed === undefined) return { rule: written };
  const severity = (r: Rule | undefined) => SEVERITY[r ? r.action : defaultAction];
  let decided: { rule: Rule | undefined; computed?: string } = { rule: written };
  const consider = (rule: Rule | undefined) => {
    if (severity(rule) > severity(decided.rule)) decided = { rule, computed };
  };
  for (const rule of rules) {
    const every = ruleMatches(rule, cmd, 'every');
    const none = ruleMatches(rule, cmd, 'none');
    if (every && none) return consider(rule), decided;
    if ((every || none) && !rule.categories.includes('interactive')) consider(rule);
  }
  consider(undefined);
  return decided;
}

/**
 * The sandbox's own directories, which are not the vault (/tmp, /dev, /run), named from `/` or
 * relatively; each repetition takes one `/` and the dots before it, so a word is read one way only.
 */
const SANDBOX_OWN_DIR = /^(\.{0,2}\/)*(tmp|dev|run)(\/|$)/;

/**
 * Whether `cmd` is a `cd` (or `pushd`) that may leave the vault: into the sandbox's own
 * directories, back (`-`), through `..` (`/usr/../tmp`), to a pattern (`/t?p`), or to a place computed as it runs.
 */
function leavesVault(cmd: SimpleCommand): boolean {
  if (!cmd.shell || !['cd', 'pushd'].includes(programName(cmd.argv[0]!))) return false;
  const to = cmd.argv.slice(1).find((a) => a === '-' || !/^(-[LPe@]*|--)$/.test(a));
  // No directory, or `~`: the home, which in the sandbox is its /tmp.
  return to === undefined || to === '-' || /^~/.test(to) || SANDBOX_OWN_DIR.test(to) || /(^|\/)\.\.(\/|$)/.test(to) || globbed(to) || computedAtRunTime(to);
}

/**
 * decidingRule, for a command that may run outside the vault (after `cd /tmp`): its relative names
 * are judged as the vault path they are and as names below /tmp, and the more careful reading
 * decides, so `cd /tmp && mv /keep .` is the move out of the vault that `mv /keep /tmp` is.
 */
function decidingRuleFrom(outsideVault: boolean, rules: Rule[], cmd: SimpleCommand, defaultAction: PolicyAction): ReturnType<typeof decidingRule> {
  const inVault = decidingRule(rules, cmd, defaultAction);
  if (!outsideVault) return inVault;
  const relative = (w: string) => !w.startsWith('/') && !w.startsWith('-') && !computedAtRunTime(w);
  const argv = cmd.argv.map((w, i) => (i > 0 && relative(w) ? `/tmp/${w}` : w));
  const outside = decidingRule(rules, { ...cmd, argv }, defaultAction);
  const severity = (d: ReturnType<typeof decidingRule>) => SEVERITY[d.rule ? d.rule.action : defaultAction];
  return severity(outside) > severity(inVault) ? outside : inVault;
}

// ---- host paths -------------------------------------------------------------------------------

export interface PathContext {
  /** The vault path the command runs in (`--cwd`), canonical. */
  cwd: string;
  /** The host directory where the vault is available (mountpoint or copy), when known. */
  root?: string;
  /** The command runs in the sandbox, where the vault is `/`: every path it names is the vault's or a read-only system path, so there are no host paths to judge. */
  sandboxed?: boolean;
  /** The vault the exec runs in, and its home: the only ones a nested avfs may name (avfs-inside.ts). */
  vault?: string;
  home?: string;
}

/** The parts of a word that may be paths: the word, an option's value, an assignment's value. */
function pathCandidates(word: string): string[] {
  const out = [word];
  const eq = word.indexOf('=');
  if (word.startsWith('-')) {
    if (eq !== -1) out.push(word.slice(eq + 1));
    else if (/^-[A-Za-z]\//.test(word)) out.push(word.slice(2)); // -I/usr/include, -o/tmp/x
  } else if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_.-]*=/.test(word)) {
    out.push(word.slice(eq + 1));
  }
  return out;
}

/** Why `word` refers to the host outside the vault, or undefined when it does not. */
export function hostReference(word: string, ctx: PathContext, allow: string[], shell: boolean, isProgram: boolean): string | undefined {
  for (const candidate of pathCandidates(word)) {
    // file:// URLs name host files; other URLs do not.
    if (/^file:\/\//i.test(candidate)) {
      const why = hostReference(candidate.slice(7) || '/', ctx, allow, shell, false);
      if (why) return why;
      continue;
    }
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(candidate)) continue; // a URL
    if (shell && (/^~[A-Za-z0-9_.-]*(\/|$)/.test(candidate) || /^\$\{?HOME\b/.test(candidate))) {
      return `${candidate} is the host's home directory, outside the vault`;
    }
    if (candidate.startsWith('/')) {
      if (isProgram && candidate === word) continue; // running a host program is not a reference to host data
      const link = throughHostLink(candidate);
      if (link) return `${candidate} goes through ${link}, a link the kernel resolves to a file or directory of the host, whatever the name says; name the host path itself`;
      // Judged by where it lands: `/tmp/../etc/passwd` is /etc/passwd.
      const clean = normalizeHostPath(candidate);
      if (ctx.root && (clean === ctx.root || clean.startsWith(ctx.root + '/'))) continue;
      if (allow.some((p) => compilePattern(p, true).test(clean))) continue;
      return `${candidate}${clean !== candidate.replace(/\/+$/, '') ? ` (${clean})` : ''} is an absolute host path outside the vault (inside the vault, use a path relative to the working directory)`;
    }
    if (candidate.split('/').includes('..') && escapesRoot(ctx.cwd, candidate)) {
      return `${candidate} climbs above the vault root from ${ctx.cwd}`;
    }
  }
  return undefined;
}

/** An absolute path with `.` and `..` resolved lexically and slashes collapsed (no trailing slash). */
export function normalizeHostPath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/** Kernel links to a directory of the host: a process's root and working directory. */
const HOST_DIR_LINK = /^\/proc\/[^/]+(?:\/task\/[^/]+)?\/(?:root|cwd)$/;
/** Links to an open file or a mapped file: harmless by themselves (`/dev/fd/0` is stdin), an escape when a path goes on below them. */
const HOST_FILE_LINK = /^(?:\/proc\/[^/]+(?:\/task\/[^/]+)?\/(?:fd|map_files)\/[^/]+|\/dev\/fd\/[^/]+|\/dev\/std(?:in|out|err))$/;

/** Directories whose entries are such links: a process's /proc directory, its task list, its fd and map_files directories, /dev/fd. */
const LINK_HOLDER = /^(?:\/proc\/(?:self|thread-self|\d+)(?:\/task(?:\/[^/]+)?)?|\/proc\/(?:self|thread-self|\d+)(?:\/task\/[^/]+)?\/(?:fd|map_files)|\/dev\/fd)$/;

/**
 * The /proc or /dev/fd link an absolute path goes through (or the directory of links it names), if any: `/proc/self/root/etc/shadow` is
 * the host's /etc/shadow, `/proc/self/cwd` a host directory, `/dev/fd/3/x` a file below whatever
 * descriptor 3 is. The walk resolves `..` lexically, so `/tmp/../proc/self/root/..` is caught too
 * (the kernel follows the link before the `..`).
 */
function throughHostLink(path: string): string | undefined {
  const segs = path.split('/').filter((s) => s !== '' && s !== '.');
  const walked: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    if (segs[i] === '..') walked.pop();
    else walked.push(segs[i]!);
    const prefix = '/' + walked.join('/');
    if (HOST_DIR_LINK.test(prefix)) return prefix;
    if (i + 1 < segs.length && HOST_FILE_LINK.test(prefix)) return prefix;
  }
  // A directory that holds such links: `cd /proc/self; cat root/etc/shadow`, `find -L /proc/self`.
  const end = '/' + walked.join('/');
  return LINK_HOLDER.test(end) ? `${end}, which holds links` : undefined;
}

/**
 * Subcommands of an exempt program (avfs) that read or write the host: their words are host paths,
 * not vault paths, so the exemption does not cover them (`avfs import /etc /x` copies host files in).
 */
const HOST_SUBCOMMANDS = new Set(['import', 'export', 'sync', 'mount', 'unmount']);
/** Options of an exempt program whose value is a host path (`avfs write /x --from /etc/shadow`, `--home <dir>`). */
const HOST_OPTIONS = new Set(['--from', '--home']);

/** Indexes of an exempt program's arguments that are vault paths or text: all but its host-path words. */
function exemptArguments(argv: string[]): Set<number> {
  const out = new Set<number>(argv.keys());
  const { operands, places } = avfsWords(argv);
  for (const p of places) if (HOST_OPTIONS.has(p.name)) out.delete(p.valueAt ?? p.at);
  const words = operands.map((i) => argv[i]);
  const touchesHost = HOST_SUBCOMMANDS.has(words[0]!) || (words[0] === 'proxy' && words[1] === 'policy' && words[2] === 'set');
  if (touchesHost) for (let i = 1; i < argv.length; i++) out.delete(i);
  return out;
}

/** Programs whose arguments are text to print, not files. */
const PRINTERS = new Set(['echo', 'printf']);
/** Programs whose first operand (or -e/--regexp/--expression value) is a pattern or a script, not a file. */
const PATTERN_FIRST = new Set(['grep', 'egrep', 'fgrep', 'rg', 'ag', 'ack', 'sed', 'awk', 'gawk', 'mawk', 'jq', 'yq']);
const PATTERN_OPTIONS = new Set(['-e', '--regexp', '--expression', '-f', '--file']);

/**
 * Indexes of arguments that are not paths for the host-path check: everything `echo` prints, and
 * the pattern or script of grep/sed/awk/jq (`grep -r /api/v1 .` searches for text, it does not
 * open /api/v1). Values of -e/--regexp are patterns too; a -f/--file value is a file and stays checked.
 */
function nonPathArguments(argv: string[]): Set<number> {
  const name = programName(argv[0]!);
  const out = new Set<number>();
  if (PRINTERS.has(name)) {
    for (let i = 1; i < argv.length; i++) out.add(i);
    return out;
  }
  if (!PATTERN_FIRST.has(name)) return out;
  let patternGiven = false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (!patternGiven && i + 1 < argv.length) out.add(i + 1);
      break;
    }
    if (PATTERN_OPTIONS.has(a)) {
      patternGiven = true;
      if (a !== '-f' && a !== '--file') out.add(i + 1);
      i++;
      continue;
    }
    if (/^--(regexp|expression)=/.test(a)) {
      patternGiven = true;
      out.add(i);
      continue;
    }
    if (a.startsWith('-')) continue;
    if (!patternGiven) out.add(i);
    break;
  }
  return out;
}

function escapesRoot(cwd: string, relative: string): boolean {
  let depth = cwd === '/' ? 0 : cwd.split('/').length - 1;
  for (const seg of relative.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (--depth < 0) return true;
    } else depth++;
  }
  return false;
}

// ---- evaluation -------------------------------------------------------------------------------

/** The verdict on one simple command of a request. */
export interface CommandVerdict {
  command: string;
  via?: string;
  rule: string;
  action: PolicyAction;
  categories: Category[];
  reason: string;
}

/** The decision on a whole request (the JSON `decision` field). */
export interface Decision {
  action: PolicyAction;
  categories: Category[];
  /** The rule that decided: a rule name, `host-paths`, or `default`. */
  rule: string;
  reason: string;
}

export interface Evaluation {
  decision: Decision;
  verdicts: CommandVerdict[];
  /**
   * Whether a run of the request takes a checkpoint by the policy: a command of it asks for one
   * (its rule's action, or its verdict's, is allow_with_checkpoint), whatever decided the request.
   * So a person's approval of `mv /src /tmp/` under require_approval (checkpointOnly) or of
   * `rm -r x && npm publish` still takes the checkpoint the move or the removal asks for.
   */
  checkpoint: boolean;
}

/** Judges a request (argv or shell string) against a policy without running anything. */
export function evaluatePolicy(policy: Policy, request: { argv?: string[]; shell?: string; env?: Record<string, string> }, ctx: PathContext): Evaluation {
  // The variables the run sets are the command's environment (GIT_SSH_COMMAND=… is judged as what git runs).
  const env = { ...policy.env.set, ...request.env };
  const commands = commandsOf({ ...(request.shell !== undefined ? { shell: request.shell } : { argv: request.argv }), env }).filter((c) => c.argv.length > 0);
  if (commands.length === 0) throw new AvfsError('USAGE', 'no command to run');
  // `-- ""` (or `""` in a script, or `env ""`) names no program: a usage error, like `--shell ""`.
  if (commands.some((c) => c.argv[0] === '')) throw new AvfsError('USAGE', 'the program name is empty: no command to run');
  const rules = effectiveRules(policy);
  const verdicts: CommandVerdict[] = [];
  const callsAvfs = commands.some((c) => avfsArgv(c) !== undefined);
  // Set once a `cd` in the line may have left the vault: names after it may be the sandbox's own.
  let outsideVault = false;
  let checkpoint = false;
  for (const judged of commands) {
    if (judged.argv[0] === UNREADABLE_LINE) {
      const reason = 'the command line has a quote, substitution or here-document that never ends, or substitutions nested too deep, so it cannot be read as the shell reads it: approve it, or write it plainly';
      // Text kept in a variable runs only if bash expands it again: a checkpoint, as below.
      verdicts.push({ command: '(the command line)', rule: 'unreadable-line', action: judged.stored ? 'allow_with_checkpoint' : 'require_approval', categories: ['mutating'], reason });
      continue;
    }
    // A brace expansion too large to list (command-line.ts): judged as written, and approved by a person.
    const unlisted = judged.argv.includes(UNLISTED_EXPANSION);
    const cmd = unlisted ? { ...judged, argv: judged.argv.filter((w) => w !== UNLISTED_EXPANSION) } : judged;
    const command = quoteArgv(cmd.argv);
    const base = { command, ...(cmd.via ? { via: cmd.via } : {}) };
    if (unlisted) {
      verdicts.push({ ...base, rule: 'unlisted-expansion', action: 'require_approval', categories: ['mutating'], reason: 'more words (a brace expansion) or ways to run (after options a wrapper does not know) than can be judged one by one: approve it, or write the command out plainly' });
    }
    const { rule, computed: optionWord } = decidingRuleFrom(outsideVault, rules, cmd, policy.default_action);
    outsideVault ||= leavesVault(cmd);
    const categories = new Set<Category>(rule ? rule.categories : ['mutating']);
    // A read-only program whose output a redirection writes to a file does write: say so rather
    // than repeat the rule's "writes nothing".
    const redirected = cmd.writesRedirect && categories.has('read_only');
    if (cmd.writesRedirect) {
      categories.add('mutating');
      categories.delete('read_only');
    }
    const reason = rule ? (rule.reason ?? `matched rule ${rule.name}`) : '';
    // A reader made to write a file it names gets the default action (README): a redirection names one.
    const action = rule && redirected && SEVERITY[policy.default_action] > SEVERITY[rule.action] ? policy.default_action : rule?.action;
    const verdict = rule
      ? checkpointOnly({ ...base, rule: rule.name, action: action!, categories: [...categories], reason: redirected ? `${reason}, but a redirection writes its output to a file${action !== rule.action ? `: the default action (${action}) applies` : ''}` : reason }, rule, policy)
      : defaultVerdict(cmd, policy, base, [...categories]);
    if (rule?.action === 'allow_with_checkpoint') checkpoint = true;
    const read = optionWord === undefined ? verdict : { ...verdict, reason: `${optionWord} is computed when the command runs and may be any option, so the most careful reading decides: ${verdict.reason}` };
    // Text kept in a variable runs only if bash expands it again: a checkpoint, never a refusal.
    const stored = cmd.stored && SEVERITY[read.action] > SEVERITY.allow_with_checkpoint;
    verdicts.push(stored ? { ...read, action: 'allow_with_checkpoint', reason: `${read.reason}; it is text kept in a variable, which runs only if bash expands it again, so a checkpoint is taken rather than the run refused` } : read);
    if (ctx.sandboxed) continue;
    // avfs inside the boundary: its own vault's content only, never the boundary's controls. Judged
    // before host paths, so `avfs --home /x …` is explained as naming another home.
    const nested = avfsArgv(cmd);
    const beyond = (nested ? avfsBeyondContent(nested, ctx) : undefined) ?? changesAvfsEnvironment(cmd, callsAvfs);
    if (beyond) verdicts.push({ ...base, rule: 'avfs-inside', action: 'deny', categories: ['host_escape_risk'], reason: beyond });
    const exempt = policy.host_paths.exempt_programs.some((p) => compilePattern(p, false).test(programName(cmd.argv[0]!)));
    const notPaths = exempt ? exemptArguments(cmd.argv) : nonPathArguments(cmd.argv);
    const words = [...cmd.argv.flatMap((w, i) => (notPaths.has(i) ? [] : [{ w, program: i === 0 }])), ...cmd.redirects.map((w) => ({ w, program: false }))];
    // `cd` with no directory (options only) goes to $HOME, as `cd ~` does.
    const homeCd = cmd.shell && programName(cmd.argv[0]!) === 'cd' && cmd.argv.slice(1).every((a) => a === '--' || /^-[LPe@]+$/.test(a));
    if (homeCd) verdicts.push({ ...base, rule: 'host-paths', action: policy.host_paths.action, categories: ['host_escape_risk'], reason: 'cd without a directory goes to the host\'s home directory, outside the vault' });
    let computed: string | undefined;
    for (const { w, program } of homeCd ? [] : words) {
      const why = hostReference(w, ctx, policy.host_paths.allow, cmd.shell, program);
      if (why) {
        verdicts.push({ ...base, rule: 'host-paths', action: policy.host_paths.action, categories: ['host_escape_risk'], reason: why });
        computed = undefined;
        break;
      }
      if (!program && cmd.shell && computed === undefined && computedAtRunTime(w)) computed = w;
    }
    // A word the shell computes as it runs (`"$(echo /etc)/shadow"`, `$F`) may name any host path:
    // not judged as one, it gets the default action, as a program computed at run time does. Only
    // a policy stricter than the built-in `allow` notices.
    if (computed !== undefined && policy.default_action !== 'allow') {
      verdicts.push({ ...base, rule: 'default', action: policy.default_action, categories: ['host_escape_risk'], reason: `${computed} is computed when the command runs (a substitution or a variable), so which host path it names is not known: the default action applies` });
    }
  }
  // The most severe action decides; among equals, the verdict with the weightiest category (so a
  // request that reads and deletes is explained by its deletion, not its `ls`).
  const weight = (v: CommandVerdict) => SEVERITY[v.action] * 100 + Math.max(-1, ...v.categories.map((c) => CATEGORY_WEIGHT[c]));
  const top = verdicts.reduce((a, b) => (weight(b) > weight(a) ? b : a));
  const categories = CATEGORIES.filter((c) => verdicts.some((v) => v.categories.includes(c)));
  // read_only describes the whole request only when nothing else in it writes.
  const finalCategories = categories.length > 1 ? categories.filter((c) => c !== 'read_only') : categories;
  // The whole-line verdict names no command of its own: its reason already says "the command line".
  const where = new Set(verdicts.map((v) => v.command)).size > 1 && top.rule !== 'unreadable-line' ? `${top.command}: ` : '';
  checkpoint ||= verdicts.some((v) => v.action === 'allow_with_checkpoint');
  return { decision: { action: top.action, categories: finalCategories, rule: top.rule, reason: where + top.reason }, verdicts, checkpoint };
}

/**
 * Built-in rules that add a checkpoint to a command without vouching for it: a script a shell
 * reads from its input (shell-from-input) is code the line does not show, as a computed program
 * is (defaultVerdict); a move or link out of the vault (mv-out-of-vault, link-out-of-vault) is an
 * mv or ln, which no rule approves. Under the built-in `allow` their checkpoint stands; a stricter
 * default_action applies as it is (`cat /src/x | sh` and `ln -s /tmp t` ran under `deny`, where
 * `bash /src/x` and `ln -s a b` are refused). A policy's own rule of such a name is taken as written.
 */
const CHECKPOINT_ONLY = new Set(['shell-from-input', 'mv-out-of-vault', 'link-out-of-vault']);

function checkpointOnly(verdict: CommandVerdict, rule: Rule, policy: Policy): CommandVerdict {
  if (!CHECKPOINT_ONLY.has(rule.name) || !builtinRules?.includes(rule) || SEVERITY[policy.default_action] <= SEVERITY[verdict.action]) return verdict;
  const what = rule.name === 'shell-from-input' ? 'runs a script read from its input, which the policy cannot see' : `${verdict.reason.replace(/, so a checkpoint is taken first$/, '')}; no rule approves the command itself`;
  return { ...verdict, action: policy.default_action, reason: `${what}: it gets the default action (${policy.default_action})` };
}

/**
 * The verdict on a command no rule matches: the default action, except that a program the shell
 * computes as the command runs (`$x id`, `$(echo rm) -rf src`, `eval "$X"`) may be any program,
 * `rm -rf` included, so under a default that takes no checkpoint it gets one: `proxy undo` can
 * then restore what it changed (rule `computed-program`). A stricter default stays as it is.
 */
function defaultVerdict(cmd: SimpleCommand, policy: Policy, base: Pick<CommandVerdict, 'command' | 'via'>, categories: Category[]): CommandVerdict {
  const computed = computedProgram(cmd);
  if (computed !== undefined && SEVERITY[policy.default_action] < SEVERITY.allow_with_checkpoint) {
    const what = cmd.code ?? `${computed} is computed when the command runs, so it may be any program`;
    return { ...base, rule: 'computed-program', action: 'allow_with_checkpoint', categories, reason: `${what}: a checkpoint is taken first so \`proxy undo\` can restore what it changes` };
  }
  return { ...base, rule: 'default', action: policy.default_action, categories, reason: 'no rule matched: the default action applies' };
}

const PROGRAM_BY_DESCRIPTOR = /^\/(proc\/(self|thread-self|\d+)(\/task\/\d+)?\/(exe|fd\/\d+|map_files\/[^/]+)|dev\/fd\/\d+|dev\/std(in|out|err))$/;

/** The word that makes the program of a shell command known only at run time (the program itself, or what `eval` runs), if any. */
function computedProgram(cmd: SimpleCommand): string | undefined {
  if (cmd.code) return cmd.argv[0];
  const [program, ...args] = cmd.argv;
  // A process's program or an open file run by its /proc or /dev/fd name (`/proc/self/exe -c …` is the shell itself): any program.
  if (PROGRAM_BY_DESCRIPTOR.test(posix.normalize(program!))) return program;
  if (!cmd.shell) return undefined;
  // A program the shell picks by a pattern (`/usr/bin/r[m]`, `./r?`) is whatever file matches.
  if (computedAtRunTime(program!) || globbed(program!)) return program;
  // What eval runs is its words joined: computed when one of them is (an arithmetic `$((…))` only makes a number).
  if (programName(program!) === 'eval') return args.find((w) => computedAtRunTime(w.replace(ARITHMETIC_EXPANSION, '0')));
  return undefined;
}

/** True when `action` needs `--approve` to run. */
export const needsApproval = (action: PolicyAction) => action === 'require_approval';

/**
 * Names of credentials: a glob or regular expression of env.pass never passes them (`npm_config_*`
 * matched npm's `npm_config_//registry.npmjs.org/:_authToken`, handing the registry token to the command).
 * Named exactly, a variable passes whatever its name: the policy asked for it. `auth` stands
 * alone or starts `authtoken`, `authkey`, `authorization` (OAUTH, BASICAUTH too; GIT_AUTHOR_NAME, XAUTHORITY, XAUTH, NOAUTH are no credentials, nor is TOKENIZERS_PARALLELISM);
 * `_pwd` and `_session` end a name (MYAPP_DB_PWD, MYAPP_USER_SESSION passed under MYAPP_*),
 * except the two well-known ones that are not secrets, fish's PROMPT_PWD and DESKTOP_SESSION.
 */
const CREDENTIAL_NAME =
  /(^|[^a-z]|^o|_o|basic)auth($|_?token|_?key|ori[sz]ation|[^a-z])|token(?!izer)|passw|passphrase|secret|credential|(^|_)creds?($|_)|(^|_)(api_?|private_?|session_?)?key($|file|_?pem)|sessionkey|access_?key|privatekey|(^|_)(otp|pass|cookies?|bearer)$|(?<!^prompt)_pwd(_?file)?$|(?<!^desktop)_session$/i;
/**
 * A URL carrying credentials (`http://alice:secret@proxy:3128`, a token as the user
 * `http://ghp_…@proxy:3128`): HTTPS_PROXY and its kin, npm's `npm_config_https_proxy`. A proxy
 * variable's value counts without its scheme too (`alice:secret@proxy:3128`), as curl and npm take
 * it. Never passed by a pattern; named exactly, only to a run with the host network, the one place
 * such a URL leads anywhere (elsewhere it would only be a secret to read).
 */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]+@/i;
const PROXY_WITH_PASSWORD = /^[^/@\s]+@/;
const carriesCredentials = (name: string, value: string) => URL_WITH_PASSWORD.test(value) || (/proxy/i.test(name) && PROXY_WITH_PASSWORD.test(value));
/** Whether an env.pass pattern names one variable: no glob character, not a `/…/` regular expression. */
const namesOne = (pattern: string) => !/[*?[{\\]/.test(pattern) && !/^\/.+\/[dgimsuy]*$/.test(pattern);

/**
 * The child's environment: the variables the policy passes through from the proxy's own
 * environment (names or patterns; a pattern never passes a credential: CREDENTIAL_NAME,
 * URL_WITH_PASSWORD), then `defaults` (the sandbox's HOME and TMPDIR), then the policy's `set`,
 * then `extra` (--env), then AVFS_*. `network` is the network the command will have.
 */
export function childEnv(
  policy: Policy,
  from: NodeJS.ProcessEnv,
  extra: Record<string, string>,
  avfs: Record<string, string>,
  defaults: Record<string, string> = {},
  network: NetworkMode = 'none',
): Record<string, string> {
  const passes = (name: string, value: string, pattern: string) =>
    compilePattern(pattern, false).test(name) &&
    (namesOne(pattern) ? network === 'host' || !carriesCredentials(name, value) : !CREDENTIAL_NAME.test(name) && !carriesCredentials(name, value));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    if (policy.env.pass.some((p) => passes(k, v, p))) env[k] = v;
  }
  return { ...env, ...defaults, ...policy.env.set, ...extra, ...avfs };
}
