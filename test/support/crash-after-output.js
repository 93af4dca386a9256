'use strict';
/**
 * Preloaded into a CLI process under test (`NODE_OPTIONS=--require <this file>`) to
 * crash it at an exact point without a hook in the product: once the process has
 * written $FDL_CRASH_AFTER_COUNT lines matching $FDL_CRASH_AFTER_LINE (a regular
 * expression) to stdout, it SIGKILLs itself — as an OOM kill or a power cut would, with
 * no chance to clean up. Stdout to a pipe is written synchronously on Linux, so the
 * line counted is the line the test reads.
 */
const pattern = process.env.FDL_CRASH_AFTER_LINE;
const count = Number(process.env.FDL_CRASH_AFTER_COUNT);
if (pattern && Number.isInteger(count) && count > 0) {
  const matcher = new RegExp(pattern);
  const write = process.stdout.write.bind(process.stdout);
  let seen = 0;
  process.stdout.write = (chunk, ...rest) => {
    const written = write(chunk, ...rest);
    for (const line of String(chunk).split('\n')) if (matcher.test(line)) seen += 1;
    if (seen >= count) process.kill(process.pid, 'SIGKILL');
    return written;
  };
}
