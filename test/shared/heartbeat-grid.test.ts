import { nextSlot, slotAtOrBefore, stableOffset } from '../../shared/heartbeat-grid';

/**
 * The heartbeat grid (SPEC R1) that the agent's schedule, its own timer and the
 * page's timeline share: a stable offset per node, the next slot strictly after a
 * time, the slot at or before it.
 */

const INTERVAL = 60_000;
const OFFSET = stableOffset('p', 'n1', INTERVAL);

describe('the grid', () => {
  it('puts a node on a stable offset inside the interval, different nodes apart', () => {
    expect(OFFSET).toBe(stableOffset('p', 'n1', INTERVAL));
    expect(OFFSET).toBeGreaterThan(0);
    expect(OFFSET).toBeLessThan(INTERVAL);
    const offsets = new Set(['n1', 'n2', 'n3', 'n4'].map((n) => stableOffset('p', n, INTERVAL)));
    expect(offsets.size).toBe(4);
  });

  it('gives the next slot strictly after now, and the slot at or before a time', () => {
    const slot = 10 * INTERVAL + OFFSET;
    expect(nextSlot(slot - 1, INTERVAL, OFFSET)).toBe(slot);
    expect(nextSlot(slot, INTERVAL, OFFSET)).toBe(slot + INTERVAL);
    expect(slotAtOrBefore(slot, INTERVAL, OFFSET)).toBe(slot);
    expect(slotAtOrBefore(slot + INTERVAL - 1, INTERVAL, OFFSET)).toBe(slot);
  });
});
