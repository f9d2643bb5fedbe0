#!/usr/bin/env node
import module from 'node:module';
import { statSync } from 'node:fs';
// Node 22.1+ can cache compiled modules on disk, which cuts CLI start-up; Node 20 lacks it.
module.enableCompileCache?.();
// The linked CLI (scripts/bundle-cli.js, part of `npm run build`) starts faster than the modules
// tsc emits. It is used unless it is missing or older than them: a `tsc` alone after an edit runs
// the edited modules, never a stale link of the old ones.
const built = (name) => statSync(new URL(name, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const linked = built('../dist/cli-bundle/main.js') >= built('../dist/cli/main.js');
await import(linked ? '../dist/cli-bundle/main.js' : '../dist/cli/main.js');
