import { isIP } from 'node:net';

/** True for "a.b.c.d/n" (n 0-32) or an IPv6 address with /n (n 0-128). */
export function isValidCidr(value: string): boolean {
  const [addr, bits, ...rest] = value.split('/');
  if (rest.length || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const family = isIP(addr);
  const n = Number(bits);
  return (family === 4 && n <= 32) || (family === 6 && n <= 128);
}
