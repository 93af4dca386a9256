import { parseCredential } from '../../../daemon/credentials/credential-store';
import { ProjectViewReader } from '../../../daemon/view/project-view';
import { createLogger } from '../../../shared/logger';
import { MODEL_POLICY, type ModelNode, type RecordingWorld } from './world';

/**
 * The plain model the recording protocol is checked against: for each node, the
 * attempts the server answered, in the order they were made, each with the
 * registration of the credential it used; and the registrations whose `failed`
 * verdict was written. Everything the oracle expects follows from these by rules
 * short enough to read at once (R2-R5): one answered attempt is one count; a node's
 * streak under a registration is its trailing run of failures among the attempts made
 * under it; the project is `failed` when a streak of the current registration reaches
 * the threshold (policy `any`), and stays so once written, until a `register`.
 */

export interface ModelState {
  /** Registrations whose `failed` verdict was seen written (identity strings). */
  failedSeen: Set<string>;
  /** The next attempt id's number. */
  nextAttempt: number;
}

export function initialModel(): ModelState {
  return { failedSeen: new Set(), nextAttempt: 1 };
}

/** A broken invariant: which, and what was seen. */
export class InvariantError extends Error {
  constructor(invariant: string, detail: Record<string, unknown>) {
    super(`${invariant}: ${JSON.stringify(detail)}`);
    this.name = 'InvariantError';
  }
}

interface Answered {
  attemptId: string;
  ok: boolean;
  registration: string;
  atRisk: boolean;
}

/**
 * The node's answered attempts, less those it named as lost (a log line; the counter
 * moves with it), each with the registration of the credential it used as the world
 * recorded it (by ciphertext), not as the code under test names it.
 */
function counted(node: ModelNode, world: RecordingWorld): Answered[] {
  const lost = node.lostIds();
  return node.answered
    .filter((a) => !lost.has(a.attemptId))
    .map((a) => ({ attemptId: a.attemptId, ok: a.ok, registration: world.credentialOf(a.credential.ciphertext)?.registration ?? '?', atRisk: a.atRisk }));
}

/** The attempts surely counted: an answer that died with its process before anything held it may be missing. */
function sure(attempts: readonly Answered[]): Answered[] {
  return attempts.filter((a) => !a.atRisk);
}

/** Trailing failures among the attempts made under `registration` (R3 on the model). */
export function modelStreak(attempts: readonly Answered[], registration: string): number {
  let streak = 0;
  for (const a of attempts) if (a.registration === registration) streak = a.ok ? 0 : streak + 1;
  return streak;
}

/**
 * The longest run of failures under `registration` at any time: whether a `failed` verdict about it could
 * ever be right. A success that died with its process may never have been recorded: it breaks no run.
 */
function longestRun(attempts: readonly Answered[], registration: string): number {
  let run = 0;
  let longest = 0;
  for (const a of attempts) {
    if (a.registration !== registration || (a.ok && a.atRisk)) continue;
    run = a.ok ? 0 : run + 1;
    longest = Math.max(longest, run);
  }
  return longest;
}

const isInt = (v: string | undefined): boolean => v !== undefined && /^-?\d+$/.test(v);

/** Checked after every command, whatever state the faults left Redis and the nodes in. */
export async function checkAlways(world: RecordingWorld, model: ModelState): Promise<void> {
  const { admin, keys } = world;
  for (const node of world.nodes) {
    const attempts = counted(node, world);
    const all = new Set(node.answered.map((a) => a.attemptId));
    const type = await admin.type(keys.node(node.id));
    if (type === 'hash') {
      const record = await admin.hgetall(keys.node(node.id));
      // A record names the registration whose streak it holds: one that was made.
      if (record.registration && !world.registrations.includes(record.registration))
        throw new InvariantError('a record of a registration nobody made', { node: node.id, registration: record.registration });
      // Never counted twice (R2): a record holds at most what was answered.
      if (isInt(record.attemptsTotal) && Number(record.attemptsTotal) > node.answered.length)
        throw new InvariantError('an attempt counted twice', { node: node.id, attemptsTotal: record.attemptsTotal, answered: node.answered.length });
      const failures = node.answered.filter((a) => !a.ok).length;
      if (isInt(record.failuresTotal) && Number(record.failuresTotal) > failures)
        throw new InvariantError('a failure counted twice', { node: node.id, failuresTotal: record.failuresTotal, failures });
      // A streak never holds more failures than were made in a row under its registration (a newer result may still be on its way).
      if (isInt(record.consecutiveFailures) && record.registration && Number(record.consecutiveFailures) > longestRun(attempts, record.registration))
        throw new InvariantError('a streak longer than the failures made under its registration', {
          node: node.id,
          consecutiveFailures: record.consecutiveFailures,
          longestRun: longestRun(attempts, record.registration),
        });
    }
    // No phantom ids: every recorded id is an attempt the server answered.
    if ((await admin.type(keys.attempts(node.id))) === 'zset') {
      const ids = await admin.zrange(keys.attempts(node.id), '0', '-1');
      const phantom = ids.filter((id) => !all.has(id));
      if (phantom.length > 0) throw new InvariantError('an attempt id nobody answered', { node: node.id, phantom });
    }
  }
  const credential = (await admin.type(keys.credential)) === 'hash' ? await admin.hgetall(keys.credential) : {};
  if (credential.ciphertext && !world.credentialOf(credential.ciphertext))
    throw new InvariantError('a credential nobody stored', { registration: credential.registration ?? null });
  if (credential.registration && !world.registrations.includes(credential.registration))
    throw new InvariantError('a credential of a registration nobody made', { registration: credential.registration });
  const status = (await admin.type(keys.status)) === 'hash' ? await admin.hgetall(keys.status) : {};
  if (status.status === 'failed' && status.registration) {
    model.failedSeen.add(status.registration);
    // Nothing unknown ever produces `failed` (R5): some node's failures under that registration reached the threshold.
    const justified = world.nodes.some((n) => longestRun(counted(n, world), status.registration as string) >= MODEL_POLICY.threshold);
    if (!justified) throw new InvariantError('a failed verdict no streak justifies', { registration: status.registration });
  }
  // Sticky (R5): once `failed` was written for a registration, no other status about it is written — through any
  // loss. A status that names no registration is about whichever is current (the latest made).
  const about = status.registration || world.registrations[world.registrations.length - 1];
  if (status.status && status.status !== 'failed' && about && model.failedSeen.has(about))
    throw new InvariantError('a failed project un-failed', { status: status.status, registration: status.registration ?? null });
}

/**
 * After every node is up, reachable and synchronised, and a leader has aggregated:
 * everything answered is counted once, streaks and verdict are the model's, and the
 * stored credential is the newest any node holds.
 */
export async function checkSettled(world: RecordingWorld, model: ModelState): Promise<void> {
  const { admin, keys } = world;
  const stored = parseCredential(await admin.hgetall(keys.credential));
  const storedOrder = world.credentialOf(stored?.ciphertext);
  // No credential stored, with the status naming a registration no node holds: that registration's
  // credential was deleted, and no restore may bring back an older one (R5). The project waits for `register`.
  const statusRegistration = (await admin.type(keys.status)) === 'hash' ? await admin.hget(keys.status, 'registration') : null;
  const superseded = !stored && statusRegistration !== null && !world.nodes.some((n) => n.local.get().credential?.registration === statusRegistration);
  if (superseded) return;
  for (const node of world.nodes) {
    if (node.sink.pending > 0) throw new InvariantError('results left in a journal after Redis answered again', { node: node.id, pending: node.sink.pending });
    const held = node.local.get().credential;
    const heldOrder = world.credentialOf(held?.ciphertext);
    if (held && heldOrder && (!storedOrder || heldOrder.order > storedOrder.order))
      throw new InvariantError('a node holds a newer credential than the one stored', {
        node: node.id,
        held: { registration: held.registration, revisedAt: held.revisedAt },
        stored: stored && { registration: stored.registration, revisedAt: stored.revisedAt },
      });
  }
  if (!stored) return;
  const view = await new ProjectViewReader({ redis: admin, keys, policy: MODEL_POLICY, log: createLogger({ level: 'silent' }) }).read();
  // The registration of the stored credential as the world knows it (by its ciphertext).
  const storedRegistration = storedOrder?.registration ?? stored.registration;
  let mustFail = model.failedSeen.has(storedRegistration);
  for (const node of world.nodes) {
    const attempts = counted(node, world);
    const record = (await admin.type(keys.node(node.id))) === 'hash' ? await admin.hgetall(keys.node(node.id)) : {};
    const repaired = node.lines.some((l) => l.msg === 'Skipped a Redis record that does not parse');
    const total = Number(record.attemptsTotal ?? 0);
    if (!repaired && (total < sure(attempts).length || total > attempts.length))
      throw new InvariantError('an answered attempt not counted once', {
        node: node.id,
        attemptsTotal: record.attemptsTotal ?? null,
        answered: attempts.length,
        atRisk: attempts.length - sure(attempts).length,
      });
    // Answers that died with their process count only if they were recorded; the streak follows what was.
    const recordedIds = new Set((await admin.type(keys.attempts(node.id))) === 'zset' ? await admin.zrange(keys.attempts(node.id), '0', '-1') : []);
    const expected = modelStreak(
      attempts.filter((a) => !a.atRisk || recordedIds.has(a.attemptId)),
      storedRegistration,
    );
    const seen = view.nodes.find((n) => n.id === node.id);
    const counts = seen !== undefined && seen.status !== 'unregistered';
    const actual = counts ? seen.consecutiveFailures : 0;
    // When every copy of the latest registration was lost (Redis emptied before any node read it), the one
    // a node held comes back; results made meanwhile were judged against the lost one, so its streaks are
    // what the nodes recorded, not the model's. The streak rule is checked for the latest registration.
    const latest = storedRegistration === world.registrations[world.registrations.length - 1];
    if (latest && actual !== expected && !repaired)
      throw new InvariantError('a streak that is not the model streak of the current registration', {
        node: node.id,
        actual,
        expected,
        status: seen?.status ?? null,
      });
    if (latest ? expected >= MODEL_POLICY.threshold : actual >= MODEL_POLICY.threshold) mustFail = true;
  }
  if ((view.status === 'failed') !== mustFail)
    throw new InvariantError(mustFail ? 'a project the rules fail is not failed' : 'a failed project the rules do not fail', {
      status: view.status,
      stored: view.stored?.status ?? null,
    });
}
