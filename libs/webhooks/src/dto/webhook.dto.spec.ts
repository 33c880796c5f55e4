import { AppError, ErrorDetail } from '@ipm/core';
import { createValidationPipe } from '@ipm/core';
import { retryPolicy } from '../webhooks.service';
import {
  WebhookCreateRequestDto,
  WebhookDeleteRequestDto,
  WebhookGetRequestDto,
  WebhookListRequestDto,
  WebhookSecretRotateRequestDto,
  WebhookStatusSetRequestDto,
  WebhookUpdateRequestDto,
} from './webhook.dto';

const pipe = createValidationPipe();
const ID = 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E';
type Dto = new () => object;

async function accept<T extends object>(metatype: new () => T, body: unknown): Promise<T> {
  return (await pipe.transform(structuredClone(body), { type: 'body', metatype })) as T;
}

/** The fields a refused body names. */
async function refusedFields(metatype: Dto, body: unknown): Promise<string[]> {
  try {
    await pipe.transform(structuredClone(body), { type: 'body', metatype });
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    return ((err as AppError).details ?? []).map((d: ErrorDetail) => d.field ?? '');
  }
  throw new Error('expected a 400');
}

describe('WebhookCreateRequestDto', () => {
  const minimal = { endpoint_url: 'https://erp.example.com/hooks' };
  const full = {
    ...minimal,
    name: 'Orders to ERP',
    description: 'All RFP changes',
    event_filters: [
      { service: 'rfp' },
      { service: 'rfp', action: 'created' },
      { service: 'ipm', action_prefix: 'webhook.' },
    ],
    headers: { 'X-Team': 'erp' },
    retry_policy: { max_attempts: 20, backoff: 'exponential', timeout_ms: 30000 },
    timeout_ms: 30000,
    tags: ['erp', 'team:orders', 'v1.2_x-y'],
    app_id: 'app_billing',
    reason: 'onboarding',
    source_refs: [{ kind: 'ticket', id: 'OPS-1' }],
    request_context: { orgcode: 'acme' },
  };

  it('accepts the minimal body (the seed sample) and a full one', async () => {
    await expect(accept(WebhookCreateRequestDto, minimal)).resolves.toBeInstanceOf(WebhookCreateRequestDto);
    await expect(
      accept(WebhookCreateRequestDto, { ...minimal, event_filters: [{ service: 'rfp' }] }),
    ).resolves.toBeDefined();
    const dto = await accept(WebhookCreateRequestDto, full);
    expect(dto.event_filters?.[2]).toEqual({ service: 'ipm', action_prefix: 'webhook.' });
    await expect(
      accept(WebhookCreateRequestDto, {
        ...minimal,
        retry_policy: { max_attempts: 1, timeout_ms: 1000 },
        event_filters: [],
      }),
    ).resolves.toBeDefined();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['endpoint_url missing', { endpoint_url: undefined }, 'endpoint_url'],
    ['endpoint_url not a string', { endpoint_url: 42 }, 'endpoint_url'],
    ['endpoint_url empty', { endpoint_url: '' }, 'endpoint_url'],
    ['name empty', { name: '' }, 'name'],
    ['name too long', { name: 'n'.repeat(201) }, 'name'],
    ['name not a string', { name: 7 }, 'name'],
    ['description too long', { description: 'd'.repeat(1001) }, 'description'],
    ['event_filters not an array', { event_filters: { service: 'rfp' } }, 'event_filters'],
    [
      'more than 50 filters',
      { event_filters: Array.from({ length: 51 }, () => ({ service: 'rfp' })) },
      'event_filters',
    ],
    ['a filter without service', { event_filters: [{ action: 'created' }] }, 'event_filters.0.service'],
    ['a malformed service', { event_filters: [{ service: 'Rfp!' }] }, 'event_filters.0.service'],
    ['a malformed action', { event_filters: [{ service: 'rfp', action: 'Created' }] }, 'event_filters.0.action'],
    [
      'a malformed prefix',
      { event_filters: [{ service: 'rfp', action_prefix: 'A*' }] },
      'event_filters.0.action_prefix',
    ],
    [
      'action and action_prefix together',
      { event_filters: [{ service: 'rfp', action: 'created', action_prefix: 'cr' }] },
      'event_filters.0.action_prefix',
    ],
    ['an unknown filter key', { event_filters: [{ service: 'rfp', type: 'x' }] }, 'event_filters.0.type'],
    ['headers not an object', { headers: ['X-A: 1'] }, 'headers'],
    ['a hop-by-hop header', { headers: { Connection: 'close' } }, 'headers'],
    ['a signature header', { headers: { 'webhook-signature': 'v1,x' } }, 'headers'],
    ['a header value with CRLF', { headers: { 'X-A': 'a\r\nb' } }, 'headers'],
    ['max_attempts 0', { retry_policy: { max_attempts: 0 } }, 'retry_policy.max_attempts'],
    ['max_attempts 21', { retry_policy: { max_attempts: 21 } }, 'retry_policy.max_attempts'],
    ['max_attempts not an integer', { retry_policy: { max_attempts: 2.5 } }, 'retry_policy.max_attempts'],
    ['backoff linear', { retry_policy: { backoff: 'linear' } }, 'retry_policy.backoff'],
    ['retry timeout_ms 999', { retry_policy: { timeout_ms: 999 } }, 'retry_policy.timeout_ms'],
    ['retry timeout_ms 30001', { retry_policy: { timeout_ms: 30001 } }, 'retry_policy.timeout_ms'],
    ['retry_policy not an object', { retry_policy: 8 }, 'retry_policy'],
    ['an unknown retry_policy key', { retry_policy: { jitter: true } }, 'retry_policy.jitter'],
    ['timeout_ms 999', { timeout_ms: 999 }, 'timeout_ms'],
    ['timeout_ms 30001', { timeout_ms: 30001 }, 'timeout_ms'],
    ['timeout_ms as a string', { timeout_ms: '15000' }, 'timeout_ms'],
    ['tags not an array', { tags: 'erp' }, 'tags'],
    ['21 tags', { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, 'tags'],
    ['a tag with a space', { tags: ['a b'] }, 'tags'],
    ['an empty tag', { tags: [''] }, 'tags'],
    ['a 65-character tag', { tags: ['t'.repeat(65)] }, 'tags'],
    ['duplicate tags', { tags: ['a', 'a'] }, 'tags'],
    ['a malformed app_id', { app_id: 'app id' }, 'app_id'],
    ['an unknown field', { secret: 'whsec_mine' }, 'secret'],
    ['a status other than active or paused', { status: 'disabled' }, 'status'],
  ])('400 for %s, naming the field', async (_label, patch, field) => {
    expect(await refusedFields(WebhookCreateRequestDto, { ...minimal, ...patch })).toContain(field);
  });

  it('keeps header names that are Object.prototype members (toString, hasOwnProperty…), none dropped', async () => {
    const names = ['hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf', 'X-Team'];
    const headers = `{${names.map((n, i) => `"${n}":"v${i}"`).join(',')}}`;
    const bodies: Array<[Dto, string]> = [
      [WebhookCreateRequestDto, `{"endpoint_url":"https://erp.example.com/hooks","headers":${headers}}`],
      [WebhookUpdateRequestDto, `{"webhook_id":"${ID}","expected_revision":"1","headers":${headers}}`],
    ];
    for (const [metatype, json] of bodies) {
      const dto = (await pipe.transform(JSON.parse(json), { type: 'body', metatype })) as {
        headers: Record<string, string>;
      };
      expect(Object.entries(dto.headers)).toEqual(names.map((n, i) => [n, `v${i}`]));
    }
  });

  it.each(['constructor', 'prototype', '__proto__'])('refuses a header named %s with a 400 naming it', async (name) => {
    const body = JSON.parse(`{"endpoint_url":"https://erp.example.com/hooks","headers":{"${name}":"v","X-A":"1"}}`);
    const err = (await pipe
      .transform(body, { type: 'body', metatype: WebhookCreateRequestDto })
      .catch((e: unknown) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.status).toBe(400);
    expect(err.details?.map((d) => d.field)).toEqual([`headers.${name}`]);
  });

  it('a 64-character tag and 20 tags are fine', async () => {
    await expect(
      accept(WebhookCreateRequestDto, {
        ...minimal,
        tags: ['t'.repeat(64), ...Array.from({ length: 19 }, (_, i) => `t${i}`)],
      }),
    ).resolves.toBeDefined();
  });

  it('names every bad field at once', async () => {
    const fields = await refusedFields(WebhookCreateRequestDto, { name: '', tags: 'x', timeout_ms: 1 });
    expect(fields).toEqual(expect.arrayContaining(['endpoint_url', 'name', 'tags', 'timeout_ms']));
  });
});

describe('the other request DTOs', () => {
  it('webhook_id must be a whk_ id everywhere', async () => {
    for (const metatype of [
      WebhookGetRequestDto,
      WebhookUpdateRequestDto,
      WebhookStatusSetRequestDto,
      WebhookDeleteRequestDto,
      WebhookSecretRotateRequestDto,
    ] as Dto[]) {
      for (const bad of [undefined, '', 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', 'whk_123', `${ID}x`, 42]) {
        expect(await refusedFields(metatype, { webhook_id: bad, status: 'paused', name: 'x' })).toContain('webhook_id');
      }
    }
    await expect(accept(WebhookGetRequestDto, { webhook_id: ID })).resolves.toEqual({ webhook_id: ID });
  });

  it('expected_revision is a positive integer as a string (its absence is the service’s 428)', async () => {
    await expect(accept(WebhookUpdateRequestDto, { webhook_id: ID, name: 'x' })).resolves.toBeDefined();
    await expect(
      accept(WebhookUpdateRequestDto, { webhook_id: ID, name: 'x', expected_revision: '3' }),
    ).resolves.toBeDefined();
    for (const bad of [3, 'three', '-1', '1.5', ''])
      expect(await refusedFields(WebhookUpdateRequestDto, { webhook_id: ID, expected_revision: bad })).toContain(
        'expected_revision',
      );
  });

  it('status/set takes active, paused or disabled', async () => {
    for (const status of ['active', 'paused', 'disabled'])
      await expect(
        accept(WebhookStatusSetRequestDto, { webhook_id: ID, status, expected_revision: '1' }),
      ).resolves.toBeDefined();
    for (const status of ['deleted', 'ACTIVE', undefined, 1])
      expect(await refusedFields(WebhookStatusSetRequestDto, { webhook_id: ID, status })).toContain('status');
  });

  it('rotate: grace_period_seconds is 0 to 604800 seconds, an integer', async () => {
    for (const grace of [0, 1, 86400, 604800])
      await expect(
        accept(WebhookSecretRotateRequestDto, { webhook_id: ID, grace_period_seconds: grace }),
      ).resolves.toBeDefined();
    for (const grace of [-1, 604801, 1.5, '60'])
      expect(
        await refusedFields(WebhookSecretRotateRequestDto, { webhook_id: ID, grace_period_seconds: grace }),
      ).toContain('grace_period_seconds');
  });

  it('update refuses endpoint_url that is empty, and the fields create does not take', async () => {
    expect(await refusedFields(WebhookUpdateRequestDto, { webhook_id: ID, endpoint_url: '' })).toContain(
      'endpoint_url',
    );
    expect(await refusedFields(WebhookUpdateRequestDto, { webhook_id: ID, status: 'paused' })).toContain('status');
    expect(await refusedFields(WebhookUpdateRequestDto, { webhook_id: ID, app_id: 'a' })).toContain('app_id');
  });

  it('list filters and ordering', async () => {
    await expect(
      accept(WebhookListRequestDto, {
        status: 'paused',
        event_type: 'ipm.webhook.created',
        tag: 'erp',
        app_id: 'app_a',
        order_by: 'name',
        order: 'desc',
        limit: 5,
      }),
    ).resolves.toBeDefined();
    expect(await refusedFields(WebhookListRequestDto, { status: 'gone' })).toContain('status');
    expect(await refusedFields(WebhookListRequestDto, { event_type: 'rfp' })).toContain('event_type');
    expect(await refusedFields(WebhookListRequestDto, { event_type: 'RFP.created' })).toContain('event_type');
    expect(await refusedFields(WebhookListRequestDto, { tag: 'a b' })).toContain('tag');
    await expect(accept(WebhookListRequestDto, { order_by: 'updated', order: 'asc' })).resolves.toBeDefined();
    expect(await refusedFields(WebhookListRequestDto, { order_by: 'modified' })).toContain('order_by');
    expect(await refusedFields(WebhookListRequestDto, { order: 'up' })).toContain('order');
  });
});

describe('retryPolicy', () => {
  const defaults = { max_attempts: 8, backoff: 'exponential' as const, timeout_ms: 15000 };

  it('defaults, then the policy given, then the timeout_ms shorthand', () => {
    expect(retryPolicy(defaults, undefined, undefined)).toEqual(defaults);
    expect(retryPolicy(defaults, { max_attempts: 3 }, undefined)).toEqual({ ...defaults, max_attempts: 3 });
    expect(retryPolicy(defaults, undefined, 2000)).toEqual({ ...defaults, timeout_ms: 2000 });
    expect(retryPolicy(defaults, { timeout_ms: 2000 }, 2000)).toEqual({ ...defaults, timeout_ms: 2000 });
    expect(retryPolicy({ ...defaults, max_attempts: 3 }, { timeout_ms: 5000 }, undefined)).toEqual({
      max_attempts: 3,
      backoff: 'exponential',
      timeout_ms: 5000,
    });
  });

  it('400 when timeout_ms and retry_policy.timeout_ms disagree', () => {
    expect(() => retryPolicy(defaults, { timeout_ms: 2000 }, 3000)).toThrow(AppError);
  });
});
