#!/usr/bin/env node
import module from 'node:module';
import { statSync } from 'node:fs';
// Node opens its debugger on 127.0.0.1:9229 when it gets SIGUSR1, unless the signal has a
// listener: anyone who could signal an avfs process (a proxy exec, the home's views server, all
// root) would get a port that runs any code in it, reachable from a `--network host` sandbox.
// Node 20 has no flag to turn that off (22.14 has --disable-sigusr1).
process.on('SIGUSR1', () => {});
// Node 22.1+ can cache compiled modules on disk, which cuts CLI start-up; Node 20 lacks it.
module.enableCompileCache?.();
// The linked CLI (scripts/bundle-cli.js, part of `npm run build`) starts faster than the modules
// tsc emits. It is used unless it is missing or older than them: a `tsc` alone after an edit runs
// the edited modules, never a stale link of the old ones.
const built = (name) => statSync(new URL(name, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const linked = built('../dist/cli-bundle/main.js') >= built('../dist/cli/main.js');
await import(linked ? '../dist/cli-bundle/main.js' : '../dist/cli/main.js');
