import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { commandArbitraries, Settle } from '../support/recording-model/commands';
import { initialModel } from '../support/recording-model/oracle';
import { RecordingWorld } from '../support/recording-model/world';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';

/**
 * The recording protocol checked by a model: random sequences of what a site meets
 * (attempts, Redis away and back, crashes at any local write, restarts, FLUSHALL with
 * connections open or closed, deleted keys, fields written as floats or strings or
 * keys of the wrong type, clock steps, register, crypto switch, leader changes) drive
 * the real Lua scripts and the agent's real recording, journal and recovery on a real
 * Redis, and after every step the invariants of test/support/recording-model/oracle.ts
 * hold: no attempt counted twice, no phantom id, no verdict the streaks do not justify,
 * no failed project un-failed; and once every node is back, every answered attempt
 * counted once (or named as lost), the streaks and the verdict the model's, the newest
 * credential stored. fast-check shrinks a failure to its shortest sequence and prints
 * it with the seed and path that replay it.
 *
 * Budget: MODEL_RUNS sequences (CI: 200) of up to MODEL_STEPS commands (40);
 * `npm run check:model -- --runs N [--seed S] [--path P] [--replay R]` explores further, or
 * replays a failure from the seed, path and replayPath fast-check printed.
 */
const RUNS = Number(process.env.MODEL_RUNS ?? 200);
const STEPS = Number(process.env.MODEL_STEPS ?? 40);
const SEED = process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : undefined;
const PATH = process.env.MODEL_PATH || undefined;
/** fc.commands' replayPath (printed beside a counterexample): with the seed and path, the shrunk sequence itself. */
const REPLAY = process.env.MODEL_REPLAY || undefined;
const NODES = ['n1', 'n2'] as const;

jest.setTimeout(Number(process.env.MODEL_TIMEOUT_MS ?? 240_000));

let server: TestRedis;
let keyDir: string;

beforeAll(async () => {
  server = await startRedis();
  keyDir = RecordingWorld.keyPairs();
});

afterAll(async () => {
  await disposeAllRedis();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

it('holds the recording invariants under random fault sequences', async () => {
  let sequences = 0;
  let steps = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.commands(commandArbitraries(NODES), { maxCommands: STEPS, size: 'max', replayPath: REPLAY }), async (commands) => {
      const world = new RecordingWorld(server, NODES, keyDir);
      try {
        await world.start();
        await world.register();
        const model = initialModel();
        await fc.asyncModelRun(() => ({ model, real: world }), commands);
        await new Settle().run(model, world);
        sequences += 1;
        steps += [...commands].length;
      } finally {
        await world.close();
      }
    }),
    { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: false, verbose: 1 },
  );
  // The figures of this run, for docs/reliability.md and the check:model script.
  process.stdout.write(`recording model: ${sequences} sequences, ${steps} commands, ${Math.round((Date.now() - started) / 1000)} s\n`);
  // A replay runs the one sequence its path names; a search runs the whole budget.
  expect(sequences).toBeGreaterThanOrEqual(PATH ? 1 : RUNS);
});
