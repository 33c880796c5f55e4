import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';

import { AppError, within } from '@ipm/core';

/**
 * Why an address is not a public unicast address. `null` from {@link classifyAddress} means public.
 * Cloud metadata addresses are `metadata` even though they also sit in a link-local, CGNAT or ULA range.
 */
export type AddressClass =
  'loopback' | 'private' | 'link_local' | 'cgnat' | 'multicast' | 'unspecified' | 'broadcast' | 'reserved' | 'metadata';

/** Why {@link EndpointUrlGuard} refused a URL (the `reason` in the 422's details). */
export type UnsafeUrlReason =
  | 'invalid_url'
  | 'too_long'
  | 'scheme'
  | 'https_required'
  | 'credentials'
  | 'fragment'
  | 'hostname'
  | 'dns'
  | AddressClass;

export const UNSAFE_ENDPOINT_URL = 'unsafe_endpoint_url';
export const MAX_ENDPOINT_URL_LENGTH = 2048;

// ---------------------------------------------------------------------------------------------
// Parsing: every address becomes 4 or 16 bytes; CIDR matching is a prefix comparison on bytes.
// ---------------------------------------------------------------------------------------------

interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** "[fe80::1%eth0]" -> "fe80::1": brackets and an IPv6 zone id are not part of the address. */
function stripIpDecorations(ip: string): string {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1 && s.includes(':')) s = s.slice(0, zone);
  return s;
}

function parseIpv4(s: string): Uint8Array | null {
  if (isIP(s) !== 4) return null;
  return Uint8Array.from(s.split('.').map(Number));
}

function parseIpv6(s: string): Uint8Array | null {
  if (isIP(s) !== 6) return null;
  let text = s;
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (!tail) return null;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const words = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const all = [...head, ...Array<string>(fill).fill('0'), ...rest];
  if (all.length !== 8) return null;
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    const n = parseInt(word, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

function parseIp(ip: string): ParsedIp | null {
  const s = stripIpDecorations(ip);
  const v4 = parseIpv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(s);
  return v6 ? { family: 6, bytes: v6 } : null;
}

interface Prefix {
  bytes: Uint8Array;
  bits: number;
}

function parsePrefix(cidr: string): (Prefix & { family: 4 | 6 }) | null {
  const [addr, bits, ...extra] = cidr.trim().split('/');
  if (extra.length || bits === undefined || !/^\d{1,3}$/.test(bits)) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const n = Number(bits);
  if (n > (ip.family === 4 ? 32 : 128)) return null;
  return { family: ip.family, bytes: ip.bytes, bits: n };
}

function inPrefix(bytes: Uint8Array, prefix: Prefix): boolean {
  if (bytes.length !== prefix.bytes.length) return false;
  const whole = prefix.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== prefix.bytes[i]) return false;
  const partial = prefix.bits & 7;
  if (partial === 0) return true;
  const mask = (0xff << (8 - partial)) & 0xff;
  return (bytes[whole] & mask) === (prefix.bytes[whole] & mask);
}

/** IPv4 a.b.c.d as the IPv4-mapped IPv6 ::ffff:a.b.c.d, so that one 128-bit comparison serves both. */
function toMapped(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

function mappedPrefix(p: Prefix & { family: 4 | 6 }): Prefix {
  return p.family === 4 ? { bytes: toMapped(p.bytes), bits: p.bits + 96 } : p;
}

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

type Range = Prefix & { cls: AddressClass };

function builtin(cidr: string): Prefix {
  const p = parsePrefix(cidr);
  if (!p) throw new Error(`bad built-in CIDR ${cidr}`);
  return { bytes: p.bytes, bits: p.bits };
}

function ranges(table: ReadonlyArray<[string, AddressClass]>): Range[] {
  return table.map(([cidr, cls]) => ({ ...builtin(cidr), cls }));
}

// Most specific first: the first match wins.
const IPV4_RANGES = ranges([
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, OpenStack, DigitalOcean... instance metadata
  ['169.254.170.2/32', 'metadata'], // AWS ECS task metadata / credentials
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud metadata
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['169.254.0.0/16', 'link_local'],
  ['100.64.0.0/10', 'cgnat'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // TEST-NET-1
  ['198.51.100.0/24', 'reserved'], // TEST-NET-2
  ['203.0.113.0/24', 'reserved'], // TEST-NET-3
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
]);

/** Checked before the IPv4 embeddings: :: and ::1 also sit inside the IPv4-compatible ::/96. */
const IPV6_SELF = ranges([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
]);

const IPV6_RANGES = ranges([
  ['fd00:ec2::254/128', 'metadata'], // AWS instance metadata over IPv6
  ['ff00::/8', 'multicast'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'private'], // deprecated site-local
  ['fc00::/7', 'private'], // unique local
  ['100::/64', 'reserved'], // discard-only
  ['2001:db8::/32', 'reserved'], // documentation
  ['3fff::/20', 'reserved'], // documentation (RFC 9637)
  ['2001:2::/48', 'reserved'], // benchmarking
  ['2001:10::/28', 'reserved'], // ORCHID
  ['2001:20::/28', 'reserved'], // ORCHIDv2
  ['5f00::/16', 'reserved'], // SRv6 SIDs
]);

/** Only 2000::/3 is global unicast; anything else left unclassified is not a place to send webhooks. */
const IPV6_GLOBAL_UNICAST = builtin('2000::/3');

type Embedding = Prefix & { extract: (bytes: Uint8Array) => Uint8Array[] };
const lastFour = (b: Uint8Array): Uint8Array[] => [b.slice(12, 16)];

/** IPv6 forms that carry an IPv4 address, and where it is. */
const IPV6_EMBEDDINGS: Embedding[] = [
  { ...builtin('::ffff:0:0/96'), extract: lastFour }, // IPv4-mapped
  { ...builtin('::ffff:0:0:0/96'), extract: lastFour }, // IPv4-translated (SIIT)
  { ...builtin('::/96'), extract: lastFour }, // IPv4-compatible (deprecated)
  { ...builtin('64:ff9b::/96'), extract: lastFour }, // NAT64 well-known prefix
  { ...builtin('2002::/16'), extract: (b) => [b.slice(2, 6)] }, // 6to4
  // Teredo: the client's address is the last 32 bits inverted; the server's follows the prefix.
  { ...builtin('2001::/32'), extract: (b) => [b.slice(12, 16).map((x) => x ^ 0xff), b.slice(4, 8)] },
];

function classifyBytes(bytes: Uint8Array, table: Range[]): AddressClass | null {
  for (const r of table) if (inPrefix(bytes, r)) return r.cls;
  return null;
}

function classifyIpv6(bytes: Uint8Array): AddressClass | null {
  const own = classifyBytes(bytes, IPV6_SELF);
  if (own) return own;
  for (const e of IPV6_EMBEDDINGS) {
    if (!inPrefix(bytes, e)) continue;
    for (const v4 of e.extract(bytes)) {
      const cls = classifyBytes(v4, IPV4_RANGES);
      if (cls) return cls;
    }
    return null;
  }
  const cls = classifyBytes(bytes, IPV6_RANGES);
  if (cls) return cls;
  return inPrefix(bytes, IPV6_GLOBAL_UNICAST) ? null : 'reserved';
}

/**
 * Why an IP literal is not a public unicast address, or `null` when it is public.
 * Accepts dotted-quad IPv4 and IPv6 (brackets and a zone id such as `%eth0` allowed); IPv6 forms that
 * embed an IPv4 address (mapped, compatible, SIIT, NAT64, 6to4, Teredo) are judged by that address.
 * @throws TypeError when `ip` is not an IP address (a hostname is never "public" by this function).
 */
export function classifyAddress(ip: string): AddressClass | null {
  const parsed = parseIp(ip);
  if (!parsed) throw new TypeError(`Not an IP address: ${JSON.stringify(ip)}`);
  return parsed.family === 4 ? classifyBytes(parsed.bytes, IPV4_RANGES) : classifyIpv6(parsed.bytes);
}

type CompiledAllowlist = readonly Prefix[];

function compileAllowlist(cidrs: readonly string[]): CompiledAllowlist {
  return cidrs.flatMap((c) => {
    const p = parsePrefix(c);
    return p ? [mappedPrefix(p)] : [];
  });
}

function inAllowlist(parsed: ParsedIp, allowlist: CompiledAllowlist): boolean {
  const bytes = parsed.family === 4 ? toMapped(parsed.bytes) : parsed.bytes;
  return allowlist.some((p) => inPrefix(bytes, p));
}

/**
 * True when `ip` falls inside one of the CIDRs (invalid CIDRs are ignored: config validation reports
 * them). IPv4 a.b.c.d and IPv4-mapped ::ffff:a.b.c.d are one address here: either matches an IPv4 CIDR
 * or an IPv6 one under ::ffff:0:0/96. Not an IP address: false.
 */
export function isAllowlisted(ip: string, cidrs: readonly string[]): boolean {
  const parsed = parseIp(ip);
  return parsed !== null && inAllowlist(parsed, compileAllowlist(cidrs));
}

/**
 * The connect-or-not decision for one address under an allowlist, compiled once: the returned function
 * gives why `ip` must not be contacted (non-public and not allowlisted), or `null` when it may be.
 * Something that is not an IP address is refused as `reserved`.
 */
export function createAddressFilter(allowlist: readonly string[]): (ip: string) => AddressClass | null {
  const compiled = compileAllowlist(allowlist);
  return (ip) => {
    const parsed = parseIp(ip);
    if (!parsed) return 'reserved';
    const cls = parsed.family === 4 ? classifyBytes(parsed.bytes, IPV4_RANGES) : classifyIpv6(parsed.bytes);
    return cls && !inAllowlist(parsed, compiled) ? cls : null;
  };
}

// ---------------------------------------------------------------------------------------------
// Hostnames reserved for local use
// ---------------------------------------------------------------------------------------------

const LOCAL_NAMES = new Set(['localhost', 'localhost.localdomain', 'metadata.google.internal', 'metadata']);
const LOCAL_SUFFIXES = ['.localhost', '.internal', '.local', '.home.arpa'];

/** True for `localhost`, `*.localhost`, `*.internal` (incl. metadata.google.internal), `*.local`, `*.home.arpa`. */
export function isLocalHostname(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.+$/, '');
  return LOCAL_NAMES.has(h) || LOCAL_SUFFIXES.some((s) => h.endsWith(s) || h === s.slice(1));
}

// ---------------------------------------------------------------------------------------------
// The guard
// ---------------------------------------------------------------------------------------------

export type HostResolver = (host: string) => Promise<string[]>;

export interface EndpointUrlGuardOptions {
  /** CIDRs whose non-public addresses may nevertheless be targeted (`AppConfig.allowlist`). */
  allowlist: string[];
  /** Refuse `http:` (`AppConfig.WEBHOOK_REQUIRE_HTTPS`). */
  requireHttps: boolean;
  /** Every address of a hostname; default `dns.promises.lookup(host, { all: true, verbatim: true })`. */
  resolver?: HostResolver;
  /** A resolution slower than this is refused with reason `dns` (default 5,000 ms). */
  dnsTimeoutMs?: number;
}

const defaultResolver: HostResolver = async (host) =>
  (await dnsPromises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

function refuse(reason: UnsafeUrlReason, message: string): AppError {
  return AppError.unprocessable(message, [{ field: 'endpoint_url', message, reason }], UNSAFE_ENDPOINT_URL);
}

const CLASS_WORDS: Record<AddressClass, string> = {
  loopback: 'a loopback',
  private: 'a private',
  link_local: 'a link-local',
  cgnat: 'a carrier-grade NAT',
  multicast: 'a multicast',
  unspecified: 'an unspecified',
  broadcast: 'a broadcast',
  reserved: 'a reserved (non-routable)',
  metadata: 'a cloud metadata',
};

/**
 * Validates a webhook `endpoint_url` at create/update time (and before each delivery, together with
 * {@link createSafeLookup} at connect time, which alone would miss IP-literal hosts: Node connects to
 * those without calling `lookup`). Every refusal is a 422 `unsafe_endpoint_url` naming its reason.
 */
export class EndpointUrlGuard {
  private readonly allowlist: readonly string[];
  private readonly refusal: (ip: string) => AddressClass | null;
  private readonly requireHttps: boolean;
  private readonly resolver: HostResolver;
  private readonly dnsTimeoutMs: number;

  constructor(options: EndpointUrlGuardOptions) {
    this.allowlist = [...options.allowlist];
    this.refusal = createAddressFilter(options.allowlist);
    this.requireHttps = options.requireHttps;
    this.resolver = options.resolver ?? defaultResolver;
    this.dnsTimeoutMs = options.dnsTimeoutMs ?? 5000;
  }

  /** The parsed, normalised URL when it is safe to deliver to; otherwise throws the 422. */
  async check(rawUrl: string): Promise<URL> {
    const url = this.checkSyntax(rawUrl);
    const host = url.hostname;

    if (host.startsWith('[') || isIP(host) === 4) {
      const cls = this.refusal(host);
      if (cls) throw refuse(cls, `endpoint_url host ${host} is ${CLASS_WORDS[cls]} address`);
      return url;
    }

    // A name reserved for local use passes only when every address it has is allowlisted.
    const local = isLocalHostname(host);
    const localRefusal = (): AppError => refuse('hostname', `endpoint_url host ${host} is reserved for local use`);
    if (local && this.allowlist.length === 0) throw localRefusal();

    for (const address of await this.resolve(host)) {
      if (local && !isAllowlisted(address, this.allowlist)) throw localRefusal();
      const cls = this.refusal(address);
      if (cls) throw refuse(cls, `endpoint_url host ${host} resolves to ${CLASS_WORDS[cls]} address`);
    }
    return url;
  }

  private checkSyntax(rawUrl: string): URL {
    if (typeof rawUrl !== 'string' || rawUrl.trim() === '') {
      throw refuse('invalid_url', 'endpoint_url must be an absolute URL');
    }
    if (rawUrl.length > MAX_ENDPOINT_URL_LENGTH) {
      throw refuse('too_long', `endpoint_url must be at most ${MAX_ENDPOINT_URL_LENGTH} characters`);
    }
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw refuse('invalid_url', 'endpoint_url must be an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw refuse('scheme', `endpoint_url scheme ${url.protocol} is not allowed: use http or https`);
    }
    if (this.requireHttps && url.protocol !== 'https:') {
      throw refuse('https_required', 'endpoint_url must use https');
    }
    if (url.href.length > MAX_ENDPOINT_URL_LENGTH) {
      throw refuse('too_long', `endpoint_url must be at most ${MAX_ENDPOINT_URL_LENGTH} characters`);
    }
    if (url.username !== '' || url.password !== '') {
      throw refuse('credentials', 'endpoint_url must not contain credentials');
    }
    if (url.hash !== '' || url.href.endsWith('#')) {
      throw refuse('fragment', 'endpoint_url must not contain a fragment');
    }
    if (url.hostname === '') throw refuse('invalid_url', 'endpoint_url must name a host');
    return url;
  }

  private async resolve(host: string): Promise<string[]> {
    let addresses: string[];
    try {
      addresses = await within(this.dnsTimeoutMs, this.resolver(host));
    } catch {
      throw refuse('dns', `endpoint_url host ${host} could not be resolved`);
    }
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw refuse('dns', `endpoint_url host ${host} could not be resolved`);
    }
    return addresses;
  }
}
