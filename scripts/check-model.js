#!/usr/bin/env node
// `npm run check:model -- --runs N [--steps K] [--seed S] [--path P] [--replay R]`: the recording model
// (test/agent/recording-model.test.ts) beyond npm test's fixed budget of 200 sequences:
// more sequences, longer ones, or the replay of a failure (fast-check prints its seed and
// path, and the sequence's replayPath: with all three, the same shrunk sequence runs again). jest does not type-check, so the
// type check runs first, as in npm test.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const usage = 'usage: npm run check:model -- [--runs N] [--steps K] [--seed S] [--path P] [--replay R]';
const options = { runs: '2000', steps: '40', seed: '', path: '', replay: '' };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const name = (args[i] ?? '').replace(/^--/, '');
  const value = args[i + 1];
  if (!(name in options) || value === undefined) {
    console.error(`check:model: unknown or incomplete option ${args[i]}\n${usage}`);
    process.exit(2);
  }
  options[name] = value;
}
for (const name of ['runs', 'steps', 'seed']) {
  if (options[name] !== '' && !/^-?\d+$/.test(options[name])) {
    console.error(`check:model: --${name} must be a whole number, got ${options[name]}\n${usage}`);
    process.exit(2);
  }
}
const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const typecheck = spawnSync(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (typecheck.status !== 0) process.exit(typecheck.status ?? 1);
// About 10 sequences a second on a quiet machine; the timeout leaves room for a loaded one.
const timeoutMs = 120_000 + Number(options.runs) * 1_000;
const env = {
  ...process.env,
  MODEL_RUNS: options.runs,
  MODEL_STEPS: options.steps,
  MODEL_SEED: options.seed,
  MODEL_PATH: options.path,
  MODEL_REPLAY: options.replay,
  MODEL_TIMEOUT_MS: String(timeoutMs),
};
const run = spawnSync(bin('jest'), ['test/agent/recording-model.test.ts', '--runInBand'], { cwd: root, env, stdio: 'inherit' });
process.exit(run.status ?? 1);
