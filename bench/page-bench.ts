import { RegistrationPage } from '../daemon/page/registration-page';
import { stableOffset } from '../shared/heartbeat-grid';
import { ProjectViewReader } from '../daemon/view/project-view';
import { buildStatusJson } from '../daemon/view/status-json';
import { silentLog } from '../harness/sidecar-parts';
import { startRedis } from '../harness/redis-server';
import { ClusterFixture, INTERVAL_MS, PROJECT } from './cluster-fixture';
import { figure, median, msSince, type BenchContext, type Figure } from './figure';

/**
 * 8. The Registration page (`GET /`) of a 100-node project, server side: the status
 * read exactly as `/status` does it, the failure page and the 24 h timelines read
 * beside it, and the HTML rendered — everything the HTTP handler does but writing the
 * socket. Baseline: `/status` itself (the same read, JSON.stringify). The weight is
 * the HTML's size in bytes against the JSON's.
 *
 * The fixture is a bad day rather than a quiet one: the cluster fixture's 5 % failing
 * and 5 % stale nodes, a day of 2-hourly attempts for every node, and every node with
 * one CONNECTION_FAILED earlier in the day, so every timeline row carries a failed
 * cell with its hover text and the failure history is full.
 */
const NODES = 100;
const DAY_MS = 86_400_000;
const MESSAGE = 'connect ETIMEDOUT 203.0.113.10:443 (authServer.url https://register.fanruan.com/v1/authenticate, after 3 tries)';

async function writeDay(fixture: ClusterFixture, now: number): Promise<void> {
  const pipeline = fixture.redis.pipeline();
  fixture.ids.forEach((id, i) => {
    const offset = stableOffset(PROJECT, id, INTERVAL_MS);
    const failing = i % 20 === 7;
    for (let k = 0; k < DAY_MS / INTERVAL_MS; k++) {
      const at = Math.floor(now / INTERVAL_MS) * INTERVAL_MS + offset - k * INTERVAL_MS;
      if (at > now) continue;
      const attemptId = `slot:${at}`;
      pipeline.zadd(fixture.keys.attempts(id), at, attemptId);
      const failed = k === 6 || (failing && k < 2);
      if (!failed) continue;
      const entry =
        failing && k < 2
          ? { code: 30002, name: 'ACCOUNT_STATUS_ERROR', message: 'the account status is disabled' }
          : { code: null, name: 'CONNECTION_FAILED', message: MESSAGE };
      // Oldest first, so LPUSH leaves the newest at the head as record-attempt does.
      pipeline.rpush(fixture.keys.history(id), JSON.stringify({ node: id, ...entry, at, attemptId }));
    }
  });
  await pipeline.exec();
}

export async function benchPage(ctx: BenchContext): Promise<Figure[]> {
  const redis = await startRedis();
  const fixture = new ClusterFixture({ redis, nodes: NODES });
  await fixture.start();
  try {
    await writeDay(fixture, Date.now());
    const reader = new ProjectViewReader({
      redis: fixture.redis,
      keys: fixture.keys,
      log: silentLog,
      policy: { failurePolicy: 'any', threshold: 12, intervalMs: INTERVAL_MS },
    });
    const status = async () => buildStatusJson(await reader.read());
    const page = new RegistrationPage({ redis: fixture.redis, keys: fixture.keys, intervalMs: INTERVAL_MS });
    const search = new URLSearchParams();
    const reps = ctx.quick ? 5 : 50;
    const pages: number[] = [];
    const jsons: number[] = [];
    let html = '';
    let json = '';
    // Warm-up: JIT and connection buffers.
    await page.render(status(), search);
    for (let i = 0; i < reps; i++) {
      // Interleaved, so noise on the shared machine hits both alike.
      let t = process.hrtime.bigint();
      json = JSON.stringify(await status());
      jsons.push(msSince(t));
      t = process.hrtime.bigint();
      const answer = await page.render(status(), search);
      pages.push(msSince(t));
      if (answer.code !== 200) throw new Error(`the page answered ${answer.code}`);
      html = answer.html;
    }
    const bytes = Buffer.byteLength(html);
    const jsonBytes = Buffer.byteLength(json);
    ctx.log(`page ${median(pages).toFixed(2)} ms (status ${median(jsons).toFixed(2)} ms), ${bytes} bytes (status ${jsonBytes} bytes)`);
    ctx.note(
      `The page of ${NODES} nodes (${(bytes / 1024).toFixed(1)} KiB, ${(html.match(/<rect /g) ?? []).length} timeline cells, ` +
        `${(html.match(/<tr /g) ?? []).length} table rows) is served in ${median(pages).toFixed(2)} ms median over ${reps} renders; ` +
        `/status of the same project takes ${median(jsons).toFixed(2)} ms (the page reads the same status, then the history and the timelines).`,
    );
    return [
      figure({
        id: 'page.render.100',
        name: `Registration page, ${NODES} nodes: server time (status read + history + timelines + HTML)`,
        value: median(pages),
        unit: 'ms',
        baseline: median(jsons),
        baselineText: '/status JSON of the same project',
        target: '≤ 50 ms',
        met: median(pages) <= 50,
      }),
      figure({
        id: 'page.weight.100',
        name: `Registration page, ${NODES} nodes: weight`,
        value: bytes / 1024,
        unit: 'KiB',
        baseline: jsonBytes / 1024,
        baselineText: '/status JSON of the same project',
        target: '≤ 200 KiB',
        met: bytes <= 200 * 1024,
      }),
    ];
  } finally {
    await fixture.close();
  }
}
