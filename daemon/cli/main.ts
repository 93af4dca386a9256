#!/usr/bin/env node
import { runCli } from './run-cli';

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env })
  .then((code) => {
    // Long-running commands (daemon, authserver) resolve only after they have shut down.
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    process.stderr.write(`fdl-cloudauth: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
