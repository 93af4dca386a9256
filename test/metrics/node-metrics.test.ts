import { Registry } from 'prom-client';
import { NodeMetrics } from '../../daemon/metrics/node-metrics';
import { CATALOG } from '../../shared/catalog';
import { checkMetrics } from '../support/promtool';

/**
 * `authentication_failures_total` has a series at 0 for every catalog
 * reason from the start, so Prometheus' increase() sees a node's first failure of a
 * reason (an absent series has no earlier sample to increase from).
 */
function series(text: string, reason: string): string | undefined {
  return text.split('\n').find((line) => line.startsWith(`fdl_cloudauth_authentication_failures_total{project="p",node="n1",reason="${reason}"} `));
}

it('starts every catalog reason at 0, counts a failure on its own reason, and passes promtool', async () => {
  const registry = new Registry();
  const metrics = new NodeMetrics(registry, 'p', 'n1', { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true });
  const before = await registry.metrics();
  expect(CATALOG.length).toBeGreaterThan(10);
  for (const entry of CATALOG)
    expect(series(before, entry.name)).toBe(`fdl_cloudauth_authentication_failures_total{project="p",node="n1",reason="${entry.name}"} 0`);
  expect(before).toContain('fdl_cloudauth_authentications_total{project="p",node="n1"} 0');

  metrics.attemptFinished(false, 'LICENSE_IP_ERROR', 0.2);
  const after = await registry.metrics();
  expect(series(after, 'LICENSE_IP_ERROR')).toMatch(/ 1$/);
  expect(series(after, 'CONNECTION_FAILED')).toMatch(/ 0$/);
  expect(checkMetrics(after)).toEqual(expect.objectContaining({ code: 0, output: '' }));
});

it('says whether journal.dir takes writes, and counts failed writes by op from 0 (SPEC §8)', async () => {
  const registry = new Registry();
  let writable = true;
  const metrics = new NodeMetrics(registry, 'p', 'n1', { journalPending: () => 0, redisUp: () => true, localStateWritable: () => writable });
  const before = await registry.metrics();
  expect(before).toContain('fdl_cloudauth_local_state_writable{project="p",node="n1"} 1');
  for (const op of ['journal', 'state']) expect(before).toContain(`fdl_cloudauth_local_state_write_errors_total{project="p",node="n1",op="${op}"} 0`);

  writable = false;
  metrics.localWriteFailed('journal');
  metrics.localWriteFailed('journal');
  const after = await registry.metrics();
  expect(after).toContain('fdl_cloudauth_local_state_writable{project="p",node="n1"} 0');
  expect(after).toContain('fdl_cloudauth_local_state_write_errors_total{project="p",node="n1",op="journal"} 2');
  expect(after).toContain('fdl_cloudauth_local_state_write_errors_total{project="p",node="n1",op="state"} 0');
  expect(checkMetrics(after)).toEqual(expect.objectContaining({ code: 0, output: '' }));
});

it('counts 30007 answers in capacity_refusals_total from 0, and no other reason (SPEC §8)', async () => {
  const registry = new Registry();
  const metrics = new NodeMetrics(registry, 'p', 'n1', { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true });
  expect(await registry.metrics()).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n1"} 0');
  metrics.attemptFinished(false, 'LICENSE_IP_ERROR', 0.2);
  metrics.attemptFinished(true, null, 0.2);
  metrics.attemptFinished(false, 'REGISTER_OUT_OF_LIMIT', 0.2);
  metrics.attemptFinished(false, 'REGISTER_OUT_OF_LIMIT', 0.2);
  const after = await registry.metrics();
  expect(after).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n1"} 2');
  expect(checkMetrics(after)).toEqual(expect.objectContaining({ code: 0, output: '' }));
});
