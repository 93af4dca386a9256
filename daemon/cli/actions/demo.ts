import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DurationFormatError, formatDuration, parseDuration } from '../../../shared/duration';
import { createLogger } from '../../../shared/logger';
import { DemoCluster, DEMO_NODES } from '../../demo/demo-cluster';
import { DemoError } from '../../demo/demo-error';
import { demoPace, PACES, type DemoPace } from '../../demo/demo-pace';
import { DemoStory, STEPS } from '../../demo/demo-story';
import { StoryAborted } from '../../demo/story-aborted';
import { LiveTable } from '../../demo/live-table';
import { ExitCode, stringFlag, UsageError, type CommandContext } from '../command';

/**
 * `fdl-cloudauth demo` (SPEC §9): a whole cluster on this machine — Redis, the
 * reference authorization server, three sidecar processes — and a scripted story
 * (registered → degraded → failed → re-registered → registered) shown as a live table.
 * Stops every process it started on Ctrl-C, SIGTERM or at the end of --duration, and
 * removes its temporary directory. Exit 0 when the story reached its end, 1 otherwise.
 */
const REDIS_ENV = ['CLOUDAUTH_REDIS_URL', 'CLOUDAUTH_REDIS_SENTINELS', 'CLOUDAUTH_REDIS_CLUSTER_NODES'];

/** Sets the demo account's password (otherwise random); named in the help (cli/commands/demo.ts). */
const PASSWORD_ENV = 'CLOUDAUTH_DEMO_PASSWORD';

/** True when the user chose a Redis: in the environment or in the --config file. */
function redisConfigured(env: NodeJS.ProcessEnv, configFile: string | undefined): boolean {
  if (REDIS_ENV.some((name) => Boolean(env[name]))) return true;
  if (!configFile || !existsSync(configFile)) return false;
  try {
    const redis = (JSON.parse(readFileSync(configFile, 'utf8')) as { redis?: Record<string, unknown> }).redis;
    return Boolean(redis && (redis.url || redis.sentinels || redis.clusterNodes));
  } catch {
    // ctx.config() has already reported an unreadable file.
    return false;
  }
}

function parseDurationFlag(ctx: CommandContext): number | undefined {
  const text = stringFlag(ctx, 'duration');
  if (text === undefined) return undefined;
  let ms: number | undefined;
  try {
    ms = parseDuration(text);
  } catch (error) {
    if (!(error instanceof DurationFormatError)) throw error;
  }
  if (ms === undefined || ms < 1000) throw new UsageError(`--duration takes a duration of at least 1s such as 150s or 5m, got "${text}"`);
  return ms;
}

function parsePaceFlag(ctx: CommandContext): DemoPace {
  const name = stringFlag(ctx, 'pace') ?? 'normal';
  const pace = demoPace(name);
  if (!pace) throw new UsageError(`--pace takes one of ${PACES.join(', ')}, got "${name}"`);
  return pace;
}

export async function run(ctx: CommandContext): Promise<number> {
  const durationMs = parseDurationFlag(ctx);
  const pace = parsePaceFlag(ctx);
  const base = ctx.config([]);
  const privateRedis = !redisConfigured(ctx.env, stringFlag(ctx, 'config'));
  const out = ctx.stdout as NodeJS.WriteStream;
  const say = (line: string) => void ctx.stdout.write(`${line}\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-cloudauth-demo-'));
  const logger = createLogger({ level: 'info', destination: pino.destination({ dest: path.join(dir, 'demo.log'), sync: true, mkdir: true }) });
  const table = new LiveTable({ out: ctx.stdout, tty: Boolean(out.isTTY), columns: out.columns });
  const cluster = new DemoCluster({
    dir,
    privateRedis,
    loadConfig: (overrides) => ctx.config(['authserver'], overrides),
    timing: pace.timing,
    adminToken: base.authserver.adminToken || undefined,
    password: ctx.env[PASSWORD_ENV] || undefined,
    logger,
    say,
  });
  const abort = new AbortController();
  let stopReason: 'signal' | 'duration' | undefined;
  const stop = (reason: 'signal' | 'duration') => {
    if (abort.signal.aborted) return;
    stopReason = reason;
    abort.abort();
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // A second Ctrl-C means now: kill what is left, remove the directory, go.
      ctx.stderr.write(`fdl-cloudauth demo: second ${signal}: killing the demo's processes now\n`);
      cluster.killNow();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    }
    say(`\n${signal} received: stopping the demo`);
    stop('signal');
  };
  // Last resort if this process exits some other way: no sidecar or Redis left behind.
  const onExit = () => cluster.killNow();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  const timer = durationMs === undefined ? undefined : setTimeout(() => stop('duration'), durationMs);

  const story = new DemoStory({ cluster, table, signal: abort.signal, holdFailedMs: pace.holdFailedMs, pollMs: pace.pollMs });
  let completed = false;
  let failure: unknown;
  try {
    say(`fdl-cloudauth demo: a ${DEMO_NODES.length}-node cluster on this machine${durationMs ? `, for ${formatDuration(durationMs)}` : ' (Ctrl-C stops it)'}`);
    await cluster.start();
    if (!abort.signal.aborted) {
      say('');
      say(`The story (${STEPS} steps, about a minute): registered → one node fails → degraded → failed → register again → registered`);
      say('');
      await story.run();
      completed = true;
      say(
        durationMs
          ? `The story is complete; the cluster keeps running until --duration ends.`
          : 'The story is complete; the cluster keeps running. Press Ctrl-C to stop.',
      );
      await story.idle();
    }
  } catch (error) {
    if (!(error instanceof StoryAborted)) failure = error;
  } finally {
    if (timer) clearTimeout(timer);
    table.finish();
    say('');
    say(`Stopping: sidecars (SIGTERM), authorization server${privateRedis ? ', private redis-server' : ', demo keys in Redis'}...`);
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    const pids = [...cluster.sidecars.map((s) => s.pid), cluster.redisPid].filter((p) => p !== undefined);
    say(`Stopped every process the demo started (pids ${pids.join(', ') || 'none'}) and removed ${dir}.`);
  }
  if (failure instanceof DemoError) {
    ctx.stderr.write(`fdl-cloudauth demo: ${failure.message}\n`);
    return ExitCode.FAILED;
  }
  if (failure) throw failure;
  if (completed) return ExitCode.OK;
  if (stopReason === 'duration') {
    ctx.stderr.write(
      `fdl-cloudauth demo: --duration ${formatDuration(durationMs ?? 0)} ended at step ${story.step}/${STEPS}, before the project was registered again: ` +
        'give it more time (the story takes about a minute after start) or run without --duration\n',
    );
  } else {
    ctx.stderr.write(`fdl-cloudauth demo: stopped at step ${story.step}/${STEPS}, before the project was registered again\n`);
  }
  return ExitCode.FAILED;
}
