/**
 * A WHERE clause built from conditions, with numbered parameters: the export sources share it.
 * Column names come from code, never from input; values always go through parameters.
 */
export class SqlFilter {
  readonly params: unknown[] = [];
  private readonly conditions: string[] = [];

  /** Adds `value` as the next parameter and returns its placeholder (`$n`). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  eq(column: string, value: unknown): this {
    return this.raw(`${column} = ${this.param(value)}`);
  }

  cmp(column: string, op: '<' | '<=' | '>' | '>=', value: unknown): this {
    return this.raw(`${column} ${op} ${this.param(value)}`);
  }

  raw(condition: string): this {
    this.conditions.push(condition);
    return this;
  }

  sql(): string {
    return this.conditions.length ? this.conditions.join(' AND ') : 'TRUE';
  }
}
