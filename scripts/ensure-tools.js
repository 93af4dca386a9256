#!/usr/bin/env node
// Makes sure the programs the tests and the demo need are installed: redis-server
// (real Redis servers for the tests) and promtool (checks metrics and alert rules).
// As root it installs what is missing with apt-get; otherwise it prints the exact
// command to run and fails, so nothing else has to be figured out by hand.
'use strict';
const { spawnSync } = require('node:child_process');

const wanted = process.argv.slice(2);
const TOOLS = {
  'redis-server': { probe: ['redis-server', ['--version']], pkg: 'redis-server' },
  promtool: { probe: ['promtool', ['--version']], pkg: 'prometheus' },
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
  let r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
  }
  // The prometheus package starts a service on install; the tests start their own.
  if (pkgs.includes('prometheus')) spawnSync('sh', ['-c', 'service prometheus stop >/dev/null 2>&1 || pkill -x prometheus || true']);
  const still = names.filter((n) => !present(n));
  if (r.status === 0 && still.length === 0) process.exit(0);
  console.error(`ensure-tools: apt-get could not install ${still.join(', ')}`);
  process.exit(1);
}
console.error(
  `ensure-tools: missing ${missing.join(', ')}. Install with:\n  sudo apt-get install -y ${pkgs.join(' ')}\n` +
    '(on macOS: brew install redis prometheus)',
);
process.exit(1);
