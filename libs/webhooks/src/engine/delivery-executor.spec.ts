import { mayReclaim } from './delivery-executor';

describe('which delivery jobs may claim an in_flight row again', () => {
  it('a first run may not: the row belongs to a live attempt (a parked run, another worker)', () => {
    expect(mayReclaim({ attemptsMade: 0, stalledCounter: 0 })).toBe(false);
  });

  it('a run after a stall (its worker died or froze) or after a failure may', () => {
    expect(mayReclaim({ attemptsMade: 0, stalledCounter: 1 })).toBe(true);
    expect(mayReclaim({ attemptsMade: 1, stalledCounter: 0 })).toBe(true);
  });
});
