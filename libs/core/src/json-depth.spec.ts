import { jsonDepth, MAX_JSON_DEPTH } from './json-depth';

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
