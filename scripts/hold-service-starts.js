#!/usr/bin/env node
// Runs a command (an `apt-get install`) with Debian's service starts held: while it
// runs, /usr/sbin/policy-rc.d answers 101 ("action forbidden"), which invoke-rc.d and
// deb-systemd-invoke honour, so a package's post-install script does not start its
// service. The install steps (scripts/ensure-tools.js, .ci/run) used to let the
// prometheus package start its server and then `pkill -x prometheus` — on a user's
// machine that stopped their own Prometheus. Holding the start means there is nothing
// to stop afterwards. A policy-rc.d that was already there is put back as it was.
//
//   node scripts/hold-service-starts.js apt-get install -y prometheus
//
// POLICY_RC_D names another file (for the test: test/deploy/install-steps.process.test.ts).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

const POLICY = '#!/bin/sh\n# written by fdl-cloudauth scripts/hold-service-starts.js while a package is installed\nexit 101\n';

/** Installs the policy file; returns the function that restores what was there. */
function hold(file) {
  let previous;
  try {
    previous = { content: fs.readFileSync(file), mode: fs.statSync(file).mode & 0o7777 };
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  fs.writeFileSync(file, POLICY, { mode: 0o755 });
  fs.chmodSync(file, 0o755);
  return () => {
    if (previous) {
      fs.writeFileSync(file, previous.content);
      fs.chmodSync(file, previous.mode);
    } else {
      fs.rmSync(file, { force: true });
    }
  };
}

/** Runs command with service starts held; returns its exit status (1 when it could not run). */
function runHeld(command, args, options = {}) {
  const release = hold(options.policyFile || process.env.POLICY_RC_D || '/usr/sbin/policy-rc.d');
  try {
    const r = spawnSync(command, args, { stdio: 'inherit', ...options.spawn });
    return r.status === null ? 1 : r.status;
  } finally {
    release();
  }
}

module.exports = { hold, runHeld };

if (require.main === module) {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error('usage: node scripts/hold-service-starts.js <command> [args...]');
    process.exit(2);
  }
  process.exit(runHeld(command, args));
}
