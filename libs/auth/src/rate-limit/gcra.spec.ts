import { BucketShape, gcraStep } from './gcra';

/** 10 per second, a bucket of 20. */
const SHAPE: BucketShape = { intervalUs: 100_000, capacityUs: 2_000_000 };

function drain(
  now: number,
  tat: number,
  n: number,
): { tat: number; admitted: number; last: ReturnType<typeof gcraStep> } {
  let admitted = 0;
  let last = gcraStep(tat, now, SHAPE);
  for (let i = 0; i < n; i++) {
    last = gcraStep(tat, now, SHAPE);
    if (!last.allowed) break;
    tat = last.tat;
    admitted++;
  }
  return { tat, admitted, last };
}

describe('gcraStep', () => {
  it('admits a full bucket at once, then refuses with the wait for one cell', () => {
    const now = 5_000_000;
    const { tat, admitted, last } = drain(now, 0, 25);
    expect(admitted).toBe(20);
    expect(last.allowed).toBe(false);
    expect(last.retryAfterUs).toBe(100_000);
    expect(last.tat).toBe(tat); // a refusal stores nothing
  });

  it('counts down what remains', () => {
    const first = gcraStep(0, 1_000_000, SHAPE);
    expect(first).toEqual({ allowed: true, tat: 1_100_000, remaining: 19, retryAfterUs: 0 });
    expect(gcraStep(first.tat, 1_000_000, SHAPE).remaining).toBe(18);
  });

  it('refills at the rate: after 0.5 s, five more', () => {
    const now = 1_000_000;
    const { tat } = drain(now, 0, 20);
    expect(drain(now + 500_000, tat, 100).admitted).toBe(5);
  });

  it('a sustained rate at the limit is always admitted; just above it is refused once the bucket is spent', () => {
    let tat = 0;
    for (let i = 0; i < 1000; i++) {
      const step = gcraStep(tat, 1_000_000 + i * 100_000, SHAPE);
      expect(step.allowed).toBe(true);
      tat = step.tat;
    }
    tat = 0;
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const step = gcraStep(tat, 1_000_000 + i * 90_000, SHAPE);
      if (step.allowed) tat = step.tat;
      else refused++;
    }
    expect(refused).toBeGreaterThan(50);
  });

  it('a quiet bucket never banks more than its capacity', () => {
    expect(drain(100_000_000_000, 0, 1000).admitted).toBe(20);
  });
});
