import { inspectJson, jsonDepth, MAX_JSON_DEPTH, MAX_JSON_VALUES } from './json-depth';

describe('jsonDepth', () => {
  it('counts object and array nesting; scalars are depth 0', () => {
    expect(jsonDepth(5)).toBe(0);
    expect(jsonDepth(null)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: {} }] })).toBe(4);
  });

  it('handles nesting far deeper than the stack allows, stopping past the limit', () => {
    let deep: unknown = {};
    for (let i = 0; i < 200_000; i++) deep = { d: deep };
    expect(jsonDepth(deep)).toBe(MAX_JSON_DEPTH + 1);
    expect(MAX_JSON_DEPTH).toBe(512);
    expect(jsonDepth(deep, 10)).toBe(11);
  });
});

describe('inspectJson', () => {
  it('passes ordinary bodies, emoji (surrogate pairs) included', () => {
    expect(inspectJson({ a: [1, 'two', null, { b: 'fine \u{1F600}' }] })).toBeUndefined();
  });

  it('names the first level past the limit', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(inspectJson({ outer: deep }, 4)).toEqual({
      field: 'outer.d.d.d',
      message: 'The body is nested deeper than 4 levels',
    });
    expect(inspectJson({ a: { b: {} } }, 3)).toBeUndefined();
  });

  it('names strings and property names holding NUL or unpaired surrogates', () => {
    expect(inspectJson({ list: ['ok', 'bad \ud800'] })).toEqual({
      field: 'list.1',
      message: 'list.1 must not contain NUL or unpaired surrogate characters',
    });
    expect(inspectJson({ a: { ['k\u0000']: 1 } })?.field).toBe('a.k\u0000');
    expect(inspectJson('\udc00')?.field).toBe('body');
  });

  it('leaves the text of opaque subtrees to the route, but still counts their nesting', () => {
    const opaque = (path: string) => /^events\.\d+\.payload$/.test(path);
    const body = { events: [{ payload: { text: 'lone \ud800' } }] };
    expect(inspectJson(body, MAX_JSON_DEPTH, opaque)).toBeUndefined();
    expect(inspectJson({ ...body, reason: '\u0000' }, MAX_JSON_DEPTH, opaque)?.field).toBe('reason');
    expect(inspectJson(body, 3, opaque)?.message).toMatch(/nested deeper than 3/);
  });

  it('refuses a body of more than maxValues values (keys not counted), each pass over it bounded', () => {
    const list = Array.from({ length: 99 }, (_, k) => ({ k }));
    // the root, the list, 99 objects and their 99 numbers
    expect(inspectJson({ list }, MAX_JSON_DEPTH, undefined, 200)).toBeUndefined();
    expect(inspectJson({ list: [...list, 1] }, MAX_JSON_DEPTH, undefined, 200)).toEqual({
      field: 'body',
      message: 'The body holds more than 200 JSON values: split it, or use a bulk import',
      tooLarge: true,
    });
    expect(inspectJson({ list: Array.from({ length: MAX_JSON_VALUES }, () => 0) })?.tooLarge).toBe(true);
    expect(inspectJson({ list: Array.from({ length: MAX_JSON_VALUES - 2 }, () => 0) })).toBeUndefined();
  });
});
