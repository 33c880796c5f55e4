import { IdPrefix, newId } from '@ipm/core';
import { Cursor, PageScope, PageTokenCodec } from '@ipm/core';
import { Figure, fmt, line, section, verdict } from './report';

/**
 * Limits. A list response encodes a page token and a next-page request decodes one; a write
 * makes a few ids. 20,000 encode+decode pairs/s (50 µs) keeps the token under 5 % of a list
 * request at the 800 req/s list limit of the HTTP benchmark (1.25 ms a request on one core);
 * 500,000 ids/s (2 µs) keeps ids negligible even at the 8,000 req/s of the public route.
 */
const TOKEN_MIN_OPS = 20_000;
const NEWID_MIN_OPS = 500_000;

let sink: unknown;

/** Operations per second of `fn`: the median of 3 rounds of ~1 s each, after a warm-up. */
function opsPerSecond(fn: () => unknown, roundMs = 1000): number {
  for (let i = 0; i < 20_000; i++) sink = fn();
  const rounds: number[] = [];
  for (let round = 0; round < 3; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    const budget = BigInt(roundMs) * 1_000_000n;
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let i = 0; i < 1000; i++) sink = fn();
      ops += 1000;
      elapsed = process.hrtime.bigint() - start;
    }
    rounds.push(ops / (Number(elapsed) / 1e9));
  }
  return rounds.sort((a, b) => a - b)[1];
}

export function runMicroBenchmarks(): Figure[] {
  const codec = new PageTokenCodec('page-token:k1:ZGV2LXNlY3JldHMta2V5LWNoYW5nZS1tZS0wMTIzNDU=');
  const scope: PageScope = {
    orgcode: 'acme',
    resource: 'webhook.list',
    filters: { status: 'active', app: null, event_type: 'order.created' },
  };
  const cursor: Cursor = ['2026-11-23T10:00:00.000Z', 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E'];
  const roundTrip = (): Cursor => codec.decode(codec.encode(scope, cursor), scope);
  if (JSON.stringify(roundTrip()) !== JSON.stringify(cursor)) throw new Error('PageTokenCodec round trip is broken');

  const tokenOps = opsPerSecond(roundTrip);
  const idOps = opsPerSecond(() => newId(IdPrefix.Webhook));
  if (typeof sink === 'undefined') throw new Error('unreachable');

  const figures: Figure[] = [
    { name: 'PageTokenCodec encode+decode', value: tokenOps, unit: 'ops/s', bound: 'min', target: TOKEN_MIN_OPS },
    { name: 'ids.newId', value: idOps, unit: 'ops/s', bound: 'min', target: NEWID_MIN_OPS },
  ];
  section('(c) micro-benchmarks (one core, median of 3 rounds of 1 s)', [
    `PageTokenCodec encode+decode (4 HMAC-SHA256, JSON, base64url): ${fmt(tokenOps)} ops/s, ` +
      `${fmt(1e6 / tokenOps, 2)} µs each`,
    `ids.newId (prefixed monotonic ULID): ${fmt(idOps)} ops/s, ${fmt(1e6 / idOps, 2)} µs each`,
    `limits: a token pair under 50 µs (${fmt(TOKEN_MIN_OPS)} ops/s), < 5 % of a list request at 800 req/s;`,
    `an id under 2 µs (${fmt(NEWID_MIN_OPS)} ops/s), negligible even at 8,000 req/s`,
  ]);
  for (const f of figures) line(verdict(f));
  return figures;
}
