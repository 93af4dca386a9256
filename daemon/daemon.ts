import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { monotonicClock, systemClock, systemTimers, type Clock } from '../shared/clock';
import type { Config } from '../shared/config/compile';
import { closeRedis, createRedis, describeRedis, type RedisClient } from '../shared/redis/connection';
import type { ChangeEvent } from '../shared/redis/change-events';
import { ChangeEvents } from '../shared/redis/change-event-subscriber';
import { ProjectKeys } from '../shared/redis/keys';
import { decryptCredential } from './credentials/credential-store';
import { Agent } from './agent/agent';
import { ReachabilityProbe } from './agent/reachability-probe';
import { Aggregator } from './aggregator/aggregator';
import { ClusterMetrics } from './aggregator/cluster-metrics';
import { LeaderElection } from './aggregator/leader-election';
import { buildStatusJson, type StatusJson } from './view/status-json';
import { ProjectViewReader } from './view/project-view';
import { viewPolicy } from './view/view-policy';
import { SidecarServer } from './http/sidecar-server';
import { WebConfigSource } from './http/web-config-source';
import { registerWebConfigMetrics } from './metrics/web-config-metrics';
import type { RegistrationPage } from './page/registration-page';
import { NodeMetrics } from './metrics/node-metrics';
import { registerProcessMetrics } from './metrics/process-metrics';
import { registerWebInfoMetric } from './metrics/web-info-metrics';
import { AuthClient } from './protocol/auth-client';

/**
 * The sidecar process (`fdl-cloudauth daemon`): the node agent, the aggregator
 * candidate and the HTTP server in one process. It starts even when Redis is away —
 * the agent then authenticates from its journal and /readyz says not ready — and
 * closes its parts in the reverse order of their start.
 */
export type DaemonState = 'INITIALIZED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED';

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** The agent's wall clock; systemClock unless given. */
  clock?: Clock;
}

export class Daemon {
  private state: DaemonState = 'INITIALIZED';
  private readonly log: Logger;
  readonly registry = new Registry();
  readonly keys: ProjectKeys;
  private readonly redis: RedisClient;
  private readonly bullConnection: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly authClient: AuthClient;
  private readonly events: ChangeEvents;
  readonly agent: Agent;
  readonly probe: ReachabilityProbe;
  readonly election: LeaderElection;
  readonly aggregator: Aggregator;
  private readonly reader: ProjectViewReader;
  readonly http: SidecarServer<StatusJson>;
  private closing: Promise<void> | undefined;

  constructor(private readonly o: DaemonOptions) {
    const { config } = o;
    this.log = o.logger.child({ part: 'daemon' });
    this.keys = new ProjectKeys(config.redis.keyPrefix, config.project);
    const name = `fdl-cloudauth:${config.node.id}`;
    this.redis = createRedis(config.redis, { purpose: 'command', connectionName: name, lazyConnect: true });
    this.bullConnection = createRedis(config.redis, { purpose: 'bullmq', connectionName: `${name}:bull`, lazyConnect: true });
    this.subscriber = createRedis(config.redis, { purpose: 'subscriber', connectionName: `${name}:events`, lazyConnect: true });
    for (const [label, client] of [
      ['command', this.redis],
      ['bullmq', this.bullConnection],
      ['subscriber', this.subscriber],
    ] as const) {
      // ioredis emits 'error' on every failed reconnect; a listener keeps them from crashing the process.
      client.on('error', (error: Error) => this.log.debug({ connection: label, err: error }, 'Redis connection error'));
    }
    this.authClient = new AuthClient(config.authServer);
    this.events = new ChangeEvents({ subscriber: this.subscriber, keys: this.keys, log: o.logger });

    registerProcessMetrics(this.registry);
    const metrics = new NodeMetrics(this.registry, config.project, config.node.id, {
      journalPending: () => this.agent.journalPending,
      redisUp: () => this.redis.status === 'ready',
      localStateWritable: () => this.agent.disk.writable,
    });
    this.agent = new Agent({
      config,
      keys: this.keys,
      redis: this.redis,
      bullConnection: this.bullConnection,
      authClient: this.authClient,
      decrypt: async (credential) => decryptCredential(credential, config.crypto.keyDir),
      metrics,
      clock: o.clock ?? systemClock,
      timers: systemTimers,
      logger: o.logger,
    });
    this.probe = new ReachabilityProbe({
      registry: this.registry,
      project: config.project,
      node: config.node.id,
      authServer: config.authServer,
      intervalMs: config.probe.intervalMs,
      logger: o.logger,
      timers: systemTimers,
    });
    this.election = new LeaderElection({
      redis: this.redis,
      events: this.events,
      keys: this.keys,
      log: o.logger,
      nodeId: config.node.id,
      leaseMs: config.leader.leaseMs,
      renewMs: config.leader.renewMs,
      // The lease's deadline must not move when the wall clock is set.
      clock: monotonicClock,
      timers: systemTimers,
    });
    this.reader = new ProjectViewReader({
      redis: this.redis,
      keys: this.keys,
      log: o.logger,
      policy: viewPolicy(config),
    });
    this.aggregator = new Aggregator({
      redis: this.redis,
      events: this.events,
      election: this.election,
      reader: this.reader,
      log: o.logger,
      clock: monotonicClock,
      timers: systemTimers,
      // This node's recovery runs before any status is written (R5: a loss the leader sees first).
      recover: () => this.agent.recover(),
    });
    // The aggregator's clock: it stamps the reads whose age the metrics report.
    const clusterMetrics = new ClusterMetrics(this.registry, this.aggregator, this.election, { clock: monotonicClock });
    // The page's code (renderer, history and timeline reads) is loaded at the first `GET /`:
    // most sidecars are never asked for it, and it is memory an idle sidecar need not hold (issue 31).
    let page: RegistrationPage | undefined;
    const pageOf = (): RegistrationPage =>
      (page ??= new // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous load on first use is the point
      (require('./page/registration-page') as typeof import('./page/registration-page')).RegistrationPage({
        redis: this.redis,
        keys: this.keys,
        intervalMs: config.heartbeat.intervalMs,
        corrupt: this.reader.corrupt,
      }));
    // Read now, so a bad file stops the start; re-read on change while running.
    const webConfig = config.http.webConfigFile ? new WebConfigSource(config.http.webConfigFile, o.logger.child({ part: 'http' })) : undefined;
    if (webConfig) registerWebConfigMetrics(this.registry, webConfig);
    registerWebInfoMetric(this.registry, config.project, config.node.id, {
      scheme: webConfig?.current().tls ? 'https' : 'http',
      externalUrl: config.http.externalUrl,
    });
    this.http = new SidecarServer({
      host: config.http.host,
      port: config.http.port,
      registry: this.registry,
      extraMetrics: () => clusterMetrics.text(),
      logger: o.logger,
      webConfig,
      readiness: () => {
        const disk = this.agent.disk.lastProblem;
        const checks = { redis: this.redis.status === 'ready', schedule: this.agent.ready, localState: disk === null };
        // What is wrong with the disk (its path, the OS error) is logged by LocalDisk, not told to every prober.
        return { ready: this.state === 'RUNNING' && checks.redis && checks.schedule && checks.localState, checks };
      },
      // Any sidecar answers /status from Redis, leader or not: the same JSON as `status --json`.
      status: async () => buildStatusJson(await this.reader.read()),
      page: (status, search) => pageOf().render(status, search),
      // The runbook's renderer too, at the first `GET /runbook`.
      runbook: () =>
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous load on first use is the point
        (require('./page/runbook-page') as typeof import('./page/runbook-page')).runbookPage(),
    });
  }

  get status(): DaemonState {
    return this.state;
  }

  private setState(next: DaemonState): void {
    this.log.info({ from: this.state, to: next }, 'Daemon state changed');
    this.state = next;
  }

  async start(): Promise<void> {
    this.setState('STARTING');
    const { config } = this.o;
    this.log.info(
      {
        project: config.project,
        node: config.node.id,
        redis: describeRedis(config.redis),
        authServer: this.authClient.url,
        intervalMs: config.heartbeat.intervalMs,
      },
      'Starting sidecar',
    );
    await this.http.start();
    // Connect without waiting forever: with Redis away the agent starts on its journal.
    await Promise.all(
      [this.redis, this.bullConnection, this.subscriber].map((c) =>
        Promise.race([c.connect().catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]),
      ),
    );
    if (this.redis.status !== 'ready')
      this.log.warn({ redis: describeRedis(config.redis) }, 'Redis unreachable at start: authenticating from the local journal until it returns');
    // Not awaited: with Redis away the subscription completes when it returns.
    void this.events.start().catch((error: unknown) => this.log.warn({ err: error }, 'Could not subscribe to change events'));
    // The agent's reactions (a held verdict, an attempt after `register`) are its own.
    this.events.on('event', (event: ChangeEvent) => void this.agent.hear(event));
    await this.agent.start();
    this.probe.start();
    this.aggregator.start();
    await this.election.start();
    this.setState('RUNNING');
  }

  /** Closes parts in reverse order of start; idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.setState('STOPPING');
      const steps: Array<[string, () => Promise<void>]> = [
        // Releasing the lease first tells the other candidates at once (no wait for expiry).
        ['leader election', () => this.election.close()],
        ['aggregator', () => this.aggregator.close()],
        ['probe', () => this.probe.close()],
        ['agent', () => this.agent.close()],
        ['events', () => this.events.close()],
        ['http', () => this.http.close()],
        ['auth client', () => this.authClient.close()],
        ['redis', () => Promise.all([closeRedis(this.redis), closeRedis(this.bullConnection), closeRedis(this.subscriber)]).then(() => undefined)],
      ];
      for (const [part, step] of steps) {
        try {
          await step();
        } catch (error) {
          this.log.warn({ err: error, part }, 'Part did not close cleanly');
        }
      }
      this.setState('STOPPED');
    })();
    return this.closing;
  }
}
