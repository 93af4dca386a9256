import type { BenchResults, Figure } from './figure';
import { IMAGE } from './image-note';
import { TEST_SUITE } from './test-suite-note';

/**
 * Renders docs/benchmarks.md from the results: the table first, then how each figure
 * is measured and, where a target is missed, what bounds it (the notes the
 * benchmarks wrote in this run).
 */
function cell(v: number | null, unit: string): string {
  if (v === null) return '—';
  return `${v.toLocaleString('en-US', { maximumFractionDigits: 3 })} ${unit}`.trim();
}

function met(f: Figure): string {
  if (f.met === null) return 'n/a';
  return f.met ? 'yes' : '**no**';
}

function row(f: Figure): string {
  const baseline = f.baseline === null ? f.baselineText : `${cell(f.baseline, f.unit)} (${f.baselineText})`;
  return `| ${f.name} | ${cell(f.value, f.unit)} | ${baseline} | ${f.ratio === null ? '—' : f.ratio} | ${f.target} | ${met(f)} |`;
}

/** What changed in the figures, and why, newest first (kept by hand with the code that changed them). */
const CHANGES = `## What changed

- **Issue 32, prom-client's process and Node.js series on every sidecar.** Benchmark 11
  times \`registry.metrics()\` of a sidecar's node series with and without them,
  alternated in one loop (2026-12-07, this machine, median of 500): 0.577 ms against
  0.055 ms — about half a millisecond and 6 KiB (28 families) more per scrape, read at
  scrape time (memory, file descriptors from /proc, the event-loop histogram). Measured
  on its own (\`npm run bench -- --only process\`) and merged into the stored results;
  the other figures are those of the run dated above.
- **Issue 31, a sidecar that costs a shared Redis little.** Measured first on the code
  before the change (this machine, 2026-12-07, real sidecars from \`dist/\` on a Redis
  of their own): **4 connections** a sidecar (CLIENT LIST: the command connection,
  BullMQ's own connection for its queue and worker, the worker's blocking connection,
  the change-event subscriber); **15 commands an attempt** on the agent's connection
  (benchmark 7: a MULTI block of 11 before the attempt — two HGETALL, TIME, two EXISTS,
  ZRANGE, two ZSCORE, MULTI/EXEC — the recording's EVALSHA, and a MULTI of two ZSCOREs
  at every slot); an idle sidecar at **+40 MiB over a bare node** (79–81 MiB against
  39.4, Node 20). Sharing BullMQ's queue and worker connection with the command connection brought it to 3, and was reverted: the command connection fails fast while Redis is away (no offline queue), and BullMQ's worker treats that error (\`Stream isn't writeable\`) as not a connection error and asks again at once, in a loop with no timer, which froze a sidecar in a Sentinel fail-over (\`test/reliability/sentinel-lag.process.test.ts\`, one CI run in three): **4 connections** stay. **3 commands an attempt**: the read
  before it is one script (\`daemon/agent/lua/read-before-attempt-5.lua\`, the key-type
  checks that made the MULTI block tolerate a WRONGTYPE done inside), and so is the
  slot check (\`slot-recorded-1.lua\`). The idle memory: the client of the
  authorization server is node's \`http\`/\`https\` instead of undici (110 module
  files and a WebAssembly build of llhttp compiled at the first request: about 17 MiB
  of an idle sidecar, measured by a process that requires it and makes one request,
  61.5 MiB against 44.8 for node:http); BullMQ's Queue and Worker are loaded from their
  own files instead of its index (70 module files fewer: flows, the PostgreSQL and relay
  backends, other clients' adapters; about 1.3 MiB) and the page's code at the first
  \`GET /\` (0.6 MiB); a sidecar loads 431 module files where it loaded 626. Idle
  RSS, median over 300 s beside a bare node of the same Node (benchmark 5): Node 20
  20.20.2 64.4 MiB against 39.4 (+ 24.9 MiB: the goal of + 25 MiB met, by a hair; a
  second run of the same build gave + 24.4), Node 24.22.3 81.8 MiB against 42.1
  (+ 39.7 MiB: **missed by 14.7 MiB**; Node 24's binary alone keeps about 17 MiB more
  of its pages resident under the same code, and its young generation grows to 32 MiB).
  No flag is shipped: \`--max-semi-space-size=1\` lowers the first minutes (the
  start-up peak) but not the median now, and \`--jitless\` (about 7 MiB less) would
  slow the leader's aggregation of a large project. What stays is V8's heap (about 11 MiB of module code and objects in old space, and a young
  generation that start-up grows to 16 MiB on Node 20 and 32 MiB on Node 24 and V8 gives
  back only after a while idle) and the pages of the node binary the loaded code runs
  (about 9 MiB over a bare process on Node 20, 17 MiB on Node 24). The commands of an
  idle hour and the fleet on one Redis are benchmark 10; the sizing table it gives is
  in docs/operations.md ("Sizing a shared Redis"). Benchmarks 5, 7 and 10 were run for
  this change with \`--only\` (2026-12-07); the other figures are from the full run in
  the header.
- **Issue 11, the CLI answers fast: each command loads only what it uses.** Before,
  the command table imported every command's code, so every invocation — \`--help\`
  included — loaded the whole product (836 module files: BullMQ, ioredis, both cipher
  libraries, the reference server, the demo; about 87 MiB). Measured with benchmark 9
  on the code before the change (same machine, 2026-12-01, medians of 30):
  \`--help\` 245.9 ms against 21.9 ms for \`node -e 0\` (ratio 11.2), \`status --json\`
  261.6 ms against 71.5 ms for the ioredis script (ratio 3.66). Now the table holds
  names, help and flags only; a command's work (\`daemon/cli/actions/\`) and the
  configuration loader are loaded when it runs, so \`--help\` loads no dependency
  (20 files of ours) and \`status\` loads ioredis, pino and convict but not BullMQ,
  the ciphers, the agent, the reference server or the demo (test/cli/module-loading.process.test.ts).
  A sidecar loads only its credential's cipher library (node-forge or sm-crypto-v2,
  about 10 MiB each; the key ids of the private keys it announces come from
  node:crypto), neither \`daemon/authserver\` (its failure limiter moved to
  \`daemon/http\`) nor \`daemon/demo\`, and without a web configuration file neither
  yaml nor bcryptjs. Its heap 30 s after start went from 22.9 to 19.6 MiB. The idle
  RSS (benchmark 5) moves less than that suggests, and is noisy: run side by side
  over the same 240 s, sidecars of the two builds settle in one of two levels about
  10 MiB apart whatever the build or NODE_OPTIONS (before: 75.4 or 85.5 MiB; after:
  71.1 or 81.5 MiB; bare node 39.4), so a single run's median can land on either —
  the 73.0 MiB of the earlier full run and the figure above (re-run for this change)
  are the two levels, not a regression. Benchmarks 5 and 9 were re-run for this
  change with \`--only footprint,cli\`; the other figures are from the full run in
  the header.
- **Issue 10, one view for every reader: the scrape no longer reads Redis.** Before, the
  leader's \`/metrics\` re-read the whole project at every scrape (one cluster read
  plus prom-client setting and formatting every series): 35.8 ms at 1,000 nodes and
  392 ms at 10,000 in the full run of 2026-11-28 (36–62 ms at 1,000 across runs).
  Now the cluster series are served from the leader's own view — the one its status
  decisions are made from, kept current by change events and the periodic sweep —
  rendered to text once per view (\`daemon/aggregator/cluster-metrics.ts\`), and
  \`fdl_cloudauth_view_age_seconds\` says how old that view is. The scrape figures are
  timed right after a new view, so they include rendering its text (\`scrape.1000\`,
  \`scrape.10000\` above); a scrape of an unchanged view (\`scrape.sameView\`) costs
  about as much as the node-level baseline. The text is written directly
  (\`daemon/aggregator/metric-text.ts\`): through prom-client's gauges the same view
  took 26–61 ms at 1,000 nodes in quick runs, most of it setting and formatting
  labelled series.
  Benchmarks 1–3 were re-run for this change with \`--only aggregation,detection\` on
  a machine shared with other test runs (load average about 8 on its 2 cores), which
  is why the aggregation rounds are slower than in the earlier full run; compare their
  ratios to the baseline. The other figures are from the full run in the header.
`;

const METHOD = `## How each figure is measured

All figures come from one run of \`npm run bench\` on the machine described above;
every value is measured beside its baseline in the same run (interleaved where both
are cheap), because the machine is noisy. Redis is a private \`redis-server\` started
by the benchmark (harness/redis-server.ts), on loopback.

1. **Aggregation round** — N node records are written in the format of
   shared/redis/records.ts (90 % healthy, 5 % failing, 5 % stale). One round is
   \`Aggregator.refresh()\` on the elected leader: \`ProjectViewReader.read()\`
   (ZRANGE of the nodes, then one pipeline with TIME, the status hash, the credential's
   public fields, the leader key, the recovery hash and one HGETALL a node), the view
   computation, and the
   fenced status write when the status changed. Baseline: one pipelined HGETALL of
   every node key with the ids known beforehand (the least any reader can do).
   Round trips are writes to the leader's socket, counted by wrapping the ioredis
   connection (bench/command-counter.ts); commands are every command sent.
2. **Scrape** — what a leader's \`/metrics\` serves: \`registry.metrics()\` followed by
   \`ClusterMetrics.text()\`, the cluster series of the leader's own view (no Redis
   read: the view is the one its status decisions are made from, kept current by
   change events and the sweep). Before every timed scrape the aggregator makes a new
   view (untimed: that is benchmark 1), so each scrape also renders that view's text
   — the worst case; \`scrape.sameView\` is a second scrape of the same view.
   Baseline: the same registry with only the node-level metrics.
3. **Detection latency** — a node's result is recorded through the real
   record-attempt Lua (\`recordAttempt\`), which publishes the change event; the
   clock stops when the leader's \`aggregator.latestView\` shows that attempt (the
   view its status decisions and fenced status write are made from, and that
   \`/metrics\` serves). The leader runs with the daemon's
   defaults (30 ms debounce). Baseline: a raw PUBLISH → message round trip on the same Redis.
4. **Failover** — candidate processes (leader election + aggregator from dist/, lease
   3 s, renew 1 s) in real child processes. Graceful: SIGTERM to the leader, which
   releases the lease and publishes \`leader-released\`; crash: SIGKILL. The time runs
   from the signal to the moment another process reports it was elected. Baseline:
   client-go's leader election as published (graceful ≈ one 2 s retry period with
   ReleaseOnCancel; crash: lease + up to 2.4 s, retry period 2 s with 1.2 jitter).
5. **Footprint** — real sidecars (\`node dist/daemon/cli/main.js daemon\`, 2 h
   interval, default lease, against the reference server) left idle after their first
   attempt; RSS (VmRSS, /proc/<pid>/status) and CPU (utime + stime, /proc/<pid>/stat)
   sampled every second, each beside a bare \`node -e "setInterval(()=>{},1e9)"\` of
   the same Node measured over the same seconds: as shipped (no flags), with
   \`--max-semi-space-size=1\` and with \`--jitless\` (measured, not shipped), and on
   Node 24 (as shipped and with the young-generation cap) when a Node 24 binary is
   found (\`FDL_BENCH_NODE24\`, or one under .cache/node/24.*).
6. **Reference server throughput** — undici Pool with 50 connections and 50
   concurrent requesters against \`fdl-cloudauth authserver\` in its own process (log
   level info, as shipped), reusing 20 node ids of one account. Baseline: the same
   server answering \`GET /healthz\` (a Redis PING) the same way.
7. **Cost of one attempt** — a real in-process agent (BullMQ queue, worker and job
   scheduler, 2 s interval) against the reference server; its command connection and
   BullMQ's connection are counted separately (the agent is given a connection of its
   own for BullMQ here, so its own commands can be counted apart; the sidecar shares
   one), and MONITOR attributes BullMQ's commands by name.
8. **Registration page** — \`GET /\` of a 100-node project with a bad day behind it
   (bench/page-bench.ts): the status read as \`/status\` does it, one page of the
   failure history and every node's 24 h timeline read beside it, and the HTML
   rendered, in process (no socket). Baseline: \`/status\` of the same project. The
   weight is the HTML's size against the JSON's.
9. **CLI start-up** — wall time of a whole \`node dist/daemon/cli/main.js\` process,
   spawn to exit (bench/cli-bench.ts). \`--help\` against \`node -e 0\`;
   \`status --json\` (a 5-node project in a private redis-server) against a
   \`node -e\` script that requires ioredis, sends the commands \`status --json\` sent
   (recorded once through MONITOR) in one pipeline and prints the replies. Each pair
   runs alternately, 30 times (5 in a quick run), after one untimed run of each;
   medians.
10. **Sidecars on a shared Redis** (bench/fleet-bench.ts) — connections: two real
   sidecars of one project (2 h interval), CLIENT LIST by the names they give their
   connections (baseline: 4, counted the same way before issue 31); commands per idle
   hour: MONITOR over an idle window (top-level commands), and INFO commandstats
   (a script's own commands too). The fleet: 1,000 daemons (the Daemon class the
   process runs, in one process) over 300 projects on one Redis, heartbeat 60 s
   standing for 2 h; Redis CPU (INFO cpu, used_cpu_sys + used_cpu_user), commands
   per second (INFO stats total_commands_processed, which counts a script's own
   commands), used_memory per project and connected_clients, against the same Redis
   empty over a window of the same length. The reference server has a Redis of its
   own. The sizing follows from these: commands an hour at the real interval times
   the CPU cost of a command measured in the fleet.
`;

export function renderMarkdown(results: BenchResults): string {
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push('Generated by `npm run bench` (bench/run.ts); the figures are also in `bench/results.json`. Do not edit by hand.', '');
  const m = results.machine;
  lines.push(
    `Run: ${results.generatedAt}${results.quick ? ' (**quick mode**: small sizes, figures not meaningful)' : ''}, ${results.durationSeconds} s. ` +
      `Machine: ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.redis}, ${m.platform}.`,
    '',
  );
  lines.push('| figure | value | baseline | ratio | target | met? |', '|---|---|---|---|---|---|');
  for (const f of results.figures) lines.push(row(f));
  lines.push('');
  const withNotes = results.figures.filter((f) => f.notes);
  if (withNotes.length > 0) {
    lines.push('Notes on single figures:', '');
    for (const f of withNotes) lines.push(`- *${f.name}*: ${f.notes}`);
    lines.push('');
  }
  const byId = new Map(results.figures.map((f) => [f.id, f]));
  const scrape = byId.get('scrape.1000');
  if (scrape && scrape.met === false) {
    lines.push(
      '## Scrape at 1,000 nodes over its target',
      '',
      `A scrape reads nothing from Redis: it renders the registry and, once per leader view, the text of about 9,000 cluster ` +
        `series (5 node_status series a node plus the per-node gauges, ${scrape.notes ?? ''}). That is CPU work on a 2-core ` +
        `machine shared with Redis and, in this run, with other processes; a second scrape of the same view ` +
        `(scrape.sameView) shows what is left once the text is rendered.`,
      '',
    );
  }
  lines.push(CHANGES);
  lines.push(TEST_SUITE);
  lines.push(IMAGE);
  for (const [bench, notes] of Object.entries(results.notes)) {
    if (notes.length === 0) continue;
    lines.push(`## ${bench}`, '');
    for (const note of notes) lines.push(note, '');
  }
  lines.push(METHOD);
  return lines.join('\n');
}
