import type { Logger } from '../../shared/logger';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { registrationOf } from '../../shared/redis/registration';
import { CorruptRecordError, PROJECT_STATUSES, parseNodeRecord, type NodeRecord } from '../../shared/redis/records';
import {
  computeView,
  type ClusterSnapshot,
  type LeaderInfo,
  type ProjectView,
  type RecoveryInfo,
  type StoredStatus,
  type UnknownMember,
  type ViewPolicy,
} from './compute-view';
import { CorruptRecordLog } from './corrupt-record-log';
import { isWrongType } from '../../shared/redis/damaged-key-error';
import { execAll, fieldValues, hashValue, redisTimeMs, stringValue } from '../../shared/redis/replies';

/**
 * Reads a project's whole cluster in a constant number of round trips, whatever the
 * number of nodes: ZRANGE of the nodes set, then ONE pipeline with TIME, the status
 * hash, the credential's public fields, the leader key and every node hash. No KEYS,
 * no per-node round trip (a 50-node project is read as fast as a 1-node one), and
 * every key named explicitly so the read works on Redis Cluster (one hash tag).
 *
 * The aggregator, the cluster metrics, `GET /status` and `fdl-cloudauth status` all
 * read through this class, so they can never disagree on a rule.
 */
export interface ProjectViewReaderOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  policy: ViewPolicy;
  log: Logger;
  /** Shared with other readers of the same process, so a corrupt record is logged once. */
  corrupt?: CorruptRecordLog;
}

/** The reads before the node hashes in the pipeline (TIME, status, credential, leader, recovery, counters). */
const FIXED_READS = 6;
/** What a wrong-type key is remembered by in the corrupt-record log (its content cannot be read). */
const WRONG_TYPE = 'WRONGTYPE';
/** The credential's public fields: the ciphertext never leaves Redis on this path. */
const CREDENTIAL_FIELDS = ['account', 'generation', 'registration'] as const;

function int(raw: unknown): number | null {
  return typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : null;
}

/** `instance|epoch`; the instance id may itself contain `|`, the epoch is after the last one. */
export function parseLeaderValue(raw: unknown): LeaderInfo | null {
  if (typeof raw !== 'string') return null;
  const at = raw.lastIndexOf('|');
  const epoch = int(raw.slice(at + 1));
  if (at <= 0 || epoch === null) return null;
  return { instance: raw.slice(0, at), epoch };
}

function parseStored(hash: Record<string, string>): StoredStatus | null {
  if (Object.keys(hash).length === 0) return null;
  const status = PROJECT_STATUSES.find((known) => known === hash.status) ?? null;
  const generation = int(hash.generation);
  // Written before 0.2.0 with neither field: about no registration in particular.
  const registration = hash.registration || generation !== null ? registrationOf(hash.registration, generation) : null;
  return { status, since: int(hash.since), epoch: int(hash.epoch), failedAt: int(hash.failedAt), generation, registration };
}

function parseRecovery(hash: Record<string, string>): RecoveryInfo | null {
  const at = int(hash.at);
  if (at === null) return null;
  const restoredBy: Record<string, string[]> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith('node:')) restoredBy[field.slice(5)] = value.split(',').filter(Boolean);
  }
  return { at, restoredBy };
}

export class ProjectViewReader {
  readonly corrupt: CorruptRecordLog;
  private readonly log: Logger;

  constructor(private readonly options: ProjectViewReaderOptions) {
    if (!Number.isInteger(options.policy.threshold) || options.policy.threshold < 1) {
      throw new RangeError(`heartbeat.failureThreshold must be a whole number of at least 1, got ${options.policy.threshold}`);
    }
    if (!(options.policy.intervalMs > 0)) throw new RangeError(`heartbeat.interval must be positive, got ${options.policy.intervalMs} ms`);
    this.log = options.log.child({ part: 'project-view' });
    this.corrupt = options.corrupt ?? new CorruptRecordLog(this.log);
  }

  get keys(): ProjectKeys {
    return this.options.keys;
  }

  get policy(): ViewPolicy {
    return this.options.policy;
  }

  /** Reads the cluster (2 round trips) and applies the rules. Rejects when Redis fails. */
  async read(): Promise<ProjectView> {
    return computeView(await this.readSnapshot(), this.options.policy);
  }

  async readSnapshot(): Promise<ClusterSnapshot> {
    const { redis, keys } = this.options;
    const ids = await redis.zrange(keys.nodes, '0', '-1').catch((error: unknown): string[] => {
      if (!isWrongType(error)) throw error;
      this.corrupt.report('nodes', keys.project, WRONG_TYPE, new CorruptRecordError('the nodes key holds a value of the wrong type'));
      return [];
    });
    const pipeline = redis.pipeline();
    pipeline.time();
    pipeline.hgetall(keys.status);
    pipeline.hmget(keys.credential, ...CREDENTIAL_FIELDS);
    pipeline.get(keys.leader);
    pipeline.hgetall(keys.recovery);
    pipeline.hget(keys.counters, 'corruptRecords');
    for (const id of ids) pipeline.hgetall(keys.node(id));
    // A key of the wrong type (SPEC §4) is damage to report, not a failed read: the rest
    // of the project goes on. Any other error fails the read (and TIME must answer).
    const { values, tolerated: damaged } = await execAll(pipeline, (error, i) => i > 0 && isWrongType(error));
    const [time, statusHash, credentialFields, leaderValue, recoveryHash, corruptCount, ...nodeHashes] = values;
    const roles = ['time', 'status', 'credential', 'leader', 'recovery', 'counters'];
    roles.forEach((role, i) => {
      if (damaged.has(i)) this.corrupt.report(role, keys.project, WRONG_TYPE, new CorruptRecordError(`the ${role} key holds a value of the wrong type`));
    });
    // A damaged key (tolerated above) reads as absent; any other value must have the shape its command promises.
    const { account, generation, registration } = damaged.has(2)
      ? { account: null, generation: null, registration: null }
      : fieldValues(credentialFields, CREDENTIAL_FIELDS, keys.credential);

    const nodes: NodeRecord[] = [];
    const unknown: UnknownMember[] = [];
    ids.forEach((id, i) => {
      if (damaged.has(FIXED_READS + i)) {
        this.corrupt.report('node', id, WRONG_TYPE, new CorruptRecordError('the node key holds a value of the wrong type'));
        unknown.push({ id, why: 'unreadable' });
        return;
      }
      const hash = hashValue(nodeHashes[i], keys.node(id));
      try {
        const record = parseNodeRecord(id, hash);
        // A member without a record: Redis lost it while its sidecar was down (R5).
        if (record) nodes.push(record);
        else unknown.push({ id, why: 'missing' });
      } catch (error) {
        if (!(error instanceof CorruptRecordError)) throw error;
        this.corrupt.report('node', id, JSON.stringify(hash), error);
        unknown.push({ id, why: 'unreadable' });
      }
    });

    // What this read found goes into the project's count before the view is made, so
    // the view's total includes it.
    const counted = this.corrupt.unflushed > 0 ? await this.corrupt.flush(redis, keys) : null;
    const corruptRecords = counted ?? (damaged.has(5) ? null : int(stringValue(corruptCount, keys.counters))) ?? 0;

    return {
      project: keys.project,
      now: redisTimeMs(time),
      nodes,
      unknown,
      credential: account !== null ? { account, generation: int(generation) ?? 0, registration: registrationOf(registration, generation) } : null,
      stored: damaged.has(1) ? null : parseStored(hashValue(statusHash, keys.status)),
      leader: damaged.has(3) ? null : parseLeaderValue(stringValue(leaderValue, keys.leader)),
      recovery: damaged.has(4) ? null : parseRecovery(hashValue(recoveryHash, keys.recovery)),
      corruptRecords,
    };
  }
}
