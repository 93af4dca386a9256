import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Journal, type JournalEntry } from '../../daemon/agent/journal';
import { LocalDisk } from '../../daemon/agent/local-disk';

/**
 * The agent's local journal on real files: what it keeps when two replays meet and
 * when a crash tore its last line. No clock is involved; gates order the steps.
 */

const log = pino({ level: 'silent' });
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-journal-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function entry(n: number): JournalEntry {
  return { nodeId: 'n1', attemptId: `slot:${n}`, outcome: { ok: true }, generation: 1, atMs: 1_000 * n } as JournalEntry;
}

/** A promise and the function that resolves it. */
function gate(): { open: () => void; passed: Promise<void> } {
  let open = (): void => undefined;
  const passed = new Promise<void>((resolve) => (open = resolve));
  return { open, passed };
}

it('two replays at once lose nothing: the second waits for the first, then replays what was appended meanwhile', async () => {
  const journal = new Journal(new LocalDisk(dir, log), 'n1', log);
  journal.append(entry(1));
  journal.append(entry(2));
  const recorded: string[] = [];
  const first = gate();
  const record = async (e: JournalEntry): Promise<void> => {
    await first.passed;
    recorded.push(e.attemptId);
  };
  const a = journal.replay(record);
  const b = journal.replay(record);
  // Appended while both replays are under way.
  journal.append(entry(3));
  first.open();
  await Promise.all([a, b]);

  expect(recorded).toEqual(['slot:1', 'slot:2', 'slot:3']);
  expect(journal.pending).toBe(0);
  expect(readFileSync(journal.file, 'utf8')).toBe('');
});

it('an entry appended during a replay stays in memory and in the file until replayed', async () => {
  const journal = new Journal(new LocalDisk(dir, log), 'n1', log);
  journal.append(entry(1));
  const step = gate();
  const replay = journal.replay(async () => {
    await step.passed;
  });
  journal.append(entry(2));
  step.open();
  expect(await replay).toBe(1);
  expect(journal.snapshot().map((e) => e.attemptId)).toEqual(['slot:2']);
  expect(new Journal(new LocalDisk(dir, log), 'n1', log).snapshot().map((e) => e.attemptId)).toEqual(['slot:2']);
});

it('a failed replay leaves the journal as it was', async () => {
  const journal = new Journal(new LocalDisk(dir, log), 'n1', log);
  journal.append(entry(1));
  journal.append(entry(2));
  await expect(journal.replay(async () => Promise.reject(new Error('Redis went away')))).rejects.toThrow('Redis went away');
  expect(journal.pending).toBe(2);
  expect(new Journal(new LocalDisk(dir, log), 'n1', log).pending).toBe(2);
});

it('repairs a last line torn by a crash, so the next append is not glued to it and lost', () => {
  const first = new Journal(new LocalDisk(dir, log), 'n1', log);
  first.append(entry(1));
  // A crash in the middle of the second append: half a line, no newline.
  appendFileSync(first.file, JSON.stringify(entry(2)).slice(0, 25));

  const reopened = new Journal(new LocalDisk(dir, log), 'n1', log);
  expect(reopened.snapshot().map((e) => e.attemptId)).toEqual(['slot:1']);
  reopened.append(entry(3));

  expect(new Journal(new LocalDisk(dir, log), 'n1', log).snapshot().map((e) => e.attemptId)).toEqual(['slot:1', 'slot:3']);
});

it('drops unreadable lines from the file once, keeping every readable entry in order', () => {
  const file = path.join(dir, 'journal-n1.jsonl');
  writeFileSync(file, `${JSON.stringify(entry(1))}\nnot json\n{"attemptId":5}\n${JSON.stringify(entry(2))}\n`);
  const journal = new Journal(new LocalDisk(dir, log), 'n1', log);
  expect(journal.snapshot().map((e) => e.attemptId)).toEqual(['slot:1', 'slot:2']);
  expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(entry(1))}\n${JSON.stringify(entry(2))}\n`);
});
