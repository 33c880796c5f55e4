/** The comparators of a KPI threshold: `value <comparator> threshold`. */
export const KPI_COMPARATORS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;
export type KpiComparator = (typeof KPI_COMPARATORS)[number];
export const KPI_COMPARATOR_MESSAGE = `comparator must be one of ${KPI_COMPARATORS.join(', ')}`;

/**
 * Relative tolerance under which two values are equal. KPI values are doubles computed by someone
 * else (`0.1 + 0.2` is 0.30000000000000004): an exact `===` would make `eq 0.3` never fire and
 * `neq 0.3` always fire for such a value. Equal means |a - b| <= 1e-9 x max(1, |a|, |b|).
 */
export const KPI_EQUALITY_TOLERANCE = 1e-9;

/** `a` and `b` equal within {@link KPI_EQUALITY_TOLERANCE}. */
export function nearlyEqual(a: number, b: number): boolean {
  return Math.abs(a - b) <= KPI_EQUALITY_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * True when `value` crosses the threshold, i.e. `value <comparator> threshold` holds. The orderings
 * agree with the tolerant equality: a value within tolerance of the threshold is `gte`/`lte`/`eq`,
 * never `gt`/`lt`/`neq`.
 */
export function isBreached(comparator: KpiComparator, value: number, threshold: number): boolean {
  const equal = nearlyEqual(value, threshold);
  switch (comparator) {
    case 'gt':
      return !equal && value > threshold;
    case 'gte':
      return equal || value > threshold;
    case 'lt':
      return !equal && value < threshold;
    case 'lte':
      return equal || value < threshold;
    case 'eq':
      return equal;
    case 'neq':
      return !equal;
  }
}
