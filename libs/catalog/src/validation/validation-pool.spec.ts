import { SchemaValidationPool } from './validation-pool';
import type { TaskResult, ValidationTask } from './validation.protocol';

// Real worker threads (from the TypeScript source): the pool's cut-off and turns are observed through results and
// their order, never through timings.
const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(?:a|b|ab|ba)*$' } } };
const validate = (s: string): ValidationTask => ({ kind: 'validate', key: 'k', schema, value: { s } });
/** About 300 ms for the linear engine: six times the deadline. */
const slow = `${'ab'.repeat(450_000)}!`;
/** About 5 ms: tens of them fit in one 200 ms turn, none comes near the deadline even on a loaded machine. */
const medium = `${'ab'.repeat(7_000)}!`;

describe('SchemaValidationPool', () => {
  let pool: SchemaValidationPool;
  afterEach(() => pool.close());

  it('answers each task in order: valid, failures, or an unusable schema', async () => {
    pool = new SchemaValidationPool({ threads: 1, deadlineMs: 50 });
    const results = await pool.run('t1', [
      validate('abba'),
      validate('abc'),
      { kind: 'check', schema: { type: 'objekt' }, specimen: {} },
      { kind: 'check', schema: { pattern: '(a)\\1' }, specimen: 'aa' },
      { kind: 'check', schema, specimen: { s: 'ab' } },
    ]);
    expect(results.map((r) => r.kind)).toEqual(['valid', 'failures', 'invalid', 'costly', 'valid']);
    expect(results[1]).toEqual({
      kind: 'failures',
      failures: [{ path: '/s', message: 'must match pattern "^(?:a|b|ab|ba)*$"' }],
    });
  });

  it('cuts off a task past its deadline, and runs the others of its chunk on a fresh thread', async () => {
    pool = new SchemaValidationPool({ threads: 1, deadlineMs: 50 });
    const results = await pool.run('t1', [validate('ab'), validate(slow), validate('abc'), validate('ba')]);
    expect(results.map((r) => r.kind)).toEqual(['valid', 'exceeded', 'failures', 'valid']);
    expect(pool.exceeded).toBe(1);
    expect((await pool.run('t1', [validate('ab')]))[0].kind).toBe('valid');
  });

  it('gives tenants turns: a tenant queued behind a long batch is answered before the batch ends', async () => {
    pool = new SchemaValidationPool({ threads: 1, deadlineMs: 200 });
    const order: string[] = [];
    const note =
      (label: string) =>
      (results: TaskResult[]): TaskResult[] => {
        order.push(label);
        return results;
      };
    const busy = pool
      .run(
        'busy',
        Array.from({ length: 200 }, () => validate(medium)),
      )
      .then(note('busy'));
    const calm = pool.run('calm', [validate('ab')]).then(note('calm'));
    const [busyResults, calmResults] = await Promise.all([busy, calm]);
    expect(order).toEqual(['calm', 'busy']);
    expect(calmResults.map((r) => r.kind)).toEqual(['valid']);
    expect(busyResults.every((r) => r.kind === 'failures')).toBe(true);
  }, 20_000);

  it('refuses work once closed, and answers what was pending', async () => {
    pool = new SchemaValidationPool({ threads: 1, deadlineMs: 50 });
    const pending = pool.run('t1', [validate(slow)]);
    await pool.close();
    expect((await pending)[0].kind).toBe('exceeded');
    await expect(pool.run('t1', [validate('ab')])).rejects.toThrow(/closed/);
  });
});
