/**
 * Every Redis key of a project starts with `<keyPrefix>:{<project>}:`. The braces make
 * the project the hash tag, so all of a project's keys live in one Redis Cluster slot
 * and its Lua scripts (which touch several of them) work on Cluster too. BullMQ's
 * queues use the same prefix for the same reason.
 */
export class ProjectKeys {
  readonly base: string;

  constructor(
    readonly keyPrefix: string,
    readonly project: string,
  ) {
    if (!project) throw new Error('a project name is required for its Redis keys');
    if (/[{}:\s]/.test(project)) throw new Error(`project name "${project}" may not contain braces, colons or spaces`);
    this.base = `${keyPrefix}:{${project}}`;
  }

  /** Hash: account, ciphertext, algorithm, keyId, generation, registeredAt. */
  get credential(): string {
    return `${this.base}:credential`;
  }
  /** Hash: the project's registration status as the leader wrote it. */
  get status(): string {
    return `${this.base}:status`;
  }
  /** Sorted set of node ids, scored by the first time each was seen. */
  get nodes(): string {
    return `${this.base}:nodes`;
  }
  /** Hash: one node's current record (streak, reasons, times, license). */
  node(id: string): string {
    return `${this.base}:node:${id}`;
  }
  /** List (newest first) of a node's failures, as JSON. */
  history(id: string): string {
    return `${this.base}:node:${id}:history`;
  }
  /** Sorted set of recorded attempt ids by time: the idempotency guard of R2. */
  attempts(id: string): string {
    return `${this.base}:node:${id}:attempts`;
  }
  /** Pub/sub channel of change events (a node recorded something, registration changed). */
  get events(): string {
    return `${this.base}:events`;
  }
  /** String: the leader lease, value `instance|epoch`. */
  get leader(): string {
    return `${this.base}:leader`;
  }
  /** Counter: the fencing epoch, incremented by every lease taken. */
  get epoch(): string {
    return `${this.base}:epoch`;
  }
  /** Hash: counters of the project (staleWritesRejected, corruptRecords). */
  get counters(): string {
    return `${this.base}:counters`;
  }
  /** Hash: the corrupt records already counted in counters.corruptRecords (one field each). */
  get corruptSeen(): string {
    return `${this.base}:corrupt-seen`;
  }
  /** Hash: set when nodes restored the project after Redis lost its data (at, node:<id>). */
  get recovery(): string {
    return `${this.base}:recovery`;
  }
  /** Set of node ids unbound on purpose (their records are not restored after a data loss). */
  get removed(): string {
    return `${this.base}:removed`;
  }
  /**
   * Hash: node id -> the private keys that node can open, as `<algorithm>:<key id>`
   * joined by commas ('' for none). Each sidecar writes its own field; `crypto switch`
   * reads it to refuse a ciphertext a live node could not open (R9).
   */
  get keyIds(): string {
    return `${this.base}:key-ids`;
  }
  /** Prefix for BullMQ, so the queues share the project's hash tag. */
  get bullPrefix(): string {
    return `${this.base}:bull`;
  }
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
