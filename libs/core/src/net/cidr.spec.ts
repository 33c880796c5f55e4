import { isValidCidr } from './cidr';

describe('isValidCidr', () => {
  it.each([
    '10.0.0.0/8',
    '192.168.1.0/24',
    '172.16.0.0/12',
    '127.0.0.1/32',
    '0.0.0.0/0',
    '::1/128',
    '::/0',
    'fd00::/8',
    '2001:db8::/32',
    'fe80::1/64',
    '::ffff:10.0.0.0/104',
  ])('accepts %p', (value) => {
    expect(isValidCidr(value)).toBe(true);
  });

  it.each([
    '10.0.0.0/33',
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '10.0.0/8',
    '256.0.0.0/8',
    '10.0.0.0/ 8',
    '10.0.0.0/8a',
    '10.0.0.0/1000',
    '::1/129',
    'fd00::',
    'gggg::/8',
    'example.com/24',
    '/24',
    '',
  ])('refuses %p', (value) => {
    expect(isValidCidr(value)).toBe(false);
  });
});
