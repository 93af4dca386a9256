import fc from 'fast-check';
import type { Outcome } from '../../../daemon/protocol/classify';
import { checkAlways, checkSettled, type ModelState } from './oracle';
import type { RecordingWorld } from './world';

/**
 * The commands of the recording model (fast-check's `fc.commands`): what a site meets,
 * one event at a time — an answered attempt, Redis away and back for one node, a
 * crash at a chosen local write, a restart, FLUSHALL with connections open or closed,
 * DEL of any project or node key, a field written as a float, a string or a wrong
 * type, a clock step either way, `register`, `crypto switch`, a leader change. After
 * each one the oracle's invariants are checked; `Settle` (also run at the end of
 * every sequence) brings every node back and checks what must hold once Redis answers.
 */

type Cmd = fc.AsyncCommand<ModelState, RecordingWorld>;

const DAY = 86_400_000;
const OUTCOMES: Record<string, Outcome> = {
  ok: { ok: true, license: { expiresAt: null, capacity: 5, bound: 1 } },
  'ip-error': { ok: false, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip not allowed', transient: false },
  unreachable: { ok: false, code: null, name: 'CONNECTION_FAILED', message: 'connect ECONNREFUSED', transient: true },
};
type OutcomeName = keyof typeof OUTCOMES;

abstract class Base implements Cmd {
  check(): boolean {
    return true;
  }
  abstract apply(model: ModelState, world: RecordingWorld): Promise<void>;
  async run(model: ModelState, world: RecordingWorld): Promise<void> {
    await this.apply(model, world);
    await checkAlways(world, model);
  }
  abstract toString(): string;
}

class Attempt extends Base {
  constructor(
    private readonly node: string,
    private readonly outcome: OutcomeName,
  ) {
    super();
  }
  async apply(model: ModelState, world: RecordingWorld): Promise<void> {
    await world.node(this.node).attempt(`m-${model.nextAttempt++}`, OUTCOMES[this.outcome] as Outcome);
  }
  toString(): string {
    return `attempt(${this.node}, ${this.outcome})`;
  }
}

class Away extends Base {
  constructor(private readonly node: string) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.node(this.node).disconnect();
  }
  toString(): string {
    return `redisAway(${this.node})`;
  }
}

class Back extends Base {
  constructor(private readonly node: string) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.node(this.node).connect();
  }
  toString(): string {
    return `redisBack(${this.node})`;
  }
}

/** The process is killed after `writes` more local writes (0: before the first), mid-attempt when `outcome` is given, else mid-sync. */
class Crash extends Base {
  constructor(
    private readonly node: string,
    private readonly outcome: OutcomeName | null,
    private readonly writes: number,
  ) {
    super();
  }
  async apply(model: ModelState, world: RecordingWorld): Promise<void> {
    const node = world.node(this.node);
    if (this.outcome) return node.crash(`m-${model.nextAttempt++}`, OUTCOMES[this.outcome] as Outcome, this.writes);
    // Mid-replay: Redis answers again and the sync runs into the frozen disk.
    await node.crash(null, OUTCOMES.ok as Outcome, this.writes);
  }
  toString(): string {
    return `crash(${this.node}, ${this.outcome ? `attempt ${this.outcome}` : 'sync'}, after ${this.writes} local writes)`;
  }
}

class CrashMidSync extends Base {
  constructor(
    private readonly node: string,
    private readonly writes: number,
  ) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    const node = world.node(this.node);
    if (node.down) return;
    node.disk.freezeAfter(this.writes);
    await node.connect();
    await node.crash(null, OUTCOMES.ok as Outcome, 0);
  }
  toString(): string {
    return `crashMidSync(${this.node}, after ${this.writes} local writes)`;
  }
}

class Restart extends Base {
  constructor(private readonly node: string) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    const node = world.node(this.node);
    if (!node.down) await node.crash(null, OUTCOMES.ok as Outcome, Infinity);
    await node.start();
  }
  toString(): string {
    return `restart(${this.node})`;
  }
}

class FlushAll extends Base {
  constructor(private readonly closed: boolean) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    const reachable = world.nodes.filter((n) => n.reachable);
    if (this.closed) for (const n of reachable) await n.disconnect();
    await world.admin.flushall();
    if (this.closed) for (const n of reachable) await n.connect();
  }
  toString(): string {
    return `flushall(connections ${this.closed ? 'closed' : 'open'})`;
  }
}

const ROLES = ['credential', 'status', 'nodes', 'node', 'attempts', 'history'] as const;
type Role = (typeof ROLES)[number];

function keyOf(world: RecordingWorld, role: Role, node: string): string {
  const k = world.keys;
  return { credential: k.credential, status: k.status, nodes: k.nodes, node: k.node(node), attempts: k.attempts(node), history: k.history(node) }[role];
}

class Del extends Base {
  constructor(
    private readonly role: Role,
    private readonly node: string,
  ) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.admin.del(keyOf(world, this.role, this.node));
  }
  toString(): string {
    return `del(${this.role}${['node', 'attempts', 'history'].includes(this.role) ? ` of ${this.node}` : ''})`;
  }
}

/** A field of a node record written by another tool. */
class WriteField extends Base {
  constructor(
    private readonly node: string,
    private readonly field: string,
    private readonly value: string,
  ) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    const key = world.keys.node(this.node);
    if ((await world.admin.type(key)) === 'hash') await world.admin.hset(key, this.field, this.value);
  }
  toString(): string {
    return `hset(${this.node}.${this.field} = ${JSON.stringify(this.value)})`;
  }
}

/** A node key replaced by a value of the wrong type. */
class WrongType extends Base {
  constructor(
    private readonly role: 'node' | 'attempts' | 'history',
    private readonly node: string,
  ) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.admin.set(keyOf(world, this.role, this.node), 'not-what-it-should-be');
  }
  toString(): string {
    return `wrongType(${this.role} of ${this.node})`;
  }
}

class ClockStep extends Base {
  constructor(
    private readonly node: string,
    private readonly ms: number,
  ) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    const clock = world.node(this.node).clock;
    clock.set(clock.now() + this.ms);
  }
  toString(): string {
    return `clockStep(${this.node}, ${this.ms / 3_600_000} h)`;
  }
}

class Register extends Base {
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.register();
  }
  toString(): string {
    return 'register';
  }
}

class CryptoSwitch extends Base {
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.cryptoSwitch();
  }
  toString(): string {
    return 'cryptoSwitch';
  }
}

class LeaderSweep extends Base {
  constructor(private readonly node: string) {
    super();
  }
  async apply(_m: ModelState, world: RecordingWorld): Promise<void> {
    await world.leaderSweep(world.node(this.node));
  }
  toString(): string {
    return `leader(${this.node}) aggregates`;
  }
}

/** Every node back up and reachable, synchronised, a leader's pass; then what must hold once Redis answers. */
export class Settle extends Base {
  async apply(model: ModelState, world: RecordingWorld): Promise<void> {
    for (const n of world.nodes) if (n.down) await n.start();
    for (const n of world.nodes) if (!n.reachable) await n.connect();
    // Each node puts back what it holds; a second pass lets a newer holder follow an older one.
    for (let pass = 0; pass < 2; pass++) for (const n of world.nodes) await n.sync();
    await world.leaderSweep(world.nodes[0] as never);
    await checkAlways(world, model);
    await checkSettled(world, model);
  }
  toString(): string {
    return 'settle';
  }
}

/** The command arbitraries, weighted so that attempts (the protocol's traffic) are the most frequent. */
export function commandArbitraries(nodeIds: readonly string[]): Array<fc.Arbitrary<Cmd>> {
  const node = fc.constantFrom(...nodeIds);
  const outcome = fc.constantFrom<OutcomeName>('ok', 'ip-error', 'ip-error', 'unreachable');
  const weighted = <T>(arb: fc.Arbitrary<T>, weight: number): Array<fc.Arbitrary<T>> => Array.from({ length: weight }, () => arb);
  return [
    ...weighted(
      fc.tuple(node, outcome).map(([n, o]) => new Attempt(n, o) as Cmd),
      8,
    ),
    ...weighted(
      node.map((n) => new Away(n) as Cmd),
      2,
    ),
    ...weighted(
      node.map((n) => new Back(n) as Cmd),
      2,
    ),
    fc.tuple(node, fc.option(outcome, { nil: null }), fc.integer({ min: 0, max: 5 })).map(([n, o, w]) => new Crash(n, o, w) as Cmd),
    fc.tuple(node, fc.integer({ min: 0, max: 4 })).map(([n, w]) => new CrashMidSync(n, w) as Cmd),
    node.map((n) => new Restart(n) as Cmd),
    fc.boolean().map((closed) => new FlushAll(closed) as Cmd),
    fc.tuple(fc.constantFrom(...ROLES), node).map(([r, n]) => new Del(r, n) as Cmd),
    fc
      .tuple(node, fc.constantFrom('consecutiveFailures', 'attemptsTotal', 'failuresTotal', 'lastAttemptAt'), fc.constantFrom('2.0', '1e3', ' 7', 'x', '0x10'))
      .map(([n, f, v]) => new WriteField(n, f, v) as Cmd),
    fc.tuple(fc.constantFrom<'node' | 'attempts' | 'history'>('node', 'attempts', 'history'), node).map(([r, n]) => new WrongType(r, n) as Cmd),
    fc.tuple(node, fc.constantFrom(-31 * DAY, -3_600_000, 3_600_000, 31 * DAY)).map(([n, ms]) => new ClockStep(n, ms) as Cmd),
    fc.constant(new Register() as Cmd),
    fc.constant(new CryptoSwitch() as Cmd),
    ...weighted(
      node.map((n) => new LeaderSweep(n) as Cmd),
      2,
    ),
    fc.constant(new Settle() as Cmd),
  ];
}
