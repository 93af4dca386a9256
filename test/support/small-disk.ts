import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmdirSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A disk of its own for a test: a small tmpfs mounted on a fresh directory, which the
 * test fills (ENOSPC) or remounts read-only (EROFS — root ignores a chmod). Needs root
 * (or CAP_SYS_ADMIN); `mountable()` says whether this machine allows it, so a test can
 * skip with a clear message where it does not. `unmountAll()` belongs in afterAll.
 */

const mounted = new Set<string>();

function run(args: string[]): { ok: boolean; text: string } {
  const r = spawnSync(args[0] as string, args.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`.trim() };
}

let probe: { ok: boolean; why: string } | undefined;

/** Whether `mount -t tmpfs` works here; `why` says what refused it. */
export function mountable(): { ok: boolean; why: string } {
  if (probe) return probe;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-mount-probe-'));
  const r = run(['mount', '-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', dir]);
  if (r.ok) run(['umount', dir]);
  rmdirSync(dir);
  probe = {
    ok: r.ok,
    why: r.ok ? '' : `mount -t tmpfs is not permitted here (${r.text || 'no reason given'}): run the tests as root to include the disk-fault tests`,
  };
  return probe;
}

/** Mounts a tmpfs of `sizeKiB` on a new directory and returns the directory. */
export function mountSmallDisk(sizeKiB: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-small-disk-'));
  const r = run(['mount', '-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir]);
  if (!r.ok) throw new Error(`mounting a tmpfs on ${dir} failed: ${r.text}`);
  mounted.add(dir);
  return dir;
}

/** Remounts a disk of mountSmallDisk read-only, or writable again. */
export function remount(dir: string, mode: 'ro' | 'rw'): void {
  const r = run(['mount', '-o', `remount,${mode}`, dir]);
  if (!r.ok) throw new Error(`remounting ${dir} ${mode} failed: ${r.text}`);
}

/** Fills the disk with a file until it refuses a byte more; returns the filler's path (remove it to free the disk). */
export function fillDisk(dir: string): string {
  const sub = path.join(dir, 'filler');
  mkdirSync(sub, { recursive: true });
  const file = path.join(sub, 'fill');
  const fd = openSync(file, 'w');
  try {
    const block = Buffer.alloc(1024, 1);
    for (;;) {
      try {
        writeSync(fd, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // Whatever partial block is left: byte by byte, so no write of any size fits.
    for (;;) {
      try {
        writeSync(fd, Buffer.alloc(1, 1));
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Unmounts every disk this process mounted (lazily: a sidecar that still holds a file does not keep it). */
export function unmountAll(): void {
  for (const dir of mounted) {
    run(['mount', '-o', 'remount,rw', dir]);
    run(['umount', '-l', dir]);
    try {
      rmdirSync(dir);
    } catch {
      // Left for the OS's tmp cleaner: unmounted is what matters.
    }
    mounted.delete(dir);
  }
}
