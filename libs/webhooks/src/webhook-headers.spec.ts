import { headerProblems, MAX_HEADERS, MAX_HEADERS_BYTES } from './webhook-headers';

describe('headerProblems', () => {
  it('accepts ordinary static headers, and none at all', () => {
    expect(headerProblems({})).toEqual([]);
    expect(
      headerProblems({ 'X-Team': 'erp', 'x-trace_id': 'a b\tc', Accept: 'application/json', 'X-Empty': '' }),
    ).toEqual([]);
    expect(headerProblems({ "!#$%&'*+-.^_`|~09AZaz": 'token characters' })).toEqual([]);
  });

  it('refuses what is not an object of strings', () => {
    for (const v of [null, [], 'x', 3, true]) expect(headerProblems(v)).toHaveLength(1);
    expect(headerProblems({ 'X-Num': 5 })).toEqual(['header X-Num must have a string value']);
    expect(headerProblems({ 'X-Obj': { a: 1 } })).toEqual(['header X-Obj must have a string value']);
  });

  it.each([
    'Connection',
    'keep-alive',
    'TRANSFER-ENCODING',
    'te',
    'Trailer',
    'Upgrade',
    'host',
    'Content-Length',
    'Proxy-Authorization',
    'proxy-connection',
  ])('refuses the hop-by-hop header %s (any case), naming it', (name) => {
    const problems = headerProblems({ [name]: 'x' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
    expect(problems[0]).toMatch(/hop-by-hop/);
  });

  it.each(['webhook-id', 'Webhook-Timestamp', 'WEBHOOK-SIGNATURE', 'Content-Type', 'user-agent'])(
    'refuses the header the delivery engine sets: %s',
    (name) => {
      const problems = headerProblems({ [name]: 'x' });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(name);
      expect(problems[0]).toMatch(/delivery engine/);
    },
  );

  it.each(['', 'X Team', 'X:Team', 'X-Tëam', 'X-Team\n', '(x)', 'a/b', 'a@b'])(
    'refuses the invalid name %j',
    (name) => {
      expect(headerProblems({ [name]: 'x' })).toEqual([`header ${JSON.stringify(name)} is not a valid header name`]);
    },
  );

  it.each([
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['CRLF injection', 'x\r\nX-Evil: 1'],
    ['NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['a character beyond Latin-1', 'snow☃'],
  ])('refuses a value with %s, naming the header but never the value', (_label, value) => {
    const problems = headerProblems({ 'X-Token': value });
    expect(problems).toEqual(['header X-Token value contains control characters (CR, LF, ...)']);
    expect(problems.join()).not.toContain(value);
  });

  it('refuses a name given twice in different cases', () => {
    const problems = headerProblems({ 'X-Team': 'a', 'x-team': 'b' });
    expect(problems).toEqual(['header x-team is given twice (names are case-insensitive)']);
  });

  it(`refuses more than ${MAX_HEADERS} headers`, () => {
    const ok = Object.fromEntries(Array.from({ length: MAX_HEADERS }, (_, i) => [`X-H${i}`, 'v']));
    expect(headerProblems(ok)).toEqual([]);
    expect(headerProblems({ ...ok, 'X-One-More': 'v' })).toEqual([`headers may hold at most ${MAX_HEADERS} headers`]);
  });

  it(`refuses more than ${MAX_HEADERS_BYTES} bytes of names and values`, () => {
    const name = 'X-Big';
    expect(headerProblems({ [name]: 'v'.repeat(MAX_HEADERS_BYTES - name.length) })).toEqual([]);
    expect(headerProblems({ [name]: 'v'.repeat(MAX_HEADERS_BYTES - name.length + 1) })).toEqual([
      `headers must total at most ${MAX_HEADERS_BYTES} bytes of names and values`,
    ]);
    // Latin-1 characters above 0x7f count two bytes each in UTF-8.
    expect(headerProblems({ A: 'é'.repeat(2048) })).toHaveLength(1);
  });

  it('lists every problem at once', () => {
    expect(headerProblems({ Host: 'x', 'X-A': 'a\nb', 'bad name': 'x' })).toHaveLength(3);
  });
});
