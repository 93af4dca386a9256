import { computeView } from '../../daemon/view/compute-view';
import { renderFailures, renderStatus } from '../../daemon/view/text-tables';
import type { FailureEntry, NodeRecord } from '../../shared/redis/records';

/**
 * The tables of `status` and `failures` fit 80 columns by cutting long text, but never
 * a node id: an operator copies it into `failures --node`, `unbind --node` and the
 * logs' searches, so a cut id is no id (as kubectl never cuts a name). A table whose
 * ids are long runs past 80 columns by what the ids hold beyond the NODE column's
 * narrowest; every other column reads as it does beside short ids.
 */
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const LONG = 'fdl-prod-node-01.cluster-east.example.internal';

function record(id: string, failures: number): NodeRecord {
  const at = NOW - 30 * 60_000;
  const reason = failures > 0 ? { code: 30003, name: 'LICENSE_IP_ERROR', message: 'IP 10.0.0.9 is not allowed', at, attemptId: 'a1' } : null;
  return {
    id,
    consecutiveFailures: failures,
    reason,
    latestReason: reason,
    lastAttemptAt: at,
    lastAttemptId: 'a1',
    lastSuccessAt: failures === 0 ? at : null,
    attemptsTotal: 3,
    failuresTotal: failures,
    license: { expiresAt: null, capacity: null, bound: null },
    generation: 1,
    registration: 'g1',
  };
}

function statusText(ids: string[]): string {
  const view = computeView(
    {
      project: 'p',
      now: NOW,
      nodes: ids.map((id, i) => record(id, i)),
      credential: { account: 'acme', generation: 1, registration: 'g1' },
      stored: null,
      leader: null,
    },
    { failurePolicy: 'majority', threshold: 12, intervalMs: 7_200_000 },
  );
  return renderStatus(view);
}

function failure(node: string): FailureEntry {
  return { node, code: 30003, name: 'LICENSE_IP_ERROR', message: 'IP 10.0.0.9 is not allowed', at: NOW, attemptId: '2f1c9a6e-1b7d-4c55-9f0e-3a1f5b2c7d80' };
}

/** Each row with its node id and the padding after it taken out: the other columns. */
function rest(text: string, ids: string[]): string[] {
  return text
    .split('\n')
    .map((line) => {
      const id = ids.find((x) => line.includes(`${x} `));
      return id === undefined ? line : line.replace(new RegExp(`${id.replace(/[.]/g, '\\.')} +`), '');
    })
    .filter((line) => !line.startsWith('NODE') && !line.startsWith('AT (LOCAL)'));
}

describe('node ids in the tables', () => {
  it('status shows a long node id whole; the other columns read as they do beside short ids', () => {
    // Ids as wide as the NODE column's narrowest (12) beside one longer.
    const short = statusText(['node-0000001', 'node-0000002']);
    const long = statusText(['node-0000001', LONG]);
    expect(long.split('\n').some((l) => l.startsWith(`${LONG} `))).toBe(true);
    // (Rows are ordered worst first, then by id: compare them as sets.)
    expect(rest(long, ['node-0000001', LONG]).sort()).toEqual(rest(short, ['node-0000001', 'node-0000002']).sort());
    // Short ids fit 80 columns; a long one widens the table by what it holds beyond the
    // NODE column's narrowest.
    for (const line of short.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    for (const line of long.split('\n')) expect(line.length).toBeLessThanOrEqual(80 + LONG.length - 12);
  });

  it('failures shows a long node id whole; the other columns read as they do beside short ids', () => {
    // Ids as wide as the NODE column's narrowest (8) beside one longer.
    const short = renderFailures([failure('node-001'), failure('node-002')]);
    const long = renderFailures([failure('node-001'), failure(LONG)]);
    expect(long).toContain(`  ${LONG}  `);
    expect(long).not.toMatch(/fdl-prod-node-01\S*…/);
    expect(rest(long, ['node-001', LONG])).toEqual(rest(short, ['node-001', 'node-002']));
    for (const line of short.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    for (const line of long.split('\n')) expect(line.length).toBeLessThanOrEqual(80 + LONG.length - 8);
  });
});
