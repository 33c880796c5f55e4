import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApiApp } from '../../apps/api/src/bootstrap';
import { AppConfig } from '@ipm/core';
import type { WebhookEntity } from '@ipm/webhooks';
import { WebhookRepository } from '@ipm/webhooks';
import { WebhookSecrets } from '@ipm/webhooks';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

/** A public address as an IP literal: accepted without DNS (the test machines have none). */
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';
const OTHER_PUBLIC_URL = 'https://93.184.215.15/hooks/v2';
const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;
const ROUTES = ['create', 'get', 'list', 'update', 'status/set', 'delete', 'secret/rotate'] as const;

type Json = Record<string, unknown>;
type Webhook = Json & { webhook_id: string; revision: string };

describe('/webhook routes', () => {
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('whk');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, {
      sub: 'hook-admin',
      orgs: [org],
      permissions: ['manage_webhooks', 'manage_api_keys', 'view_audit'],
    });
  });
  afterAll(() => api.close());

  const db = () => api.app.get(DataSource);
  const post = (route: string, body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post(`/ipm/webhook/${route}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const create = async (body: Json = {}, auth: string = admin, orgcode: string = org): Promise<Webhook> => {
    const res = await post('create', { endpoint_url: PUBLIC_URL, ...body }, auth, orgcode);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200 });
    return res.body.data as Webhook;
  };
  const auditRows = (webhookId: string) =>
    db().query<Array<{ action: string; actor_id: string; reason: string | null; metadata: Json }>>(
      'SELECT action, actor_id, reason, metadata FROM audit_log WHERE target_id = $1 ORDER BY audit_id',
      [webhookId],
    );
  const eventRows = (webhookId: string) =>
    db().query<Array<{ event_type: string; payload: Json }>>(
      'SELECT event_type, payload FROM events WHERE logical_guid = $1 ORDER BY seq',
      [webhookId],
    );

  describe('happy paths', () => {
    it('create: the record at data top-level plus the secret, once; sealed at rest; audited; an event', async () => {
      const res = await post('create', {
        endpoint_url: PUBLIC_URL,
        event_filters: [{ service: 'rfp' }],
        reason: 'onboarding ERP',
      }).expect(200);
      expect(res.body).toMatchObject({
        success: true,
        build: { build_id: api.config.BUILD_ID },
        stats: { call: 'POST /webhook/create', service: 'ipm' },
      });
      const data = res.body.data as Webhook & { secret: string };
      expect(data.secret).toMatch(SECRET);
      expect(data).toMatchObject({
        webhook_id: expect.stringMatching(/^whk_[0-9A-Z]{26}$/),
        orgcode: org,
        app_id: null,
        name: null,
        description: null,
        endpoint_url: PUBLIC_URL,
        status: 'active',
        event_filters: [{ service: 'rfp' }],
        headers: {},
        retry_policy: { max_attempts: 8, backoff: 'exponential', timeout_ms: 15000 },
        signing_algorithm: 'hmac-sha256',
        secret_last4: data.secret.slice(-4),
        secret_fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        previous_secret_expires_at: null,
        tags: [],
        consecutive_failures: 0,
        paused_at: null,
        last_delivery_at: null,
        last_delivery_status: null,
        created_by: 'hook-admin',
        updated_by: 'hook-admin',
        revision: '1',
      });
      expect(data.created_at).toBe(data.updated_at);

      const [row] = await db().query('SELECT * FROM webhooks WHERE webhook_id = $1', [data.webhook_id]);
      expect(row.secret_sealed).toMatch(/^v1\.k1\./);
      expect(row.secret_sealed).not.toContain(data.secret.slice(6));
      expect(row.secret_key_id).toBe('k1');
      expect(api.app.get(WebhookSecrets).signingSecrets(row)).toEqual([data.secret]);

      const audit = await auditRows(data.webhook_id);
      expect(audit).toEqual([
        expect.objectContaining({ action: 'webhook.create', actor_id: 'hook-admin', reason: 'onboarding ERP' }),
      ]);
      expect(audit[0].metadata).toMatchObject({ changed: ['endpoint_url', 'event_filters'], revision: '1' });
      expect(await eventRows(data.webhook_id)).toEqual([
        {
          event_type: 'ipm.webhook.created',
          payload: {
            webhook_id: data.webhook_id,
            name: null,
            endpoint_url: PUBLIC_URL,
            status: 'active',
            revision: '1',
          },
        },
      ]);
    });

    it('create takes every field', async () => {
      const data = await create({
        name: 'Orders to ERP',
        description: 'every RFP change',
        event_filters: [
          { service: 'rfp', action: 'created' },
          { service: 'ipm', action_prefix: 'webhook.' },
        ],
        headers: { 'X-Team': 'erp', 'x-env': 'prod' },
        retry_policy: { max_attempts: 3 },
        timeout_ms: 5000,
        tags: ['erp', 'team:orders'],
      });
      expect(data).toMatchObject({
        name: 'Orders to ERP',
        description: 'every RFP change',
        event_filters: [
          { service: 'rfp', action: 'created' },
          { service: 'ipm', action_prefix: 'webhook.' },
        ],
        headers: { 'X-Team': 'erp', 'x-env': 'prod' },
        retry_policy: { max_attempts: 3, backoff: 'exponential', timeout_ms: 5000 },
        tags: ['erp', 'team:orders'],
      });
    });

    it('get: data.webhook, the same record without the secret', async () => {
      const { secret, ...created } = (await create({ name: 'getme' })) as Webhook & { secret: string };
      const res = await post('get', { webhook_id: created.webhook_id }).expect(200);
      expect(res.body.stats.call).toBe('POST /webhook/get');
      expect(res.body.data).toEqual({ webhook: created });
      expect(JSON.stringify(res.body)).not.toContain(secret.slice(6));
    });

    it('update: partial, bumps the revision, says what changed; an update that changes nothing is not a revision', async () => {
      const hook = await create({ name: 'before', tags: ['a'], retry_policy: { max_attempts: 4 } });
      const res = await post('update', {
        webhook_id: hook.webhook_id,
        expected_revision: '1',
        name: 'after',
        endpoint_url: OTHER_PUBLIC_URL,
        headers: { 'X-Added': '1' },
        timeout_ms: 2000,
        reason: 'moved',
      }).expect(200);
      const updated = res.body.data.webhook as Webhook;
      expect(updated).toMatchObject({
        webhook_id: hook.webhook_id,
        name: 'after',
        endpoint_url: OTHER_PUBLIC_URL,
        headers: { 'X-Added': '1' },
        tags: ['a'],
        retry_policy: { max_attempts: 4, backoff: 'exponential', timeout_ms: 2000 },
        revision: '2',
        created_at: hook.created_at,
        updated_by: 'hook-admin',
      });
      expect((updated.updated_at as string) >= (hook.updated_at as string)).toBe(true);
      const changed = ['name', 'endpoint_url', 'headers', 'retry_policy'];
      expect((await auditRows(hook.webhook_id))[1]).toMatchObject({
        action: 'webhook.update',
        reason: 'moved',
        metadata: { changed, revision: '2' },
      });
      expect((await eventRows(hook.webhook_id))[1]).toEqual({
        event_type: 'ipm.webhook.updated',
        payload: {
          webhook_id: hook.webhook_id,
          name: 'after',
          endpoint_url: OTHER_PUBLIC_URL,
          status: 'active',
          revision: '2',
          changed,
        },
      });

      // the same values again: no new revision, no audit row, no event
      const same = await post('update', { webhook_id: hook.webhook_id, expected_revision: '2', name: 'after' }).expect(
        200,
      );
      expect(same.body.data.webhook.revision).toBe('2');
      expect(await auditRows(hook.webhook_id)).toHaveLength(2);

      // null clears name and description; event_filters and tags can be emptied
      const cleared = await post('update', {
        webhook_id: hook.webhook_id,
        expected_revision: '2',
        name: null,
        description: null,
        tags: [],
        event_filters: [{ service: 'rfp' }],
      }).expect(200);
      expect(cleared.body.data.webhook).toMatchObject({
        name: null,
        description: null,
        tags: [],
        event_filters: [{ service: 'rfp' }],
        revision: '3',
      });
    });

    it('create paused (seeds 002/003 is_active): set up before it receives anything, then resumed', async () => {
      const hook = await create({ status: 'paused', event_filters: [{ service: 'rfp' }] });
      expect(hook).toMatchObject({ status: 'paused', paused_at: expect.any(String), revision: '1' });
      expect(hook.paused_at).toBe(hook.created_at);
      const got = await post('get', { webhook_id: hook.webhook_id }).expect(200);
      expect(got.body.data).toMatchObject({ webhook: { status: 'paused' } });
      const listed = await post('list', { status: 'paused', limit: 256 }).expect(200);
      expect((listed.body.data.items as Webhook[]).map((w) => w.webhook_id)).toContain(hook.webhook_id);
      // The fan-out's query: a paused webhook is no subscriber, so an event creates no delivery for it.
      const repo = api.app.get(WebhookRepository);
      const subscribers = async () =>
        (await repo.activeSubscribers({ orgcode: org }, 'rfp.created', { limit: 1000 })).rows.map((w) => w.webhook_id);
      expect(await subscribers()).not.toContain(hook.webhook_id);
      const [created] = (await eventRows(hook.webhook_id)).filter((e) => e.event_type === 'ipm.webhook.created');
      expect(created.payload).toMatchObject({ webhook_id: hook.webhook_id, status: 'paused' });

      await post('status/set', { webhook_id: hook.webhook_id, status: 'active', expected_revision: '1' }).expect(200);
      expect(await subscribers()).toContain(hook.webhook_id);
      const active = await create({ status: 'active' });
      expect(active).toMatchObject({ status: 'active', paused_at: null });
    });

    it('create refuses a status other than active or paused, and null, naming status (400)', async () => {
      for (const status of ['disabled', 'PAUSED', 1, null]) {
        const res = await post('create', { endpoint_url: PUBLIC_URL, status }).expect(400);
        expect(res.body.error.code).toBe('validation_failed');
        expect((res.body.error.details as Array<{ field: string }>).map((d) => d.field)).toEqual(['status']);
      }
    });

    it('status/set: through the lifecycle machine, with status_changed and the specific event', async () => {
      const hook = await create({ name: 'status' });
      const paused = await post('status/set', {
        webhook_id: hook.webhook_id,
        status: 'paused',
        expected_revision: '1',
        reason: 'maintenance',
      }).expect(200);
      expect(paused.body.stats.call).toBe('POST /webhook/status/set');
      expect(paused.body.data.webhook).toMatchObject({
        status: 'paused',
        revision: '2',
        paused_at: expect.any(String),
      });

      const resumed = await post('status/set', {
        webhook_id: hook.webhook_id,
        status: 'active',
        expected_revision: '2',
      }).expect(200);
      expect(resumed.body.data.webhook).toMatchObject({ status: 'active', revision: '3', paused_at: null });
      const disabled = await post('status/set', {
        webhook_id: hook.webhook_id,
        status: 'disabled',
        expected_revision: '3',
      }).expect(200);
      expect(disabled.body.data.webhook).toMatchObject({ status: 'disabled', revision: '4' });

      const audit = await auditRows(hook.webhook_id);
      expect(audit.slice(1).map((a) => [a.action, a.metadata.from, a.metadata.to])).toEqual([
        ['webhook.status_set', 'active', 'paused'],
        ['webhook.status_set', 'paused', 'active'],
        ['webhook.status_set', 'active', 'disabled'],
      ]);
      const events = await eventRows(hook.webhook_id);
      expect(events.map((e) => e.event_type)).toEqual([
        'ipm.webhook.created',
        'ipm.webhook.status_changed',
        'ipm.webhook.paused',
        'ipm.webhook.status_changed',
        'ipm.webhook.enabled',
        'ipm.webhook.status_changed',
        'ipm.webhook.disabled',
      ]);
      expect(events[1].payload).toMatchObject({ from: 'active', to: 'paused', reason: 'maintenance', revision: '2' });
      expect(events[2].payload).toMatchObject({ status: 'paused', reason: 'maintenance', consecutive_failures: 0 });
    });

    it('delete: soft, returns { webhook_id, deleted_at }; gone from get, list and every route', async () => {
      const hook = await create({ name: 'doomed', tags: ['doomed'] });
      const res = await post('delete', { webhook_id: hook.webhook_id, reason: 'retired' }).expect(200);
      expect(res.body.data).toEqual({ webhook_id: hook.webhook_id, deleted_at: expect.any(String) });
      const deletedAt = res.body.data.deleted_at as string;

      await post('get', { webhook_id: hook.webhook_id }).expect(404);
      const list = await post('list', { tag: 'doomed' }).expect(200);
      expect(list.body.data.items).toEqual([]);
      await post('update', { webhook_id: hook.webhook_id, expected_revision: '2', name: 'x' }).expect(404);
      await post('status/set', { webhook_id: hook.webhook_id, status: 'paused', expected_revision: '2' }).expect(404);
      await post('secret/rotate', { webhook_id: hook.webhook_id }).expect(404);
      await post('delete', { webhook_id: hook.webhook_id }).expect(404);

      const [row] = await db().query(
        'SELECT is_deleted, deleted_at, deleted_by, revision FROM webhooks WHERE webhook_id = $1',
        [hook.webhook_id],
      );
      expect(row).toMatchObject({ is_deleted: true, deleted_by: 'hook-admin', revision: 2 });
      expect((row.deleted_at as Date).toISOString()).toBe(deletedAt);
      expect(
        await api.app.get(WebhookRepository).findVisible({ orgcode: org, app_id: null }, hook.webhook_id),
      ).toBeNull();
      expect((await auditRows(hook.webhook_id))[1]).toMatchObject({ action: 'webhook.delete', reason: 'retired' });
      expect((await eventRows(hook.webhook_id))[1]).toEqual({
        event_type: 'ipm.webhook.deleted',
        payload: { webhook_id: hook.webhook_id, deleted_at: deletedAt },
      });
    });

    it('secret/rotate: a new secret once; the previous one keeps signing through the grace period', async () => {
      const created = (await create({ name: 'rotating' })) as Webhook & { secret: string };
      const before = Date.now();
      const res = await post('secret/rotate', { webhook_id: created.webhook_id, reason: 'leak drill' }).expect(200);
      expect(res.body.stats.call).toBe('POST /webhook/secret/rotate');
      const { webhook, secret } = res.body.data as { webhook: Webhook; secret: string };
      expect(secret).toMatch(SECRET);
      expect(secret).not.toBe(created.secret);
      expect(webhook).toMatchObject({ secret_last4: secret.slice(-4), revision: '2' });
      expect(webhook.secret_fingerprint).not.toBe(created.secret_fingerprint);
      const until = Date.parse(webhook.previous_secret_expires_at as string);
      expect(until - before).toBeGreaterThanOrEqual(86_400_000 - 1000);
      expect(until - before).toBeLessThanOrEqual(86_400_000 + 60_000);

      const secrets = api.app.get(WebhookSecrets);
      const load = async () =>
        (await db().query<WebhookEntity[]>('SELECT * FROM webhooks WHERE webhook_id = $1', [created.webhook_id]))[0];
      expect(secrets.signingSecrets(await load())).toEqual([secret, created.secret]);
      expect(secrets.signingSecrets(await load(), new Date(until + 1))).toEqual([secret]);

      const [event] = (await eventRows(created.webhook_id)).slice(1);
      expect(event).toEqual({
        event_type: 'ipm.webhook.secret_rotated',
        payload: {
          webhook_id: created.webhook_id,
          secret_last4: secret.slice(-4),
          previous_valid_until: webhook.previous_secret_expires_at,
        },
      });
      expect((await auditRows(created.webhook_id))[1]).toMatchObject({
        action: 'webhook.secret_rotate',
        metadata: { grace_period_seconds: 86400, secret_fingerprint: webhook.secret_fingerprint },
      });

      // a short grace period, then none at all
      const short = await post('secret/rotate', { webhook_id: created.webhook_id, grace_period_seconds: 60 }).expect(
        200,
      );
      const shortUntil = Date.parse(short.body.data.webhook.previous_secret_expires_at as string);
      expect(shortUntil - Date.now()).toBeLessThanOrEqual(60_000);
      expect(secrets.signingSecrets(await load())).toEqual([short.body.data.secret, secret]);
      const none = await post('secret/rotate', {
        webhook_id: created.webhook_id,
        grace_period_seconds: 0,
        expected_revision: '3',
      }).expect(200);
      expect(none.body.data.webhook).toMatchObject({ previous_secret_expires_at: null, revision: '4' });
      expect(secrets.signingSecrets(await load())).toEqual([none.body.data.secret]);
    });
  });

  describe('list', () => {
    const listOrg = uniqueOrg('whklist');
    let boss: string;
    const hooks: Record<string, Webhook> = {};

    beforeAll(async () => {
      boss = await token(api.config, { orgs: [listOrg], permissions: ['manage_webhooks'] });
      const specs: Array<[string, Json]> = [
        ['charlie', { event_filters: [], tags: ['erp'] }],
        ['alpha', { event_filters: [{ service: 'rfp' }], tags: ['erp', 'crm'] }],
        ['echo', { event_filters: [{ service: 'rfp', action: 'created' }] }],
        ['bravo', { event_filters: [{ service: 'ipm', action_prefix: 'webhook.' }], tags: ['crm'] }],
        ['delta', { event_filters: [{ service: 'rfp', action: 'status_changed' }], app_id: 'app_x' }],
      ];
      for (const [name, body] of specs) hooks[name] = await create({ name, ...body }, boss, listOrg);
      await post(
        'status/set',
        { webhook_id: hooks.echo.webhook_id, status: 'paused', expected_revision: '1' },
        boss,
        listOrg,
      ).expect(200);
    });

    const names = async (body: Json) => {
      const res = await post('list', { limit: 256, ...body }, boss, listOrg).expect(200);
      expect(JSON.stringify(res.body)).not.toMatch(/whsec_|secret_sealed|"secret"/);
      return (res.body.data.items as Array<{ name: string }>).map((w) => w.name);
    };

    it('newest first by default; by name ascending; either way reversible', async () => {
      expect(await names({})).toEqual(['delta', 'bravo', 'echo', 'alpha', 'charlie']);
      expect(await names({ order: 'asc' })).toEqual(['charlie', 'alpha', 'echo', 'bravo', 'delta']);
      expect(await names({ order_by: 'name' })).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo']);
      expect(await names({ order_by: 'name', order: 'desc' })).toEqual(['echo', 'delta', 'charlie', 'bravo', 'alpha']);
    });

    it('by updated (seed 002 modified): last changed first, or oldest change first; pages keep it', async () => {
      // created charlie, alpha, echo, bravo, delta; echo paused since; now alpha changes
      await post(
        'update',
        { webhook_id: hooks.alpha.webhook_id, expected_revision: '1', description: 'changed last' },
        boss,
        listOrg,
      ).expect(200);
      const latest = ['alpha', 'echo', 'delta', 'bravo', 'charlie'];
      expect(await names({ order_by: 'updated' })).toEqual(latest);
      expect(await names({ order_by: 'updated', order: 'asc' })).toEqual([...latest].reverse());
      expect(await names({ order_by: 'updated', status: 'active' })).toEqual(['alpha', 'delta', 'bravo', 'charlie']);
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const res = await post(
          'list',
          { order_by: 'updated', limit: 2, ...(next ? { next_token: next } : {}) },
          boss,
          listOrg,
        ).expect(200);
        seen.push(...(res.body.data.items as Array<{ name: string }>).map((w) => w.name));
        next = res.body.data.next_token as string | undefined;
        if (next) {
          // a token of this order is no token for another
          await post('list', { order_by: 'created', limit: 2, next_token: next }, boss, listOrg).expect(400);
        }
      } while (next);
      expect(seen).toEqual(latest);
      const bad = await post('list', { order_by: 'modified' }, boss, listOrg).expect(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'order_by' })]);
    });

    it('filters: status, tag, app_id, and event_type (webhooks whose filters match it)', async () => {
      expect(await names({ status: 'paused' })).toEqual(['echo']);
      expect(await names({ status: 'active', order_by: 'name' })).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
      expect(await names({ tag: 'erp', order_by: 'name' })).toEqual(['alpha', 'charlie']);
      expect(await names({ tag: 'nope' })).toEqual([]);
      expect(await names({ app_id: 'app_x' })).toEqual(['delta']);
      expect(await names({ event_type: 'rfp.created', order_by: 'name' })).toEqual(['alpha', 'charlie', 'echo']);
      expect(await names({ event_type: 'rfp.status_changed', order_by: 'name' })).toEqual([
        'alpha',
        'charlie',
        'delta',
      ]);
      expect(await names({ event_type: 'ipm.webhook.created', order_by: 'name' })).toEqual(['bravo', 'charlie']);
      expect(await names({ event_type: 'kpi.alert' })).toEqual(['charlie']);
      expect(await names({ event_type: 'rfp.created', tag: 'erp', status: 'active', order_by: 'name' })).toEqual([
        'alpha',
        'charlie',
      ]);
    });

    it('pages with opaque keyset tokens (also when event_type filters in memory); the last page has none', async () => {
      for (const filter of [{}, { order_by: 'name' }, { event_type: 'rfp.created', order_by: 'name' }]) {
        const all = await names(filter);
        const seen: string[] = [];
        let next: string | undefined;
        let pages = 0;
        do {
          const res = await post(
            'list',
            { ...filter, limit: 2, ...(next ? { next_token: next } : {}) },
            boss,
            listOrg,
          ).expect(200);
          seen.push(...(res.body.data.items as Array<{ name: string }>).map((w) => w.name));
          next = res.body.data.next_token as string | undefined;
          pages++;
        } while (next && pages < 10);
        expect(seen).toEqual(all);
        expect(pages).toBe(Math.ceil(all.length / 2));
      }
      const first = await post('list', { limit: 8 }, boss, listOrg).expect(200);
      expect(first.body.data.next_token).toBeUndefined();
      const paged = await post('list', { limit: 1 }, boss, listOrg).expect(200);
      const tok = paged.body.data.next_token as string;
      // a token is bound to its filters and tenant; a forged one is a 400
      await post('list', { limit: 1, next_token: tok, status: 'active' }, boss, listOrg).expect(400);
      await post('list', { limit: 1, next_token: `${tok.slice(0, -2)}xx` }, boss, listOrg).expect(400);
    });

    it('the default page is 8 and limit is clamped to 256', async () => {
      const many = uniqueOrg('whkmany');
      const jwt = await token(api.config, { orgs: [many], permissions: ['manage_webhooks'] });
      for (let i = 0; i < 9; i++) await create({ name: `w${i}` }, jwt, many);
      const res = await post('list', {}, jwt, many).expect(200);
      expect(res.body.data.items).toHaveLength(8);
      expect(res.body.data.next_token).toEqual(expect.any(String));
      const all = await post('list', { limit: 100000 }, jwt, many).expect(200);
      expect(all.body.data.items).toHaveLength(9);
    });
  });

  describe('400 per bad field', () => {
    const fieldsOf = (res: request.Response) =>
      (res.body.error.details as Array<{ field: string }>).map((d) => d.field);

    it('create names every bad field', async () => {
      const res = await post('create', {
        endpoint_url: 42,
        name: '',
        description: 'd'.repeat(1001),
        event_filters: [{ service: 'Bad!' }, { service: 'rfp', action: 'created', action_prefix: 'c' }],
        headers: { Connection: 'close' },
        retry_policy: { max_attempts: 0, backoff: 'linear', timeout_ms: 999 },
        timeout_ms: 30001,
        tags: ['a b'],
        app_id: 'no spaces',
        colour: 'red',
      }).expect(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(fieldsOf(res)).toEqual(
        expect.arrayContaining([
          'endpoint_url',
          'name',
          'description',
          'event_filters.0.service',
          'event_filters.1.action_prefix',
          'headers',
          'retry_policy.max_attempts',
          'retry_policy.backoff',
          'retry_policy.timeout_ms',
          'timeout_ms',
          'tags',
          'app_id',
          'colour',
        ]),
      );
    });

    it.each([
      ['a hop-by-hop header', { 'Transfer-Encoding': 'chunked' }, 'Transfer-Encoding'],
      ['a signature header', { 'Webhook-Signature': 'v1,abc' }, 'Webhook-Signature'],
      ['a Proxy- header', { 'Proxy-Authorization': 'Basic x' }, 'Proxy-Authorization'],
      ['a value with CR/LF', { 'X-Inject': 'a\r\nX-Evil: 1' }, 'X-Inject'],
      ['an invalid name', { 'X Space': 'v' }, 'X Space'],
    ])('headers: %s is a 400 naming the header', async (_label, headers, name) => {
      const res = await post('create', { endpoint_url: PUBLIC_URL, headers }).expect(400);
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'headers' })]);
      expect(res.body.error.details[0].message).toContain(name);
    });

    it('headers: more than 20, or more than 4 KiB, is a 400', async () => {
      const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));
      await post('create', { endpoint_url: PUBLIC_URL, headers: many }).expect(400);
      await post('create', { endpoint_url: PUBLIC_URL, headers: { 'X-Big': 'v'.repeat(4096) } }).expect(400);
    });

    it('headers named like Object.prototype members are stored and read back; constructor, prototype, __proto__ are a 400', async () => {
      const raw = (headers: string) =>
        api
          .http()
          .post('/ipm/webhook/create')
          .set(bearer(admin))
          .set('x-orgcode', org)
          .set('content-type', 'application/json')
          .send(`{"endpoint_url":"${PUBLIC_URL}","headers":${headers}}`);
      const kept = { hasOwnProperty: 'a', toString: 'b', valueOf: 'c', 'X-Team': 'd' };
      const created = await raw(JSON.stringify(kept)).expect(200);
      expect(created.body.data.headers).toEqual(kept);
      const got = await post('get', { webhook_id: created.body.data.webhook_id as string }).expect(200);
      expect(got.body.data.webhook.headers).toEqual(kept);
      const [row] = await db().query<Array<{ headers: Json }>>('SELECT headers FROM webhooks WHERE webhook_id = $1', [
        created.body.data.webhook_id,
      ]);
      expect(row.headers).toEqual(kept);

      for (const name of ['constructor', 'prototype']) {
        const res = await raw(`{"${name}":"x","X-A":"1"}`).expect(400);
        expect(res.body.error.details).toEqual([expect.objectContaining({ field: `headers.${name}` })]);
      }
      const proto = await raw('{"__proto__":"x"}').expect(400);
      expect(proto.body.error.message).toContain('__proto__');
    });

    it('update, status/set, delete, rotate, get and list refuse their bad fields', async () => {
      const hook = await create();
      const id = hook.webhook_id;
      for (const route of ['get', 'update', 'status/set', 'delete', 'secret/rotate']) {
        const res = await post(route, { webhook_id: 'whk_nope', status: 'paused', expected_revision: '1' }).expect(400);
        expect(fieldsOf(res)).toContain('webhook_id');
      }
      expect(
        fieldsOf(await post('update', { webhook_id: id, expected_revision: '1', endpoint_url: null }).expect(400)),
      ).toEqual(['endpoint_url']);
      expect(
        fieldsOf(await post('update', { webhook_id: id, expected_revision: '1', tags: null }).expect(400)),
      ).toEqual(['tags']);
      expect(fieldsOf(await post('update', { webhook_id: id, expected_revision: 1, name: 'x' }).expect(400))).toContain(
        'expected_revision',
      );
      const nothing = await post('update', { webhook_id: id, expected_revision: '1' }).expect(400);
      expect(nothing.body.error.message).toMatch(/Nothing to update/);
      const disagree = await post('update', {
        webhook_id: id,
        expected_revision: '1',
        timeout_ms: 2000,
        retry_policy: { timeout_ms: 3000 },
      }).expect(400);
      expect(fieldsOf(disagree)).toEqual(['timeout_ms']);
      expect(
        fieldsOf(await post('update', { webhook_id: id, expected_revision: '1', status: 'paused' }).expect(400)),
      ).toContain('status');
      expect(
        fieldsOf(await post('status/set', { webhook_id: id, status: 'deleted', expected_revision: '1' }).expect(400)),
      ).toEqual(['status']);
      for (const grace of [-1, 604801, 'a day'])
        expect(
          new Set(fieldsOf(await post('secret/rotate', { webhook_id: id, grace_period_seconds: grace }).expect(400))),
        ).toEqual(new Set(['grace_period_seconds']));
      expect(
        fieldsOf(await post('list', { status: 'gone', order_by: 'size', event_type: 'nodot' }).expect(400)),
      ).toEqual(expect.arrayContaining(['status', 'order_by', 'event_type']));
      // nothing changed by any of it
      expect((await post('get', { webhook_id: id }).expect(200)).body.data.webhook.revision).toBe('1');
    });

    it('event_filters naming an unknown service or type: 422 naming it (create and update)', async () => {
      const res = await post('create', {
        endpoint_url: PUBLIC_URL,
        event_filters: [{ service: 'rfp' }, { service: 'nosuch' }, { service: 'rfp', action: 'exploded' }],
      }).expect(422);
      expect(res.body.error.code).toBe('unknown_event_type');
      expect(res.body.error.details).toEqual([
        expect.objectContaining({ field: 'event_filters.1.service', message: 'unknown service nosuch' }),
        expect.objectContaining({ field: 'event_filters.2.action', message: 'unknown event type rfp.exploded' }),
      ]);
      const hook = await create();
      const upd = await post('update', {
        webhook_id: hook.webhook_id,
        expected_revision: '1',
        event_filters: [{ service: 'ipm', action: 'webhook.exploded' }],
      }).expect(422);
      expect(upd.body.error.message).toContain('ipm.webhook.exploded');
      // a tenant's own event types are known too
      const cat = await token(api.config, { orgs: [org], permissions: ['manage_catalog'] });
      await api
        .http()
        .post('/ipm/event/catalog/upsert')
        .set(bearer(cat))
        .set('x-orgcode', org)
        .send({
          service: 'billing',
          action: 'invoice_paid',
          description: 'paid',
          schema: { type: 'object' },
          specimen: {},
        })
        .expect(200);
      await post('update', {
        webhook_id: hook.webhook_id,
        expected_revision: '1',
        event_filters: [{ service: 'billing', action: 'invoice_paid' }],
      }).expect(200);
    });
  });

  describe('revisions', () => {
    it('428 without expected_revision on update and status/set', async () => {
      const hook = await create();
      const upd = await post('update', { webhook_id: hook.webhook_id, name: 'x' }).expect(428);
      expect(upd.body.error).toMatchObject({
        code: 'precondition_required',
        details: [{ field: 'expected_revision' }],
      });
      const st = await post('status/set', { webhook_id: hook.webhook_id, status: 'paused' }).expect(428);
      expect(st.body.error.code).toBe('precondition_required');
    });

    it('409 with a stale expected_revision on update, status/set, and (when given) delete and rotate', async () => {
      const hook = await create();
      await post('update', { webhook_id: hook.webhook_id, expected_revision: '1', name: 'v2' }).expect(200);
      const stale = await post('update', { webhook_id: hook.webhook_id, expected_revision: '1', name: 'v3' }).expect(
        409,
      );
      expect(stale.body.error).toMatchObject({
        code: 'revision_mismatch',
        details: [{ field: 'expected_revision', expected: '1', current: '2' }],
      });
      await post('status/set', { webhook_id: hook.webhook_id, status: 'paused', expected_revision: '1' }).expect(409);
      await post('secret/rotate', { webhook_id: hook.webhook_id, expected_revision: '1' }).expect(409);
      await post('delete', { webhook_id: hook.webhook_id, expected_revision: '1' }).expect(409);
      const now = await post('get', { webhook_id: hook.webhook_id }).expect(200);
      expect(now.body.data.webhook).toMatchObject({ name: 'v2', status: 'active', revision: '2' });
      await post('delete', { webhook_id: hook.webhook_id, expected_revision: '2' }).expect(200);
    });

    it('illegal status transitions are a 409 naming both states', async () => {
      const hook = await create();
      const same = await post('status/set', {
        webhook_id: hook.webhook_id,
        status: 'active',
        expected_revision: '1',
      }).expect(409);
      expect(same.body.error.code).toBe('illegal_transition');
      await post('status/set', { webhook_id: hook.webhook_id, status: 'disabled', expected_revision: '1' }).expect(200);
      const illegal = await post('status/set', {
        webhook_id: hook.webhook_id,
        status: 'paused',
        expected_revision: '2',
      }).expect(409);
      expect(illegal.body.error).toMatchObject({
        code: 'illegal_transition',
        details: [expect.objectContaining({ from: 'disabled', to: 'paused', allowed: ['active'] })],
      });
      expect((await post('get', { webhook_id: hook.webhook_id }).expect(200)).body.data.webhook).toMatchObject({
        status: 'disabled',
        revision: '2',
      });
    });
  });

  describe('idempotent create', () => {
    it('same Idempotency-Key and body: the same response (secret included) and one row; another body: 422', async () => {
      const key = `whk-idem-${Date.now()}`;
      const body = { endpoint_url: PUBLIC_URL, name: 'idempotent' };
      const send = (b: Json) =>
        api
          .http()
          .post('/ipm/webhook/create')
          .set(bearer(admin))
          .set('x-orgcode', org)
          .set('Idempotency-Key', key)
          .send(b);
      const first = await send(body).expect(200);
      const second = await send(body).expect(200);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body.data).toEqual(first.body.data);
      const [{ n }] = await db().query(
        "SELECT count(*)::int AS n FROM webhooks WHERE orgcode = $1 AND name = 'idempotent'",
        [org],
      );
      expect(n).toBe(1);
      const [stored] = await db().query(
        'SELECT response_sealed FROM idempotency_keys WHERE orgcode = $1 AND idempotency_key = $2',
        [org, key],
      );
      expect(stored.response_sealed).not.toContain((first.body.data.secret as string).slice(6));
      const other = await send({ ...body, name: 'another' }).expect(422);
      expect(other.body.error.code).toBe('idempotency_key_reused');
    });
  });

  describe('tenancy', () => {
    it('another tenant’s webhook is a 404 on every route, and never listed', async () => {
      const otherOrg = uniqueOrg('whkother');
      const theirAdmin = await token(api.config, { orgs: [otherOrg], permissions: ['manage_webhooks'] });
      const theirs = await create({ name: 'theirs' }, theirAdmin, otherOrg);
      // also a caller who belongs to both tenants but acts in this one
      const both = await token(api.config, { orgs: [org, otherOrg], permissions: ['manage_webhooks'] });
      for (const jwt of [admin, both]) {
        const id = theirs.webhook_id;
        const bodies: Array<[string, Json]> = [
          ['get', { webhook_id: id }],
          ['update', { webhook_id: id, expected_revision: '1', name: 'mine now' }],
          ['status/set', { webhook_id: id, status: 'paused', expected_revision: '1' }],
          ['secret/rotate', { webhook_id: id }],
          ['delete', { webhook_id: id }],
        ];
        for (const [route, body] of bodies) {
          const res = await post(route, body, jwt).expect(404);
          expect(res.body.error).toMatchObject({ code: 'not_found', message: 'Webhook not found' });
        }
        const list = await post('list', { limit: 256, event_type: 'rfp.created' }, jwt).expect(200);
        expect((list.body.data.items as Webhook[]).map((w) => w.webhook_id)).not.toContain(id);
      }
      // a tenant the caller is not in: 404 before anything else
      await post('list', {}, admin, otherOrg).expect(404);
      // theirs is untouched
      const mine = await post('get', { webhook_id: theirs.webhook_id }, theirAdmin, otherOrg).expect(200);
      expect(mine.body.data.webhook).toMatchObject({ name: 'theirs', revision: '1', status: 'active' });
    });

    it('an API key bound to app A sees, changes and creates only app A’s webhooks', async () => {
      const appOrg = uniqueOrg('whkapp');
      const boss = await token(api.config, { orgs: [appOrg], permissions: ['manage_webhooks', 'manage_api_keys'] });
      const mintKey = async (appId: string) =>
        (
          await api
            .http()
            .post('/ipm/apikey/create')
            .set(bearer(boss))
            .set('x-orgcode', appOrg)
            .send({ name: appId, app_id: appId, permissions: ['manage_webhooks'] })
            .expect(200)
        ).body.data.key as string;
      const keyA = await mintKey('app_a');
      const keyB = await mintKey('app_b');
      const asKey = (key: string, route: string, body: Json) =>
        api.http().post(`/ipm/webhook/${route}`).set('x-api-key', key).set('x-orgcode', appOrg).send(body);

      const a = (await asKey(keyA, 'create', { endpoint_url: PUBLIC_URL, name: 'a' }).expect(200)).body.data as Webhook;
      const b = (await asKey(keyB, 'create', { endpoint_url: PUBLIC_URL, name: 'b' }).expect(200)).body.data as Webhook;
      const unbound = await create({ name: 'tenant-wide' }, boss, appOrg);
      expect(a.app_id).toBe('app_a');
      expect(a.created_by).toMatch(/^key_/);
      expect(b.app_id).toBe('app_b');

      const seenByA = await asKey(keyA, 'list', { limit: 256 }).expect(200);
      expect((seenByA.body.data.items as Webhook[]).map((w) => w.name)).toEqual(['a']);
      expect((await asKey(keyA, 'list', { app_id: 'app_b' }).expect(200)).body.data.items).toEqual([]);
      for (const id of [b.webhook_id, unbound.webhook_id]) {
        await asKey(keyA, 'get', { webhook_id: id }).expect(404);
        await asKey(keyA, 'update', { webhook_id: id, expected_revision: '1', name: 'x' }).expect(404);
        await asKey(keyA, 'status/set', { webhook_id: id, status: 'paused', expected_revision: '1' }).expect(404);
        await asKey(keyA, 'secret/rotate', { webhook_id: id }).expect(404);
        await asKey(keyA, 'delete', { webhook_id: id }).expect(404);
      }
      await asKey(keyA, 'get', { webhook_id: a.webhook_id }).expect(200);
      await asKey(keyA, 'update', { webhook_id: a.webhook_id, expected_revision: '1', name: 'a2' }).expect(200);
      const refused = await asKey(keyA, 'create', { endpoint_url: PUBLIC_URL, app_id: 'app_b' }).expect(403);
      expect(refused.body.error.code).toBe('forbidden');

      // the tenant-wide caller sees every app's, and can narrow to one
      const all = await post('list', { order_by: 'name' }, boss, appOrg).expect(200);
      expect((all.body.data.items as Webhook[]).map((w) => w.name)).toEqual(['a2', 'b', 'tenant-wide']);
      const onlyB = await post('list', { app_id: 'app_b' }, boss, appOrg).expect(200);
      expect((onlyB.body.data.items as Webhook[]).map((w) => w.name)).toEqual(['b']);
    });
  });

  describe('SSRF: unsafe endpoint URLs are refused (422) on create and update', () => {
    it.each([
      ['loopback IPv4', 'http://127.0.0.1/hook', 'loopback'],
      ['private 10.x', 'https://10.1.2.3/hook', 'private'],
      ['cloud metadata', 'http://169.254.169.254/latest/meta-data/', 'metadata'],
      ['loopback IPv6', 'http://[::1]:8080/hook', 'loopback'],
      ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/hook', 'loopback'],
      ['a hostname resolving to a private address', 'http://localhost:3000/hook', 'hostname'],
      ['file://', 'file:///etc/passwd', 'scheme'],
      ['gopher://', 'gopher://93.184.215.14:70/_x', 'scheme'],
      ['credentials in the URL', 'https://user:pass@93.184.215.14/hook', 'credentials'],
      ['a URL over 2048 characters', `https://93.184.215.14/${'a'.repeat(2048)}`, 'too_long'],
      ['not a URL', 'not a url', 'invalid_url'],
    ])('%s', async (_label, url, reason) => {
      const res = await post('create', { endpoint_url: url, name: 'ssrf' }).expect(422);
      expect(res.body.error).toMatchObject({
        code: 'unsafe_endpoint_url',
        details: [expect.objectContaining({ field: 'endpoint_url', reason })],
      });
      expect(JSON.stringify(res.body)).not.toContain('pass@');
      const hook = await create();
      const upd = await post('update', {
        webhook_id: hook.webhook_id,
        expected_revision: '1',
        endpoint_url: url,
      }).expect(422);
      expect(upd.body.error.details[0]).toMatchObject({ field: 'endpoint_url', reason });
      const [{ n }] = await db().query("SELECT count(*)::int AS n FROM webhooks WHERE orgcode = $1 AND name = 'ssrf'", [
        org,
      ]);
      expect(n).toBe(0);
    });
  });

  describe('401 and 403 on every route', () => {
    it.each(ROUTES)('%s: 401 without credentials, 403 without manage_webhooks', async (route) => {
      const body = { webhook_id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E', endpoint_url: PUBLIC_URL };
      const none = await api.http().post(`/ipm/webhook/${route}`).set('x-orgcode', org).send(body).expect(401);
      expect(none.body.error.code).toBe('unauthorized');
      const bad = await api
        .http()
        .post(`/ipm/webhook/${route}`)
        .set(bearer('not.a.jwt'))
        .set('x-orgcode', org)
        .send(body)
        .expect(401);
      expect(bad.body.error.code).toBe('unauthorized');
      const reader = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'view_audit'] });
      const res = await post(route, body, reader).expect(403);
      expect(res.body.error).toMatchObject({ code: 'forbidden', message: 'Permission manage_webhooks is required' });
    });
  });
});

describe('/webhook with an operator allowlist', () => {
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('whkallow');
  const saved = { ...process.env };

  beforeAll(async () => {
    process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.0/8,10.0.0.0/8,169.254.169.254/32,::1/128';
    api = await startApi();
    admin = await token(api.config, { orgs: [org], permissions: ['manage_webhooks'] });
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const create = (endpoint_url: string) =>
    api.http().post('/ipm/webhook/create').set(bearer(admin)).set('x-orgcode', org).send({ endpoint_url });

  it.each([
    'http://127.0.0.1:8080/hook',
    'https://10.1.2.3/hook',
    'http://169.254.169.254/latest',
    'http://[::1]:8080/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://localhost:3000/hook',
  ])('accepts %s', async (url) => {
    const res = await create(url).expect(200);
    expect(res.body.data.endpoint_url).toBe(new URL(url).href);
  });

  it.each([
    ['file:///etc/passwd', 'scheme'],
    ['gopher://127.0.0.1:70/_x', 'scheme'],
    ['http://192.168.1.1/hook', 'private'],
  ])('still refuses %s', async (url, reason) => {
    const res = await create(url).expect(422);
    expect(res.body.error.details[0]).toMatchObject({ field: 'endpoint_url', reason });
  });
});

describe('/webhook with WEBHOOK_REQUIRE_HTTPS and a small per-tenant limit', () => {
  let api: TestApi;
  const saved = { ...process.env };

  beforeAll(async () => {
    process.env.WEBHOOK_MAX_PER_TENANT = '3';
    process.env.WEBHOOK_REQUIRE_HTTPS = 'true';
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
    process.env = saved;
  });

  const session = async () => {
    const org = uniqueOrg('whklimit');
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks'] });
    const post = (route: string, body: Json) =>
      api.http().post(`/ipm/webhook/${route}`).set(bearer(jwt)).set('x-orgcode', org).send(body);
    return { org, post };
  };

  it('refuses plain http', async () => {
    const { post } = await session();
    const res = await post('create', { endpoint_url: 'http://93.184.215.14/hook' }).expect(422);
    expect(res.body.error.details[0]).toMatchObject({ field: 'endpoint_url', reason: 'https_required' });
  });

  it('422 once the tenant has the maximum; a deletion frees a place; other tenants are not counted', async () => {
    const { post } = await session();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await post('create', { endpoint_url: PUBLIC_URL }).expect(200)).body.data.webhook_id as string);
    const full = await post('create', { endpoint_url: PUBLIC_URL }).expect(422);
    expect(full.body.error).toMatchObject({ code: 'webhook_limit_reached' });
    expect(full.body.error.message).toContain('3');
    await post('delete', { webhook_id: ids[0] }).expect(200);
    await post('create', { endpoint_url: PUBLIC_URL }).expect(200);
    await post('create', { endpoint_url: PUBLIC_URL }).expect(422);
    const other = await session();
    await other.post('create', { endpoint_url: PUBLIC_URL }).expect(200);
  });

  it('concurrent creates cannot pass the limit together', async () => {
    const { org, post } = await session();
    const results = await Promise.all(Array.from({ length: 8 }, () => post('create', { endpoint_url: PUBLIC_URL })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 422, 422, 422, 422, 422]);
    const [{ n }] = await api.app
      .get(DataSource)
      .query('SELECT count(*)::int AS n FROM webhooks WHERE orgcode = $1 AND is_deleted = false', [org]);
    expect(n).toBe(3);
  });
});

describe('webhook secrets never reach a log line, the audit log or the change feed', () => {
  const lines: string[] = [];
  const capture = (...args: unknown[]) => {
    lines.push(
      args
        .map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a)))
        .join(' '),
    );
  };
  const logger: LoggerService = {
    log: capture,
    error: capture,
    warn: capture,
    debug: capture,
    verbose: capture,
    fatal: capture,
  };
  let app: NestFastifyApplication;
  const org = uniqueOrg('whksecret');

  beforeAll(async () => {
    app = await createApiApp({ logger });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  it('create, rotate, replays, reads and failures: the secret is only in the responses that hand it out', async () => {
    const config = app.get(AppConfig);
    const jwt = await token(config, { orgs: [org], permissions: ['manage_webhooks', 'view_audit'] });
    const post = (route: string, body: Json, extra: Record<string, string> = {}) =>
      request(app.getHttpServer())
        .post(`/ipm/webhook/${route}`)
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .set(extra)
        .send(body);

    const body = { endpoint_url: PUBLIC_URL, name: 'secretive', headers: { 'X-Team': 'erp' } };
    const created = await post('create', body, { 'Idempotency-Key': `secret-${org}` }).expect(200);
    const replayed = await post('create', body, { 'Idempotency-Key': `secret-${org}` }).expect(200);
    expect(replayed.body.data.secret).toBe(created.body.data.secret);
    const id = created.body.data.webhook_id as string;
    const rotated = await post('secret/rotate', { webhook_id: id }).expect(200);
    const secrets = [created.body.data.secret as string, rotated.body.data.secret as string];

    // reads, and failures that carry a secret in the request
    const reads = [
      await post('get', { webhook_id: id }).expect(200),
      await post('list', {}).expect(200),
      await post('update', {
        webhook_id: id,
        expected_revision: '2',
        name: 'x',
        headers: { 'X-Leak': `${secrets[1]}\r\n` },
      }).expect(400),
      await post('update', { webhook_id: id, expected_revision: '2', secret: secrets[1] }).expect(400),
      await post('create', { endpoint_url: `https://u:${secrets[1].slice(6)}@93.184.215.14/` }).expect(422),
      await post('update', { webhook_id: id, expected_revision: '2', name: 'renamed' }).expect(200),
      await post('status/set', { webhook_id: id, status: 'paused', expected_revision: '3' }).expect(200),
      await post('delete', { webhook_id: id }).expect(200),
    ];
    const audit = await request(app.getHttpServer())
      .post('/ipm/audit/list')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ limit: 256 })
      .expect(200);
    expect(audit.body.data.items.length).toBeGreaterThanOrEqual(5);

    const ds = app.get(DataSource);
    const tableText = async (sql: string) =>
      (await ds.query<Array<{ t: string }>>(sql, [org])).map((r) => r.t).join('\n');
    const stored = {
      audit: await tableText('SELECT row_to_json(a)::text AS t FROM audit_log a WHERE orgcode = $1'),
      events: await tableText('SELECT row_to_json(e)::text AS t FROM events e WHERE orgcode = $1'),
      idempotency: await tableText('SELECT row_to_json(i)::text AS t FROM idempotency_keys i WHERE orgcode = $1'),
      webhooks: await tableText('SELECT row_to_json(w)::text AS t FROM webhooks w WHERE orgcode = $1'),
    };
    expect(stored.audit).toContain('webhook.secret_rotate');
    expect(stored.events).toContain('ipm.webhook.secret_rotated');
    expect(lines.length).toBeGreaterThan(0);
    const logText = lines.join('\n');
    for (const secret of secrets) {
      const b64 = secret.slice('whsec_'.length);
      for (const needle of [secret, b64, Buffer.from(b64, 'base64').toString('hex')]) {
        expect(logText).not.toContain(needle);
        for (const [table, text] of Object.entries(stored))
          expect({ table, leaked: text.includes(needle) }).toEqual({ table, leaked: false });
        for (const res of [...reads, audit]) expect(JSON.stringify(res.body)).not.toContain(needle);
      }
    }
  });
});
