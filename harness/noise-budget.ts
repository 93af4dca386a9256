/**
 * The test suite's noise budget (test/README.md, "The noise budget"): every test that
 * runs real processes keeps its healthy path while any ONE of its processes — a
 * sidecar, a Redis, the reference server, Prometheus, Alertmanager or the jest worker
 * itself — is stalled for up to STALL_MS. The settings below follow from that budget;
 * a test that picks its own says why it still holds the budget (or why it is about
 * the stall itself).
 */

/** The longest stall of any one process that a healthy path must survive. */
export const STALL_MS = 3000;

/**
 * A healthy node is not stale. R6 calls a node stale after 1.5 × interval without a
 * recorded attempt, so the next attempt may be late by at most interval / 2: a stall
 * plus one attempt (up to a second on a loaded machine) must fit in it, with a second
 * to spare — interval / 2 ≥ STALL_MS + 1 s.
 */
export const HEALTHY_INTERVAL_MS = 2 * (STALL_MS + 1000);

/**
 * The agent's request timeout: a reference server stalled for STALL_MS still answers
 * in time (2 s more for the request itself on a loaded machine). A shorter timeout
 * turns a stalled server into CONNECTION_FAILED on a healthy node.
 */
export const AUTH_TIMEOUT_MS = STALL_MS + 2000;

/**
 * Leadership: a leader stalled for STALL_MS right after a renewal still renews before
 * its lease runs out (renew + stall < lease, with 2 s to spare), and a Redis stalled as
 * long keeps the lease key (its TTL is the lease).
 */
export const LEADER_RENEW_MS = 1000;
export const LEADER_LEASE_MS = LEADER_RENEW_MS + STALL_MS + 2000;

/** The sidecar environment that follows from the budget, for tests that elect a leader. */
export const LEADER_ENV: Readonly<Record<string, string>> = {
  CLOUDAUTH_LEADER_LEASE: `${LEADER_LEASE_MS}ms`,
  CLOUDAUTH_LEADER_RENEW: `${LEADER_RENEW_MS}ms`,
};

/**
 * How long to wait for something that takes `periods` heartbeats: the periods
 * themselves, plus a stall and a start-up for each process that could delay it.
 */
export function heartbeatsWaitMs(periods: number, intervalMs = HEALTHY_INTERVAL_MS): number {
  return periods * intervalMs + 4 * STALL_MS + 10_000;
}

/**
 * How long a helper waits for a process it started to be up (a sidecar's /healthz, the
 * reference server's URL). Start-up is never what a test asserts, and on a loaded
 * machine a Node process can take many seconds to load its modules: the bound is
 * there only so a process that never comes up fails the test by name.
 */
export const START_BOUND_MS = 60_000;

/**
 * The shortest heartbeat a test may use when it needs many attempts and asserts no
 * freshness (attempts made while Redis fails over, streaks and reasons): the agent
 * cuts an attempt at 0.8 × interval (its budget), and that budget must still hold the
 * answer of a server stalled for STALL_MS, plus a second for the attempt itself. A
 * shorter heartbeat turns a stalled server into CONNECTION_FAILED on a healthy node.
 */
export const BUSY_INTERVAL_MS = Math.ceil((STALL_MS + 1000) / 0.8);
