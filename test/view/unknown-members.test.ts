import { computeView, type ClusterSnapshot, type FailurePolicy, type UnknownMember } from '../../daemon/view/compute-view';
import { buildStatusJson } from '../../daemon/view/status-json';
import { renderStatus } from '../../daemon/view/text-tables';
import type { NodeRecord } from '../../shared/redis/records';

/**
 * Unknown members at the rule level: a member whose record is missing (Redis lost it while
 * the member's sidecar was down) or unreadable (corrupt, a key of the wrong type) is an
 * unknown member — counted in the policy's denominator, never as failed (SPEC R5).
 * The cases are the ones reproduced with real sidecars: policy `all`, n1 failing at
 * the threshold, n2 lost by a FLUSHALL or damaged by hand. And a stored
 * `failed` is a verdict about one credential generation.
 */
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const THRESHOLD = 2;

function record(id: string, consecutiveFailures: number, extra: Partial<NodeRecord> = {}): NodeRecord {
  const at = NOW - 10 * 60_000;
  const reason = consecutiveFailures > 0 ? { code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', at, attemptId: 'a' } : null;
  return {
    id,
    consecutiveFailures,
    reason,
    latestReason: reason,
    lastAttemptAt: at,
    lastAttemptId: 'a',
    lastSuccessAt: consecutiveFailures === 0 ? at : null,
    attemptsTotal: 3,
    failuresTotal: consecutiveFailures,
    license: { expiresAt: null, capacity: null, bound: null },
    generation: 1,
    registration: 'g1',
    ...extra,
  };
}

function view(nodes: NodeRecord[], unknown: UnknownMember[], failurePolicy: FailurePolicy, extra: Partial<ClusterSnapshot> = {}) {
  const snapshot: ClusterSnapshot = {
    project: 'p',
    now: NOW,
    nodes,
    credential: { account: 'acme', generation: 1, registration: 'g1' },
    stored: null,
    leader: null,
    ...extra,
  };
  // Spread, not a literal field: the same test runs on a reader that knows no unknown members.
  return computeView({ ...snapshot, ...{ unknown } }, { failurePolicy, threshold: THRESHOLD, intervalMs: 2 * HOUR });
}

describe('unknown members (R5)', () => {
  it.each<[string, FailurePolicy, NodeRecord[], UnknownMember[], string]>([
    ['all: n2 lost by a data loss keeps the project degraded', 'all', [record('n1', THRESHOLD)], [{ id: 'n2', why: 'missing' }], 'degraded'],
    ['all: n2 damaged keeps the project degraded', 'all', [record('n1', THRESHOLD)], [{ id: 'n2', why: 'unreadable' }], 'degraded'],
    [
      'all: every known member failed, one unknown: not failed',
      'all',
      [record('n1', THRESHOLD), record('n3', THRESHOLD + 3)],
      [{ id: 'n2', why: 'missing' }],
      'degraded',
    ],
    ['majority: 1 failed of 1 known + 1 unknown is not a majority', 'majority', [record('n1', THRESHOLD)], [{ id: 'n2', why: 'unreadable' }], 'degraded'],
    [
      'majority: 2 failed of 2 known + 1 unknown is a majority',
      'majority',
      [record('n1', THRESHOLD), record('n3', THRESHOLD)],
      [{ id: 'n2', why: 'missing' }],
      'failed',
    ],
    [
      'majority: 2 failed of 2 known + 2 unknown is not',
      'majority',
      [record('n1', THRESHOLD), record('n3', THRESHOLD)],
      [
        { id: 'n2', why: 'missing' },
        { id: 'n4', why: 'unreadable' },
      ],
      'degraded',
    ],
    ['any: a failed node fails the project whatever is unknown', 'any', [record('n1', THRESHOLD)], [{ id: 'n2', why: 'missing' }], 'failed'],
    ['any: an unknown member alone never fails it', 'any', [record('n1', 0)], [{ id: 'n2', why: 'unreadable' }], 'registered'],
    ['all: healthy known members and an unknown one are registered', 'all', [record('n1', 0)], [{ id: 'n2', why: 'missing' }], 'registered'],
  ])('%s', (_label, policy, nodes, unknown, expected) => {
    const v = view(nodes, unknown, policy);
    expect(v.status).toBe(expected);
    expect(v.computedStatus).toBe(expected);
    // Listed apart from the nodes (whose statuses are what their records say), sorted.
    expect(v.unknownMembers).toEqual([...unknown].sort((a, b) => a.id.localeCompare(b.id)));
    expect(v.nodes.map((n) => n.id)).toEqual(nodes.map((n) => n.id).sort());
  });

  it('enters the lockout forecast as a node yet to attempt, so `all` waits for it', () => {
    // n1 fails at its next attempt; n2 is unknown: its worst case is a catch-up at once
    // and threshold − 1 more intervals.
    const v = view([record('n1', THRESHOLD - 1)], [{ id: 'n2', why: 'missing' }], 'all');
    expect(v.status).toBe('degraded');
    expect(v.lockoutSeconds).toBe(((THRESHOLD - 1) * 2 * HOUR) / 1000);
  });

  it('shows them in status --json and the status text, never as a node row', () => {
    const v = view([record('n1', THRESHOLD)], [{ id: 'n2', why: 'unreadable' }], 'all');
    const json = buildStatusJson(v);
    expect(json.unknownMembers).toEqual([{ id: 'n2', why: 'unreadable' }]);
    expect(json.nodes.map((n) => n.id)).toEqual(['n1']);
    expect(renderStatus(v).replace(/\s+/g, ' ')).toMatch(/Unknown n2 \(record unreadable\): counted as members of the project, never as failed/);
  });

  it('a member both read and listed unknown counts once', () => {
    const v = view([record('n1', THRESHOLD)], [{ id: 'n1', why: 'missing' }], 'all');
    expect(v.unknownMembers).toEqual([]);
    expect(v.status).toBe('failed');
  });
});

describe('a stored verdict applies only to its own generation (R5)', () => {
  it('a `failed` about generation 1 does not fail a project registered again as generation 2', () => {
    const stored = { status: 'failed' as const, since: NOW - HOUR, epoch: 3, failedAt: NOW - HOUR, generation: 1, registration: 'g1' };
    const v = view([record('n1', 0, { generation: 2, registration: 'g2' })], [], 'any', {
      credential: { account: 'acme', generation: 2, registration: 'g2' },
      stored,
    });
    expect(v.status).toBe('registered');
    expect(view([record('n1', 0)], [], 'any', { stored }).status).toBe('failed');
  });
});

describe('the status text on a healthy project', () => {
  it('states the guarantee calmly instead of a lockout countdown; a degraded one keeps the countdown', () => {
    const healthy = renderStatus(view([record('n1', 0)], [], 'any')).replace(/\s+/g, ' ');
    expect(healthy).toMatch(/REGISTERED — stays registered 3h 50m even if every attempt fails Policy/);
    expect(healthy).not.toMatch(/lockout in/);
    const degraded = renderStatus(view([record('n1', 1)], [], 'any')).replace(/\s+/g, ' ');
    expect(degraded).toMatch(/DEGRADED — lockout in \d+h \d+m if every attempt fails from now/);
  });
});
