import { Writable } from 'node:stream';
import { boundedStep } from '../../daemon/agent/in-flight';
import { createLogger } from '../../shared/logger';
import { FakeClock } from '../../harness/fake-clock';

/**
 * A closing step never holds a close up: one that hangs (a BullMQ worker whose Redis
 * stopped answering) is left after its bound, so the agent's close ends whatever its
 * parts do; the daemon then exits even if what was left still holds the event loop
 * (test/cli/daemon-exit.process.test.ts). On a fake clock: nothing here sleeps.
 */

function logged() {
  const lines: Array<{ msg: string; part?: string }> = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write: (chunk: Buffer, _e, cb) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg: string });
        cb();
      },
    }),
  });
  return { log, messages: () => lines.map((l) => l.msg) };
}

const never = () => new Promise<never>(() => undefined);

async function settle(clock: FakeClock, p: Promise<void>, stepMs: number): Promise<number> {
  let done = false;
  void p.then(() => (done = true));
  let advanced = 0;
  while (!done && advanced < 60_000) {
    await clock.advance(stepMs);
    advanced += stepMs;
  }
  return advanced;
}

it('returns as soon as the step closes, saying nothing', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  await boundedStep(log, 'worker', () => Promise.resolve(), 5000, clock);
  expect(messages()).toEqual([]);
});

it('leaves a step that hangs once its time is up, and says so', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  const waited = await settle(clock, boundedStep(log, 'queue', never, 2000, clock), 100);
  expect(waited).toBe(2000);
  expect(messages()).toEqual(['Part did not close in time; leaving it']);
});

it('logs a step that fails, and returns', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  await boundedStep(log, 'worker', () => Promise.reject(new Error('Connection is closed.')), 5000, clock);
  expect(messages()).toEqual(['Part did not close cleanly']);
});
