#!/usr/bin/env node
import module from 'node:module';
// Node 22.1+ can cache compiled modules on disk, which cuts CLI start-up; Node 20 lacks it.
module.enableCompileCache?.();
await import('../dist/cli/main.js');
