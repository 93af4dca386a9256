import { lstatSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Config } from '../../shared/config/compile';
import { loadPrivateKey } from '../../shared/crypto/key-files';
import { fail, pass, type CheckResult } from './check-result';
import { isLoopbackHost } from '../../shared/net/hosts';

/** Checks of this machine alone: the key directory and key, and the node IP it reports. */

export function checkKeys(cfg: Config): CheckResult[] {
  const dir = cfg.crypto.keyDir;
  const title = 'key directory';
  let mode: number;
  try {
    const stats = lstatSync(dir);
    if (!stats.isDirectory()) return [fail('keys-dir', title, `${dir} is not a directory`, `set crypto.keyDir (CLOUDAUTH_KEY_DIR) to the directory holding the key files`)];
    mode = stats.mode & 0o777;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return [fail('keys-dir', title, `${dir} cannot be read (${code})`, `create it with the key files (\`fdl-cloudauth keys generate --dir ${dir}\` once per project, then copy to every node), or set crypto.keyDir`)];
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
    results.push(fail('keys-private', `${algorithm} private key`, (error as Error).message, 'fix the key file as the message says; the same key files must be on every node'));
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
