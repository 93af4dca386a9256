import { Writable } from 'node:stream';
import { changesStatusInputs, parseChangeEvent, type ChangeEvent } from '../../shared/redis/change-events';
import { createLogger } from '../../shared/logger';

/**
 * The change-event contract: every event type is accepted with its fields, as the Lua
 * scripts publish it (cjson's encoding; published-events.test.ts runs the publishers); a
 * message that is not JSON, has no known type, or lacks a field or has one of the wrong
 * kind is refused, quietly for an unknown type and with a warning naming the fields for
 * a known one; and which events make the aggregator read the project again.
 */

/** One of each, written as its publisher writes it. */
const PUBLISHED: Record<ChangeEvent['type'], string> = {
  attempt: '{"type":"attempt","node":"n1","attemptId":"slot:1700000000000","ok":false}',
  registered: '{"type":"registered","generation":3,"registration":"r1765000000.000001-0a1b2c3d4e5f6a7b"}',
  'node-removed': '{"type":"node-removed","node":"n2"}',
  restored: '{"type":"restored","node":"n1","restored":["credential","node"]}',
  status: '{"type":"status","status":"failed","epoch":7}',
  'leader-released': '{"type":"leader-released","instance":"n1:host:1:ab","epoch":7}',
};

function capturing(): { log: ReturnType<typeof createLogger>; lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const destination = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: string; msg: string });
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), lines };
}

describe('accepted', () => {
  it.each(Object.entries(PUBLISHED))('%s, with its fields', (type, raw) => {
    expect(parseChangeEvent(raw)).toEqual({ type, ...(JSON.parse(raw) as object) });
  });

  it('keeps fields it does not know (a newer publisher may add some)', () => {
    expect(parseChangeEvent('{"type":"node-removed","node":"n2","by":"admin"}')).toEqual({ type: 'node-removed', node: 'n2', by: 'admin' });
  });

  it('every project status', () => {
    for (const status of ['registered', 'degraded', 'failed', 'unregistered']) {
      expect(parseChangeEvent(JSON.stringify({ type: 'status', status, epoch: 1 }))).toMatchObject({ status });
    }
  });
});

describe('refused', () => {
  it.each([
    ['not JSON', '{"type":"attempt"'],
    ['JSON that is not an object', '"attempt"'],
    ['null', 'null'],
    ['no type', '{"node":"n1"}'],
    ['a type that is not a string', '{"type":1}'],
    ['an unknown type', '{"type":"rebalanced","node":"n1"}'],
    ['a type from the object prototype', '{"type":"constructor"}'],
  ])('%s, quietly (debug)', (_what, raw) => {
    const { log, lines } = capturing();
    expect(parseChangeEvent(raw, log)).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'debug', msg: 'Ignored a change event of no type this release knows' })]);
  });

  it.each([
    ['attempt without attemptId', { type: 'attempt', node: 'n1', ok: true }, ['attemptId']],
    ['attempt whose ok is not a boolean', { type: 'attempt', node: 'n1', attemptId: 'a', ok: 1 }, ['ok']],
    ['attempt with an empty node', { type: 'attempt', node: '', attemptId: 'a', ok: true }, ['node']],
    ['registered whose generation is text', { type: 'registered', generation: '3', registration: 'r1' }, ['generation']],
    ['registered whose generation is not an integer', { type: 'registered', generation: 1.5, registration: 'r1' }, ['generation']],
    ['registered without its registration identity', { type: 'registered', generation: 3 }, ['registration']],
    ['node-removed without node', { type: 'node-removed' }, ['node']],
    ['restored whose list is not of strings', { type: 'restored', node: 'n1', restored: ['node', 2] }, ['restored']],
    ['restored whose list is an object (cjson encodes an empty table so)', { type: 'restored', node: 'n1', restored: {} }, ['restored']],
    ['status of no project status', { type: 'status', status: 'ok', epoch: 1 }, ['status']],
    ['status without epoch', { type: 'status', status: 'failed' }, ['epoch']],
    ['leader-released with neither instance nor epoch', { type: 'leader-released' }, ['instance', 'epoch']],
  ])('%s, with a warning naming the fields', (_what, event, fields) => {
    const { log, lines } = capturing();
    expect(parseChangeEvent(JSON.stringify(event), log)).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'Ignored a change event whose fields do not fit its type', fields })]);
  });
});

describe('what the aggregator reads the project again on', () => {
  it('a change of what the status is computed from, not its own status nor a leadership hand-over', () => {
    const rereads = Object.values(PUBLISHED)
      .map((raw) => parseChangeEvent(raw) as ChangeEvent)
      .filter(changesStatusInputs)
      .map((event) => event.type);
    expect(rereads).toEqual(['attempt', 'registered', 'node-removed', 'restored']);
  });
});
