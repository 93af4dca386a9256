import { computeLockoutSeconds, computeView, slotRoom, type ClusterSnapshot, type FailurePolicy, type ViewPolicy } from '../../daemon/view/compute-view';
import { buildStatusJson } from '../../daemon/view/status-json';
import type { NodeRecord } from '../../shared/redis/records';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);

function policy(failurePolicy: FailurePolicy = 'any'): ViewPolicy {
  return { failurePolicy, threshold: 12, intervalMs: 2 * HOUR };
}

function node(id: string, cf: number, lastAttemptAgoMs: number | null, extra: Partial<NodeRecord> = {}): NodeRecord {
  const lastAttemptAt = lastAttemptAgoMs === null ? null : NOW - lastAttemptAgoMs;
  const first =
    cf > 0 && lastAttemptAt !== null
      ? { code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', at: lastAttemptAt - (cf - 1) * 2 * HOUR, attemptId: 'first' }
      : null;
  const latest =
    cf > 0 && lastAttemptAt !== null ? { code: null, name: 'CONNECTION_FAILED', message: 'refused', at: lastAttemptAt, attemptId: 'latest' } : null;
  return {
    id,
    consecutiveFailures: cf,
    reason: first,
    latestReason: latest,
    lastAttemptAt,
    lastAttemptId: lastAttemptAt === null ? null : 'x',
    lastSuccessAt: cf === 0 ? lastAttemptAt : null,
    attemptsTotal: 1,
    failuresTotal: cf,
    license: { expiresAt: null, capacity: null, bound: null },
    generation: 1,
    registration: 'g1',
    ...extra,
  };
}

function snapshot(nodes: NodeRecord[], extra: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return { project: 'p', now: NOW, nodes, credential: { account: 'acme', generation: 1, registration: 'g1' }, stored: null, leader: null, ...extra };
}

function view(nodes: NodeRecord[], p: FailurePolicy = 'any', extra: Partial<ClusterSnapshot> = {}) {
  return computeView(snapshot(nodes, extra), policy(p));
}

describe('node status (R3, R6)', () => {
  it.each([
    ['ok after a success', node('n', 0, 10 * 60_000), 'ok'],
    ['degraded with 1 failure', node('n', 1, 10 * 60_000), 'degraded'],
    ['degraded with threshold-1 failures', node('n', 11, 10 * 60_000), 'degraded'],
    ['failed at the threshold', node('n', 12, 10 * 60_000), 'failed'],
    ['failed beyond the threshold', node('n', 13, 10 * 60_000), 'failed'],
    ['unregistered before any attempt', node('n', 0, null), 'unregistered'],
    ['not stale at exactly 1.5 intervals', node('n', 0, 3 * HOUR), 'ok'],
    ['stale past 1.5 intervals', node('n', 0, 3 * HOUR + 1), 'stale'],
    ['stale even with failures', node('n', 5, 4 * HOUR), 'stale'],
    ['failed stays failed when quiet (it stopped on purpose)', node('n', 12, 10 * HOUR), 'failed'],
  ])('%s', (_label, record, expected) => {
    expect(view([record]).nodes[0]?.status).toBe(expected);
  });

  it('every node is unregistered without a credential', () => {
    const v = view([node('a', 0, 1000), node('b', 3, 1000)], 'any', { credential: null });
    expect(v.nodes.map((n) => n.status)).toEqual(['unregistered', 'unregistered']);
    expect(v.status).toBe('unregistered');
    expect(v.lockoutSeconds).toBeNull();
  });

  it('uses the snapshot time, not the local clock', () => {
    const record = node('n', 0, 0);
    const later = computeView({ ...snapshot([record]), now: NOW + 3 * HOUR + 1 }, policy());
    expect(later.nodes[0]?.status).toBe('stale');
  });

  it('shows the first reason of the streak and the latest one; none when ok', () => {
    const v = view([node('a', 3, 1000), node('b', 0, 1000)]);
    expect(v.nodes[0]?.reason?.attemptId).toBe('first');
    expect(v.nodes[0]?.latestReason?.attemptId).toBe('latest');
    expect(v.nodes[1]?.reason).toBeNull();
  });
});

describe('project status by policy (R5)', () => {
  const cases: Array<[string, FailurePolicy, NodeRecord[], string]> = [
    ['any: all ok', 'any', [node('a', 0, 1000), node('b', 0, 1000)], 'registered'],
    ['any: one degraded', 'any', [node('a', 0, 1000), node('b', 2, 1000)], 'degraded'],
    ['any: one failed', 'any', [node('a', 0, 1000), node('b', 12, 1000), node('c', 0, 1000)], 'failed'],
    ['all: one of two failed', 'all', [node('a', 0, 1000), node('b', 12, 1000)], 'degraded'],
    ['all: both failed', 'all', [node('a', 12, 1000), node('b', 12, 1000)], 'failed'],
    ['all: failed + stale ok node (the stale one is counted, not failed)', 'all', [node('a', 12, 1000), node('b', 0, 5 * HOUR)], 'degraded'],
    ['all: one failed, one ok, one stale', 'all', [node('a', 12, 1000), node('b', 0, 1000), node('c', 3, 5 * HOUR)], 'degraded'],
    ['majority: 1 of 3 failed', 'majority', [node('a', 12, 1000), node('b', 0, 1000), node('c', 0, 1000)], 'degraded'],
    ['majority: 2 of 3 failed', 'majority', [node('a', 12, 1000), node('b', 12, 1000), node('c', 0, 1000)], 'failed'],
    [
      'majority: 2 of 4 failed is not more than half',
      'majority',
      [node('a', 12, 1000), node('b', 12, 1000), node('c', 0, 1000), node('d', 0, 1000)],
      'degraded',
    ],
    ['majority: 1 failed of 1 live + 2 stale', 'majority', [node('a', 12, 1000), node('b', 0, 5 * HOUR), node('c', 0, 5 * HOUR)], 'degraded'],
    ['only stale nodes without a streak: nothing known to fail', 'any', [node('a', 0, 5 * HOUR)], 'registered'],
    ['no node attempted yet', 'any', [node('a', 0, null)], 'unregistered'],
    ['no nodes at all', 'any', [], 'unregistered'],
  ];
  it.each(cases)('%s', (_label, p, nodes, expected) => {
    expect(view(nodes, p).status).toBe(expected);
  });

  it('a stored failed wins over a healthy cluster (sticky) while computedStatus says what the nodes say', () => {
    const v = view([node('a', 0, 1000)], 'any', {
      stored: { status: 'failed', since: NOW - HOUR, epoch: 3, failedAt: NOW - HOUR, generation: 1, registration: 'g1' },
    });
    expect(v.status).toBe('failed');
    expect(v.computedStatus).toBe('registered');
    expect(v.lockoutSeconds).toBe(0);
  });

  it('while the project is failed, silent nodes are not stale (they stopped on purpose)', () => {
    const v = view([node('a', 3, 5 * HOUR)], 'any', { stored: { status: 'failed', since: 0, epoch: 1, failedAt: 0, generation: 1, registration: 'g1' } });
    expect(v.nodes[0]?.status).toBe('degraded');
  });
});

describe('lockoutSeconds', () => {
  it('is about 24 h for a healthy node that just authenticated', () => {
    expect(view([node('a', 0, 0)]).lockoutSeconds).toBe(24 * 3600);
  });

  it('is (threshold - cf) intervals after the last attempt, minus the time since', () => {
    // 10 failures, last attempt 30 min ago: 2 attempts left → failed at last + 4 h → 3 h 30 min from now.
    expect(view([node('a', 10, 30 * 60_000)]).lockoutSeconds).toBe(3.5 * 3600);
  });

  it('any: the earliest node; all: the latest; majority: the (n/2+1)-th', () => {
    const nodes = [node('a', 11, 0), node('b', 6, 0), node('c', 0, 0)];
    // failsAt: a +2h, b +12h, c +24h
    expect(view(nodes, 'any').lockoutSeconds).toBe(2 * 3600);
    expect(view(nodes, 'majority').lockoutSeconds).toBe(12 * 3600);
    expect(view(nodes, 'all').lockoutSeconds).toBe(24 * 3600);
  });

  it('majority with an already failed node counts it as done', () => {
    const nodes = [node('a', 12, 0), node('b', 9, 0), node('c', 0, 0)];
    expect(view(nodes, 'majority').lockoutSeconds).toBe(3 * 2 * 3600);
  });

  it('takes a stale node at its worst case: its missed attempts count as failed', () => {
    // a: 11 failures, last attempt 5 h ago → failed at last + 2 h, 3 h ago → 0.
    expect(view([node('a', 11, 5 * HOUR), node('b', 0, 0)], 'any').lockoutSeconds).toBe(0);
    // a: 6 failures, last attempt 5 h ago → failed at last + 12 h → 7 h from now.
    expect(view([node('a', 6, 5 * HOUR), node('b', 0, 0)], 'any').lockoutSeconds).toBe(7 * 3600);
  });

  it('clamps at 0 for an overdue node that is not failed yet', () => {
    expect(view([node('a', 11, 2.5 * HOUR)]).lockoutSeconds).toBe(0);
  });

  it('is 0 when failed and null when nothing is registered', () => {
    expect(computeLockoutSeconds([], 'any', 'failed', NOW)).toBe(0);
    expect(computeLockoutSeconds([], 'any', 'unregistered', NOW)).toBeNull();
  });
});

describe('slot room (the conditions of CapacityExhausted and CapacityLow)', () => {
  it.each([
    [null, null, 'unknown'],
    [0, 0, 'unknown'],
    [5, null, 'unknown'],
    [5, 3, 'spare'],
    [5, 4, 'no-spare'],
    [5, 5, 'full'],
    [5, 6, 'full'],
    [2, 0, 'spare'],
    [2, 1, 'no-spare'],
    // An account of one slot never has one to spare: only full or not.
    [1, 0, 'spare'],
    [1, 1, 'full'],
  ] as const)('capacity %s, bound %s: %s', (capacity, bound, room) => {
    expect(slotRoom({ capacity, bound })).toBe(room);
  });
});

describe('license and status JSON', () => {
  it('takes the license from the node with the latest success', () => {
    const v = view([
      node('a', 0, 1000, { lastSuccessAt: NOW - 1000, license: { expiresAt: Date.UTC(2027, 0, 1), capacity: 5, bound: 3 } }),
      node('b', 0, 5000, { lastSuccessAt: NOW - 5000, license: { expiresAt: Date.UTC(2026, 5, 1), capacity: 4, bound: 2 } }),
    ]);
    expect(v.license).toEqual({ expiresAt: Date.UTC(2027, 0, 1), capacity: 5, bound: 3 });
  });

  it('builds exactly the JSON of SPEC §6', () => {
    const v = view([node('n2', 3, 60_000), node('n1', 0, 1000, { license: { expiresAt: Date.UTC(2027, 0, 1), capacity: 5, bound: 3 } })], 'any', {
      leader: { instance: 'n1/h/1/abc', epoch: 7 },
    });
    const json = buildStatusJson(v);
    // The fields of SPEC §6, plus `unknownMembers` (R5) and `recovery` (null unless Redis lost its data).
    expect(Object.keys(json)).toEqual([
      'project',
      'status',
      'lockoutSeconds',
      'policy',
      'threshold',
      'license',
      'leader',
      'nodes',
      'unknownMembers',
      'recovery',
    ]);
    expect(json.unknownMembers).toEqual([]);
    expect(json.recovery).toBeNull();
    expect(json).toMatchObject({
      project: 'p',
      status: 'degraded',
      policy: 'any',
      threshold: 12,
      license: { expiresAt: '2027-01-01T00:00:00.000Z', capacity: 5, bound: 3 },
      leader: { instance: 'n1/h/1/abc', epoch: 7 },
    });
    expect(json.nodes.map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(json.nodes[1]).toEqual({
      id: 'n2',
      status: 'degraded',
      consecutiveFailures: 3,
      reason: { code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', at: new Date(NOW - 60_000 - 4 * HOUR).toISOString() },
      latestReason: { code: null, name: 'CONNECTION_FAILED', message: 'refused', at: new Date(NOW - 60_000).toISOString() },
      lastAttemptAt: new Date(NOW - 60_000).toISOString(),
      lastSuccessAt: null,
    });
    expect(json.nodes[0]?.reason).toBeNull();
  });
});

/**
 * R5/R6 under uncertainty: a stale node keeps its recorded streak; it counts as failed
 * only when that streak reached the threshold, it keeps the project degraded while its
 * streak is ≥ 1, and `all`/`majority` count every node of the project. Every policy,
 * with a stale node at the threshold, below it, and a node that never attempted.
 */
describe('stale and unattempted nodes under every policy (R5, R6)', () => {
  const live = (id: string, cf: number) => node(id, cf, 10 * 60_000);
  const stale = (id: string, cf: number) => node(id, cf, 5 * HOUR);
  const never = (id: string) => node(id, 0, null);

  const cases: Array<[string, NodeRecord[], Record<FailurePolicy, string>]> = [
    ['a stale node at the threshold counts as failed', [stale('a', 12), live('b', 0), live('c', 0)], { any: 'failed', all: 'degraded', majority: 'degraded' }],
    ['two stale nodes at the threshold of three', [stale('a', 12), stale('b', 12), live('c', 0)], { any: 'failed', all: 'degraded', majority: 'failed' }],
    ['every node at the threshold, two of them stale', [live('a', 12), stale('b', 12), stale('c', 12)], { any: 'failed', all: 'failed', majority: 'failed' }],
    [
      'a stale node below the threshold keeps the project degraded',
      [stale('a', 11), live('b', 0), live('c', 0)],
      { any: 'degraded', all: 'degraded', majority: 'degraded' },
    ],
    ['a stale node with one failure keeps the project degraded', [stale('a', 1), live('b', 0)], { any: 'degraded', all: 'degraded', majority: 'degraded' }],
    ['a stale node without a streak is no failure', [stale('a', 0), live('b', 0)], { any: 'registered', all: 'registered', majority: 'registered' }],
    // The first case: one node at the threshold, two sidecars stopped.
    [
      'all: one at the threshold, two stopped healthy sidecars',
      [live('a', 12), stale('b', 0), stale('c', 0)],
      { any: 'failed', all: 'degraded', majority: 'degraded' },
    ],
    // The second case: 2 failed of 5 with 3 stale.
    [
      'majority: 2 failed of 5 with 3 stale',
      [live('a', 12), live('b', 12), stale('c', 0), stale('d', 0), stale('e', 0)],
      { any: 'failed', all: 'degraded', majority: 'degraded' },
    ],
    [
      '3 failed of 5 with 2 stale is a majority',
      [live('a', 12), live('b', 12), live('c', 12), stale('d', 0), stale('e', 0)],
      { any: 'failed', all: 'degraded', majority: 'failed' },
    ],
    [
      'a node that never attempted is counted and not failed',
      [live('a', 12), live('b', 12), never('c')],
      { any: 'failed', all: 'degraded', majority: 'failed' },
    ],
    [
      'one failed node and one that never attempted (1 of 2 is no majority)',
      [live('a', 12), never('b')],
      { any: 'failed', all: 'degraded', majority: 'degraded' },
    ],
    ['a never-attempted node alone does not degrade', [live('a', 0), never('b')], { any: 'registered', all: 'registered', majority: 'registered' }],
  ];
  const flat = cases.flatMap(([label, nodes, expected]) =>
    (['any', 'all', 'majority'] as const).map((p) => [`${p}: ${label}`, p, nodes, expected[p]] as const),
  );
  it.each(flat)('%s', (_label, p, nodes, expected) => {
    expect(view(nodes, p).status).toBe(expected);
  });

  it('any: a failing node that goes stale stays visible', () => {
    const v = view([stale('a', 11), live('b', 0), live('c', 0)], 'any');
    expect(v.status).toBe('degraded');
    expect(v.nodes[0]).toMatchObject({ id: 'a', status: 'stale', consecutiveFailures: 11 });
    expect(v.nodes[0]?.reason?.name).toBe('LICENSE_IP_ERROR');
    expect(v.nodes[0]?.latestReason?.name).toBe('CONNECTION_FAILED');
    // Its worst case: last attempt 5 h ago + 1 interval → overdue → lockout 0, not 23.5 h.
    expect(v.lockoutSeconds).toBe(0);
  });

  const forecast: Array<[string, FailurePolicy, NodeRecord[], number]> = [
    // failsAt: a (stale, 6, 5 h ago) = +7 h; b (live, 0, 10 min ago) = +23 h 50 m; c never = +22 h.
    ['any: the stale node decides', 'any', [stale('a', 6), live('b', 0), never('c')], 7 * 3600],
    ['majority: the second instant, the never-attempted node', 'majority', [stale('a', 6), live('b', 0), never('c')], 22 * 3600],
    ['all: the latest instant', 'all', [stale('a', 6), live('b', 0), never('c')], 23 * 3600 + 50 * 60],
    ['all: a stale healthy node out for 25 h is overdue at its worst case', 'all', [node('a', 0, 25 * HOUR), node('b', 0, 25 * HOUR)], 0],
    ['any: a stale node at 0 failures, 5 h ago', 'any', [stale('a', 0)], 19 * 3600],
  ];
  it.each(forecast)('lockout forecast, %s', (_label, p, nodes, seconds) => {
    expect(view(nodes, p).lockoutSeconds).toBe(seconds);
  });
});
