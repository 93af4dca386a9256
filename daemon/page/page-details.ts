import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { execAll, redisTimeMs, scoredMembers, stringList } from '../../shared/redis/replies';
import { CorruptRecordError, type FailureEntry } from '../../shared/redis/records';
import type { CorruptRecordLog } from '../view/corrupt-record-log';
import { parseEntry, readFailures } from '../view/failure-history';
import type { StatusJson } from '../view/status-json';
import { HISTORY_PAGE_SIZE, type PageQuery } from './page-query';
import { buildTimeline, TIMELINE_SPAN_MS, type NodeTimeline, type RecordedAttempt } from './timeline';

/**
 * What the Registration page shows besides the status object of `/status`: one page
 * of the failure history and each node's last 24 hours. The status itself is never
 * read or computed here — the page is given the very object `/status` serves — so
 * the banner and the node list cannot disagree with it. Two reads go out together,
 * whatever the number of nodes: the history (`readFailures`: ZRANGE, one pipeline)
 * and TIME with every node's attempts and failures (one pipeline).
 */
export interface FailurePage {
  entries: FailureEntry[];
  node: string | null;
  page: number;
  pageSize: number;
  hasOlder: boolean;
}

export interface PageDetails {
  /** Redis time (R8), the end of the timelines. */
  now: number;
  intervalMs: number;
  failures: FailurePage;
  timelines: NodeTimeline[];
}

export interface PageDetailsOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  intervalMs: number;
  corrupt?: CorruptRecordLog;
}

/** Attempts and failures read per node for the timeline: a day of slots, twice over for catch-ups and retries. */
export function timelineReadLimit(intervalMs: number): number {
  return Math.min(1000, 2 * Math.ceil(TIMELINE_SPAN_MS / intervalMs) + 16);
}

export async function readFailurePage(o: PageDetailsOptions, query: PageQuery): Promise<FailurePage> {
  const upTo = query.page * HISTORY_PAGE_SIZE;
  // One more than the page holds tells whether an older page exists.
  const entries = await readFailures(o.redis, o.keys, { node: query.node ?? undefined, limit: upTo + 1 }, o.corrupt);
  return {
    entries: entries.slice(upTo - HISTORY_PAGE_SIZE, upTo),
    node: query.node,
    page: query.page,
    pageSize: HISTORY_PAGE_SIZE,
    hasOlder: entries.length > upTo,
  };
}

export async function readTimelines(o: PageDetailsOptions, nodes: readonly string[]): Promise<{ now: number; timelines: NodeTimeline[] }> {
  const limit = timelineReadLimit(o.intervalMs);
  const pipeline = o.redis.pipeline();
  pipeline.time();
  for (const id of nodes) {
    pipeline.zrevrange(o.keys.attempts(id), 0, limit - 1, 'WITHSCORES');
    pipeline.lrange(o.keys.history(id), 0, limit - 1);
  }
  const { values } = await execAll(pipeline);
  const now = redisTimeMs(values[0]);
  const timelines = nodes.map((id, i) => {
    const attempts: RecordedAttempt[] = scoredMembers(values[1 + 2 * i], o.keys.attempts(id));
    const failures: FailureEntry[] = [];
    for (const raw of stringList(values[2 + 2 * i], o.keys.history(id))) {
      try {
        failures.push(parseEntry(id, raw));
      } catch (error) {
        if (!(error instanceof CorruptRecordError)) throw error;
        o.corrupt?.report('history', id, raw, error);
      }
    }
    return buildTimeline(o.keys.project, id, o.intervalMs, now, attempts, failures);
  });
  return { now, timelines };
}

export async function readPageDetails(o: PageDetailsOptions, status: StatusJson, query: PageQuery): Promise<PageDetails> {
  const [failures, { now, timelines }] = await Promise.all([
    readFailurePage(o, query),
    readTimelines(
      o,
      status.nodes.map((n) => n.id),
    ),
  ]);
  return { now, intervalMs: o.intervalMs, failures, timelines };
}
