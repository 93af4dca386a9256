import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Daemon } from '../daemon/daemon';
import { loadConfig } from '../shared/config/load';
import { createAccount, spawnAuthServer } from '../harness/authserver';
import { sleep, waitFor } from '../harness/wait';
import { startRedis, testPrefix } from '../harness/redis-server';
import { readNode, registerProject, startSidecar, testKeyDir, type ProjectFixture, type Sidecar } from '../harness/sidecar';
import { silentLog } from '../harness/sidecar-parts';
import { clientNames, CommandMonitor } from './command-monitor';
import { figure, round, type BenchContext, type Figure } from './figure';
import { commandStats, diffStats, formatStats, totalOf } from './redis-stats';

/**
 * Benchmark 10: what sidecars cost a shared Redis (issue 31). Two parts.
 *
 * One sidecar, as a new user runs it: two real `fdl-cloudauth daemon` processes of one
 * project (2 h interval, default lease and renew) on a Redis of their own; CLIENT LIST
 * counts each one's connections by name, and MONITOR counts every top-level command
 * each sends over an idle window (commands per idle hour: BullMQ's blocking waits and
 * stalled checks, the election's renewals and tries, the aggregator's sweeps).
 *
 * The fleet: many sidecars' worth of daemons (the same Daemon class the process runs:
 * agent with its BullMQ queue and worker, election, aggregator, subscriber, HTTP
 * server) in this process, over many projects on one Redis, with time compressed (a
 * 60 s heartbeat stands for 2 h: 120 × the attempts). Redis CPU (INFO cpu), commands
 * per second (INFO stats), memory (INFO memory) and connections (INFO clients) over a
 * window, each against the same Redis, empty, over a window of the same length.
 * The reference server has a Redis of its own, so only the sidecars' work is counted.
 */
const PASSWORD = 'bench-password-1';

interface RedisFigures {
  cpuSeconds: number;
  commands: number;
  usedMemory: number;
  clients: number;
  maxclients: number;
}

function infoField(text: string, field: string): number {
  const match = new RegExp(`^${field}:(\\S+)`, 'm').exec(text);
  return match?.[1] ? Number(match[1]) : NaN;
}

async function redisFigures(admin: Redis): Promise<RedisFigures> {
  const text = await admin.info('all');
  const maxclients = Number(((await admin.config('GET', 'maxclients')) as string[])[1]);
  return {
    cpuSeconds: infoField(text, 'used_cpu_sys') + infoField(text, 'used_cpu_user'),
    commands: infoField(text, 'total_commands_processed'),
    usedMemory: infoField(text, 'used_memory'),
    clients: infoField(text, 'connected_clients'),
    maxclients,
  };
}

/** CPU (% of a core) and commands per second of a window of `seconds`, from two readings. */
async function windowOf(admin: Redis, seconds: number): Promise<{ cpuPct: number; perSecond: number; start: RedisFigures; end: RedisFigures }> {
  const start = await redisFigures(admin);
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const end = await redisFigures(admin);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  // The two INFO and CONFIG calls of the reading are the benchmark's own: left out.
  return { cpuPct: ((end.cpuSeconds - start.cpuSeconds) / elapsed) * 100, perSecond: (end.commands - start.commands - 2) / elapsed, start, end };
}

function daemonConfig(fixture: ProjectFixture, nodeId: string, interval: string) {
  return loadConfig({
    env: {
      CLOUDAUTH_PROJECT: fixture.project,
      CLOUDAUTH_NODE_ID: nodeId,
      CLOUDAUTH_NODE_IP: '127.0.0.1',
      CLOUDAUTH_NODE_DOMAIN: 'fdl.example.com',
      CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
      CLOUDAUTH_AUTH_SERVER_URL: fixture.authUrl,
      CLOUDAUTH_REDIS_URL: fixture.redisUrl,
      CLOUDAUTH_REDIS_KEY_PREFIX: fixture.keyPrefix,
      CLOUDAUTH_KEY_DIR: fixture.keyDir,
      CLOUDAUTH_JOURNAL_DIR: mkdtempSync(path.join(os.tmpdir(), 'fdl-fleet-journal-')),
      CLOUDAUTH_HEARTBEAT_INTERVAL: interval,
      CLOUDAUTH_HTTP_HOST: '127.0.0.1',
      CLOUDAUTH_HTTP_PORT: '0',
    },
    require: ['daemon'],
  });
}

export interface SidecarCost {
  connections: number;
  idleCommandsPerHour: number;
  /** The same, with the commands Lua scripts run (INFO commandstats), as INFO stats counts them. */
  idleAllPerHour: number;
  idleByName: Record<string, number>;
}

/** Part one: two real sidecar processes, their connections and idle commands. */
async function oneSidecar(ctx: BenchContext, authUrl: string): Promise<SidecarCost> {
  const server = await startRedis();
  const admin = new Redis(server.url);
  const monitor = new CommandMonitor(server.url);
  const sidecars: Sidecar[] = [];
  const seconds = ctx.quick ? 20 : 120;
  try {
    await admin.client('SETNAME', 'bench-admin');
    const fixture = await registerProject({
      project: 'one',
      keyPrefix: testPrefix('bench-one'),
      redisUrl: server.url,
      keyDir: testKeyDir(),
      authUrl,
      account: 'acme',
      password: PASSWORD,
    });
    for (const nodeId of ['cost-a', 'cost-b']) {
      sidecars.push(await startSidecar(fixture, { nodeId, interval: '2h', env: { CLOUDAUTH_LOG_LEVEL: 'warn' } }));
    }
    for (const s of sidecars) {
      await waitFor(`the first attempt of ${s.nodeId}`, async () => (await readNode(admin, fixture.keys, s.nodeId))?.lastSuccessAt != null, 30_000, 100);
    }
    await sleep(ctx.quick ? 2000 : 10_000);
    const names = await clientNames(admin);
    // Every client of this Redis but the benchmark's own belongs to one of the two
    // sidecars. Counting by the names the sidecar gives missed BullMQ's blocking
    // connection, which BullMQ names after the queue: count them all, as an operator's
    // CLIENT LIST would, and name them in the log.
    const sidecarClients = [...names.values()].filter((n) => n !== 'bench-admin');
    const connections = Math.ceil(sidecarClients.length / sidecars.length);
    ctx.log(`connections per sidecar: ${connections} (${sidecarClients.length} for ${sidecars.length} sidecars); names: ${sidecarClients.join(' ')}`);
    await monitor.start();
    const before = await commandStats(admin);
    const mark = monitor.mark();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const seen = monitor.between(mark, monitor.mark());
    const inner = diffStats(before, await commandStats(admin));
    const elapsedHours = Number(process.hrtime.bigint() - t0) / 1e9 / 3600;
    const latest = await clientNames(admin);
    const byName: Record<string, number> = {};
    let ours = 0;
    for (const c of seen) {
      // The sidecars' clients, BullMQ's blocking copies (named after the queue) included;
      // the benchmark's admin is named, and its MONITOR connection sends nothing here.
      const name = latest.get(c.source) ?? names.get(c.source);
      if (name === undefined || name === 'bench-admin') continue;
      ours += 1;
      byName[c.name] = (byName[c.name] ?? 0) + 1;
    }
    const perHour = ours / sidecars.length / elapsedHours;
    const idleByName = Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, round(v / sidecars.length / elapsedHours, 0)]));
    ctx.note(
      `Connections of one sidecar (CLIENT LIST, every client of a Redis of its own but the benchmark's): ${connections} — the ` +
        `command connection (also the election's), BullMQ's queue and worker (\`<node>:bull\`, a connection that queues while ` +
        `Redis is away), the worker's blocking copy of it (named by BullMQ after the queue) and the change-event subscriber ` +
        `(\`<node>:events\`). BullMQ cannot share the command connection: that one fails fast while Redis is away, and the ` +
        `worker retries such failures at once, with no timer (see the closing note of issue 31).`,
    );
    ctx.note(
      `An idle sidecar (2 h interval, lease 15 s, renew 5 s) sends ${Math.round(perHour)} top-level commands an hour ` +
        `(MONITOR over ${seconds} s, two sidecars of one project, one of them the leader, averaged): ${formatStats(idleByName)}. ` +
        `Counted inside Lua scripts as well (INFO commandstats, both sidecars and the benchmark's own INFO calls): ` +
        `${Math.round(totalOf(inner, ['info', 'monitor', 'client']) / sidecars.length / elapsedHours)} an hour a sidecar.`,
    );
    const idleAllPerHour = totalOf(inner, ['info', 'monitor', 'client']) / sidecars.length / elapsedHours;
    ctx.log(`idle: ${Math.round(perHour)} top-level commands an hour a sidecar (${formatStats(idleByName)}), ${Math.round(idleAllPerHour)} with scripts' own`);
    return { connections, idleCommandsPerHour: perHour, idleAllPerHour, idleByName };
  } finally {
    monitor.close();
    for (const s of sidecars) await s.stop().catch(() => undefined);
    admin.disconnect();
    await server.dispose();
  }
}

export async function benchFleet(ctx: BenchContext): Promise<Figure[]> {
  const projects = ctx.quick ? 10 : 300;
  const nodes = ctx.quick ? 30 : 1000;
  const seconds = ctx.quick ? 20 : 120;
  const interval = '60s';
  const compression = 7_200 / 60;
  const authRedis = await startRedis();
  // In a process of its own: in this one, beside a thousand daemons, it answered too late.
  const auth = await spawnAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'acme', password: PASSWORD, capacity: nodes + 10 });
  const cost = await oneSidecar(ctx, auth.url);

  const server = await startRedis();
  const admin = new Redis(server.url);
  const daemons: Daemon[] = [];
  try {
    // Baseline: the same Redis, empty, over a window of the same length.
    const empty = await windowOf(admin, seconds);
    const fixtures: ProjectFixture[] = [];
    for (let p = 0; p < projects; p++) {
      fixtures.push(
        await registerProject({
          project: `p${p}`,
          keyPrefix: 'fleet',
          redisUrl: server.url,
          keyDir: testKeyDir(),
          authUrl: auth.url,
          account: 'acme',
          password: PASSWORD,
        }),
      );
    }
    const t0 = Date.now();
    // Started 25 at a time: one by one, a thousand take several minutes.
    for (let n = 0; n < nodes; n += 25) {
      const batch: Daemon[] = [];
      for (let k = n; k < Math.min(nodes, n + 25); k++) {
        const fixture = fixtures[k % projects] as ProjectFixture;
        batch.push(new Daemon({ config: daemonConfig(fixture, `n${k}`, interval), logger: silentLog }));
      }
      daemons.push(...batch);
      await Promise.all(batch.map((d) => d.start()));
    }
    ctx.log(`${nodes} daemons over ${projects} projects started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Every node's attempt count, in one pipeline.
    const counts = async (): Promise<Array<string | null>> => {
      const batch = admin.pipeline();
      for (let n = 0; n < nodes; n++) batch.hget((fixtures[n % projects] as ProjectFixture).keys.node(`n${n}`), 'attemptsTotal');
      return ((await batch.exec()) ?? []).map(([, value]) => (typeof value === 'string' ? value : null));
    };
    await waitFor('every node recorded', async () => (await counts()).every((c) => c !== null), 300_000, 2000);
    await sleep(ctx.quick ? 2000 : 10_000);
    const totals = async () => (await counts()).reduce((sum, c) => sum + Number(c ?? 0), 0);
    const attemptsBefore = await totals();
    const loaded = await windowOf(admin, seconds);
    const attemptsInWindow = (await totals()) - attemptsBefore;
    const memoryPerProject = (loaded.end.usedMemory - empty.end.usedMemory) / projects;
    const connections = loaded.end.clients - empty.end.clients;
    const perSidecar = connections / nodes;
    const cpuPerKCommands = (loaded.cpuPct / 100 / Math.max(1, loaded.perSecond)) * 1000;
    ctx.log(
      `fleet: cpu ${loaded.cpuPct.toFixed(2)} % (empty ${empty.cpuPct.toFixed(2)} %), ${loaded.perSecond.toFixed(0)} commands/s (empty ${empty.perSecond.toFixed(1)}), ` +
        `${(memoryPerProject / 1024).toFixed(1)} KiB a project, ${connections} connections (${perSidecar.toFixed(2)} a sidecar), ${attemptsInWindow} attempts`,
    );
    // At the real interval (2 h): the idle commands of part one, plus an attempt's commands every 2 h.
    // Commands as INFO stats counts them (a script's own commands included) on both sides.
    const attemptCommands = (loaded.perSecond * seconds - (cost.idleAllPerHour / 3600) * seconds * nodes) / Math.max(1, attemptsInWindow);
    const realPerSidecarPerSecond = cost.idleAllPerHour / 3600 + Math.max(0, attemptCommands) / 7200;
    const cpuPerSidecar = (realPerSidecarPerSecond * cpuPerKCommands) / 1000;
    const byCpu = Math.floor(0.5 / Math.max(cpuPerSidecar, 1e-9));
    const byClients = Math.floor((10_000 - 32) / cost.connections);
    const byFiles = Math.floor((1024 - 32) / cost.connections);
    ctx.note(
      `Fleet: ${nodes} daemons over ${projects} projects in one process, heartbeat ${interval} standing for 2 h (${compression} × the attempts of ` +
        `a real fleet), default lease and renew. Over ${seconds} s: ${attemptsInWindow} attempts, ${loaded.perSecond.toFixed(0)} commands a second ` +
        `(INFO stats; empty Redis: ${empty.perSecond.toFixed(1)}), Redis CPU ${loaded.cpuPct.toFixed(1)} % of a core (empty: ${empty.cpuPct.toFixed(2)} %), ` +
        `${round(cpuPerKCommands * 1000, 1)} ms of Redis CPU per 1,000 commands, ${connections} connections (${perSidecar.toFixed(2)} a sidecar), ` +
        `${(memoryPerProject / 1024).toFixed(1)} KiB of used_memory a project (${Math.round((memoryPerProject * projects) / nodes / 1024)} KiB a node; ` +
        `the empty Redis: ${(empty.end.usedMemory / 1048576).toFixed(2)} MiB).`,
    );
    ctx.note(
      `Sizing at the real 2 h interval, from these figures: Redis runs about ${(realPerSidecarPerSecond * 3600).toFixed(0)} commands an hour for a sidecar, ` +
        `scripts' own commands included (${Math.round(cost.idleAllPerHour)} idle, plus about ${Math.max(0, attemptCommands).toFixed(0)} for an attempt in this ` +
        `fleet: the recording, BullMQ's job moves, the leader's reading of the project on the attempt's event and the status events), ` +
        `about ${((cpuPerSidecar * 100) / 1).toPrecision(2)} % of a Redis core at the CPU cost measured here. ` +
        `Connections: ${byClients} sidecars at maxclients 10,000 (${byFiles} when a file limit of 1,024 lowers maxclients); ` +
        `CPU: about ${byCpu.toLocaleString('en-US')} sidecars before Redis uses half a core; memory: ${(memoryPerProject / 1024).toFixed(0)} KiB a project of ` +
        `${(nodes / projects).toFixed(1)} nodes. The connection limit comes first (docs/operations.md, "Sizing a shared Redis").`,
    );
    return [
      figure({
        id: 'fleet.connections',
        name: `Redis connections per sidecar (CLIENT LIST, real sidecar)`,
        value: cost.connections,
        unit: 'connections',
        baseline: 4,
        baselineText: 'before issue 31',
        target: '≤ 3',
        met: cost.connections <= 3,
        notes: `fleet: ${connections} connections for ${nodes} daemons (${perSidecar.toFixed(2)} each)`,
      }),
      figure({
        id: 'fleet.idleCommands',
        name: 'Redis commands per idle hour, one sidecar (top-level, MONITOR)',
        value: cost.idleCommandsPerHour,
        unit: 'commands',
        baseline: null,
        baselineText: 'reported (see notes)',
        target: 'reported',
        met: null,
        digits: 0,
      }),
      figure({
        id: 'fleet.cpu',
        name: `Redis CPU, ${nodes} nodes over ${projects} projects, heartbeat ${interval} (${compression} × compressed)`,
        value: loaded.cpuPct,
        unit: '% of a core',
        baseline: empty.cpuPct,
        baselineText: 'the same Redis, empty, same length of time',
        target: 'reported',
        met: null,
      }),
      figure({
        id: 'fleet.commands',
        name: `Redis commands per second, ${nodes} nodes over ${projects} projects (compressed)`,
        value: loaded.perSecond,
        unit: '/s',
        baseline: empty.perSecond,
        baselineText: 'the same Redis, empty',
        target: 'reported',
        met: null,
        digits: 0,
      }),
      figure({
        id: 'fleet.memoryPerProject',
        name: `Redis memory per project (${(nodes / projects).toFixed(1)} nodes each, BullMQ's queues included)`,
        value: memoryPerProject / 1024,
        unit: 'KiB',
        baseline: empty.end.usedMemory / 1024,
        baselineText: 'used_memory of the empty Redis, whole',
        target: 'reported',
        met: null,
        digits: 1,
      }),
    ];
  } finally {
    // All at once, each bounded: one by one, a thousand closes (each lets its attempt under way finish) outlast any run.
    await Promise.all(daemons.map((d) => Promise.race([d.close().catch(() => undefined), sleep(30_000)])));
    admin.disconnect();
    await server.dispose();
    await auth.stop();
    await authRedis.dispose();
  }
}
