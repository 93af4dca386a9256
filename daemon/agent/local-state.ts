import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../shared/fs-atomic';
import type { StoredCredential } from '../credentials/credential-store';
import { registrationOf } from '../../shared/redis/registration';
import type { HeldVerdict } from './held-verdict';
import type { JournalEntry } from './journal';
import type { LocalDisk, LocalWriter } from './local-disk';

/**
 * What the agent must know to authenticate on time while Redis is away, kept in the
 * journal directory: the stored credential as it was last read from Redis (still
 * encrypted: only the node's private key file can open it), whether the project was
 * failed (and the verdict itself, to restore after a loss of Redis data), the offset between Redis time and the local clock (so journaled times are
 * Redis times, R8), and the last attempt made. The copy in memory is the truth while
 * the process lives: the file is written after it, best effort (a disk that refuses the
 * write is reported by LocalDisk, and the whole file is written again on its retry).
 */
/** The stored credential as this node last read it (still encrypted). */
export type CachedCredential = StoredCredential;

/** A credential held by 0.2.0 has no identity fields: it is known by its generation (shared/redis/registration.ts). */
function heldCredential(raw: Partial<StoredCredential> | null | undefined): CachedCredential | null {
  if (!raw || typeof raw !== 'object' || typeof raw.ciphertext !== 'string') return null;
  const registeredAt = typeof raw.registeredAt === 'number' ? raw.registeredAt : 0;
  return {
    ...(raw as StoredCredential),
    registeredAt,
    registration: registrationOf(raw.registration, raw.generation),
    revision: raw.revision ?? '',
    revisedAt: typeof raw.revisedAt === 'number' ? raw.revisedAt : registeredAt,
  };
}

export interface LocalStateData {
  credential: CachedCredential | null;
  projectFailed: boolean;
  /** The last `failed` verdict seen for the current credential: restored if Redis loses it. */
  verdict: HeldVerdict | null;
  redisClockOffsetMs: number;
  /** Estimated Redis time of the last attempt this node made. */
  lastAttemptAt: number | null;
  /** The last scheduled slot this node attempted from its own timer. */
  lastSlot: number | null;
  /** The node's record as the last recording returned it: restored if Redis loses it. */
  nodeRecord: Record<string, string> | null;
  /** The project's members (id -> first-seen ms) as last read: restored if Redis loses them (R5). */
  members: Record<string, number> | null;
  /**
   * The latest results already written to Redis, oldest first. Re-recorded (idempotently)
   * after every reconnect: a fail-over to a replica that lagged loses the newest writes
   * the old primary acknowledged, and these are exactly the results to put back.
   */
  recent: JournalEntry[];
}

const EMPTY: LocalStateData = {
  credential: null,
  projectFailed: false,
  verdict: null,
  redisClockOffsetMs: 0,
  lastAttemptAt: null,
  lastSlot: null,
  nodeRecord: null,
  members: null,
  recent: [],
};

export class LocalState implements LocalWriter {
  private readonly file: string;
  private data: LocalStateData;
  private unsaved = false;

  constructor(
    private readonly disk: LocalDisk,
    nodeId: string,
  ) {
    this.file = path.join(disk.dir, `state-${nodeId}.json`);
    this.data = { ...EMPTY };
    try {
      const read = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<LocalStateData>;
      this.data = { ...EMPTY, ...read, credential: heldCredential(read.credential) };
    } catch {
      // Missing, unreadable or damaged: it only costs the cache; Redis is the source of truth.
      this.data = { ...EMPTY };
    }
    disk.holds(this);
  }

  get(): Readonly<LocalStateData> {
    return this.data;
  }

  /** Updates fields, then writes the file when something changed; never throws. */
  update(patch: Partial<LocalStateData>): void {
    const previous = this.data;
    const next = { ...previous, ...patch };
    this.data = next;
    const { redisClockOffsetMs: offsetNext, ...restNext } = next;
    const { redisClockOffsetMs: offsetOld, ...restOld } = previous;
    // The clock offset drifts by a few ms on every read; don't rewrite the file for that alone.
    if (JSON.stringify(restNext) === JSON.stringify(restOld) && Math.abs(offsetNext - offsetOld) < 1000) return;
    this.unsaved = true;
    this.flush();
  }

  get held(): boolean {
    return this.unsaved;
  }

  flush(): void {
    if (!this.unsaved) return;
    if (this.disk.write('state', () => writeFileAtomic(this.file, JSON.stringify(this.data), 0o600))) this.unsaved = false;
  }

  lost(): void {
    this.unsaved = true;
  }
}
