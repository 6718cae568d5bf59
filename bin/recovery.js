#!/usr/bin/env node
// The `recovery` command. Runs the TypeScript sources through tsx, so a clone works without a build.
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => (process.exitCode = code));
