import { label, MetricText } from '../../daemon/aggregator/metric-text';
import { checkMetrics } from '../support/promtool';

/** The hand-written exposition text of the cluster series: exact output, escaped as the format says, accepted by promtool. */
it('writes HELP and TYPE once a family, common labels first, values and label values escaped', () => {
  const m = new MetricText('fdl_cloudauth_', { project: 'p1' });
  m.family('node_status', 'gauge', 'Node status: a back\\slash and\na newline.');
  m.sample('node_status', { node: 'n1', status: 'ok' }, 1);
  m.rendered('node_status', `${label('node', 'we"ird\\id\n')},${label('status', 'stale')}`, 0);
  m.family('corrupt_records_total', 'counter', 'Corrupt records.');
  m.sample('corrupt_records_total', {}, 3);
  m.family('view_age_seconds', 'gauge', 'Age.');
  m.sample('view_age_seconds', {}, 0.25);
  const text = m.toString();
  expect(text).toBe(
    [
      '# HELP fdl_cloudauth_node_status Node status: a back\\\\slash and\\na newline.',
      '# TYPE fdl_cloudauth_node_status gauge',
      'fdl_cloudauth_node_status{project="p1",node="n1",status="ok"} 1',
      'fdl_cloudauth_node_status{project="p1",node="we\\"ird\\\\id\\n",status="stale"} 0',
      '# HELP fdl_cloudauth_corrupt_records_total Corrupt records.',
      '# TYPE fdl_cloudauth_corrupt_records_total counter',
      'fdl_cloudauth_corrupt_records_total{project="p1"} 3',
      '# HELP fdl_cloudauth_view_age_seconds Age.',
      '# TYPE fdl_cloudauth_view_age_seconds gauge',
      'fdl_cloudauth_view_age_seconds{project="p1"} 0.25',
      '',
    ].join('\n'),
  );
  expect(checkMetrics(text)).toEqual(expect.objectContaining({ code: 0, output: '' }));
  expect(new MetricText('x_', {}).toString()).toBe('');
});
