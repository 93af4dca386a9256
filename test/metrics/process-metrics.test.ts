import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../../daemon/metrics/process-metrics';
import { checkMetrics } from '../support/promtool';
import { DEFAULT_PROCESS_METRICS } from '../support/spec-metrics';

/**
 * prom-client's default process and Node.js series go into the registry the sidecar
 * serves — its own, never prom-client's global one — and pass promtool's lint.
 */
it('registers the default process and Node.js series in the given registry only', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const text = await registry.metrics();
  for (const family of DEFAULT_PROCESS_METRICS) expect(text).toContain(`# TYPE ${family}\n`);
  const lint = checkMetrics(text);
  expect(lint.output).toBe('');
  expect(lint.code).toBe(0);
  // A second sidecar in the same process (the tests, the demo) gets its own set.
  const other = new Registry();
  registerProcessMetrics(other);
  expect(await other.metrics()).toContain('# TYPE process_start_time_seconds gauge\n');
  const { register: globalRegistry } = await import('prom-client');
  expect(await globalRegistry.metrics()).not.toContain('process_start_time_seconds');
});
