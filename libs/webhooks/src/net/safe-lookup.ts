import * as dns from 'node:dns';
import type { LookupFunction } from 'node:net';

import { type AddressClass, createAddressFilter } from './ssrf';

export const SSRF_BLOCKED = 'ERR_SSRF_BLOCKED';

/** A connection refused because a hostname resolved to a non-public, non-allowlisted address. */
export class SsrfBlockedError extends Error {
  readonly code = SSRF_BLOCKED;

  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly reason: AddressClass,
  ) {
    super(`Refusing to connect to ${hostname}: it resolves to ${address}, a ${reason} address`);
    this.name = 'SsrfBlockedError';
  }
}

/** True for the error a safe lookup refuses with (also after it has travelled through http/undici). */
export function isSsrfBlockedError(err: unknown): err is Error & { code: typeof SSRF_BLOCKED } {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === SSRF_BLOCKED;
}

export interface SafeLookupOptions {
  /** CIDRs whose non-public addresses may be connected to (`AppConfig.allowlist`). */
  allowlist: string[];
  /** The resolver to wrap; default `dns.lookup`. */
  lookup?: typeof dns.lookup;
}

/**
 * A `lookup` for `http.Agent`/`https.Agent` options, `net.connect` or undici's `connect.lookup`: it
 * resolves every address of the host and refuses (an error with `code` `ERR_SSRF_BLOCKED`) when any is
 * non-public and not allowlisted, so that DNS rebinding between validation and delivery cannot reach
 * an internal address. Callers asking for one address (`all` unset) get the first one.
 *
 * Node does not call `lookup` for a host that is already an IP literal: check the URL with
 * `EndpointUrlGuard` before each delivery as well.
 */
export function createSafeLookup(options: SafeLookupOptions): LookupFunction {
  const refusal = createAddressFilter(options.allowlist);
  const lookup = options.lookup ?? dns.lookup;
  return (hostname, lookupOptions, callback) => {
    const all = lookupOptions?.all === true;
    const fail = (err: NodeJS.ErrnoException): void => (all ? callback(err, []) : callback(err, ''));
    lookup(hostname, { ...lookupOptions, all: true }, (err, addresses) => {
      if (err) return fail(err);
      if (!Array.isArray(addresses) || addresses.length === 0) {
        return fail(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
      }
      for (const { address } of addresses) {
        const reason = refusal(address);
        if (reason) return fail(new SsrfBlockedError(hostname, address, reason));
      }
      if (all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
