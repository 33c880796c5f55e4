import { AppError } from '@ipm/core';
import {
  type AddressClass,
  classifyAddress,
  createAddressFilter,
  EndpointUrlGuard,
  type HostResolver,
  isAllowlisted,
  isLocalHostname,
  MAX_ENDPOINT_URL_LENGTH,
  UNSAFE_ENDPOINT_URL,
} from './ssrf';

describe('classifyAddress', () => {
  const cases: Array<[AddressClass, string[]]> = [
    ['loopback', ['127.0.0.1', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1']],
    [
      'private',
      [
        '10.0.0.0',
        '10.1.2.3',
        '172.16.0.1',
        '172.31.255.255',
        '192.168.1.1',
        'fc00::1',
        'fd12:3456:789a::1',
        'fec0::1',
      ],
    ],
    ['link_local', ['169.254.0.1', '169.254.169.253', 'fe80::1', 'fe80::1%eth0', '[fe80::abcd%25en0]', 'febf::1']],
    ['cgnat', ['100.64.0.1', '100.127.255.254']],
    ['multicast', ['224.0.0.1', '239.255.255.250', 'ff02::1', 'ff05::1:3']],
    ['unspecified', ['0.0.0.0', '0.1.2.3', '::', '0:0:0:0:0:0:0:0']],
    ['broadcast', ['255.255.255.255']],
    [
      'reserved',
      [
        '240.0.0.1',
        '255.255.255.254',
        '192.0.0.8',
        '198.18.0.1',
        '198.19.255.255',
        '192.0.2.1',
        '198.51.100.7',
        '203.0.113.9',
        '2001:db8::1',
        '100::1',
        '2001:2::1',
        '3fff::1',
        '4000::1', // outside 2000::/3
        '::2:0:0:1', // unassigned, below 2000::/3
      ],
    ],
    ['metadata', ['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', '[fd00:ec2::254]']],
  ];
  for (const [cls, ips] of cases) {
    it.each(ips)(`%s is ${cls}`, (ip) => {
      expect(classifyAddress(ip)).toBe(cls);
    });
  }

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:2800:220:1::1',
    '2a00:1450:4001:80e::200e',
    '2001:4860:4860::8888',
    '[2606:4700::1111]',
  ])('%s is public', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
  });

  describe('IPv6 forms embedding IPv4 are judged by the IPv4 address', () => {
    it.each<[string, AddressClass | null]>([
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['[::ffff:7f00:1]', 'loopback'],
      ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['::ffff:a9fe:a9fe', 'metadata'],
      ['::ffff:169.254.169.254', 'metadata'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['::ffff:93.184.216.34', null],
      ['::ffff:0:10.0.0.1', 'private'], // IPv4-translated (SIIT)
      ['::127.0.0.1', 'loopback'], // IPv4-compatible
      ['::7f00:1', 'loopback'],
      ['::192.168.0.1', 'private'],
      ['::8.8.8.8', null],
      ['64:ff9b::127.0.0.1', 'loopback'], // NAT64
      ['64:ff9b::a9fe:a9fe', 'metadata'],
      ['64:ff9b::808:808', null],
      ['2002:7f00:1::', 'loopback'], // 6to4
      ['2002:c0a8:101::1', 'private'],
      ['2002:808:808::1', null],
      // Teredo: server 65.54.227.120, client 127.0.0.1 stored inverted (0x80ff:fffe)
      ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
      ['2001:0:4136:e378:8000:63bf:f5ff:fff6', 'private'], // client 10.0.0.9
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // client 192.0.2.45
      ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', null], // client 8.8.8.8
      ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'private'], // server 10.0.0.1
    ])('%s -> %s', (ip, cls) => {
      expect(classifyAddress(ip)).toBe(cls);
    });
  });

  it.each(['localhost', 'example.com', '', '1.2.3', '256.1.1.1', '010.0.0.1', '::g', '1.2.3.4/32'])(
    'throws for the non-address %p',
    (value) => {
      expect(() => classifyAddress(value)).toThrow(TypeError);
    },
  );
});

describe('isAllowlisted', () => {
  it('matches IPv4 and IPv6 CIDRs', () => {
    expect(isAllowlisted('10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(isAllowlisted('11.1.2.3', ['10.0.0.0/8'])).toBe(false);
    expect(isAllowlisted('172.20.0.1', ['192.168.0.0/16', '172.16.0.0/12'])).toBe(true);
    expect(isAllowlisted('172.32.0.1', ['172.16.0.0/12'])).toBe(false);
    expect(isAllowlisted('fd12::1', ['fd00::/8'])).toBe(true);
    expect(isAllowlisted('fe80::1%eth0', ['fe80::/10'])).toBe(true);
    expect(isAllowlisted('[::1]', ['::1/128'])).toBe(true);
    expect(isAllowlisted('::2', ['::1/128'])).toBe(false);
  });

  it('treats IPv4-mapped IPv6 and IPv4 as one address', () => {
    expect(isAllowlisted('::ffff:127.0.0.1', ['127.0.0.0/8'])).toBe(true);
    expect(isAllowlisted('::ffff:7f00:1', ['127.0.0.1/32'])).toBe(true);
    expect(isAllowlisted('10.0.0.5', ['::ffff:10.0.0.0/104'])).toBe(true);
    expect(isAllowlisted('11.0.0.5', ['::ffff:10.0.0.0/104'])).toBe(false);
    // Other embeddings do not match IPv4 CIDRs.
    expect(isAllowlisted('::127.0.0.1', ['127.0.0.0/8'])).toBe(false);
    expect(isAllowlisted('64:ff9b::7f00:1', ['127.0.0.0/8'])).toBe(false);
  });

  it('handles /0, /32, /128 and non-octet prefixes', () => {
    expect(isAllowlisted('8.8.8.8', ['0.0.0.0/0'])).toBe(true);
    expect(isAllowlisted('2001:db8::1', ['0.0.0.0/0'])).toBe(false);
    expect(isAllowlisted('2001:db8::1', ['::/0'])).toBe(true);
    expect(isAllowlisted('10.0.0.5', ['10.0.0.5/32'])).toBe(true);
    expect(isAllowlisted('10.0.0.6', ['10.0.0.5/32'])).toBe(false);
    expect(isAllowlisted('100.127.0.1', ['100.64.0.0/10'])).toBe(true);
    expect(isAllowlisted('100.128.0.1', ['100.64.0.0/10'])).toBe(false);
    expect(isAllowlisted('fd00:ec2::254', ['fd00:ec2::254/128'])).toBe(true);
  });

  it('ignores invalid CIDRs and non-addresses', () => {
    expect(isAllowlisted('10.0.0.1', ['10.0.0.0', '10.0.0.0/33', 'nonsense', ''])).toBe(false);
    expect(isAllowlisted('localhost', ['0.0.0.0/0', '::/0'])).toBe(false);
    expect(isAllowlisted('10.0.0.1', [])).toBe(false);
  });
});

describe('createAddressFilter', () => {
  it('refuses non-public addresses outside the allowlist, and anything that is not an address', () => {
    const refusal = createAddressFilter(['10.0.0.0/8']);
    expect(refusal('10.0.0.5')).toBeNull();
    expect(refusal('::ffff:10.0.0.5')).toBeNull();
    expect(refusal('93.184.216.34')).toBeNull();
    expect(refusal('192.168.0.1')).toBe('private');
    expect(refusal('169.254.169.254')).toBe('metadata');
    expect(refusal('not-an-ip')).toBe('reserved');
  });
});

describe('isLocalHostname', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    'localhost.',
    'a.localhost',
    'metadata.google.internal',
    'metadata.google.internal.',
    'db.corp.internal',
    'printer.local',
    'nas.home.arpa',
    'metadata',
  ])('%s is local', (h) => expect(isLocalHostname(h)).toBe(true));

  it.each(['example.com', 'localhost.example.com', 'internal.example.com', 'mylocal', 'notlocalhost'])(
    '%s is not',
    (h) => expect(isLocalHostname(h)).toBe(false),
  );
});

describe('EndpointUrlGuard', () => {
  const PUBLIC_V4 = '93.184.216.34';
  const PUBLIC_V6 = '2606:2800:220:1::1';

  /** A resolver from a fixed table; unknown names fail like getaddrinfo does. */
  function resolverOf(table: Record<string, string[]>): HostResolver & jest.Mock {
    return jest.fn((host: string) => {
      const hit = table[host.replace(/\.$/, '')];
      if (hit) return Promise.resolve(hit);
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    });
  }

  const dnsTable = {
    'example.com': [PUBLIC_V4, PUBLIC_V6],
    'v6only.example': [PUBLIC_V6],
    'internal.example': ['10.0.0.5'],
    'mixed.example': [PUBLIC_V4, '10.0.0.5'],
    'mixed6.example': [PUBLIC_V6, 'fd00::5'],
    'mapped.example': ['::ffff:127.0.0.1'],
    'meta.example': ['169.254.169.254'],
    'loop6.example': ['::1'],
    localhost: ['127.0.0.1', '::1'],
    'metadata.google.internal': ['169.254.169.254'],
    'public.internal': [PUBLIC_V4],
    'svc.internal': ['10.0.0.7'],
    'garbage.example': ['not-an-ip'],
  };

  function guard(allowlist: string[] = [], requireHttps = false, resolver = resolverOf(dnsTable)) {
    return new EndpointUrlGuard({ allowlist, requireHttps, resolver });
  }

  async function refusalOf(g: EndpointUrlGuard, url: string): Promise<AppError> {
    const err = await g.check(url).then(
      () => null,
      (e: unknown) => e,
    );
    if (!(err instanceof AppError)) throw new Error(`expected ${url} to be refused, got ${String(err)}`);
    return err;
  }

  async function expectRefused(g: EndpointUrlGuard, url: string, reason: string): Promise<AppError> {
    const err = await refusalOf(g, url);
    expect(err.status).toBe(422);
    expect(err.code).toBe(UNSAFE_ENDPOINT_URL);
    expect(err.details).toEqual([{ field: 'endpoint_url', message: err.message, reason }]);
    return err;
  }

  describe("the issue's SSRF list", () => {
    it.each<[string, string, string[]]>([
      ['http://127.0.0.1', 'loopback', ['127.0.0.0/8']],
      ['http://10.1.2.3', 'private', ['10.0.0.0/8']],
      ['http://169.254.169.254/latest/meta-data', 'metadata', ['169.254.169.254/32']],
      ['http://[::1]', 'loopback', ['::1/128']],
      ['http://[::ffff:127.0.0.1]', 'loopback', ['127.0.0.0/8']],
      ['http://internal.example/hook', 'private', ['10.0.0.0/8']],
      ['http://mixed.example/hook', 'private', ['10.0.0.5/32']],
      ['https://mixed6.example/hook', 'private', ['fd00::/8']],
      ['http://mapped.example/', 'loopback', ['127.0.0.0/8']],
      ['http://meta.example/', 'metadata', ['169.254.0.0/16']],
      ['http://loop6.example/', 'loopback', ['::1/128']],
    ])('%s is refused as %s, and accepted when %j is allowlisted', async (url, reason, allowlist) => {
      await expectRefused(guard(), url, reason);
      await expect(guard(allowlist).check(url)).resolves.toBeInstanceOf(URL);
    });

    it('an allowlist for other ranges does not help', async () => {
      await expectRefused(guard(['192.168.0.0/16']), 'http://10.1.2.3', 'private');
      await expectRefused(guard(['10.0.0.0/8']), 'http://169.254.169.254/', 'metadata');
      await expectRefused(guard(['::1/128']), 'http://[::ffff:127.0.0.1]', 'loopback');
    });

    it.each([
      ['file:///etc/passwd'],
      ['gopher://x'],
      ['gopher://127.0.0.1:6379/_FLUSHALL'],
      ['ftp://example.com/file'],
      ['data:text/plain,hello'],
      ['javascript:alert(1)'],
      ['ws://example.com/'],
      ['dict://127.0.0.1:11211/'],
    ])('%s is refused as scheme, allowlist or not', async (url) => {
      await expectRefused(guard(), url, 'scheme');
      await expectRefused(guard(['0.0.0.0/0', '::/0']), url, 'scheme');
    });
  });

  describe('IP-literal hosts', () => {
    it.each<[string, string]>([
      ['http://2130706433/', 'loopback'], // decimal
      ['http://0x7f.1/', 'loopback'], // hex + short form
      ['http://0x7f000001/', 'loopback'],
      ['http://017700000001/', 'loopback'], // octal
      ['http://0177.0.0.1/', 'loopback'],
      ['http://127.1/', 'loopback'],
      ['http://127.0.0.1./', 'loopback'],
      ['http://127%2E0%2E0%2E1/', 'loopback'],
      ['http://１２７.0.0.1/', 'loopback'], // fullwidth digits
      ['http://0/', 'unspecified'],
      ['http://0.0.0.0:8080/', 'unspecified'],
      ['http://[::]/', 'unspecified'],
      ['http://[::ffff:7f00:1]/', 'loopback'],
      ['http://[0:0:0:0:0:ffff:127.0.0.1]/', 'loopback'],
      ['http://[::127.0.0.1]/', 'loopback'],
      ['http://[64:ff9b::a9fe:a9fe]/', 'metadata'],
      ['http://[2002:a00:1::1]/', 'private'],
      ['http://0xa9.0xfe.0xa9.0xfe/', 'metadata'],
      ['http://2852039166/', 'metadata'],
      ['http://[fd00:ec2::254]/latest/meta-data', 'metadata'],
      ['http://100.100.100.200/', 'metadata'],
      ['http://169.254.170.2/v2/credentials', 'metadata'],
      ['http://172.16.0.1/', 'private'],
      ['http://192.168.1.1/', 'private'],
      ['http://[fd12::1]/', 'private'],
      ['http://169.254.1.1/', 'link_local'],
      ['http://[fe80::1]/', 'link_local'],
      ['http://100.64.0.1/', 'cgnat'],
      ['http://224.0.0.1/', 'multicast'],
      ['http://[ff02::1]/', 'multicast'],
      ['http://255.255.255.255/', 'broadcast'],
      ['http://240.0.0.1/', 'reserved'],
      ['http://192.0.2.1/', 'reserved'],
      ['http://198.51.100.1/', 'reserved'],
      ['http://203.0.113.1/', 'reserved'],
      ['http://198.18.0.1/', 'reserved'],
      ['http://[2001:db8::1]/', 'reserved'],
      ['http://[100::1]/', 'reserved'],
    ])('%s is refused as %s', async (url, reason) => {
      const resolver = resolverOf({});
      await expectRefused(guard([], false, resolver), url, reason);
      expect(resolver).not.toHaveBeenCalled();
    });

    it.each([
      `http://${PUBLIC_V4}/hook`,
      `https://[${PUBLIC_V6}]:8443/hook?x=1`,
      'http://1.1.1.1',
      'http://[::ffff:8.8.8.8]/',
    ])('%s (public) is accepted without resolving', async (url) => {
      const resolver = resolverOf({});
      const result = await guard([], false, resolver).check(url);
      expect(result).toBeInstanceOf(URL);
      expect(resolver).not.toHaveBeenCalled();
    });

    it('a zone id is not a valid URL host', async () => {
      await expectRefused(guard(), 'http://[fe80::1%25eth0]/', 'invalid_url');
    });

    it('IPv6 allowlists match IPv6 literals; IPv4-mapped literals match IPv4 CIDRs', async () => {
      await expect(guard(['fe80::/10']).check('http://[fe80::1]/')).resolves.toBeInstanceOf(URL);
      await expect(guard(['10.0.0.0/8']).check('http://[::ffff:10.9.9.9]/')).resolves.toBeInstanceOf(URL);
      await expect(guard(['::ffff:10.0.0.0/104']).check('http://10.9.9.9/')).resolves.toBeInstanceOf(URL);
    });
  });

  describe('hostnames', () => {
    it('accepts names whose every address is public, IPv4 and IPv6', async () => {
      const resolver = resolverOf(dnsTable);
      const url = await guard([], false, resolver).check('https://example.com/hooks/ipm?a=b');
      expect(url.href).toBe('https://example.com/hooks/ipm?a=b');
      expect(resolver).toHaveBeenCalledWith('example.com');
      await expect(guard().check('https://v6only.example/')).resolves.toBeInstanceOf(URL);
    });

    it('refuses a name if any one address is non-public', async () => {
      const err = await expectRefused(guard(), 'https://mixed.example/', 'private');
      expect(err.message).toContain('mixed.example');
      // The resolved internal address is not echoed back to the caller.
      expect(err.message).not.toContain('10.0.0.5');
    });

    it('refuses a name that does not resolve, fails to resolve, or resolves to nothing (dns)', async () => {
      await expectRefused(guard(), 'https://nowhere.example/', 'dns');
      const empty = new EndpointUrlGuard({ allowlist: [], requireHttps: false, resolver: () => Promise.resolve([]) });
      await expectRefused(empty, 'https://empty.example/', 'dns');
      const failing = new EndpointUrlGuard({
        allowlist: [],
        requireHttps: false,
        resolver: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'EAI_AGAIN' })),
      });
      await expectRefused(failing, 'https://flaky.example/', 'dns');
    });

    it('refuses a name whose resolution takes too long (dns)', async () => {
      const slow = new EndpointUrlGuard({
        allowlist: [],
        requireHttps: false,
        resolver: () => new Promise(() => undefined),
        dnsTimeoutMs: 20,
      });
      await expectRefused(slow, 'https://slow.example/', 'dns');
    });

    it('refuses an answer that is not an address', async () => {
      await expectRefused(guard(), 'https://garbage.example/', 'reserved');
    });

    it.each([
      'http://localhost/',
      'http://LOCALHOST./',
      'http://api.localhost:3000/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://public.internal/',
      'http://printer.local/',
    ])('%s is refused as hostname without resolving', async (url) => {
      const resolver = resolverOf(dnsTable);
      await expectRefused(guard([], false, resolver), url, 'hostname');
      expect(resolver).not.toHaveBeenCalled();
    });

    it('a local-use name passes only when every address it resolves to is allowlisted', async () => {
      await expect(guard(['127.0.0.0/8', '::1/128']).check('http://localhost:3000/')).resolves.toBeInstanceOf(URL);
      await expectRefused(guard(['127.0.0.0/8']), 'http://localhost:3000/', 'hostname'); // ::1 is not
      await expect(guard(['10.0.0.0/8']).check('http://svc.internal/')).resolves.toBeInstanceOf(URL);
      await expectRefused(guard(['10.0.0.0/8']), 'http://public.internal/', 'hostname');
      await expectRefused(guard(['10.0.0.0/8']), 'http://metadata.google.internal/', 'hostname');
    });
  });

  describe('URL shape', () => {
    it.each([
      '',
      '   ',
      'not a url',
      '/relative/path',
      '//example.com/x',
      'example.com',
      'http://',
      'http://1.2.3.4.5/',
    ])('%p is refused as invalid_url', async (url) => {
      await expectRefused(guard(), url, 'invalid_url');
    });

    it('refuses a non-string as invalid_url', async () => {
      await expectRefused(guard(), undefined as unknown as string, 'invalid_url');
    });

    it('requireHttps refuses http but accepts https', async () => {
      const g = guard([], true);
      await expectRefused(g, 'http://example.com/', 'https_required');
      await expectRefused(guard(['10.0.0.0/8'], true), 'http://10.1.2.3/', 'https_required');
      await expect(g.check('https://example.com/')).resolves.toBeInstanceOf(URL);
      await expect(guard([], false).check('http://example.com/')).resolves.toBeInstanceOf(URL);
    });

    it(`accepts ${MAX_ENDPOINT_URL_LENGTH} characters and refuses one more (too_long)`, async () => {
      const base = 'https://example.com/';
      const exact = base + 'a'.repeat(MAX_ENDPOINT_URL_LENGTH - base.length);
      expect(exact).toHaveLength(MAX_ENDPOINT_URL_LENGTH);
      await expect(guard().check(exact)).resolves.toBeInstanceOf(URL);
      await expectRefused(guard(), exact + 'a', 'too_long');
    });

    it('refuses a URL that percent-encoding makes longer than the limit (too_long)', async () => {
      const base = 'https://example.com/';
      const url = base + ' '.repeat(MAX_ENDPOINT_URL_LENGTH - base.length - 1) + 'x'; // each space becomes %20
      await expectRefused(guard(), url, 'too_long');
    });

    it.each([
      'https://user:pass@example.com/',
      'https://user@example.com/',
      'https://:pass@example.com/',
      'https://a@b@example.com/',
    ])('%s is refused as credentials', async (url) => {
      await expectRefused(guard(), url, 'credentials');
    });

    it.each(['https://example.com/#frag', 'https://example.com/#', 'https://example.com/a?b=c#d'])(
      '%s is refused as fragment',
      async (url) => {
        await expectRefused(guard(), url, 'fragment');
      },
    );

    it('returns the normalised URL', async () => {
      const url = await guard().check('HTTPS://Example.COM:443/a/../b?q=1');
      expect(url.href).toBe('https://example.com/b?q=1');
    });
  });
});
