#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/. Build first (`npm run build`).
import('../dist/src/cli/index.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`dbmesh: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
