import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { byCode, CATALOG, Codes } from '../../shared/catalog';
import { packageVersion } from '../../shared/package-root';

/**
 * The node-level series of SPEC §8: every sidecar exports them for itself (cluster
 * series come from the leader only, see daemon/aggregator). Values that describe
 * the present (journal backlog, Redis reachability) are read at scrape time.
 */
/** The local writes (the agent's LocalDisk): the `op` label of `fdl_cloudauth_local_state_write_errors_total`. */
export const LOCAL_WRITE_OPS = ['journal', 'state'] as const;
export type LocalWriteOp = (typeof LOCAL_WRITE_OPS)[number];

/** Why an answered attempt was never recorded: the `why` label of `fdl_cloudauth_results_lost_total`. */
export const LOST_WHY = ['expired', 'held_max'] as const;
export type LostWhy = (typeof LOST_WHY)[number];

/**
 * The reason of a 30007 answer: the account's capacity is reached. classify() names an
 * answer by its code, so this reason is that answer and nothing else.
 */
const CAPACITY_REACHED = byCode(Codes.REGISTER_OUT_OF_LIMIT).name;

export interface NodeMetricsSources {
  journalPending(): number;
  redisUp(): boolean;
  /** journal.dir took the last write (SPEC §4). */
  localStateWritable(): boolean;
}

export class NodeMetrics {
  private readonly attempts: Counter<'project' | 'node'>;
  private readonly failures: Counter<'project' | 'node' | 'reason'>;
  private readonly duration: Histogram<'project' | 'node'>;
  private readonly localWriteErrors: Counter<'project' | 'node' | 'op'>;
  private readonly lost: Counter<'project' | 'node' | 'why'>;
  private readonly capacityRefusals: Counter<'project' | 'node'>;
  private readonly labels: { project: string; node: string };

  constructor(registry: Registry, project: string, node: string, sources: NodeMetricsSources) {
    this.labels = { project, node };
    const labels = this.labels;
    this.attempts = new Counter({
      name: 'fdl_cloudauth_authentications_total',
      help: 'Authentication attempts this node made (retries inside an attempt count once).',
      labelNames: ['project', 'node'],
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'fdl_cloudauth_authentication_failures_total',
      help: 'Failed authentication attempts of this node, by reason.',
      labelNames: ['project', 'node', 'reason'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'fdl_cloudauth_heartbeat_duration_seconds',
      help: 'Duration of one authentication attempt, retries included.',
      labelNames: ['project', 'node'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    });
    new Gauge({
      name: 'fdl_cloudauth_journal_pending',
      help: 'Results of this node kept in the local journal, not yet written to Redis.',
      labelNames: ['project', 'node'],
      registers: [registry],
      collect() {
        this.set(labels, sources.journalPending());
      },
    });
    new Gauge({
      name: 'fdl_cloudauth_redis_up',
      help: '1 while this sidecar reaches Redis, 0 otherwise.',
      labelNames: ['project', 'node'],
      registers: [registry],
      collect() {
        this.set(labels, sources.redisUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fdl_cloudauth_local_state_writable',
      help: '1 while journal.dir (the journal and the state file) takes writes, 0 otherwise.',
      labelNames: ['project', 'node'],
      registers: [registry],
      collect() {
        this.set(labels, sources.localStateWritable() ? 1 : 0);
      },
    });
    this.localWriteErrors = new Counter({
      name: 'fdl_cloudauth_local_state_write_errors_total',
      help: 'Failed writes to journal.dir, by op: the journal or the state file.',
      labelNames: ['project', 'node', 'op'],
      registers: [registry],
    });
    this.lost = new Counter({
      name: 'fdl_cloudauth_results_lost_total',
      help: 'Answered attempts this node could not get recorded, by why: expired (older than the 30-day idempotency horizon when Redis took it back), held_max (more results held in memory than the bound while Redis and journal.dir were both away).',
      labelNames: ['project', 'node', 'why'],
      registers: [registry],
    });
    // Demand beyond what the account bought, the figure that sizes a purchase: a
    // series of its own (authentication_failures_total has it too, among every other
    // reason), so `sum by (project) (increase(...))` needs no reason filter.
    this.capacityRefusals = new Counter({
      name: 'fdl_cloudauth_capacity_refusals_total',
      help: "Answers 30007 REGISTER_OUT_OF_LIMIT this node got: the account's registration capacity was reached.",
      labelNames: ['project', 'node'],
      registers: [registry],
    });
    new Gauge({
      name: 'fdl_cloudauth_build_info',
      help: 'Version of the fdl-cloudauth sidecar; always 1.',
      labelNames: ['version'],
      registers: [registry],
    }).set({ version: packageVersion() }, 1);
    // Series exist from the start, so rate() and increase() see the first attempt and
    // the first failure of every reason (an absent series has no sample to increase from).
    this.attempts.inc(labels, 0);
    this.capacityRefusals.inc(labels, 0);
    for (const entry of CATALOG) this.failures.inc({ ...labels, reason: entry.name }, 0);
    for (const op of LOCAL_WRITE_OPS) this.localWriteErrors.inc({ ...labels, op }, 0);
    for (const why of LOST_WHY) this.lost.inc({ ...labels, why }, 0);
  }

  /** Answered attempts that will never be recorded (`fdl_cloudauth_results_lost_total`); each is named in a log line too. */
  resultsLost(why: LostWhy, count = 1): void {
    this.lost.inc({ ...this.labels, why }, count);
  }

  localWriteFailed(op: LocalWriteOp): void {
    this.localWriteErrors.inc({ ...this.labels, op });
  }

  attemptFinished(ok: boolean, reasonName: string | null, seconds: number): void {
    this.attempts.inc(this.labels);
    this.duration.observe(this.labels, seconds);
    if (!ok && reasonName) this.failures.inc({ ...this.labels, reason: reasonName });
    if (!ok && reasonName === CAPACITY_REACHED) this.capacityRefusals.inc(this.labels);
  }
}
