import { nextVerdict, verdictApplies, type HeldVerdict } from '../../daemon/agent/held-verdict';
import type { CachedCredential } from '../../daemon/agent/local-state';
import { cachedCredential } from '../support/cached-credential';

/** Which failed verdict a node keeps, to restore it after a loss of Redis data. */
const credential = (generation: number, registeredAt: number): CachedCredential => cachedCredential({ generation, registeredAt });
const failed = { status: 'failed', since: '100', epoch: '4', failedAt: '100', generation: '2' };
const held: HeldVerdict = { since: '100', epoch: '4', failedAt: '100', generation: '2', registeredAt: '50' };

describe('held failed verdict', () => {
  it('is taken from a failed status about the current credential', () => {
    expect(nextVerdict(null, failed, credential(2, 50))).toEqual({ ...held, registration: 'g2' });
  });

  it('is not taken from a failed status about another generation', () => {
    expect(nextVerdict(null, { ...failed, generation: '1' }, credential(2, 50))).toBeNull();
  });

  it('is kept while Redis shows a status that is not failed for the same registration (what a loss leaves)', () => {
    expect(nextVerdict(held, {}, credential(2, 50))).toBe(held);
    expect(nextVerdict(held, { status: 'degraded', generation: '2' }, credential(2, 50))).toBe(held);
  });

  it('is dropped once register stored a new credential (new generation, or same generation after a loss but a new registeredAt)', () => {
    expect(nextVerdict(held, { status: 'unregistered', generation: '3' }, credential(3, 90))).toBeNull();
    expect(nextVerdict(held, {}, credential(2, 90))).toBeNull();
    expect(verdictApplies(held, credential(2, 90))).toBe(false);
  });

  it('is kept when no credential could be read', () => {
    expect(nextVerdict(held, {}, null)).toBe(held);
    expect(verdictApplies(held, null)).toBe(false);
  });
});
