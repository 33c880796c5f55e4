import { MAX_PAYLOAD_DEPTH, payloadProblem } from './payload-guard';

function nest(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { n: value };
  return value;
}

describe('payloadProblem', () => {
  it('accepts ordinary JSON, emoji and escaped-looking text included', () => {
    expect(payloadProblem({ a: [1, 'two', null, true, { b: 'c' }], emoji: '😀', text: '\\u0000 is only text' })).toBe(
      undefined,
    );
    expect(payloadProblem({})).toBe(undefined);
    expect(payloadProblem(nest(MAX_PAYLOAD_DEPTH - 1))).toBe(undefined);
  });

  it('refuses NUL and unpaired surrogates, in values and in property names, with a JSON pointer', () => {
    expect(payloadProblem({ a: { b: 'x\u0000y' } })).toEqual({ path: '/a/b', message: expect.stringContaining('NUL') });
    expect(payloadProblem({ list: ['ok', 'bad \ud800'] })).toMatchObject({ path: '/list/1' });
    expect(payloadProblem({ 'tail \udc00': 1 })).toMatchObject({ path: '/tail \udc00' });
    expect(payloadProblem({ 'a/b~c': { ['k\u0000']: 1 } })).toMatchObject({ path: '/a~1b~0c/k\u0000' });
  });

  it('refuses nesting deeper than the limit without recursing', () => {
    expect(payloadProblem(nest(MAX_PAYLOAD_DEPTH + 1))).toMatchObject({
      message: `must not nest deeper than ${MAX_PAYLOAD_DEPTH} levels`,
    });
    expect(payloadProblem(nest(200_000))).toMatchObject({ message: expect.stringContaining('deeper') });
    let arrays: unknown = [];
    for (let i = 0; i < 100; i++) arrays = [arrays];
    expect(payloadProblem(arrays)).toMatchObject({ path: expect.stringMatching(/^(\/0)+$/) });
  });
});
