import { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { DataSource } from 'typeorm';
import { redisOptions } from '@ipm/redis';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { Sweeper } from '@ipm/webhooks';
import { DeliveryExecutor } from '@ipm/webhooks';
import { PARK_SAFETY_DELAY_MS } from '@ipm/webhooks';
import { OutboxRelay } from '@ipm/webhooks';
import { DeliveryRetention } from '@ipm/webhooks';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { quietDatabase, TestReceiver } from '../support/receiver';
import { waitFor } from '../support/wait';

// The engine's own BullMQ prefix (under the run's, which the global teardown deletes), loopback
// receivers allowed, and a sweeper quick enough for a test.
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
process.env.QUEUE_PREFIX = `${RUN_PREFIX}:engine`;
process.env.WORKER_PORT = '0';
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
process.env.RELAY_POLL_MS = '10';
process.env.SWEEPER_INTERVAL_MS = '300';
process.env.SWEEPER_GRACE_MS = '1000';
process.env.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = '4';
process.env.DELIVERY_CONCURRENCY = '16';

jest.setTimeout(30_000);

type Json = Record<string, unknown>;
interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  status: string;
  attempt_count: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error_kind: string | null;
  finished_at: Date | null;
}

const rfpCreated = (rfpId: string): Json => ({
  rfp_id: rfpId,
  title: 'Fleet telematics, 400 vehicles',
  buyer: { org_id: 'ORG-17', name: 'Acme Logistics' },
  status: 'open',
});

describe('the delivery engine (api + worker, real PostgreSQL, Redis and receiver)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let db: DataSource;
  let receiver: TestReceiver;
  let retryQueue: Queue;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    api = await startApi();
    db = api.app.get(DataSource);
    await quietDatabase(db);
    worker = await createWorkerApp();
    await worker.init();
    retryQueue = new Queue('retry', {
      connection: redisOptions(api.config.REDIS_URL),
      prefix: api.config.QUEUE_PREFIX,
    });
  });
  afterAll(async () => {
    await retryQueue.close();
    await worker.close();
    await api.close();
    await receiver.close();
  });

  async function tenant(label: string) {
    const org = uniqueOrg(label);
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
    return { org, jwt };
  }

  async function createWebhook(org: string, jwt: string, body: Json): Promise<{ id: string; secret: string }> {
    // Only rfp.* events unless the test says otherwise: our own ipm.webhook.* events would reach it too.
    const res = await api
      .http()
      .post('/ipm/webhook/create')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ event_filters: [{ service: 'rfp' }], ...body });
    expect(res.body.error).toBeUndefined();
    return { id: res.body.data.webhook_id as string, secret: res.body.data.secret as string };
  }

  async function publish(org: string, jwt: string, ids: string[], eventType = 'rfp.created'): Promise<void> {
    const res = await api
      .http()
      .post('/ipm/event/publish')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ events: ids.map((id) => ({ event_type: eventType, payload: rfpCreated(id), event_id: id })) });
    expect(res.body.error).toBeUndefined();
    expect(res.status).toBe(200);
  }

  const deliveries = (webhookId: string): Promise<DeliveryRow[]> =>
    db.query('SELECT * FROM deliveries WHERE webhook_id = $1 ORDER BY delivery_id', [webhookId]);

  const webhookRow = async (webhookId: string): Promise<Json> =>
    (await db.query('SELECT * FROM webhooks WHERE webhook_id = $1', [webhookId]))[0] as Json;

  /** Waits until every delivery of the webhook is in one of `statuses` (and there are `count`). */
  const settle = (webhookId: string, count: number, statuses: string[], timeoutMs = 15_000) =>
    waitFor(
      `${count} deliveries of ${webhookId} in ${statuses.join('|')}`,
      async () => {
        const rows = await deliveries(webhookId);
        return rows.length === count && rows.every((r) => statuses.includes(r.status)) ? rows : undefined;
      },
      timeoutMs,
    );

  it('fans an event out to every matching active webhook, signed so that standardwebhooks and svix verify it', async () => {
    const { org, jwt } = await tenant('fanout');
    const a = await createWebhook(org, jwt, { endpoint_url: receiver.url('/fan/a'), headers: { 'x-static': 'yes' } });
    const b = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/fan/b'),
      event_filters: [{ service: 'rfp', action: 'created' }],
    });
    const other = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/fan/other'),
      event_filters: [{ service: 'rfp', action: 'awarded' }],
    });
    const paused = await createWebhook(org, jwt, { endpoint_url: receiver.url('/fan/paused') });
    await api
      .http()
      .post('/ipm/webhook/status/set')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ webhook_id: paused.id, status: 'paused', expected_revision: '1' })
      .expect(200);

    await publish(org, jwt, ['RFP-FAN-1']);
    const [toA] = await receiver.waitFor(1, '/fan/a');
    const [toB] = await receiver.waitFor(1, '/fan/b');

    for (const [got, hook] of [
      [toA, a],
      [toB, b],
    ] as const) {
      const headers = got.headers as Record<string, string>;
      expect(headers['webhook-id']).toMatch(/^dlv_[0-9A-Z]{26}$/);
      expect(headers['content-type']).toBe('application/json');
      expect(headers['user-agent']).toMatch(/^IPM-Webhooks\//);
      const body = JSON.parse(got.body) as Json;
      expect(body).toEqual({ type: 'rfp.created', timestamp: expect.any(String), data: rfpCreated('RFP-FAN-1') });
      expect(new StandardWebhook(hook.secret).verify(got.body, headers)).toEqual(body);
      expect(new SvixWebhook(hook.secret).verify(got.body, headers)).toEqual(body);
    }
    expect((toA.headers as Record<string, string>)['x-static']).toBe('yes');

    const [row] = await settle(a.id, 1, ['success']);
    expect(row).toMatchObject({ attempt_count: 1, last_status_code: 204, webhook_id: a.id });
    expect(row.delivery_id).toBe((toA.headers as Record<string, string>)['webhook-id']);
    const attempts = await db.query('SELECT * FROM delivery_attempts WHERE delivery_id = $1', [row.delivery_id]);
    expect(attempts).toEqual([
      expect.objectContaining({ attempt_no: 1, status_code: 204, outcome: 'success', error_kind: null }),
    ]);
    expect(await webhookRow(a.id)).toMatchObject({ last_delivery_status: 'success', consecutive_failures: 0 });
    expect(await deliveries(other.id)).toEqual([]);
    expect(await deliveries(paused.id)).toEqual([]);
    expect(receiver.at('/fan/paused')).toEqual([]);
  });

  it('signs with both secrets during a rotation grace period, so either verifies', async () => {
    const { org, jwt } = await tenant('rotate');
    const hook = await createWebhook(org, jwt, { endpoint_url: receiver.url('/rotate') });
    const res = await api
      .http()
      .post('/ipm/webhook/secret/rotate')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ webhook_id: hook.id, grace_period_seconds: 3600 })
      .expect(200);
    const newSecret = res.body.data.secret as string;
    expect(newSecret).not.toBe(hook.secret);

    await publish(org, jwt, ['RFP-ROT-1']);
    const [got] = await receiver.waitFor(1, '/rotate');
    const headers = got.headers as Record<string, string>;
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [hook.secret, newSecret]) {
      expect(new StandardWebhook(secret).verify(got.body, headers)).toMatchObject({ type: 'rfp.created' });
      expect(new SvixWebhook(secret).verify(got.body, headers)).toMatchObject({ type: 'rfp.created' });
    }
  });

  it('retries a 500 on the retry queue after about 5 s, with the same webhook-id, then dead-letters it', async () => {
    const { org, jwt } = await tenant('retry');
    receiver.on('/retry500', { status: 500, body: { error: 'boom' } });
    const hook = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/retry500'),
      retry_policy: { max_attempts: 2 },
    });
    await publish(org, jwt, ['RFP-RETRY-1']);
    const [row] = await settle(hook.id, 1, ['retrying']);
    // From the attempt's start: 5 s ±20%, plus the attempt's own duration.
    const wait = (row.next_attempt_at as Date).getTime() - (row.last_attempt_at as Date).getTime();
    expect(wait).toBeGreaterThanOrEqual(4_000);
    expect(wait).toBeLessThan(6_000 + 1_000);
    expect(row).toMatchObject({ attempt_count: 1, last_status_code: 500, last_error_kind: 'http_status' });

    const job = await waitFor(
      'the retry job',
      async () => (await retryQueue.getJob(`${row.delivery_id}.a2`)) ?? undefined,
    );
    expect(await job.getState()).toBe('delayed');
    await job.promote();
    const [dead] = await settle(hook.id, 1, ['dead_letter']);
    expect(dead).toMatchObject({ attempt_count: 2, delivery_id: row.delivery_id });
    expect(dead.finished_at).not.toBeNull();
    const got = receiver.at('/retry500');
    expect(got).toHaveLength(2);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set([row.delivery_id]));
    const attempts = await db.query<Json[]>(
      'SELECT attempt_no, status_code, outcome, response_excerpt, error_kind FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt_no',
      [row.delivery_id],
    );
    expect(attempts).toEqual([
      {
        attempt_no: 1,
        status_code: 500,
        outcome: 'retrying',
        response_excerpt: '{"error":"boom"}',
        error_kind: 'http_status',
      },
      {
        attempt_no: 2,
        status_code: 500,
        outcome: 'dead_letter',
        response_excerpt: '{"error":"boom"}',
        error_kind: 'http_status',
      },
    ]);
  });

  it('a dead letter sent again with /webhook/delivery/retry is a fresh delivery that can succeed', async () => {
    const { org, jwt } = await tenant('deadretry');
    let up = false;
    receiver.on('/dead-then-up', () => ({ status: up ? 200 : 503 }));
    const hook = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/dead-then-up'),
      retry_policy: { max_attempts: 1 },
    });
    await publish(org, jwt, ['RFP-DR-1']);
    const [dead] = await settle(hook.id, 1, ['dead_letter']);
    up = true;
    const res = await api
      .http()
      .post('/ipm/webhook/delivery/retry')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ delivery_id: dead.delivery_id })
      .expect(200);
    const fresh = res.body.data.delivery as { delivery_id: string };
    expect(fresh.delivery_id).not.toBe(dead.delivery_id);
    const rows = await settle(hook.id, 2, ['dead_letter', 'success']);
    expect(rows.find((r) => r.delivery_id === fresh.delivery_id)?.status).toBe('success');
    const got = receiver.at('/dead-then-up');
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([dead.delivery_id, fresh.delivery_id]);
    expect(JSON.parse(got[1].body)).toEqual(JSON.parse(got[0].body));
  });

  it('refuses at delivery time an endpoint that now points at a private address, without retrying', async () => {
    const { org, jwt } = await tenant('ssrf');
    const hook = await createWebhook(org, jwt, { endpoint_url: receiver.url('/ssrf') });
    // As if the URL had passed the create-time check and then changed meaning (metadata address).
    await db.query(
      `UPDATE webhooks SET endpoint_url = 'http://169.254.169.254/latest/meta-data' WHERE webhook_id = $1`,
      [hook.id],
    );
    await publish(org, jwt, ['RFP-SSRF-1']);
    const [row] = await settle(hook.id, 1, ['failed']);
    expect(row).toMatchObject({ attempt_count: 1, last_error_kind: 'ssrf_blocked', last_status_code: null });
    expect(await retryQueue.getJob(`${row.delivery_id}.a2`)).toBeUndefined();
  });

  it('replays a window of stored events to a webhook and reports the counts when done', async () => {
    const { org, jwt } = await tenant('replay');
    receiver.on('/replay-down', { status: 500 });
    const hook = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/replay-down'),
      retry_policy: { max_attempts: 1 },
    });
    await publish(org, jwt, ['RFP-RP-1', 'RFP-RP-2', 'RFP-RP-3']);
    await settle(hook.id, 3, ['dead_letter']);
    const [{ after }] = await db.query<Array<{ after: Date }>>(
      'SELECT max(received_at) AS after FROM events WHERE orgcode = $1',
      [org],
    );
    await sleep(20);
    await publish(org, jwt, ['RFP-RP-4']);
    await settle(hook.id, 4, ['dead_letter']);
    receiver.on('/replay-down', { status: 200 });

    const res = await api
      .http()
      .post('/ipm/webhook/replay')
      .set(bearer(jwt))
      .set('x-orgcode', org)
      .send({ webhook_id: hook.id, before: new Date(after.getTime() + 1).toISOString(), only_failed: true })
      .expect(200);
    const replayId = res.body.data.replay.replay_id as string;
    const done = await waitFor('the replay to finish', async () => {
      const r = await api
        .http()
        .post('/ipm/webhook/replay/get')
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .send({ replay_id: replayId })
        .expect(200);
      const replay = r.body.data.replay as Json;
      return replay.done === true ? replay : undefined;
    });
    expect(done).toMatchObject({ status: 'completed', events_matched: 3, delivered: 3, failed: 0, pending: 0 });
    const replayed = receiver.at('/replay-down').slice(4);
    expect(replayed.map((r) => (JSON.parse(r.body) as { data: { rfp_id: string } }).data.rfp_id).sort()).toEqual([
      'RFP-RP-1',
      'RFP-RP-2',
      'RFP-RP-3',
    ]);
  });

  it('classifies a timeout and a refused connection, both retried', async () => {
    const { org, jwt } = await tenant('neterr');
    receiver.on('/hang-once', { hang: true });
    const slow = await createWebhook(org, jwt, { endpoint_url: receiver.url('/hang-once'), timeout_ms: 1000 });
    // A port nobody listens on: bind, learn the port, close.
    const closed = await new TestReceiver().start();
    const refusedUrl = closed.url('/nobody');
    await closed.close();
    const refused = await createWebhook(org, jwt, {
      endpoint_url: refusedUrl,
      event_filters: [{ service: 'rfp', action: 'created' }],
    });
    await publish(org, jwt, ['RFP-NET-1']);
    const [timedOut] = await settle(slow.id, 1, ['retrying']);
    expect(timedOut).toMatchObject({ last_error_kind: 'timeout', last_status_code: null });
    const [refusedRow] = await settle(refused.id, 1, ['retrying']);
    expect(refusedRow).toMatchObject({ last_error_kind: 'refused', last_status_code: null });
  });

  it('honours Retry-After on a 429', async () => {
    const { org, jwt } = await tenant('retryafter');
    receiver.on('/busy', { status: 429, headers: { 'retry-after': '120' } });
    const hook = await createWebhook(org, jwt, { endpoint_url: receiver.url('/busy') });
    await publish(org, jwt, ['RFP-RA-1']);
    const [row] = await settle(hook.id, 1, ['retrying']);
    const wait = (row.next_attempt_at as Date).getTime() - (row.last_attempt_at as Date).getTime();
    expect(wait).toBeGreaterThanOrEqual(120_000);
    expect(wait).toBeLessThan(121_000);
  });

  it('410 Gone fails the delivery and disables the webhook, with an ipm.webhook.disabled event', async () => {
    const { org, jwt } = await tenant('gone');
    receiver.on('/gone', { status: 410 });
    const hook = await createWebhook(org, jwt, { endpoint_url: receiver.url('/gone') });
    await publish(org, jwt, ['RFP-GONE-1']);
    await settle(hook.id, 1, ['failed']);
    expect(await webhookRow(hook.id)).toMatchObject({ status: 'disabled', revision: 2 });
    const events = await db.query<Json[]>(
      `SELECT event_type, payload FROM events WHERE orgcode = $1 AND logical_guid = $2 ORDER BY seq`,
      [org, hook.id],
    );
    expect(events.map((e) => e.event_type)).toEqual(
      expect.arrayContaining(['ipm.webhook.status_changed', 'ipm.webhook.disabled']),
    );
    // Disabled: later events are not fanned out to it.
    await publish(org, jwt, ['RFP-GONE-2']);
    await sleep(300);
    expect(await deliveries(hook.id)).toHaveLength(1);
  });

  it('pauses a webhook after N consecutive failed attempts (per-webhook override), with an ipm.webhook.paused event; a success resets the count', async () => {
    const { org, jwt } = await tenant('autopause');
    let failing = true;
    receiver.on('/flaky', () => ({ status: failing ? 500 : 200 }));
    const hook = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/flaky'),
      retry_policy: { max_attempts: 1, auto_pause_after: 3 },
    });
    await publish(org, jwt, ['RFP-AP-1', 'RFP-AP-2']);
    await settle(hook.id, 2, ['dead_letter']);
    expect(await webhookRow(hook.id)).toMatchObject({ status: 'active', consecutive_failures: 2 });
    failing = false;
    await publish(org, jwt, ['RFP-AP-3']);
    await settle(hook.id, 3, ['dead_letter', 'success']);
    expect(await webhookRow(hook.id)).toMatchObject({ status: 'active', consecutive_failures: 0 });

    failing = true;
    await publish(org, jwt, ['RFP-AP-4', 'RFP-AP-5', 'RFP-AP-6']);
    await settle(hook.id, 6, ['dead_letter', 'success']);
    const paused = await webhookRow(hook.id);
    expect(paused).toMatchObject({ status: 'paused', consecutive_failures: 3, updated_by: 'ipm-delivery-engine' });
    expect(paused.paused_at).not.toBeNull();
    const [event] = await db.query<Json[]>(
      `SELECT payload FROM events WHERE orgcode = $1 AND event_type = 'ipm.webhook.paused' AND logical_guid = $2`,
      [org, hook.id],
    );
    expect(event.payload).toMatchObject({ webhook_id: hook.id, consecutive_failures: 3 });
  });

  it('caps in-flight deliveries per endpoint: a hanging endpoint does not hold up a healthy one', async () => {
    const { org, jwt } = await tenant('fair');
    // Same origin on purpose: webhooks sharing a host must not share one connection pool's limit.
    receiver.on('/hang', { hang: true });
    const hanging = await createWebhook(org, jwt, {
      endpoint_url: receiver.url('/hang'),
      timeout_ms: 10_000,
      event_filters: [{ service: 'rfp', action: 'created' }],
    });
    const healthy = await createWebhook(org, jwt, { endpoint_url: receiver.url('/healthy') });
    const ids = Array.from({ length: 40 }, (_, i) => `RFP-FAIR-${i}`);
    await publish(org, jwt, ids);
    // 16 worker slots, at most 4 of them on the hanging endpoint: all 40 healthy deliveries arrive
    // while the hanging ones are still waiting for their 10 s timeout.
    const started = Date.now();
    await receiver.waitFor(40, '/healthy', 8_000);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(receiver.at('/hang').length).toBeLessThanOrEqual(4);
    await settle(healthy.id, 40, ['success']);
    // Stop the hanging endpoint's pending work from outliving the test.
    await db.query(`UPDATE webhooks SET status = 'paused' WHERE webhook_id = $1`, [hanging.id]);
  }, 30_000);

  it("parks a capped endpoint's backlog and runs it as its slots free, never more than the cap at once", async () => {
    const { org, jwt } = await tenant('park');
    receiver.on('/slow', { delayMs: 300 });
    const slow = await createWebhook(org, jwt, { endpoint_url: receiver.url('/slow') });
    const ids = Array.from({ length: 24 }, (_, i) => `RFP-PARK-${i}`);
    const started = Date.now();
    await publish(org, jwt, ids);
    const got = await receiver.waitFor(24, '/slow', 15_000);
    // 24 deliveries, 4 at a time, 300 ms each: about 2 s. A parked delivery that waited for its
    // delayed job instead would arrive no sooner than PARK_SAFETY_DELAY_MS.base (5 s).
    expect(Date.now() - started).toBeLessThan(PARK_SAFETY_DELAY_MS.base);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(24);
    const arrivals = got.map((r) => r.at);
    const mostAtOnce = Math.max(...arrivals.map((t) => arrivals.filter((u) => u > t - 295 && u <= t).length));
    expect(mostAtOnce).toBeLessThanOrEqual(4);
    await settle(slow.id, 24, ['success']);
    const executor = worker.get(DeliveryExecutor);
    expect(executor.parkedFor(slow.id)).toBe(0);
    // The delayed jobs left behind as a safety net were removed once their deliveries ran.
    const deliveryQueue = new Queue('delivery', {
      connection: redisOptions(api.config.REDIS_URL),
      prefix: api.config.QUEUE_PREFIX,
    });
    try {
      await waitFor("the parked deliveries' delayed jobs to be removed", async () => {
        const delayed = await deliveryQueue.getDelayed();
        return delayed.some((j) => (j.data as { webhook_id?: string }).webhook_id === slow.id) ? undefined : true;
      });
    } finally {
      await deliveryQueue.close();
    }
  });

  it('the sweeper re-enqueues a due delivery that no queue holds', async () => {
    const { org, jwt } = await tenant('sweep');
    const hook = await createWebhook(org, jwt, { endpoint_url: receiver.url('/swept') });
    // A delivery committed in PostgreSQL whose job never reached Redis (as after a crash or a flush).
    await db.query(
      `INSERT INTO deliveries (delivery_id, orgcode, app_id, webhook_id, event_seq, event_id, event_type, payload, status,
                               origin, attempt_count, next_attempt_at, created_at, updated_at)
       VALUES ('dlv_01KSWEEP00000000000000000A', $1, NULL, $2, NULL, 'evt_sweep', 'rfp.created', $3, 'pending',
               'test', 0, now() - interval '5 seconds', now(), now())`,
      [org, hook.id, JSON.stringify(rfpCreated('RFP-SWEEP'))],
    );
    const [got] = await receiver.waitFor(1, '/swept', 10_000);
    expect(got.headers['webhook-id']).toBe('dlv_01KSWEEP00000000000000000A');
    await settle(hook.id, 1, ['success']);
    expect(worker.get(Sweeper).requeued).toBeGreaterThan(0);
  });
});

describe('retention and the relay under concurrency (worker internals, real PostgreSQL)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let db: DataSource;

  beforeAll(async () => {
    api = await startApi();
    db = api.app.get(DataSource);
    await quietDatabase(db);
    worker = await createWorkerApp();
    await worker.init();
    // Stop the background loops: these tests drive the relay by hand.
    await worker.get(OutboxRelay).beforeApplicationShutdown();
  });
  afterAll(async () => {
    await worker.close();
    await api.close();
  });

  it('deletes finished deliveries (and their attempts) past the retention period, and nothing else', async () => {
    const org = uniqueOrg('retention');
    const row = (id: string, status: string, finishedDaysAgo: number | null) =>
      db.query(
        `INSERT INTO deliveries (delivery_id, orgcode, webhook_id, event_id, event_type, status, origin, attempt_count,
                                 created_at, updated_at, finished_at)
         VALUES ($1, $2, 'whk_retention', 'evt_r', 'rfp.created', $3, 'event', 1, now() - interval '40 days', now(),
                 CASE WHEN $4::int IS NULL THEN NULL ELSE now() - make_interval(days => $4::int) END)`,
        [id, org, status, finishedDaysAgo],
      );
    await row('dlv_01KRETENTI0N0000000000OLD1', 'success', 31);
    await row('dlv_01KRETENTI0N0000000000OLD2', 'dead_letter', 45);
    await row('dlv_01KRETENTI0N0000000000NEW1', 'success', 29);
    await row('dlv_01KRETENTI0N0000000000OPEN', 'retrying', null);
    await db.query(
      `INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms, response_headers,
                                      response_excerpt, outcome)
       VALUES ('dlv_01KRETENTI0N0000000000OLD1', $1, 'whk_retention', 1, now() - interval '31 days', 5, '{}', '', 'success'),
              ('dlv_01KRETENTI0N0000000000NEW1', $1, 'whk_retention', 1, now() - interval '29 days', 5, '{}', '', 'success')`,
      [org],
    );
    const result = await worker.get(DeliveryRetention).purge();
    expect(result.deliveries).toBeGreaterThanOrEqual(2);
    const left = await db.query<Array<{ delivery_id: string }>>(
      'SELECT delivery_id FROM deliveries WHERE orgcode = $1 ORDER BY delivery_id',
      [org],
    );
    expect(left.map((r) => r.delivery_id)).toEqual([
      'dlv_01KRETENTI0N0000000000NEW1',
      'dlv_01KRETENTI0N0000000000OPEN',
    ]);
    const attempts = await db.query<Array<{ delivery_id: string }>>(
      'SELECT delivery_id FROM delivery_attempts WHERE orgcode = $1',
      [org],
    );
    expect(attempts).toEqual([{ delivery_id: 'dlv_01KRETENTI0N0000000000NEW1' }]);
  });

  it('relays run concurrently without overlap: each (event, webhook) gets exactly one delivery', async () => {
    const org = uniqueOrg('race');
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
    for (let i = 0; i < 3; i++) {
      await api
        .http()
        .post('/ipm/webhook/create')
        .set(bearer(jwt))
        .set('x-orgcode', org)
        .send({ endpoint_url: `http://127.0.0.1:9/race/${i}`, event_filters: [{ service: 'rfp' }] })
        .expect(200);
    }
    await db.query('DELETE FROM event_outbox'); // the webhook.created events
    for (let i = 0; i < 1200; i += 400) {
      const events = Array.from({ length: 400 }, (_, j) => ({
        event_type: 'rfp.created',
        payload: rfpCreated(`RACE-${i + j}`),
      }));
      await api.http().post('/ipm/event/publish').set(bearer(jwt)).set('x-orgcode', org).send({ events }).expect(200);
    }
    const relay = worker.get(OutboxRelay);
    // Four relays at once, as four workers would: each claims its own rows (SKIP LOCKED) until none are left.
    const handled = await Promise.all(
      Array.from({ length: 4 }, async () => {
        let total = 0;
        for (let n = await relay.relayOnce(); n > 0; n = await relay.relayOnce()) total += n;
        return total;
      }),
    );
    expect(handled.reduce((a, b) => a + b, 0)).toBe(1200);
    const [{ rows, pairs }] = await db.query<Array<{ rows: number; pairs: number }>>(
      `SELECT count(*)::int AS rows, count(DISTINCT (webhook_id, event_seq))::int AS pairs FROM deliveries WHERE orgcode = $1`,
      [org],
    );
    expect({ rows, pairs }).toEqual({ rows: 3600, pairs: 3600 });
    await db.query(`UPDATE deliveries SET status = 'failed', finished_at = now() WHERE orgcode = $1`, [org]);
  }, 60_000);
});
