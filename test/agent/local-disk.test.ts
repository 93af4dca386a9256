import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { HELD_MAX, Journal, type JournalEntry } from '../../daemon/agent/journal';
import { describeDiskProblem, LocalDisk, type LocalWriteOp } from '../../daemon/agent/local-disk';
import { LocalState } from '../../daemon/agent/local-state';
import { createLogger } from '../../shared/logger';
import { cachedCredential } from '../support/cached-credential';

/**
 * The node's disk as a fault domain, in this process: LocalDisk and its two writers (the state file, the journal)
 * when journal.dir refuses writes. A directory under a path whose parent is a regular
 * file refuses every write (ENOTDIR) and cannot be created, as a read-only or full disk
 * would, without needing root; removing that file is the disk coming back. (Read-only
 * and full disks themselves, on real sidecars: test/reliability/local-disk.process.test.ts.)
 */

function logged(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write: (chunk: Buffer, _e, cb) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
  });
  return { log, lines };
}

/** journal.dir under a regular file: no write and no mkdir can succeed until the file goes. */
function blockedDir(): { dir: string; unblock(): void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'fdl-disk-'));
  const blocker = path.join(base, 'volume');
  writeFileSync(blocker, 'not a directory');
  return { dir: path.join(blocker, 'journal'), unblock: () => rmSync(blocker) };
}

function entry(n: number): JournalEntry {
  return { nodeId: 'n1', attemptId: `slot:${n}`, outcome: { ok: true }, generation: 1, atMs: 1_000 * n } as JournalEntry;
}

const CREDENTIAL = cachedCredential({ generation: 1 });

it('a directory that refuses writes: nothing throws, everything is kept in memory, counted by op, and written back once the disk returns', () => {
  const { log, lines } = logged();
  const { dir, unblock } = blockedDir();
  const errors: LocalWriteOp[] = [];
  const disk = new LocalDisk(dir, log, { onError: (op) => errors.push(op) });
  expect(disk.writable).toBe(false);
  const state = new LocalState(disk, 'n1');
  const journal = new Journal(disk, 'n1', log);

  state.update({ credential: CREDENTIAL, lastSlot: 42 });
  journal.append(entry(1));
  journal.append(entry(2));
  expect(state.get().lastSlot).toBe(42);
  expect(journal.pending).toBe(2);
  expect(journal.unsaved).toBe(2);
  expect(errors).toEqual(expect.arrayContaining(['state', 'journal']));
  expect(disk.errorCount('journal')).toBe(2);
  const problem = disk.lastProblem;
  expect(problem).toEqual(expect.objectContaining({ dir, code: 'ENOTDIR' }));
  expect(describeDiskProblem(problem!)).toContain(`journal.dir ${dir} does not take writes`);
  expect(describeDiskProblem(problem!)).toContain('CLOUDAUTH_JOURNAL_DIR');
  // One error line for the outage, not one per write.
  expect(
    lines.filter(
      (l) =>
        l.msg ===
        'Cannot write the local state directory (journal.dir): attempts are still made and recorded in Redis; what Redis cannot take is held in memory, and lost if the sidecar restarts before Redis or the disk returns',
    ),
  ).toHaveLength(1);
  expect(
    lines.filter((l) => l.msg === 'Journal not written: the result is held in memory until Redis or the disk returns (a restart now loses it)'),
  ).toHaveLength(2);

  // Still refused: retry changes nothing and throws nothing.
  disk.retry();
  expect(disk.writable).toBe(false);

  unblock();
  disk.retry();
  expect(disk.writable).toBe(true);
  expect(journal.unsaved).toBe(0);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect((JSON.parse(readFileSync(path.join(dir, 'state-n1.json'), 'utf8')) as { lastSlot: number }).lastSlot).toBe(42);
  expect(new Journal(new LocalDisk(dir, log), 'n1', log).snapshot().map((e) => e.attemptId)).toEqual(['slot:1', 'slot:2']);
  expect(lines.some((l) => l.msg === 'The local state directory takes writes again')).toBe(true);
});

it('holds at most HELD_MAX results while the journal cannot be written, dropping the oldest and saying so', () => {
  const { log, lines } = logged();
  const { dir } = blockedDir();
  const journal = new Journal(new LocalDisk(dir, log), 'n1', log);
  for (let n = 1; n <= HELD_MAX + 2; n++) journal.append(entry(n));
  expect(journal.pending).toBe(HELD_MAX);
  expect(journal.snapshot()[0]?.attemptId).toBe('slot:3');
  expect(
    lines.filter((l) => l.msg === 'Too many results held in memory: dropped the oldest, it is lost and will never be recorded').map((l) => l.attemptId),
  ).toEqual(['slot:1', 'slot:2']);
});

it('a removed directory is created again (0700) by the next write, and what the process held is written back, counted once as a failed state write', () => {
  const { log, lines } = logged();
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-disk-')), 'journal');
  const errors: LocalWriteOp[] = [];
  const disk = new LocalDisk(dir, log, { onError: (op) => errors.push(op) });
  const state = new LocalState(disk, 'n1');
  const journal = new Journal(disk, 'n1', log);
  state.update({ credential: CREDENTIAL });
  journal.append(entry(1));

  rmSync(dir, { recursive: true });
  journal.append(entry(2));
  expect(existsSync(dir)).toBe(true);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect(lines.some((l) => l.msg === 'The local state directory was gone: created it again (mode 0700); what this process holds is written back')).toBe(true);
  expect(errors).toEqual(['state']);
  // The append went through; the state file and the earlier entry come back at the retry.
  disk.retry();
  expect(disk.writable).toBe(true);
  expect((JSON.parse(readFileSync(path.join(dir, 'state-n1.json'), 'utf8')) as { credential: unknown }).credential).toEqual(CREDENTIAL);
  expect(new Journal(new LocalDisk(dir, log), 'n1', log).snapshot().map((e) => e.attemptId)).toEqual(['slot:1', 'slot:2']);
});

it('retry() finds a directory removed while nothing was written, and creates it again', () => {
  const { log } = logged();
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-disk-')), 'journal');
  mkdirSync(dir);
  const disk = new LocalDisk(dir, log);
  const state = new LocalState(disk, 'n1');
  state.update({ lastSlot: 7 });
  rmSync(dir, { recursive: true });
  disk.retry();
  expect((JSON.parse(readFileSync(path.join(dir, 'state-n1.json'), 'utf8')) as { lastSlot: number }).lastSlot).toBe(7);
  expect(disk.writable).toBe(true);
});
