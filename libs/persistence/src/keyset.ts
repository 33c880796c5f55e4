import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { Cursor } from '@ipm/core';

export interface KeysetOrder<T> {
  /** Sort columns, most significant first, e.g. `['k.name', 'k.key_id']`; the last must be unique. */
  columns: string[];
  direction: 'ASC' | 'DESC';
  /** The cursor of a row: its values for `columns`, in order. */
  cursorOf: (row: T) => Cursor;
}

/**
 * One keyset page (never OFFSET): rows strictly after `cursor` in the given order, plus the
 * cursor of the last row when more rows follow. Reads `limit + 1` rows to know that.
 */
export async function fetchKeysetPage<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  order: KeysetOrder<T>,
  cursor: Cursor | undefined,
  limit: number,
): Promise<{ rows: T[]; next?: Cursor }> {
  if (cursor) {
    if (cursor.length !== order.columns.length) throw new RangeError('cursor does not fit this ordering');
    const names = order.columns.map((_, i) => `ks_${i}`);
    const cmp = order.direction === 'ASC' ? '>' : '<';
    qb.andWhere(
      `(${order.columns.join(', ')}) ${cmp} (${names.map((n) => `:${n}`).join(', ')})`,
      Object.fromEntries(names.map((n, i) => [n, cursor[i]])),
    );
  }
  order.columns.forEach((col, i) => (i === 0 ? qb.orderBy(col, order.direction) : qb.addOrderBy(col, order.direction)));
  const rows = await qb.limit(limit + 1).getMany();
  if (rows.length <= limit) return { rows };
  rows.length = limit;
  return { rows, next: order.cursorOf(rows[rows.length - 1]) };
}
