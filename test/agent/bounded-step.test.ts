import { Writable } from 'node:stream';
import { boundedStep } from '../../daemon/agent/in-flight';
import { createLogger } from '../../shared/logger';
import { FakeClock } from '../support/fake-clock';

/**
 * A closing step never holds a close up: one that hangs is cut, and a cut that hangs
 * too (a Redis Cluster client mid-fail-over that never reports its sockets closed) is
 * left after its own bound. Before that bound a sidecar could log "Stopping" and never
 * exit. On a fake clock: nothing here sleeps.
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

it('returns as soon as the step closes, without cutting it', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  let cut = 0;
  await boundedStep(log, 'worker', () => Promise.resolve(), 5000, clock, () => (cut += 1));
  expect(cut).toBe(0);
  expect(messages()).toEqual([]);
});

it('cuts a step that hangs once its time is up', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  let cut = 0;
  const waited = await settle(clock, boundedStep(log, 'worker', never, 5000, clock, () => (cut += 1)), 100);
  expect(cut).toBe(1);
  expect(waited).toBe(5000);
  expect(messages()).toEqual(['Part did not close in time; disconnecting it']);
});

it('ends even when the cut hangs too, and says so', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  const waited = await settle(clock, boundedStep(log, 'worker', never, 5000, clock, never), 100);
  expect(waited).toBeLessThanOrEqual(6100);
  expect(messages()).toEqual(['Part did not close in time; disconnecting it', 'Part did not disconnect in time; leaving it']);
});

it('leaves a hanging step without a cut when none is given', async () => {
  const clock = new FakeClock(0);
  const { log, messages } = logged();
  await settle(clock, boundedStep(log, 'queue', never, 2000, clock), 100);
  expect(messages()).toEqual(['Part did not close in time; leaving it']);
});
