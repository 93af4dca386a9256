#!/usr/bin/env node
// `npm test` after the build: the type check and the linter run beside jest instead of
// before it. They take about 30 s of CPU; jest's suites mostly wait on processes
// (heartbeats, leases, Prometheus), so the three together finish about when jest alone
// does. jest's output streams as it comes; the type check's and the linter's are held
// and printed when they end, so nothing interleaves. The exit code is 1 when any of
// the three failed, and the last line names which. Arguments go to jest.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(name, command, args, { stream }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: stream ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let output = '';
    if (!stream) {
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
    }
    child.once('error', (error) => resolve({ name, ok: false, output: `${name} could not start: ${error.message}\n` }));
    child.once('close', (code, signal) => resolve({ name, ok: code === 0, output: signal ? `${output}${name} ended by ${signal}\n` : output }));
  });
}

async function main() {
  const checks = [
    run('typecheck', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json'], { stream: false }),
    run('lint', 'npm', ['run', '--silent', 'lint'], { stream: false }),
  ];
  const jest = run('jest', bin('jest'), process.argv.slice(2), { stream: true });
  const results = await Promise.all([...checks, jest]);
  for (const result of results) {
    if (result.output) process.stdout.write(`\n--- ${result.name}\n${result.output}`);
  }
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  if (failed.length > 0) {
    console.error(`npm test: failed — ${failed.join(', ')}`);
    process.exit(1);
  }
  console.log('npm test: typecheck, lint and jest passed');
}

void main();
