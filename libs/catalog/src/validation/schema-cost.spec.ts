import { linearRegExp, SCHEMA_LIMITS, schemaCostProblems } from './schema-cost';

const keywordsOf = (schema: unknown): Array<[string, string]> =>
  schemaCostProblems(schema).map((p) => [p.schema_path, p.keyword]);

describe('schemaCostProblems', () => {
  it('passes ordinary schemas, recursive trees included', () => {
    expect(
      schemaCostProblems({
        type: 'object',
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9_]{1,64}$' },
          email: { type: 'string', format: 'email' },
          tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
          price: { type: 'number', multipleOf: 0.01 },
          status: { enum: ['open', 'closed'] },
          tree: { $ref: '#/definitions/node' },
        },
        definitions: {
          node: {
            type: 'object',
            properties: {
              left: { $ref: '#/definitions/node' },
              right: { $ref: '#/definitions/node' },
              children: { type: 'array', items: { $ref: '#/definitions/node' } },
            },
          },
        },
      }),
    ).toEqual([]);
  });

  it('refuses patterns that need backtracking, naming the schema path', () => {
    expect(keywordsOf({ properties: { s: { type: 'string', pattern: '^(a+)\\1$' } } })).toEqual([
      ['/properties/s/pattern', 'pattern'],
    ]);
    expect(keywordsOf({ patternProperties: { '^(?=x)': {} } })).toEqual([
      ['/patternProperties/^(?=x)', 'patternProperties'],
    ]);
    expect(keywordsOf({ pattern: 'a'.repeat(SCHEMA_LIMITS.patternChars + 1) })).toEqual([['/pattern', 'pattern']]);
    // Nested quantifiers are fine: the engine is linear whatever the pattern.
    expect(keywordsOf({ pattern: '^(a+)+$' })).toEqual([]);
  });

  it('bounds uniqueItems on objects, enum sizes and multipleOf', () => {
    expect(keywordsOf({ type: 'array', uniqueItems: true })).toEqual([['/uniqueItems', 'uniqueItems']]);
    expect(keywordsOf({ type: 'array', items: { type: 'object' }, uniqueItems: true })).toEqual([
      ['/uniqueItems', 'uniqueItems'],
    ]);
    expect(keywordsOf({ type: 'array', items: { type: 'object' }, uniqueItems: true, maxItems: 100 })).toEqual([]);
    expect(keywordsOf({ type: 'array', items: { type: ['integer', 'null'] }, uniqueItems: true })).toEqual([]);
    // Ajv hashes only items whose `type` is scalar: an enum alone is compared pair by pair.
    expect(keywordsOf({ type: 'array', items: { enum: ['a', 'b'] }, uniqueItems: true })).toEqual([
      ['/uniqueItems', 'uniqueItems'],
    ]);
    expect(keywordsOf({ enum: Array.from({ length: SCHEMA_LIMITS.enumValues + 1 }, (_, i) => i) })).toEqual([
      ['/enum', 'enum'],
    ]);
    expect(keywordsOf({ multipleOf: 1e-12 })).toEqual([['/multipleOf', 'multipleOf']]);
    expect(keywordsOf({ multipleOf: 1e300 })).toEqual([['/multipleOf', 'multipleOf']]);
  });

  it('refuses recursion through two overlapping branches and recursion in place', () => {
    expect(keywordsOf({ anyOf: [{ $ref: '#' }, { $ref: '#' }] })).toContainEqual(['', '$ref']);
    expect(keywordsOf({ type: 'array', items: { $ref: '#' }, contains: { $ref: '#' } }).map(([, k]) => k)).toEqual([
      '$ref',
    ]);
    expect(
      keywordsOf({
        type: 'object',
        properties: { a: { $ref: '#' } },
        additionalProperties: { $ref: '#' },
      }),
    ).toEqual([['', '$ref']]);
    expect(keywordsOf({ allOf: [{ $ref: '#' }] })).toEqual([['', '$ref']]);
    expect(keywordsOf({ $ref: '#/definitions/a', definitions: { a: { $ref: '#' } } })).toEqual([['', '$ref']]);
  });

  it('refuses remote and dangling $refs, and oversized schemas, without walking them all', () => {
    expect(keywordsOf({ $ref: 'https://example.com/s.json' })).toEqual([['/$ref', '$ref']]);
    expect(keywordsOf({ properties: { a: { $ref: '#/definitions/none' } } })).toEqual([['/properties/a/$ref', '$ref']]);
    const wide = {
      properties: Object.fromEntries(Array.from({ length: SCHEMA_LIMITS.nodes + 1 }, (_, i) => [`p${i}`, {}])),
    };
    expect(keywordsOf(wide)).toEqual([[expect.stringMatching(/^\/properties\/p\d+$/), 'schema']]);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < SCHEMA_LIMITS.depth + 2; i++) deep = { items: deep };
    expect(keywordsOf(deep).map(([, k]) => k)).toEqual(['schema']);
    expect(keywordsOf({ description: 'x'.repeat(SCHEMA_LIMITS.chars) })).toEqual([['', 'schema']]);
    expect(keywordsOf([])).toEqual([['', 'type']]);
  });
});

describe('linearRegExp', () => {
  it('matches as JavaScript does for ordinary patterns, in linear time for hostile ones', () => {
    expect(linearRegExp('^[a-z]+$').test('abc')).toBe(true);
    expect(linearRegExp('^\\d{3}-\\u00e9$').test('123-é')).toBe(true);
    expect(linearRegExp('^(?<year>\\d{4})$').test('2026')).toBe(true);
    expect(linearRegExp('\\p{L}+', 'u').test('été')).toBe(true);
    // 30 'a' and a '!' takes a backtracking engine about 2^30 steps.
    expect(linearRegExp('^(a+)+$').test(`${'a'.repeat(30)}!`)).toBe(false);
    expect(() => linearRegExp('(a)\\1')).toThrow();
  });
});
