#!/usr/bin/env node
// Makes sure what the tests and the demo need is installed: the npm packages, and the
// programs redis-server (real Redis servers for the tests), promtool (checks
// metrics and alert rules; its Debian package also brings prometheus),
// Alertmanager with amtool (the on-call chain's tests; Debian prometheus-alertmanager)
// and chromium (the Registration page's browser test; playwright-core drives it,
// never downloads one).
// As root it installs what is missing with apt-get; otherwise it prints the exact
// command to run and fails, so nothing else has to be figured out by hand.
'use strict';
const { spawnSync } = require('node:child_process');
const { runHeld } = require('./hold-service-starts');

const fs = require('node:fs');
const path = require('node:path');

// npm packages first: a fresh clone has none, and everything after needs them.
// `npm ci` when node_modules is missing or older than the lock file.
const root = path.resolve(__dirname, '..');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs) {
  console.error('ensure-tools: installing npm packages (npm ci)');
  // playwright-core downloads nothing by itself; the variable says so to anything else too.
  const env = { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' };
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error('ensure-tools: `npm ci` failed; run it yourself and look at its output');
    process.exit(1);
  }
}

const wanted = process.argv.slice(2);
const TOOLS = {
  'redis-server': { probe: ['redis-server', ['--version']], pkg: 'redis-server' },
  promtool: { probe: ['promtool', ['--version']], pkg: 'prometheus' },
  alertmanager: { probe: ['prometheus-alertmanager', ['--version']], pkg: 'prometheus-alertmanager' },
  amtool: { probe: ['amtool', ['--version']], pkg: 'prometheus-alertmanager' },
  // CHROMIUM_PATH (test/support/browser.ts) points at another build, e.g. on macOS.
  chromium: { probe: [process.env.CHROMIUM_PATH || 'chromium', ['--version']], pkg: 'chromium' },
};
const names = wanted.length > 0 ? wanted : Object.keys(TOOLS);

function present(name) {
  const [cmd, args] = TOOLS[name].probe;
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

const missing = names.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);

const pkgs = [...new Set(missing.map((n) => TOOLS[n].pkg))];
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (isRoot && hasApt) {
  console.error(`ensure-tools: installing ${pkgs.join(', ')} with apt-get (missing: ${missing.join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The Debian packages would start their services on install (the tests start their
  // own on free ports): the starts are held instead, so no process has to be stopped
  // afterwards — stopping one by name could hit a Prometheus this script did not start.
  const install = () => runHeld('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { spawn: { env } });
  let status = install();
  if (status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    status = install();
  }
  const still = names.filter((n) => !present(n));
  if (status === 0 && still.length === 0) process.exit(0);
  console.error(`ensure-tools: apt-get could not install ${still.join(', ')}`);
  process.exit(1);
}
console.error(
  `ensure-tools: missing ${missing.join(', ')}. Install with:\n  sudo apt-get install -y ${pkgs.join(' ')}\n` +
    '(on macOS: brew install redis prometheus alertmanager, and brew install --cask chromium with CHROMIUM_PATH set to its binary)',
);
process.exit(1);
