import { CATALOG_FILES } from './catalog.registry';
import { ACTION_PATTERN, SERVICE_PATTERN } from '@ipm/core';
import { splitEventType } from './catalog.types';
import { SchemaCompiler } from './schema-compiler';

describe('shipped catalog definitions', () => {
  const compiler = new SchemaCompiler();
  const types = CATALOG_FILES.flatMap((f) =>
    f.event_types.map((t) => [`${f.service}.${t.action}`, f.service, t] as const),
  );

  it('ships the platform (ipm) and the example domain (rfp)', () => {
    expect(CATALOG_FILES.map((f) => f.service).sort()).toEqual(['ipm', 'rfp']);
    const names = types.map(([name]) => name);
    expect(names).toEqual(
      expect.arrayContaining([
        'ipm.webhook.created',
        'ipm.webhook.paused',
        'ipm.bulk.job.completed',
        'ipm.kpi.alert',
        'rfp.created',
        'rfp.status_changed',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(types)('%s: a valid schema, and its specimen validates', (name, service, t) => {
    expect(SERVICE_PATTERN.test(service)).toBe(true);
    expect(ACTION_PATTERN.test(t.action)).toBe(true);
    expect(splitEventType(name)).toEqual({ service, action: t.action });
    expect(t.description.length).toBeGreaterThan(0);
    expect(compiler.checkSchema(t.schema)).toBeUndefined();
    expect(compiler.validate(`spec:${name}`, t.schema, t.specimen)).toEqual([]);
  });

  it('each schema rejects an empty payload (required fields are declared)', () => {
    for (const [name, , t] of types) {
      expect({ name, failures: compiler.validate(`spec:${name}`, t.schema, {}).length > 0 }).toEqual({
        name,
        failures: true,
      });
    }
  });
});

describe('SchemaCompiler', () => {
  const compiler = new SchemaCompiler(2);

  it('explains why a schema is not a JSON Schema', () => {
    expect(compiler.checkSchema({ type: 'objekt' })).toMatch(/not a valid JSON Schema/);
    expect(compiler.checkSchema({ $ref: '#/definitions/missing' })).toMatch(/does not compile/);
    expect(compiler.checkSchema([])).toMatch(/JSON object/);
    expect(compiler.checkSchema({ type: 'object' })).toBeUndefined();
  });

  it('reports failures with JSON paths and keeps at most maxEntries compiled schemas', () => {
    const schema = { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'integer' } } } } };
    expect(compiler.validate('k1', schema, { a: { b: 'x' } })).toEqual([{ path: '/a/b', message: 'must be integer' }]);
    expect(compiler.validate('k2', { enum: [1, 2] }, 3)).toEqual([{ path: '', message: 'must be one of [1,2]' }]);
    expect(compiler.validate('k3', { type: 'object', additionalProperties: false }, { z: 1 })).toEqual([
      { path: '', message: 'must not have property "z"' },
    ]);
    expect(compiler.validator('k3', {})).toBe(compiler.validator('k3', {}));
    const stringSchema = { type: 'string' };
    const once = compiler.compileOnce(stringSchema);
    if (typeof once === 'string') throw new Error(once);
    expect(compiler.failuresOf(once, 5)).toEqual([{ path: '', message: 'must be string' }]);
    compiler.release(stringSchema);
  });
});
