import { firstHeader, presentedCredential } from './credentials';

describe('firstHeader', () => {
  it('is the value, or the first of repeated ones', () => {
    expect(firstHeader({ a: 'x' }, 'a')).toBe('x');
    expect(firstHeader({ a: ['x', 'y'] }, 'a')).toBe('x');
    expect(firstHeader({}, 'a')).toBeUndefined();
  });
});

describe('presentedCredential', () => {
  it('takes a Bearer token before an API key, trimmed, any case of the scheme', () => {
    expect(presentedCredential({ authorization: 'Bearer a.b.c', 'x-api-key': 'ipm_x' })).toEqual({
      kind: 'jwt',
      token: 'a.b.c',
    });
    expect(presentedCredential({ authorization: ' bearer   a.b.c ' })).toEqual({ kind: 'jwt', token: 'a.b.c' });
    expect(presentedCredential({ 'x-api-key': ' ipm_x ' })).toEqual({ kind: 'api_key', key: 'ipm_x' });
    expect(presentedCredential({})).toEqual({ kind: 'none' });
  });

  it('another scheme, or a token with spaces, is malformed (not skipped for the API key)', () => {
    const malformed = { kind: 'malformed', message: 'Authorization must be "Bearer <jwt>"' };
    expect(presentedCredential({ authorization: 'Basic abc', 'x-api-key': 'ipm_x' })).toEqual(malformed);
    expect(presentedCredential({ authorization: 'Bearer a b' })).toEqual(malformed);
  });
});
