import { accessSync, constants, existsSync, lstatSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../shared/config/compile';
import { loadPrivateKey } from '../../shared/crypto/key-files';
import { fail, pass, type CheckResult } from './check-result';
import { isLoopbackHost } from '../../shared/net/hosts';

/** Checks of this machine alone: the key directory and key, the journal directory, and the node IP it reports. */

export function checkKeys(cfg: Config): CheckResult[] {
  const dir = cfg.crypto.keyDir;
  const title = 'key directory';
  let mode: number;
  try {
    const stats = lstatSync(dir);
    if (!stats.isDirectory())
      return [fail('keys-dir', title, `${dir} is not a directory`, `set crypto.keyDir (CLOUDAUTH_KEY_DIR) to the directory holding the key files`)];
    mode = stats.mode & 0o777;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return [
      fail(
        'keys-dir',
        title,
        `${dir} cannot be read (${code})`,
        `create it with the key files (\`fdl-cloudauth keys generate --dir ${dir}\` once per project, then copy to every node), or set crypto.keyDir`,
      ),
    ];
  }
  const octal = mode.toString(8).padStart(4, '0');
  const results: CheckResult[] = [];
  if ((mode & 0o002) !== 0) results.push(fail('keys-dir', title, `${dir} has mode ${octal}: anyone may replace the key files`, `run \`chmod 700 ${dir}\``));
  else results.push(pass('keys-dir', title, `${dir}, mode ${octal}`));
  const algorithm = cfg.crypto.algorithm;
  try {
    const key = loadPrivateKey(dir, algorithm);
    results.push(pass('keys-private', `${algorithm} private key`, `${key.file}, mode 0600 or stricter, key id ${key.keyId}`));
  } catch (error) {
    results.push(
      fail(
        'keys-private',
        `${algorithm} private key`,
        (error as Error).message,
        'fix the key file as the message says; the same key files must be on every node',
      ),
    );
  }
  return results;
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const entry of list ?? []) out.add(entry.address);
  return out;
}

export function checkNodeIp(cfg: Config): CheckResult {
  const ip = cfg.node.ip;
  const title = 'node IP reported';
  const fix = 'set node.ip (CLOUDAUTH_NODE_IP) to the address the license allows for this node';
  if (net.isIP(ip) === 0) return fail('node-ip', title, `"${ip}" is not an IP address`, fix);
  if (isLoopbackHost(ip) || ip === '0.0.0.0' || ip === '::') {
    return fail('node-ip', title, `${ip} is a loopback or unspecified address (no external interface found?)`, fix);
  }
  const here = localAddresses().has(ip) ? 'an address of this machine' : 'not an address of this machine: right only if the license expects it (NAT, a pod IP)';
  return pass('node-ip', title, `${ip} (${here}), node id ${cfg.node.id}`);
}

/** Below this much free space the journal may fail its next write (a result is a few hundred bytes, the state file a few KiB). */
const JOURNAL_MIN_FREE_BYTES = 1024 * 1024;

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * journal.dir (SPEC §4): writable — a real write of a probe file, which a read-only
 * mount or a full disk refuses where a permission check would not — and with room left.
 * A missing directory is fine when the daemon can create it.
 */
export function checkJournalDir(cfg: Config): CheckResult {
  const dir = cfg.journal.dir;
  const title = 'journal directory';
  const fix = `free space on its file system or make it writable (a read-only mount?), or set journal.dir (CLOUDAUTH_JOURNAL_DIR) to a writable directory`;
  let existing = dir;
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    if (!lstatSync(existing).isDirectory())
      return fail(
        'journal-dir',
        title,
        `${existing} is not a directory`,
        'set journal.dir (CLOUDAUTH_JOURNAL_DIR) to a directory, or a path the daemon can create',
      );
    if (existing === dir) {
      const probe = path.join(dir, `.doctor-probe-${process.pid}`);
      try {
        writeFileSync(probe, Buffer.alloc(4096), { mode: 0o600 });
      } finally {
        rmSync(probe, { force: true });
      }
    } else accessSync(existing, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return fail('journal-dir', title, `${dir} does not take writes (${code}: ${(error as Error).message})`, fix);
  }
  const fs = statfsSync(existing);
  const free = fs.bavail * fs.bsize;
  const where = existing === dir ? `${dir}: writable` : `${dir} is missing; the daemon creates it (mode 0700) in ${existing}`;
  if (free < JOURNAL_MIN_FREE_BYTES) return fail('journal-dir', title, `${where}, but only ${mebibytes(free)} free`, fix);
  return pass('journal-dir', title, `${where}, ${mebibytes(free)} free`);
}
