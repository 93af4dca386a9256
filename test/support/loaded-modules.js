'use strict';
/**
 * Preloaded into a CLI process under test (`NODE_OPTIONS=--require <this file>`): at
 * exit, writes every module file the process loaded (the keys of require.cache) as a
 * JSON array to $FDL_LOADED_MODULES_FILE, so a test can say what a command loads.
 */
const { writeFileSync } = require('node:fs');

const target = process.env.FDL_LOADED_MODULES_FILE;
if (target) {
  process.once('exit', () => writeFileSync(target, JSON.stringify(Object.keys(require.cache))));
}
