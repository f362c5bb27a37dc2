#!/usr/bin/env node
// The CLI is written in TypeScript and run through tsx's loader: no build step.
import { register } from 'tsx/esm/api';

// `xfrmkit … | head` closes stdout early: stop quietly like other Unix tools.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
