import type { Logger } from '../logger';
import { PROJECT_STATUSES, type ProjectStatus } from './records';

/**
 * The project's change events: the one contract between the Lua scripts that publish
 * on the events channel (`keys.events`, one per project) and the parts that listen
 * (through the subscriber in `change-event-subscriber.ts`). Pub/sub carries no
 * guarantee and no schema, so every message is checked here, type and fields, before
 * any listener sees it; the listeners switch on the typed union below.
 *
 * | event             | published by                                         | heard by                                                        |
 * |-------------------|------------------------------------------------------|-----------------------------------------------------------------|
 * | `attempt`         | `daemon/agent/lua/record-attempt-7.lua`              | aggregator (reads the project again)                            |
 * | `registered`      | `daemon/credentials/lua/register-5.lua`              | aggregator; agent (`authenticateNow`: every node at once)       |
 * | `node-removed`    | `daemon/credentials/lua/remove-node-6.lua` (unbind)  | aggregator                                                      |
 * | `restored`        | `daemon/agent/lua/restore-after-loss-8.lua`          | aggregator                                                      |
 * | `status`          | `daemon/aggregator/lua/write-status-5.lua`           | agent (`noteVerdict` on `failed`: every node holds the verdict) |
 * | `leader-released` | `daemon/aggregator/lua/release-2.lua` (its JSON made | leader election (candidates try at once)                        |
 * |                   | in `daemon/aggregator/leader-election.ts`)           |                                                                 |
 *
 * The aggregator's choice is `changesStatusInputs` below; the agent's is `Agent.hear`;
 * the election's is its `onEvent`. A message of a type this release does not know is
 * ignored quietly (a newer release may publish more during a rolling upgrade); one of
 * a known type whose fields do not fit is ignored with a warning (a broken contract).
 * Fields beyond those listed are kept, for the same reason.
 */

export type ChangeEvent =
  | { type: 'attempt'; node: string; attemptId: string; ok: boolean }
  | { type: 'registered'; generation: number; registration: string }
  | { type: 'node-removed'; node: string }
  | { type: 'restored'; node: string; restored: string[] }
  | { type: 'status'; status: ProjectStatus; epoch: number }
  | { type: 'leader-released'; instance: string; epoch: number };

export type ChangeEventType = ChangeEvent['type'];

type Check = (value: unknown) => boolean;

const text: Check = (value) => typeof value === 'string' && value !== '';
const integer: Check = (value) => Number.isSafeInteger(value);
const flag: Check = (value) => typeof value === 'boolean';
const texts: Check = (value) => Array.isArray(value) && value.every(text);
const projectStatus: Check = (value) => PROJECT_STATUSES.includes(value as ProjectStatus);

/** Each type's fields and how to check them; the mapped type makes a new event (or field) without a check a compile error. */
const FIELDS: { [T in ChangeEventType]: Record<Exclude<keyof Extract<ChangeEvent, { type: T }>, 'type'>, Check> } = {
  attempt: { node: text, attemptId: text, ok: flag },
  registered: { generation: integer, registration: text },
  'node-removed': { node: text },
  restored: { node: text, restored: texts },
  status: { status: projectStatus, epoch: integer },
  'leader-released': { instance: text, epoch: integer },
};

function isKnownType(type: string): type is ChangeEventType {
  return Object.hasOwn(FIELDS, type);
}

/**
 * The event a message on the channel carries, or undefined when it is not one this
 * release knows with the fields it needs (logged to `log` when given: debug for what
 * is not an event of ours, warn for a known type with missing or wrong fields).
 */
/** An event as its publisher writes it: typed, so a publisher in TypeScript cannot drift from the contract. */
export function changeEventJson(event: ChangeEvent): string {
  return JSON.stringify(event);
}

export function parseChangeEvent(raw: string, log?: Logger): ChangeEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || !('type' in value) || typeof value.type !== 'string' || !isKnownType(value.type)) {
    log?.debug({ length: raw.length }, 'Ignored a change event of no type this release knows');
    return undefined;
  }
  const fields: Record<string, unknown> = value as Record<string, unknown>;
  const wrong = Object.entries(FIELDS[value.type] as Record<string, Check>)
    .filter(([field, check]) => !check(fields[field]))
    .map(([field]) => field);
  if (wrong.length > 0) {
    log?.warn({ type: value.type, fields: wrong }, 'Ignored a change event whose fields do not fit its type');
    return undefined;
  }
  return value as ChangeEvent;
}

/**
 * True when the event changed what the project status is computed from (a node's
 * record, the members, the credential), so the leader's aggregator reads the project
 * again. Not `status` (the aggregator's own write) nor `leader-released` (leadership).
 */
export function changesStatusInputs(event: ChangeEvent): boolean {
  switch (event.type) {
    case 'attempt':
    case 'registered':
    case 'node-removed':
    case 'restored':
      return true;
    case 'status':
    case 'leader-released':
      return false;
  }
}
