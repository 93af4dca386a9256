import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';

/**
 * scripts/fdl-cloudauth (what `npm run demo` runs) builds with the project's own
 * TypeScript. With an incomplete node_modules it used to run `npx tsc`, which asks the
 * registry for an unrelated package named `tsc` and ends with "npx canceled due to
 * missing packages". Here a checkout whose node_modules has no TypeScript, and whose
 * lock file installs nothing: the launcher reinstalls, then says what is missing and
 * what to do — and never reaches for npx.
 */
jest.setTimeout(60_000);

let root: string | undefined;

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

it('names the missing TypeScript and the fix instead of running npx tsc', () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'fdl-launcher-'));
  mkdirSync(path.join(root, 'scripts'));
  mkdirSync(path.join(root, 'node_modules'));
  copyFileSync(path.join(packageRoot(), 'scripts', 'fdl-cloudauth'), path.join(root, 'scripts', 'fdl-cloudauth'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'launcher-probe', version: '1.0.0', private: true }));
  writeFileSync(
    path.join(root, 'package-lock.json'),
    JSON.stringify({
      name: 'launcher-probe',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name: 'launcher-probe', version: '1.0.0' } },
    }),
  );
  const run = spawnSync('bash', [path.join(root, 'scripts', 'fdl-cloudauth'), '--help'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 50_000,
    env: { ...process.env, npm_config_yes: 'false' },
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain(`${path.join(root, 'node_modules', '.bin', 'tsc')} is missing after npm ci`);
  expect(run.stderr).toContain('run npm ci in');
  expect(run.stderr).not.toMatch(/npx|canceled/);
});
