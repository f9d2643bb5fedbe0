/**
 * Command lines some programs take abbreviated, read in full: `ip l s eth0 down` is
 * `ip link set eth0 down`, `npm pub` is `npm publish`. Rules name commands in full, so
 * command-line.ts judges this reading beside the one as written (a rule for `set` would not see
 * `s`). Each table follows the program's own matching, in its own order: where two names share a
 * prefix, the first one the program tries is the one it runs (`ip l s` is `set`, not `show`).
 */

/**
 * iproute2's global options (ip/ip.c), in the order it tries them, each matched by any prefix
 * (`-b` is `-batch`, tried before `-brief`); `=` marks those it compares whole, `:` those that
 * take the next word as their value.
 */
const IP_OPTIONS = [
  '-loops:', '-family:', '=-4', '=-6', '=-0', '=-M', '=-B', '-human', '-human-readable', '-iec', '-stats', '-statistics', '-details', '-resolve', '-oneline',
  '-timestamp', '-tshort', '-Version', '-force', '-batch:', '-brief', '-json', '-pretty', '-rcvbuf:', '-color', '-help', '-netns:', '-Numeric', '-all', '=-echo',
];

const ADDRESS_VERBS = ['add', 'change', '=chg', 'replace', 'delete', 'list', 'show', 'lst', 'flush', 'save', 'showdump', 'restore', 'help'];
const ROUTE_VERBS = ['add', 'change', '=chg', 'replace', 'prepend', 'append', 'test', 'delete', 'list', 'show', 'lst', 'get', 'flush', 'save', 'restore', 'showdump', 'help'];
const RULE_VERBS = ['list', 'lst', 'show', 'save', 'restore', 'add', 'delete', 'flush', 'help'];
const NEIGH_VERBS = ['add', 'change', '=chg', 'replace', 'delete', 'get', 'show', 'lst', 'list', 'flush', 'help'];
const NTABLE_VERBS = ['change', 'chg', 'show', 'lst', 'list', 'help'];
const TUNNEL_VERBS = ['add', 'change', 'delete', 'show', 'lst', 'list', 'prl', '6rd', 'help'];
const TUNTAP_VERBS = ['add', 'delete', 'show', 'lst', 'list', 'help'];
const TCP_METRICS_VERBS = ['list', 'lst', 'show', 'delete', 'remove', 'flush', 'help'];

/**
 * ip's objects in the order ip/ip.c tries them (`ip n` is `neighbor`, tried before `netns`), each
 * with its verbs in the order its do_* function tries them. Objects whose verbs are a level deeper
 * (xfrm state, mptcp endpoint, sr hmac) list that level.
 */
const IP_OBJECTS: [string, string[]][] = [
  ['address', ADDRESS_VERBS],
  ['addrlabel', ['list', 'lst', 'show', 'add', 'delete', 'flush', 'help']],
  ['maddress', ['add', 'delete', 'list', 'show', 'lst', 'help']],
  ['route', ROUTE_VERBS],
  ['rule', RULE_VERBS],
  ['neighbor', NEIGH_VERBS],
  ['neighbour', NEIGH_VERBS],
  ['ntable', NTABLE_VERBS],
  ['ntbl', NTABLE_VERBS],
  ['link', ['add', 'set', 'change', 'replace', 'delete', 'show', 'lst', 'list', 'xstats', 'afstats', 'property', 'help']],
  ['l2tp', ['help', 'add', 'delete', 'show', 'lst', 'list']],
  ['fou', ['help', 'add', 'delete', 'show']],
  ['ila', ['help', 'add', 'delete', 'show', 'lst', 'list']],
  ['macsec', ['help', 'show', 'add', 'set', 'delete', 'offload']],
  ['tunnel', TUNNEL_VERBS],
  ['tunl', TUNNEL_VERBS],
  ['tuntap', TUNTAP_VERBS],
  ['tap', TUNTAP_VERBS],
  ['token', ['list', 'lst', 'show', 'set', 'add', 'delete', 'get', 'help']],
  ['tcpmetrics', TCP_METRICS_VERBS],
  ['tcp_metrics', TCP_METRICS_VERBS],
  ['monitor', []],
  ['xfrm', ['state', 'sa', 'policy', 'monitor', 'help']],
  ['mroute', ['list', 'show', 'lst', 'help']],
  ['mrule', RULE_VERBS],
  ['netns', ['list', 'show', 'lst', 'list-id', 'help', 'add', 'set', 'delete', 'identify', 'pids', 'exec', 'monitor', 'attach']],
  ['netconf', ['show', 'lst', 'list', 'help']],
  ['vrf', ['identify', 'pids', 'exec', 'show', 'lst', 'list', 'help']],
  ['sr', ['help', 'hmac', 'tunsrc']],
  ['nexthop', ['add', 'replace', 'delete', 'list', 'show', 'lst', 'get', 'flush', 'bucket', 'help']],
  ['mptcp', ['help', 'endpoint', 'limits', 'monitor']],
  ['ioam', ['=help', '=namespace', '=schema', '=monitor']],
  ['help', []],
  ['stats', ['=help', '=show', '=set']],
];

const XFRM_STATE_VERBS = ['add', 'update', 'allocspi', 'delete', 'deleteall', 'delall', 'list', 'show', 'lst', 'get', 'flush', 'count', 'help'];

/** The verbs of the objects a level deeper (`ip xfrm state add`, `ip mptcp endpoint delete`); ioam's are compared whole, so never abbreviated. */
const IP_SUBOBJECTS: Record<string, string[]> = {
  'xfrm state': XFRM_STATE_VERBS,
  'xfrm sa': XFRM_STATE_VERBS,
  'xfrm policy': ['add', 'update', 'delete', 'deleteall', 'delall', 'list', 'show', 'lst', 'get', 'flush', 'count', 'set', 'setdefault', 'getdefault', 'help'],
  'mptcp endpoint': ['add', 'change', 'delete', 'show', 'flush'],
  'mptcp limits': ['set', 'show'],
  'sr hmac': ['show', 'set'],
  'sr tunsrc': ['show', 'set'],
};

/** The first of `names` that `word` stands for, as iproute2's matches() reads it: any non-empty prefix, or the whole name where it is marked `=`. */
function firstMatch(word: string, names: string[]): string | undefined {
  const name = names.find((n) => (n.startsWith('=') ? word === n.slice(1) : word !== '' && n.replace(/:$/, '').startsWith(word)));
  return name?.replace(/^=|:$/g, '');
}

/** `ip …` with its options, object and verb written in full (`ip -ba f` → `ip -batch f`, `ip r a …` → `ip route add …`); undefined when ip would refuse it. */
function ipInFull(args: string[]): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    if (args[i] === '--') {
      i++;
      break;
    }
    // ip reads `--batch` as `-batch`; only -color takes its value after `=`.
    const [given, value] = args[i]!.replace(/^--/, '-').split(/(?==)/);
    const option = firstMatch(given!, IP_OPTIONS);
    if (option === undefined || (value !== undefined && option !== '-color')) return undefined;
    out.push(option + (value ?? ''));
    if (IP_OPTIONS.includes(option + ':')) out.push(args[++i] ?? '');
  }
  const object = args[i] === undefined ? undefined : IP_OBJECTS.find(([name]) => firstMatch(args[i]!, [name]) !== undefined);
  if (!object) return [...out, ...args.slice(i)];
  const words = [object[0]];
  let verbs: string[] | undefined = object[1];
  for (i++; verbs && args[i] !== undefined; i++) {
    const verb = firstMatch(args[i]!, verbs);
    if (verb === undefined) break;
    words.push(verb);
    verbs = IP_SUBOBJECTS[words.join(' ')];
  }
  return [...out, ...words, ...args.slice(i)];
}

/** npm's commands and aliases (lib/utils/cmd-list.js): a command is any unambiguous prefix of one of them, an alias stands for its command. */
const NPM_COMMANDS = [
  'access', 'approve-scripts', 'audit', 'bugs', 'cache', 'ci', 'completion', 'config', 'dedupe', 'deny-scripts', 'deprecate', 'diff', 'dist-tag', 'docs', 'doctor', 'edit',
  'exec', 'explain', 'explore', 'find-dupes', 'fund', 'get', 'help', 'help-search', 'init', 'install', 'install-ci-test', 'install-test', 'link', 'll', 'login', 'logout',
  'ls', 'org', 'outdated', 'owner', 'pack', 'ping', 'pkg', 'prefix', 'profile', 'prune', 'publish', 'query', 'rebuild', 'repo', 'restart', 'root', 'run', 'sbom', 'search',
  'set', 'stage', 'start', 'stop', 'team', 'test', 'token', 'trust', 'undeprecate', 'uninstall', 'unpublish', 'update', 'version', 'view', 'whoami',
];
const NPM_ALIASES: Record<string, string> = {
  author: 'owner', home: 'docs', issues: 'bugs', info: 'view', show: 'view', find: 'search', add: 'install', unlink: 'uninstall', remove: 'uninstall', rm: 'uninstall',
  r: 'uninstall', un: 'uninstall', rb: 'rebuild', list: 'ls', ln: 'link', create: 'init', i: 'install', it: 'install-test', cit: 'install-ci-test', u: 'update',
  up: 'update', c: 'config', s: 'search', se: 'search', tst: 'test', t: 'test', ddp: 'dedupe', v: 'view', 'run-script': 'run', 'clean-install': 'ci',
  'clean-install-test': 'install-ci-test', x: 'exec', why: 'explain', la: 'll', verison: 'version', ic: 'ci', innit: 'init', in: 'install', ins: 'install',
  inst: 'install', insta: 'install', instal: 'install', isnt: 'install', isnta: 'install', isntal: 'install', isntall: 'install', 'install-clean': 'ci',
  'isntall-clean': 'ci', hlep: 'help', 'dist-tags': 'dist-tag', upgrade: 'update', udpate: 'update', rum: 'run', sit: 'install-ci-test', urn: 'run', ogr: 'org',
};

/** The command npm runs for `word` (its deref): camelCase as kebab-case, a command, an alias, or an unambiguous prefix of either. */
function npmCommand(word: string): string | undefined {
  const c = word.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
  if (NPM_COMMANDS.includes(c)) return c;
  if (NPM_ALIASES[c]) return NPM_ALIASES[c];
  const prefixed = [...NPM_COMMANDS, ...Object.keys(NPM_ALIASES)].filter((name) => name.startsWith(c));
  return prefixed.length === 1 ? (NPM_ALIASES[prefixed[0]!] ?? prefixed[0]) : undefined;
}

/**
 * The subcommand in full, by program: npm's abbreviations and aliases (`npm pub`); yarn's `npm`
 * namespace (`yarn npm publish` publishes as `yarn publish` does) and `workspace <name> <command…>`.
 */
const SUBCOMMAND_IN_FULL: Record<string, (sub: string, rest: string[]) => string[] | undefined> = {
  npm: (sub, rest) => {
    const full = npmCommand(sub);
    return full === undefined ? undefined : [full, ...rest];
  },
  yarn: (sub, rest) => (sub === 'npm' && rest.length > 0 ? rest : sub === 'workspace' && rest.length > 1 ? rest.slice(1) : undefined),
};

/**
 * The command line in full, when the program takes it abbreviated and it is written so: `args`
 * are the words after the program, `at` where its subcommand is (command-line.ts subcommandOf).
 * Undefined when nothing is abbreviated.
 */
export function inFull(name: string, args: string[], at: number | undefined): string[] | undefined {
  const full = name === 'ip' ? ipInFull(args) : at === undefined ? undefined : withSubcommand(name, args, at);
  return full && full.some((w, i) => w !== args[i]) ? [name, ...full] : undefined;
}

function withSubcommand(name: string, args: string[], at: number): string[] | undefined {
  const rest = SUBCOMMAND_IN_FULL[name]?.(args[at]!, args.slice(at + 1));
  return rest && [...args.slice(0, at), ...rest];
}
