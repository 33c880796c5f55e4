import { randomBytes } from 'node:crypto';
import { SecretBox } from './secret-box';

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

describe('SecretBox', () => {
  const k1 = key('k1');
  const k2 = key('k2');

  it('round-trips, naming its key, with a fresh IV each time', () => {
    const box = new SecretBox({ SECRETS_KEY: k1 });
    const a = box.seal('whsec_abc', 'whk_1');
    const b = box.seal('whsec_abc', 'whk_1');
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).toBe('k1');
    expect(a).not.toContain('whsec_abc');
    expect(box.openText(a, 'whk_1')).toBe('whsec_abc');
  });

  it('refuses a value moved to another context, altered, or malformed', () => {
    const box = new SecretBox({ SECRETS_KEY: k1 });
    const sealed = box.seal('secret', 'row-1');
    expect(() => box.open(sealed, 'row-2')).toThrow();
    const parts = sealed.split('.');
    parts[3] = Buffer.from('xxxxxx').toString('base64url');
    expect(() => box.open(parts.join('.'), 'row-1')).toThrow();
    expect(() => box.open('nope', 'row-1')).toThrow(/malformed/);
  });

  it('rotates keys: new values use the first key, old values still open', () => {
    const old = new SecretBox({ SECRETS_KEY: k1 }).seal('v', 'c');
    const rotated = new SecretBox({ SECRETS_KEY: `${k2},${k1}` });
    expect(rotated.keyId).toBe('k2');
    expect(rotated.openText(old, 'c')).toBe('v');
    expect(rotated.seal('v', 'c').split('.')[1]).toBe('k2');
    expect(() => new SecretBox({ SECRETS_KEY: k2 }).open(old, 'c')).toThrow(/k1/);
  });
});
