import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { execAll, stringList } from '../../shared/redis/replies';
import { CorruptRecordError, type FailureEntry } from '../../shared/redis/records';
import type { CorruptRecordLog } from './corrupt-record-log';
import { UnknownNodeError } from './unknown-node-error';

/**
 * The failure list of `fdl-cloudauth failures`: every node's history merged, newest
 * first. Each history list is already newest first, so the newest `limit` entries of
 * the project are among the first `limit` of each node: one pipeline of LRANGE over
 * all nodes (after the ZRANGE of the nodes set) whatever the number of nodes.
 */
export interface FailureQuery {
  node?: string;
  limit: number;
}

export function parseEntry(node: string, raw: string): FailureEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new CorruptRecordError('history entry is not JSON');
  }
  const e = parsed as Partial<FailureEntry> | null;
  if (!e || typeof e !== 'object' || typeof e.name !== 'string' || typeof e.at !== 'number' || !(e.code === null || typeof e.code === 'number')) {
    throw new CorruptRecordError('history entry is not a failure');
  }
  return {
    node,
    at: e.at,
    code: e.code,
    name: e.name,
    message: typeof e.message === 'string' ? e.message : '',
    attemptId: String(e.attemptId ?? ''),
  };
}

export async function readFailures(redis: RedisClient, keys: ProjectKeys, query: FailureQuery, corrupt?: CorruptRecordLog): Promise<FailureEntry[]> {
  if (!Number.isInteger(query.limit) || query.limit < 1) throw new RangeError(`limit must be a whole number of at least 1, got ${query.limit}`);
  const ids = await redis.zrange(keys.nodes, '0', '-1');
  let nodes = ids;
  if (query.node !== undefined) {
    // An unbound node has left the nodes set; its history is kept for 30 days, and the
    // removed set says it was unbound (an empty list for it is an answer, not a typo).
    if (!ids.includes(query.node) && (await redis.exists(keys.history(query.node))) === 0 && (await redis.sismember(keys.removed, query.node)) === 0) {
      throw new UnknownNodeError(query.node, keys.project, ids);
    }
    nodes = [query.node];
  }
  const pipeline = redis.pipeline();
  for (const id of nodes) pipeline.lrange(keys.history(id), 0, query.limit - 1);
  const { values } = await execAll(pipeline);
  const entries: FailureEntry[] = [];
  nodes.forEach((node, i) => {
    for (const raw of stringList(values[i], keys.history(node))) {
      try {
        entries.push(parseEntry(node, raw));
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
        corrupt?.report('history', node, raw, e);
      }
    }
  });
  // Counted for the whole project, like corrupt node records (fdl_cloudauth_corrupt_records_total).
  if (corrupt && corrupt.unflushed > 0) await corrupt.flush(redis, keys);
  // Newest first; ties (same millisecond) in a stable order: node id, then attempt id.
  entries.sort((a, b) => b.at - a.at || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || (a.attemptId < b.attemptId ? 1 : -1));
  return entries.slice(0, query.limit);
}
