import { isBreached, KPI_COMPARATORS, type KpiComparator, nearlyEqual } from './kpi-alert.evaluation';

describe('isBreached', () => {
  // [comparator, threshold, a value that breaches, a value that does not]
  const sides: Array<[KpiComparator, number, number, number]> = [
    ['gt', 10, 10.5, 10],
    ['gte', 10, 10, 9.99],
    ['lt', 0.95, 0.82, 0.95],
    ['lte', 0.95, 0.95, 0.96],
    ['eq', 0.3, 0.1 + 0.2, 0.31],
    ['neq', 0.3, 0.31, 0.1 + 0.2],
  ];

  it('covers all six comparators', () => {
    expect(sides.map(([c]) => c).sort()).toEqual([...KPI_COMPARATORS].sort());
  });

  it.each(sides)('%s %d: %d breaches, %d does not', (comparator, threshold, breaching, within) => {
    expect(isBreached(comparator, breaching, threshold)).toBe(true);
    expect(isBreached(comparator, within, threshold)).toBe(false);
  });

  it.each([
    ['gt', 5, 6, true],
    ['gt', 5, 4, false],
    ['gte', 5, 6, true],
    ['gte', 5, 4, false],
    ['lt', 5, 4, true],
    ['lt', 5, 6, false],
    ['lte', 5, 4, true],
    ['lte', 5, 6, false],
    ['eq', 5, 5, true],
    ['eq', 5, 6, false],
    ['neq', 5, 4, true],
    ['neq', 5, 5, false],
  ] as Array<[KpiComparator, number, number, boolean]>)(
    '%s %d with value %d: %s',
    (comparator, threshold, value, expected) => {
      expect(isBreached(comparator, value, threshold)).toBe(expected);
    },
  );

  it('on the threshold itself: only the inclusive comparators and eq fire', () => {
    const fired = KPI_COMPARATORS.filter((c) => isBreached(c, 7, 7));
    expect(fired).toEqual(['gte', 'lte', 'eq']);
  });

  it('floats: 0.1 + 0.2 is 0.3 for every comparator (within tolerance), also negatives and large values', () => {
    const sum = 0.1 + 0.2;
    expect(sum).not.toBe(0.3);
    expect(KPI_COMPARATORS.filter((c) => isBreached(c, sum, 0.3))).toEqual(['gte', 'lte', 'eq']);
    expect(KPI_COMPARATORS.filter((c) => isBreached(c, -sum, -0.3))).toEqual(['gte', 'lte', 'eq']);
    expect(isBreached('eq', 1e12 + 1e-4, 1e12)).toBe(true); // relative: 1e-4 on 1e12
    expect(isBreached('eq', 1e12 + 1e4, 1e12)).toBe(false);
    expect(isBreached('gt', 1e12 + 1e4, 1e12)).toBe(true);
  });

  it('floats: values just beyond the tolerance are ordered, not equal', () => {
    expect(isBreached('eq', 0.3000001, 0.3)).toBe(false);
    expect(isBreached('neq', 0.3000001, 0.3)).toBe(true);
    expect(isBreached('gt', 0.3000001, 0.3)).toBe(true);
    expect(isBreached('lt', 0.2999999, 0.3)).toBe(true);
    expect(isBreached('lte', 0.3000001, 0.3)).toBe(false);
    expect(isBreached('gte', 0.2999999, 0.3)).toBe(false);
  });

  it('zero and negative zero are equal; tiny values compare absolutely near zero', () => {
    expect(isBreached('eq', -0, 0)).toBe(true);
    expect(isBreached('neq', 1e-12, 0)).toBe(false);
    expect(isBreached('gt', 1e-12, 0)).toBe(false);
    expect(nearlyEqual(1e-6, 0)).toBe(false);
  });
});
