import type { INestApplicationContext } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { IdPrefix, newId } from '@ipm/core';
import { CATALOG_FILES } from '@ipm/catalog';
import { DeliveryScheduler } from '@ipm/webhooks';
import { ReplayRunner } from '@ipm/webhooks';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { insertEvent, inspectQueue, minutesAgo } from '../support/deliveries';
import { Received, TestReceiver } from '../support/receiver';

const ROUTES = ['replay', 'replay/get', 'test', 'verify'] as const;
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';

type Json = Record<string, unknown>;
type Replay = Json & { replay_id: string; status: string };
interface Hook {
  webhook_id: string;
  secret: string;
}

// The file's own BullMQ prefix: only the worker started below consumes its queues.
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };
const RFP_CREATED_SPECIMEN = CATALOG_FILES.find((f) => f.service === 'rfp')?.event_types.find(
  (t) => t.action === 'created',
)?.specimen;

function configure(): void {
  process.env.QUEUE_PREFIX = `${RUN_PREFIX}:replay-test-verify`;
  process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
  process.env.WEBHOOK_VERIFY_TIMEOUT_MS = '500';
  process.env.WORKER_PORT = '0';
}

describe('/webhook/replay, /webhook/test and /webhook/verify', () => {
  let api: TestApi;
  let admin: string;
  let receiver: TestReceiver;
  let queues: { replay: Queue; delivery: Queue };
  const org = uniqueOrg('rtv');

  beforeAll(async () => {
    configure();
    receiver = await new TestReceiver().start();
    api = await startApi();
    queues = { replay: inspectQueue('replay'), delivery: inspectQueue('delivery') };
    admin = await token(api.config, { sub: 'rtv-admin', orgs: [org], permissions: ['manage_webhooks'] });
  });
  afterAll(async () => {
    await queues.replay.close();
    await queues.delivery.close();
    await api.close();
    await receiver.close();
    process.env = saved;
  });

  const db = () => api.app.get(DataSource);
  const runner = () => new ReplayRunner(db(), api.app.get(DeliveryScheduler, { strict: false }));
  const post = (route: string, body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post(`/ipm/webhook/${route}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const createWebhook = async (body: Json = {}, auth: string = admin, orgcode: string = org): Promise<Hook> => {
    const res = await post('create', { endpoint_url: PUBLIC_URL, ...body }, auth, orgcode).expect(200);
    return res.body.data as Hook;
  };
  const replayDeliveries = (replayId: string) =>
    db().query<Array<{ delivery_id: string; event_seq: string; status: string; origin: string; event_type: string }>>(
      'SELECT delivery_id, event_seq, status, origin, event_type FROM deliveries WHERE replay_id = $1 ORDER BY event_seq',
      [replayId],
    );

  describe('replay', () => {
    it('queues a replay.run job; the runner delivers the events of the window the webhook receives', async () => {
      const tenant = uniqueOrg('rtvwin');
      const jwt = await token(api.config, { sub: 'rtv-admin', orgs: [tenant], permissions: ['manage_webhooks'] });
      const hook = await createWebhook({ event_filters: [{ service: 'rfp' }] }, jwt, tenant);
      const now = new Date();
      const ev = (event_type: string, minutes: number, orgcode = tenant) =>
        insertEvent(db(), { orgcode, event_type, received_at: minutesAgo(minutes, now) });
      const tooOld = await ev('rfp.created', 600);
      const inside1 = await ev('rfp.created', 180);
      const filteredOut = await ev('ipm.webhook.created', 150);
      const inside2 = await ev('rfp.cancelled', 120);
      const otherTenant = await ev('rfp.created', 120, uniqueOrg('rtvx'));
      const tooNew = await ev('rfp.created', 30);
      expect([tooOld, filteredOut, otherTenant, tooNew]).toHaveLength(4);

      const after = minutesAgo(300, now).toISOString();
      const before = minutesAgo(60, now).toISOString();
      const res = await post('replay', { webhook_id: hook.webhook_id, after, before, reason: 'outage' }, jwt, tenant);
      expect(res.status).toBe(200);
      const queued = res.body.data.replay as Replay;
      expect(queued).toMatchObject({
        replay_id: expect.stringMatching(/^rpl_[0-9A-Z]{26}$/),
        webhook_id: hook.webhook_id,
        after,
        before,
        only_failed: false,
        status: 'queued',
        events_matched: 0,
        delivered: 0,
        failed: 0,
        pending: 0,
        done: false,
        error: null,
        created_by: 'rtv-admin',
        finished_at: null,
      });
      const job = await queues.replay.getJob(queued.replay_id);
      expect(job?.name).toBe('replay.run');
      expect(job?.data).toEqual({ replay_id: queued.replay_id });
      const [audit] = await db().query(
        "SELECT reason, metadata FROM audit_log WHERE target_id = $1 AND action = 'webhook.replay'",
        [hook.webhook_id],
      );
      expect(audit).toMatchObject({ reason: 'outage', metadata: { replay_id: queued.replay_id, only_failed: false } });

      const result = await runner().run({ replay_id: queued.replay_id });
      expect(result).toEqual({ replay_id: queued.replay_id, status: 'completed', created: 2 });
      const rows = await replayDeliveries(queued.replay_id);
      expect(rows).toEqual([
        expect.objectContaining({ event_seq: inside1, status: 'pending', origin: 'replay', event_type: 'rfp.created' }),
        expect.objectContaining({
          event_seq: inside2,
          status: 'pending',
          origin: 'replay',
          event_type: 'rfp.cancelled',
        }),
      ]);
      for (const row of rows) expect((await queues.delivery.getJob(row.delivery_id))?.name).toBe('delivery.send');

      const get = async (): Promise<Replay> =>
        (await post('replay/get', { replay_id: queued.replay_id }, jwt, tenant).expect(200)).body.data.replay as Replay;
      expect(await get()).toMatchObject({ status: 'completed', events_matched: 2, pending: 2, done: false });
      await db().query("UPDATE deliveries SET status = 'success' WHERE delivery_id = $1", [rows[0].delivery_id]);
      await db().query("UPDATE deliveries SET status = 'dead_letter' WHERE delivery_id = $1", [rows[1].delivery_id]);
      const done = await get();
      expect(done).toMatchObject({ events_matched: 2, delivered: 1, failed: 1, pending: 0, done: true });
      expect(done.finished_at).not.toBeNull();

      // running it again changes nothing
      expect(await runner().run({ replay_id: queued.replay_id })).toMatchObject({ created: 0 });
      expect(await replayDeliveries(queued.replay_id)).toHaveLength(2);

      // only_failed: the event delivered successfully is left out
      const onlyFailed = await post(
        'replay',
        { webhook_id: hook.webhook_id, after, before, only_failed: true },
        jwt,
        tenant,
      ).expect(200);
      const second = onlyFailed.body.data.replay as Replay;
      await runner().run({ replay_id: second.replay_id });
      expect((await replayDeliveries(second.replay_id)).map((r) => r.event_seq)).toEqual([inside2]);
    });

    it('an app’s webhook gets only that app’s events', async () => {
      const tenant = uniqueOrg('rtvapp');
      const jwt = await token(api.config, { orgs: [tenant], permissions: ['manage_webhooks'] });
      const hook = await createWebhook({}, jwt, tenant);
      await db().query("UPDATE webhooks SET app_id = 'app_a' WHERE webhook_id = $1", [hook.webhook_id]);
      const at = minutesAgo(10);
      const mine = await insertEvent(db(), {
        orgcode: tenant,
        event_type: 'rfp.created',
        received_at: at,
        app_id: 'app_a',
      });
      await insertEvent(db(), { orgcode: tenant, event_type: 'rfp.created', received_at: at, app_id: 'app_b' });
      await insertEvent(db(), { orgcode: tenant, event_type: 'rfp.created', received_at: at });
      const res = await post('replay', { webhook_id: hook.webhook_id }, jwt, tenant).expect(200);
      const replay = res.body.data.replay as Replay;
      expect(replay.after).toBeNull();
      expect(replay.before).not.toBeNull(); // the request time
      await runner().run({ replay_id: replay.replay_id });
      expect((await replayDeliveries(replay.replay_id)).map((r) => r.event_seq)).toEqual([mine]);
    });

    it('walks big windows in batches and resumes from its cursor', async () => {
      const tenant = uniqueOrg('rtvbig');
      const jwt = await token(api.config, { orgs: [tenant], permissions: ['manage_webhooks'] });
      // (filtered to rfp: the webhook's own ipm.webhook.created event is not part of the count)
      const hook = await createWebhook({ event_filters: [{ service: 'rfp' }] }, jwt, tenant);
      const seqs = (
        await db().query<Array<{ seq: string }>>(
          `INSERT INTO events (event_id, orgcode, event_type, service, action, payload, source, actor, occurred_at, received_at)
           SELECT 'evt-bulk-' || g, $1, 'rfp.created', 'rfp', 'created', '{}'::jsonb, 'api', 'u', $2, $2
           FROM generate_series(1, 1100) AS g RETURNING seq::text AS seq`,
          [tenant, minutesAgo(10)],
        )
      ).map((r) => r.seq);
      const start = async () =>
        ((await post('replay', { webhook_id: hook.webhook_id }, jwt, tenant).expect(200)).body.data.replay as Replay)
          .replay_id;
      const full = await start();
      expect(await runner().run({ replay_id: full })).toEqual({ replay_id: full, status: 'completed', created: 1100 });
      const [row] = await db().query(
        'SELECT cursor::text AS cursor, events_matched FROM webhook_replays WHERE replay_id = $1',
        [full],
      );
      expect(row).toEqual({ cursor: seqs[1099], events_matched: 1100 });

      // a run that died after its first batch of 500 (and then 100 more): the next run does the rest
      const resumed = await start();
      await db().query(
        "UPDATE webhook_replays SET status = 'running', cursor = $2, events_matched = 600 WHERE replay_id = $1",
        [resumed, seqs[599]],
      );
      expect(await runner().run({ replay_id: resumed })).toMatchObject({ status: 'completed', created: 500 });
      const rows = await replayDeliveries(resumed);
      expect(rows).toHaveLength(500);
      expect(rows[0].event_seq).toBe(seqs[600]);
    });

    it('a webhook paused or deleted before the run: the replay fails with the reason', async () => {
      const hook = await createWebhook();
      const replay = (await post('replay', { webhook_id: hook.webhook_id }).expect(200)).body.data.replay as Replay;
      await post('status/set', { webhook_id: hook.webhook_id, status: 'paused', expected_revision: '1' }).expect(200);
      expect(await runner().run({ replay_id: replay.replay_id })).toMatchObject({ status: 'failed', created: 0 });
      const got = (await post('replay/get', { replay_id: replay.replay_id }).expect(200)).body.data.replay as Replay;
      expect(got).toMatchObject({ status: 'failed', error: 'the webhook is paused', done: false });

      const gone = await createWebhook();
      const r2 = (await post('replay', { webhook_id: gone.webhook_id }).expect(200)).body.data.replay as Replay;
      await post('delete', { webhook_id: gone.webhook_id }).expect(200);
      expect(await runner().run({ replay_id: r2.replay_id })).toMatchObject({ status: 'failed' });
      expect(await runner().run({ replay_id: newId(IdPrefix.Replay) })).toMatchObject({ status: 'missing' });
    });

    it('422 for a paused webhook; 400 for a bad window or bad fields; 404 for unknown ids', async () => {
      const hook = await createWebhook();
      await post('status/set', { webhook_id: hook.webhook_id, status: 'disabled', expected_revision: '1' }).expect(200);
      const paused = await post('replay', { webhook_id: hook.webhook_id }).expect(422);
      expect(paused.body.error.message).toContain('disabled');

      const active = await createWebhook();
      const inverted = await post('replay', {
        webhook_id: active.webhook_id,
        after: '2026-01-02T00:00:00Z',
        before: '2026-01-01T00:00:00Z',
      }).expect(400);
      expect(inverted.body.error.details).toEqual([expect.objectContaining({ field: 'before' })]);
      const bad = await post('replay', {
        webhook_id: 'whk_nope',
        after: 'last tuesday',
        only_failed: 'yes',
      }).expect(400);
      const fields = (bad.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(new Set(fields)).toEqual(new Set(['webhook_id', 'after', 'only_failed']));
      const badGet = await post('replay/get', { replay_id: 'rpl_1' }).expect(400);
      expect(badGet.body.error.details).toEqual([expect.objectContaining({ field: 'replay_id' })]);
      await post('replay', { webhook_id: newId(IdPrefix.Webhook) }).expect(404);
      const none = await post('replay/get', { replay_id: newId(IdPrefix.Replay) }).expect(404);
      expect(none.body.error.message).toBe('Replay not found');
    });
  });

  describe('verify', () => {
    const path = (name: string) => `/verify-${name}-${Math.random().toString(36).slice(2, 8)}`;
    const echo = (body: string) => ({
      challenge: (JSON.parse(body) as { data: { challenge: string } }).data.challenge,
    });

    it('an endpoint that echoes the signed challenge is verified; the webhook records it without a new revision', async () => {
      const p = path('ok');
      receiver.on(p, { body: (r: Received) => echo(r.body) });
      const hook = await createWebhook({ endpoint_url: receiver.url(p), headers: { 'X-Team': 'erp' } });
      const res = await post('verify', { webhook_id: hook.webhook_id, reason: 'onboarding' }).expect(200);
      expect(res.body.data).toEqual({
        webhook_id: hook.webhook_id,
        verified: true,
        verified_at: expect.stringMatching(/^\d{4}-/),
      });
      const [got] = receiver.at(p);
      const body = JSON.parse(got.body) as { type: string; timestamp: string; data: { challenge: string } };
      expect(body.type).toBe('ipm.webhook.verification');
      expect(body.data.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(got.headers['x-team']).toBe('erp');
      expect(got.headers['webhook-id']).toMatch(/^dlv_/);
      // a Standard Webhooks receiver verifies it with the secret as is
      const headers = {
        'webhook-id': String(got.headers['webhook-id']),
        'webhook-timestamp': String(got.headers['webhook-timestamp']),
        'webhook-signature': String(got.headers['webhook-signature']),
      };
      expect(() => new StandardWebhook(hook.secret).verify(got.body, headers)).not.toThrow();

      const webhook = (await post('get', { webhook_id: hook.webhook_id }).expect(200)).body.data.webhook as Json;
      expect(webhook).toMatchObject({
        verified_at: res.body.data.verified_at,
        verification_status: 'verified',
        revision: '1',
      });
      const [audit] = await db().query(
        "SELECT reason, metadata FROM audit_log WHERE target_id = $1 AND action = 'webhook.verify'",
        [hook.webhook_id],
      );
      expect(audit).toMatchObject({ reason: 'onboarding', metadata: { verified: true, status_code: 200 } });

      // a later failure keeps the last verified_at and records the reason
      receiver.on(p, { body: { challenge: 'something else' } });
      const failed = await post('verify', { webhook_id: hook.webhook_id }).expect(200);
      expect(failed.body.data).toEqual({
        webhook_id: hook.webhook_id,
        verified: false,
        reason: 'challenge mismatch',
        verified_at: res.body.data.verified_at,
      });
      const after = (await post('get', { webhook_id: hook.webhook_id }).expect(200)).body.data.webhook as Json;
      expect(after).toMatchObject({ verification_status: 'challenge mismatch', revision: '1' });
    });

    it.each([
      ['a wrong echo', { body: { challenge: 'nope' } }, 'challenge mismatch'],
      ['a body that is not JSON', { status: 200, body: 'ok' }, 'challenge mismatch'],
      ['an empty 204', {}, 'challenge mismatch'],
      ['a 500 echoing the challenge', { status: 500, body: (r: { body: string }) => echo(r.body) }, 'http_status 500'],
      ['a 301', { status: 301, headers: { location: 'https://example.com/' } }, 'http_status 301'],
    ])('%s: not verified (%s)', async (_label, behaviour, reason) => {
      const p = path('bad');
      receiver.on(p, behaviour);
      const hook = await createWebhook({ endpoint_url: receiver.url(p) });
      const res = await post('verify', { webhook_id: hook.webhook_id }).expect(200);
      expect(res.body.data).toEqual({ webhook_id: hook.webhook_id, verified: false, reason, verified_at: null });
      const [row] = await db().query('SELECT verification_status, verified_at FROM webhooks WHERE webhook_id = $1', [
        hook.webhook_id,
      ]);
      expect(row).toEqual({ verification_status: reason, verified_at: null });
    });

    it('a receiver that never answers: timeout after WEBHOOK_VERIFY_TIMEOUT_MS', async () => {
      const p = path('hang');
      receiver.on(p, { hang: true });
      const hook = await createWebhook({ endpoint_url: receiver.url(p) });
      const started = Date.now();
      const res = await post('verify', { webhook_id: hook.webhook_id }).expect(200);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.body.data).toMatchObject({ verified: false, reason: 'timeout' });
    });

    it('an endpoint that became unsafe is refused at connect time: ssrf_blocked', async () => {
      const hook = await createWebhook();
      await db().query("UPDATE webhooks SET endpoint_url = 'http://10.1.2.3/hook' WHERE webhook_id = $1", [
        hook.webhook_id,
      ]);
      const res = await post('verify', { webhook_id: hook.webhook_id }).expect(200);
      expect(res.body.data).toMatchObject({ verified: false, reason: 'ssrf_blocked' });
    });

    it('400 and 404', async () => {
      const bad = await post('verify', { webhook_id: 'whk_?', extra: 1 }).expect(400);
      const fields = (bad.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(new Set(fields)).toEqual(new Set(['webhook_id', 'extra']));
      await post('verify', { webhook_id: newId(IdPrefix.Webhook) }).expect(404);
    });
  });

  describe('test (without a worker)', () => {
    it('creates a test delivery of the specimen, enqueues it, and returns it as it stands after timeout + 2 s', async () => {
      const hook = await createWebhook({ timeout_ms: 1000 });
      const started = Date.now();
      const res = await post('test', { webhook_id: hook.webhook_id, event_type: 'rfp.created' }).expect(200);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(2900);
      expect(waited).toBeLessThan(6000);
      const delivery = res.body.data.delivery as Json & { delivery_id: string };
      expect(delivery).toMatchObject({
        webhook_id: hook.webhook_id,
        status: 'pending',
        origin: 'test',
        event_seq: null,
        event_type: 'rfp.created',
        event_id: expect.stringMatching(/^evt_/),
      });
      const [row] = await db().query('SELECT payload FROM deliveries WHERE delivery_id = $1', [delivery.delivery_id]);
      expect(row.payload).toEqual(RFP_CREATED_SPECIMEN);
      expect((await queues.delivery.getJob(delivery.delivery_id))?.name).toBe('delivery.send');
      const [audit] = await db().query(
        "SELECT metadata FROM audit_log WHERE target_id = $1 AND action = 'webhook.test'",
        [hook.webhook_id],
      );
      expect(audit.metadata).toEqual({ delivery_id: delivery.delivery_id, event_type: 'rfp.created' });
    });

    it('422 for an event type not in the catalog or a paused webhook; 400 for bad fields; 404', async () => {
      const hook = await createWebhook();
      const unknown = await post('test', { webhook_id: hook.webhook_id, event_type: 'rfp.exploded' }).expect(422);
      expect(unknown.body.error).toMatchObject({
        code: 'unknown_event_type',
        details: [expect.objectContaining({ field: 'event_type' })],
      });
      const bad = await post('test', { webhook_id: hook.webhook_id, event_type: 'Not A Type' }).expect(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'event_type' })]);
      const missing = await post('test', { webhook_id: hook.webhook_id }).expect(400);
      expect(missing.body.error.details[0]).toMatchObject({ field: 'event_type' });
      await post('status/set', { webhook_id: hook.webhook_id, status: 'paused', expected_revision: '1' }).expect(200);
      const paused = await post('test', { webhook_id: hook.webhook_id, event_type: 'rfp.created' }).expect(422);
      expect(paused.body.error.message).toContain('paused');
      await post('test', { webhook_id: newId(IdPrefix.Webhook), event_type: 'rfp.created' }).expect(404);
      const [{ n }] = await db().query('SELECT count(*)::int AS n FROM deliveries WHERE webhook_id = $1', [
        hook.webhook_id,
      ]);
      expect(n).toBe(0);
    });
  });

  describe('tenancy', () => {
    it('another tenant’s webhook or replay is a 404 on every route', async () => {
      const otherOrg = uniqueOrg('rtvother');
      const theirAdmin = await token(api.config, { orgs: [otherOrg], permissions: ['manage_webhooks'] });
      const theirs = await createWebhook({}, theirAdmin, otherOrg);
      const theirReplay = (await post('replay', { webhook_id: theirs.webhook_id }, theirAdmin, otherOrg).expect(200))
        .body.data.replay as Replay;
      const both = await token(api.config, { orgs: [org, otherOrg], permissions: ['manage_webhooks'] });
      for (const jwt of [admin, both]) {
        await post('replay', { webhook_id: theirs.webhook_id }, jwt).expect(404);
        await post('replay/get', { replay_id: theirReplay.replay_id }, jwt).expect(404);
        await post('test', { webhook_id: theirs.webhook_id, event_type: 'rfp.created' }, jwt).expect(404);
        await post('verify', { webhook_id: theirs.webhook_id }, jwt).expect(404);
      }
      const [{ n }] = await db().query('SELECT count(*)::int AS n FROM webhook_replays WHERE webhook_id = $1', [
        theirs.webhook_id,
      ]);
      expect(n).toBe(1);
      await post('replay/get', { replay_id: theirReplay.replay_id }, theirAdmin, otherOrg).expect(200);
    });
  });

  describe('401 and 403 on every route', () => {
    it.each(ROUTES)('%s: 401 without credentials, 403 without manage_webhooks', async (route) => {
      const body = {
        webhook_id: newId(IdPrefix.Webhook),
        replay_id: newId(IdPrefix.Replay),
        event_type: 'rfp.created',
      };
      const none = await api.http().post(`/ipm/webhook/${route}`).set('x-orgcode', org).send(body).expect(401);
      expect(none.body.error.code).toBe('unauthorized');
      const reader = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'view_audit'] });
      const res = await post(route, body, reader).expect(403);
      expect(res.body.error).toMatchObject({ code: 'forbidden', message: 'Permission manage_webhooks is required' });
    });
  });
});

describe('/webhook/test with a worker running', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let receiver: TestReceiver;
  const org = uniqueOrg('rtvwork');

  beforeAll(async () => {
    configure();
    process.env.QUEUE_PREFIX = `${RUN_PREFIX}:replay-test-verify-worker`;
    receiver = await new TestReceiver().start();
    api = await startApi();
    worker = await createWorkerApp();
    try {
      await worker.init();
    } catch (err) {
      await worker.close().catch(() => undefined);
      throw err;
    }
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await receiver.close();
    process.env = saved;
  });

  it('delivers the specimen and returns the delivery once it succeeded', async () => {
    const admin = await token(api.config, { orgs: [org], permissions: ['manage_webhooks'] });
    const post = (route: string, body: Json) =>
      api.http().post(`/ipm/webhook/${route}`).set(bearer(admin)).set('x-orgcode', org).send(body);
    receiver.on('/test-ok', { status: 204 });
    const hook = (await post('create', { endpoint_url: receiver.url('/test-ok'), timeout_ms: 5000 }).expect(200)).body
      .data as Hook;
    const res = await post('test', { webhook_id: hook.webhook_id, event_type: 'rfp.created' }).expect(200);
    const delivery = res.body.data.delivery as Json & { delivery_id: string };
    expect(delivery).toMatchObject({ status: 'success', origin: 'test', attempt_count: 1, last_status_code: 204 });
    // (the webhook's own ipm.webhook.created event may reach the receiver too: pick the test's request)
    const got = receiver.at('/test-ok').find((r) => r.headers['webhook-id'] === delivery.delivery_id);
    if (!got) throw new Error(`the receiver never got ${delivery.delivery_id}`);
    expect(JSON.parse(got.body)).toMatchObject({ type: 'rfp.created', data: RFP_CREATED_SPECIMEN });
    // The route may wait up to timeout_ms + 2 s for the attempt: more than jest's default 5 s, when this
    // worker is busy with what the sweeper found due in the run's shared database.
  }, 20_000);
});
