import type { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@ipm/core';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { insertAttempt, insertDelivery, inspectQueue, minutesAgo } from '../support/deliveries';
import { HourRow, rollableHours } from '@ipm/webhooks';
import { DeliveryRetention } from '@ipm/webhooks';

/** A public address as an IP literal: accepted without DNS; nothing is delivered here (no worker runs). */
const PUBLIC_URL = 'https://93.184.215.14/hooks/ipm';
const ROUTES = ['delivery/list', 'delivery/get', 'delivery/retry', 'delivery/purge', 'stats'] as const;

type Json = Record<string, unknown>;
type Delivery = Json & { delivery_id: string; status: string };

// This file's own BullMQ prefix (under the run's, which the global teardown deletes): no worker
// of another test file consumes the jobs looked at here.
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };

describe('/webhook/delivery routes and /webhook/stats', () => {
  let api: TestApi;
  let admin: string;
  let deliveryQueue: Queue;
  const org = uniqueOrg('dlv');

  beforeAll(async () => {
    process.env.QUEUE_PREFIX = `${RUN_PREFIX}:deliveries`;
    api = await startApi();
    deliveryQueue = inspectQueue('delivery');
    admin = await token(api.config, { sub: 'dlv-admin', orgs: [org], permissions: ['manage_webhooks'] });
  });
  afterAll(async () => {
    await deliveryQueue.close();
    await api.close();
    process.env = saved;
  });

  const db = () => api.app.get(DataSource);
  const post = (route: string, body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post(`/ipm/webhook/${route}`).set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const createWebhook = async (body: Json = {}, auth: string = admin, orgcode: string = org): Promise<string> => {
    const res = await post('create', { endpoint_url: PUBLIC_URL, ...body }, auth, orgcode).expect(200);
    return res.body.data.webhook_id as string;
  };
  const fixture = (webhook_id: string, status: Parameters<typeof insertDelivery>[1]['status'], extra: Json = {}) =>
    insertDelivery(db(), { orgcode: org, webhook_id, status, ...extra });

  describe('delivery/list', () => {
    it('newest first, keyset pages, every filter', async () => {
      const a = await createWebhook();
      const b = await createWebhook();
      const ids = {
        a1: await fixture(a, 'success', { created_at: minutesAgo(50), event_type: 'rfp.created' }),
        a2: await fixture(a, 'failed', { created_at: minutesAgo(40), event_type: 'rfp.cancelled' }),
        a3: await fixture(a, 'pending', { created_at: minutesAgo(30), event_type: 'rfp.created' }),
        b1: await fixture(b, 'dead_letter', { created_at: minutesAgo(20), event_type: 'rfp.created' }),
        b2: await fixture(b, 'success', { created_at: minutesAgo(10), event_type: 'rfp.cancelled' }),
      };
      const all = [ids.b2, ids.b1, ids.a3, ids.a2, ids.a1];

      const seen: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const res = await post('delivery/list', { limit: 2, ...(next ? { next_token: next } : {}) }).expect(200);
        seen.push(...(res.body.data.items as Delivery[]).map((d) => d.delivery_id));
        next = res.body.data.next_token as string | undefined;
        pages++;
      } while (next);
      expect(seen).toEqual(all);
      expect(pages).toBe(3);

      const list = async (body: Json) =>
        ((await post('delivery/list', { limit: 256, ...body }).expect(200)).body.data.items as Delivery[]).map(
          (d) => d.delivery_id,
        );
      expect(await list({ webhook_id: a })).toEqual([ids.a3, ids.a2, ids.a1]);
      expect(await list({ status: 'success' })).toEqual([ids.b2, ids.a1]);
      expect(await list({ event_type: 'rfp.cancelled' })).toEqual([ids.b2, ids.a2]);
      expect(await list({ webhook_id: b, status: 'success' })).toEqual([ids.b2]);
      expect(await list({ after: minutesAgo(35).toISOString() })).toEqual([ids.b2, ids.b1, ids.a3]);
      expect(await list({ before: minutesAgo(35).toISOString() })).toEqual([ids.a2, ids.a1]);
      expect(
        await list({ after: minutesAgo(45).toISOString(), before: minutesAgo(15).toISOString(), webhook_id: a }),
      ).toEqual([ids.a3, ids.a2]);

      const first = await post('delivery/list', { limit: 1 }).expect(200);
      const item = first.body.data.items[0] as Delivery;
      expect(item).toMatchObject({
        delivery_id: ids.b2,
        orgcode: org,
        webhook_id: b,
        event_type: 'rfp.cancelled',
        status: 'success',
        origin: 'event',
        retry_of: null,
        attempt_count: 1,
      });
      // a token minted for other filters, or forged, is a 400
      const token1 = first.body.data.next_token as string;
      const other = await post('delivery/list', { limit: 1, status: 'failed', next_token: token1 }).expect(400);
      expect(other.body.error.details[0]).toMatchObject({ field: 'next_token' });
      await post('delivery/list', { next_token: `${token1.slice(0, -2)}xx` }).expect(400);
    });

    it('oldest first with order asc (newest first is the default); pages keep the order', async () => {
      const c = await createWebhook();
      const c1 = await fixture(c, 'success', { created_at: minutesAgo(30) });
      const c2 = await fixture(c, 'failed', { created_at: minutesAgo(20) });
      const c3 = await fixture(c, 'pending', { created_at: minutesAgo(10) });
      const list = async (body: Json) =>
        ((await post('delivery/list', { webhook_id: c, ...body }).expect(200)).body.data.items as Delivery[]).map(
          (d) => d.delivery_id,
        );
      expect(await list({ order: 'asc' })).toEqual([c1, c2, c3]);
      expect(await list({ order: 'desc' })).toEqual([c3, c2, c1]);
      expect(await list({})).toEqual([c3, c2, c1]);
      expect(await list({ order: 'asc', status: 'failed' })).toEqual([c2]);
      const first = await post('delivery/list', { webhook_id: c, order: 'asc', limit: 2 }).expect(200);
      expect((first.body.data.items as Delivery[]).map((d) => d.delivery_id)).toEqual([c1, c2]);
      const token = first.body.data.next_token as string;
      const rest = await post('delivery/list', { webhook_id: c, order: 'asc', limit: 2, next_token: token }).expect(
        200,
      );
      expect((rest.body.data.items as Delivery[]).map((d) => d.delivery_id)).toEqual([c3]);
      // a token of one order is no token for the other
      const other = await post('delivery/list', { webhook_id: c, order: 'desc', limit: 2, next_token: token }).expect(
        400,
      );
      expect(other.body.error.details[0]).toMatchObject({ field: 'next_token' });
      const bad = await post('delivery/list', { order: 'oldest' }).expect(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'order' })]);
    });

    it('400 naming each bad field', async () => {
      const res = await post('delivery/list', {
        webhook_id: 'nope',
        status: 'lost',
        event_type: 'NOT A TYPE',
        after: 'yesterday',
        before: 12,
        limit: 'ten',
        surprise: true,
      }).expect(400);
      const fields = (res.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(new Set(fields)).toEqual(
        new Set(['webhook_id', 'status', 'event_type', 'after', 'before', 'limit', 'surprise']),
      );
      expect(res.body.error.code).toBe('validation_failed');
    });
  });

  describe('delivery/get', () => {
    it('the delivery with its attempts in attempt order', async () => {
      const hook = await createWebhook();
      const id = await fixture(hook, 'retrying', { attempt_count: 2 });
      const t0 = minutesAgo(5);
      await insertAttempt(db(), {
        delivery_id: id,
        orgcode: org,
        webhook_id: hook,
        attempt_no: 2,
        started_at: minutesAgo(1),
        duration_ms: 30_000,
        status_code: null,
        error_kind: 'timeout',
        error: 'No complete response within 30000 ms',
        outcome: 'retrying',
      });
      await insertAttempt(db(), {
        delivery_id: id,
        orgcode: org,
        webhook_id: hook,
        attempt_no: 1,
        started_at: t0,
        duration_ms: 87,
        status_code: 503,
        error_kind: 'http_status',
        outcome: 'retrying',
      });
      const res = await post('delivery/get', { delivery_id: id }).expect(200);
      expect(res.body.stats.call).toBe('POST /webhook/delivery/get');
      const d = res.body.data.delivery as Delivery & { attempts: Json[] };
      expect(d).toMatchObject({ delivery_id: id, webhook_id: hook, status: 'retrying', attempt_count: 2 });
      expect(d.attempts).toEqual([
        {
          attempt_no: 1,
          started_at: t0.toISOString(),
          duration_ms: 87,
          status_code: 503,
          error_kind: 'http_status',
          error: null,
          response_headers: { 'content-type': 'text/plain' },
          response_excerpt: 'attempt 1',
          outcome: 'retrying',
        },
        expect.objectContaining({ attempt_no: 2, status_code: null, error_kind: 'timeout', outcome: 'retrying' }),
      ]);
      const bare = await post('delivery/get', { delivery_id: await fixture(hook, 'pending') }).expect(200);
      expect(bare.body.data.delivery.attempts).toEqual([]);
    });

    it('400 for a malformed id, 404 for an unknown one', async () => {
      const bad = await post('delivery/get', { delivery_id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }).expect(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'delivery_id' })]);
      await post('delivery/get', {}).expect(400);
      const none = await post('delivery/get', { delivery_id: newId(IdPrefix.Delivery) }).expect(404);
      expect(none.body.error).toMatchObject({ code: 'not_found', message: 'Delivery not found' });
    });
  });

  describe('delivery/retry', () => {
    it.each(['failed', 'dead_letter'] as const)(
      'a %s delivery: a fresh pending delivery, audited, with a delivery.send job',
      async (status) => {
        const hook = await createWebhook();
        const old = await fixture(hook, status, { event_seq: '42', event_type: 'rfp.cancelled' });
        const [oldRow] = await db().query('SELECT event_id FROM deliveries WHERE delivery_id = $1', [old]);
        const res = await post('delivery/retry', { delivery_id: old, reason: 'endpoint fixed' }).expect(200);
        const fresh = res.body.data.delivery as Delivery;
        expect(fresh.delivery_id).not.toBe(old);
        expect(fresh).toMatchObject({
          delivery_id: expect.stringMatching(/^dlv_[0-9A-Z]{26}$/),
          webhook_id: hook,
          status: 'pending',
          origin: 'retry',
          retry_of: old,
          event_seq: '42',
          event_id: oldRow.event_id,
          event_type: 'rfp.cancelled',
          attempt_count: 0,
          finished_at: null,
        });
        // the old row is untouched
        const [after] = await db().query('SELECT status FROM deliveries WHERE delivery_id = $1', [old]);
        expect(after.status).toBe(status);
        const job = await deliveryQueue.getJob(fresh.delivery_id);
        expect(job?.name).toBe('delivery.send');
        expect(job?.data).toEqual({ delivery_id: fresh.delivery_id, webhook_id: hook });
        const audit = await db().query(
          'SELECT action, actor_id, reason, target_type, metadata FROM audit_log WHERE target_id = $1',
          [fresh.delivery_id],
        );
        expect(audit).toEqual([
          {
            action: 'webhook.delivery.retry',
            actor_id: 'dlv-admin',
            reason: 'endpoint fixed',
            target_type: 'delivery',
            metadata: { webhook_id: hook, retry_of: old, previous_status: status },
          },
        ]);
      },
    );

    it.each(['pending', 'in_flight', 'retrying', 'success'] as const)(
      'a %s delivery: 422, nothing created',
      async (status) => {
        const hook = await createWebhook();
        const id = await fixture(hook, status);
        const res = await post('delivery/retry', { delivery_id: id }).expect(422);
        expect(res.body.error.code).toBe('unprocessable');
        expect(res.body.error.message).toContain(status);
        const [{ n }] = await db().query('SELECT count(*)::int AS n FROM deliveries WHERE retry_of = $1', [id]);
        expect(n).toBe(0);
      },
    );

    it('422 when the webhook is paused or disabled', async () => {
      for (const status of ['paused', 'disabled']) {
        const hook = await createWebhook();
        const id = await fixture(hook, 'failed');
        await post('status/set', { webhook_id: hook, status, expected_revision: '1' }).expect(200);
        const res = await post('delivery/retry', { delivery_id: id }).expect(422);
        expect(res.body.error.message).toContain(status);
      }
    });

    it('Idempotency-Key: the same retry twice is one fresh delivery', async () => {
      const hook = await createWebhook();
      const id = await fixture(hook, 'failed');
      const send = () => post('delivery/retry', { delivery_id: id }).set('Idempotency-Key', `retry-${id}`).expect(200);
      const first = await send();
      const second = await send();
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body.data).toEqual(first.body.data);
      const [{ n }] = await db().query('SELECT count(*)::int AS n FROM deliveries WHERE retry_of = $1', [id]);
      expect(n).toBe(1);
    });

    it('400 naming the field', async () => {
      const res = await post('delivery/retry', { delivery_id: 42, reason: 7 }).expect(400);
      const fields = (res.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(new Set(fields)).toEqual(new Set(['delivery_id', 'reason']));
    });
  });

  describe('delivery/purge', () => {
    it('deletes finished deliveries (and their attempts) in batches; unfinished ones and other webhooks stay', async () => {
      const hook = await createWebhook();
      const other = await createWebhook();
      const finished = [
        await fixture(hook, 'success'),
        await fixture(hook, 'failed'),
        await fixture(hook, 'dead_letter'),
      ];
      const open = [await fixture(hook, 'pending'), await fixture(hook, 'in_flight'), await fixture(hook, 'retrying')];
      const others = [await fixture(other, 'success')];
      for (const id of [finished[1], open[2]]) {
        await insertAttempt(db(), { delivery_id: id, orgcode: org, webhook_id: hook, attempt_no: 1, outcome: 'x' });
      }
      // more than one batch of 1,000
      await db().query(
        `INSERT INTO deliveries (delivery_id, orgcode, webhook_id, event_id, event_type, status, origin, created_at, updated_at, finished_at)
         SELECT 'dlv_bulk' || g || $3, $1, $2, 'evt', 'rfp.created', 'success', 'event', now(), now(), now()
         FROM generate_series(1, 1500) AS g`,
        [org, hook, hook.slice(-8)],
      );

      const res = await post('delivery/purge', { webhook_id: hook, reason: 'cleanup' }).expect(200);
      expect(res.body.data).toEqual({ webhook_id: hook, purged: 1503 });
      const left = await db().query<Array<{ delivery_id: string }>>(
        'SELECT delivery_id FROM deliveries WHERE webhook_id = ANY($1) ORDER BY delivery_id',
        [[hook, other]],
      );
      expect(left.map((r) => r.delivery_id).sort()).toEqual([...open, ...others].sort());
      const attempts = await db().query<Array<{ delivery_id: string }>>(
        'SELECT delivery_id FROM delivery_attempts WHERE webhook_id = $1',
        [hook],
      );
      expect(attempts.map((a) => a.delivery_id)).toEqual([open[2]]);
      const [audit] = await db().query(
        "SELECT reason, metadata FROM audit_log WHERE target_id = $1 AND action = 'webhook.delivery.purge'",
        [hook],
      );
      expect(audit).toMatchObject({ reason: 'cleanup', metadata: { purged: 1503 } });

      const again = await post('delivery/purge', { webhook_id: hook }).expect(200);
      expect(again.body.data.purged).toBe(0);
    });

    it('400 and 404', async () => {
      const bad = await post('delivery/purge', { webhook_id: 'whk_x' }).expect(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ field: 'webhook_id' })]);
      await post('delivery/purge', { webhook_id: newId(IdPrefix.Webhook) }).expect(404);
    });
  });

  describe('stats', () => {
    it('counts by status, success rate and p50/p95 latency per window, exactly', async () => {
      const hook = await createWebhook();
      const now = new Date();
      const seed = async (minutes: number, statuses: string[], durations: number[]) => {
        const ids: string[] = [];
        for (const status of statuses) {
          ids.push(await fixture(hook, status as 'success', { created_at: minutesAgo(minutes, now) }));
        }
        for (const [i, duration_ms] of durations.entries()) {
          await insertAttempt(db(), {
            delivery_id: ids[0],
            orgcode: org,
            webhook_id: hook,
            attempt_no: i + 1,
            started_at: minutesAgo(minutes, now),
            duration_ms,
          });
        }
      };
      await seed(10, ['success', 'success', 'success', 'failed', 'pending'], [100, 200, 300, 400]);
      await seed(5 * 60, ['success', 'success', 'dead_letter', 'dead_letter'], [1000, 2000]);
      await seed(3 * 24 * 60, ['success', 'failed'], [5000]);
      await seed(8 * 24 * 60, ['success'], [9000]); // outside every window

      const res = await post('stats', { webhook_id: hook }).expect(200);
      const data = res.body.data as { webhook_id: string; windows: Array<Json & { latency_ms: Json }> };
      expect(data.webhook_id).toBe(hook);
      expect(data.windows.map((w) => w.window)).toEqual(['1h', '24h', '7d']);
      const [h1, h24, d7] = data.windows;
      expect(h1).toMatchObject({
        total: 5,
        by_status: { pending: 1, in_flight: 0, retrying: 0, success: 3, failed: 1, dead_letter: 0 },
        success_rate: 0.75,
        attempts: 4,
      });
      expect(h1.latency_ms.p50).toBeCloseTo(250, 6);
      expect(h1.latency_ms.p95).toBeCloseTo(385, 6);
      expect(h24).toMatchObject({
        total: 9,
        by_status: { pending: 1, in_flight: 0, retrying: 0, success: 5, failed: 1, dead_letter: 2 },
        success_rate: 0.625,
        attempts: 6,
      });
      expect(h24.latency_ms.p50).toBeCloseTo(350, 6);
      expect(h24.latency_ms.p95).toBeCloseTo(1750, 6);
      expect(d7).toMatchObject({
        total: 11,
        by_status: { pending: 1, in_flight: 0, retrying: 0, success: 6, failed: 2, dead_letter: 2 },
        success_rate: 0.6,
        attempts: 7,
      });
      expect(d7.latency_ms.p50).toBeCloseTo(400, 6);
      expect(d7.latency_ms.p95).toBeCloseTo(4100, 6);
    });

    it('a webhook with nothing delivered: zeros and nulls', async () => {
      const hook = await createWebhook();
      await fixture(hook, 'pending');
      const res = await post('stats', { webhook_id: hook }).expect(200);
      expect(res.body.data.windows[0]).toMatchObject({
        window: '1h',
        total: 1,
        success_rate: null,
        attempts: 0,
        latency_ms: { p50: null, p95: null },
      });
    });

    describe('rolled-up hours (webhook_delivery_hours): always equal to counting every delivery and attempt', () => {
      type ByStatus = Record<string, number>;
      type Latency = { attempts: number; p50: number | null; p95: number | null };
      const zero = (): ByStatus => ({ pending: 0, in_flight: 0, retrying: 0, success: 0, failed: 0, dead_letter: 0 });

      /** What the stats must say at `asOf`: every delivery of the webhook counted, by status and window. */
      const bruteForce = async (hook: string, asOf: string): Promise<ByStatus[]> => {
        const rows = await db().query<Array<{ status: string; h1: number; h24: number; d7: number }>>(
          `SELECT status, count(*) FILTER (WHERE created_at >= $2::timestamptz - interval '1 hour')::int AS h1,
                  count(*) FILTER (WHERE created_at >= $2::timestamptz - interval '24 hours')::int AS h24,
                  count(*)::int AS d7
           FROM deliveries
           WHERE webhook_id = $1 AND created_at >= $2::timestamptz - interval '7 days' AND created_at <= $2::timestamptz
           GROUP BY status`,
          [hook, asOf],
        );
        const out = [zero(), zero(), zero()];
        for (const r of rows) [r.h1, r.h24, r.d7].forEach((n, i) => (out[i][r.status] = n));
        return out;
      };
      /** What the latencies must say at `asOf`: percentile_cont over every attempt started in each window. */
      const bruteForceLatencies = async (hook: string, asOf: string): Promise<Latency[]> => {
        const rows = await db().query<Array<{ attempts: number; p: number[] | null }>>(
          `SELECT count(*)::int AS attempts,
                  percentile_cont(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (ORDER BY duration_ms) AS p
           FROM unnest(ARRAY[interval '1 hour', interval '24 hours', interval '7 days']) WITH ORDINALITY AS w(span, i)
           LEFT JOIN delivery_attempts a
             ON a.webhook_id = $1 AND a.started_at >= $2::timestamptz - w.span AND a.started_at <= $2::timestamptz
           GROUP BY w.i ORDER BY w.i`,
          [hook, asOf],
        );
        return rows.map((r) => ({ attempts: r.attempts, p50: r.p?.[0] ?? null, p95: r.p?.[1] ?? null }));
      };
      /** Calls /webhook/stats and checks it against the brute-force counts and latencies at its own as_of. */
      const expectExact = async (hook: string): Promise<{ as_of: string; by: ByStatus[]; latencies: Latency[] }> => {
        const res = await post('stats', { webhook_id: hook }).expect(200);
        const data = res.body.data as {
          as_of: string;
          windows: Array<{
            by_status: ByStatus;
            total: number;
            attempts: number;
            latency_ms: { p50: number | null; p95: number | null };
          }>;
        };
        const by = data.windows.map((w) => w.by_status);
        expect(by).toEqual(await bruteForce(hook, data.as_of));
        data.windows.forEach((w) => expect(w.total).toBe(Object.values(w.by_status).reduce((a, n) => a + n, 0)));
        const latencies = data.windows.map((w) => ({ attempts: w.attempts, ...w.latency_ms }));
        const expected = await bruteForceLatencies(hook, data.as_of);
        expect(latencies.map((l) => l.attempts)).toEqual(expected.map((l) => l.attempts));
        latencies.forEach((l, i) => {
          for (const p of ['p50', 'p95'] as const) {
            const want = expected[i][p];
            if (want === null) expect(l[p]).toBeNull();
            else expect(l[p]).toBeCloseTo(want, 6);
          }
        });
        return { as_of: data.as_of, by, latencies };
      };
      type StoredRow = HourRow;
      const storedRows = (hook: string) =>
        db().query<StoredRow[]>(
          `SELECT hour, success, failed, dead_letter, attempts, durations, duration_counts
           FROM webhook_delivery_hours WHERE webhook_id = $1 ORDER BY hour`,
          [hook],
        );
      /**
       * The rows a stats read at `asOf` must have written: settled terminal deliveries of each final hour,
       * and the histogram of the durations of the attempts started in it.
       */
      const expectedRows = (hook: string, asOf: string) => {
        const { from, to } = rollableHours(new Date(asOf));
        return db().query<StoredRow[]>(
          `SELECT h AS hour,
                  count(d.delivery_id) FILTER (WHERE d.status = 'success' AND settled)::int AS success,
                  count(d.delivery_id) FILTER (WHERE d.status = 'failed' AND settled)::int AS failed,
                  count(d.delivery_id) FILTER (WHERE d.status = 'dead_letter' AND settled)::int AS dead_letter,
                  a.attempts, a.durations, a.duration_counts
           FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 hour') AS h
           LEFT JOIN LATERAL (
             SELECT delivery_id, status, finished_at < created_at + interval '1 hour' AS settled FROM deliveries
             WHERE webhook_id = $1 AND created_at >= h AND created_at < h + interval '1 hour') d ON true
           CROSS JOIN LATERAL (
             SELECT coalesce(sum(n), 0)::int AS attempts,
                    coalesce(array_agg(duration_ms ORDER BY duration_ms), '{}') AS durations,
                    coalesce(array_agg(n ORDER BY duration_ms), '{}') AS duration_counts
             FROM (SELECT duration_ms, count(*)::int AS n FROM delivery_attempts
                   WHERE webhook_id = $1 AND started_at >= h AND started_at < h + interval '1 hour'
                   GROUP BY duration_ms) x) a
           GROUP BY h, a.attempts, a.durations, a.duration_counts ORDER BY h`,
          [hook, from, to],
        );
      };
      /**
       * Deliveries every 23 minutes over 7 days and a bit, statuses cycling (some finished 90 minutes
       * late, so not settled), and some on each window's edge: either side of now - 7d, now - 24h and
       * now - 1h, and at the start of the hours that straddle now - 24h and now - 1h. Each delivery but
       * the pending ones has 1 to 3 attempts, started 0, 17 and 34 minutes after it was created (so
       * some in the next hour), durations repeating; each edge delivery one attempt started on its edge.
       */
      const seedSpread = async (hook: string): Promise<void> => {
        const now = Date.now();
        await db().query(
          `INSERT INTO deliveries (delivery_id, orgcode, webhook_id, event_id, event_type, status, origin, attempt_count,
                                   created_at, updated_at, finished_at)
           SELECT 'dlv_' || $3 || lpad(g::text, 6, '0'), $1, $2, 'evt_spread', 'rfp.created', st, 'event', 1, at, at,
                  CASE WHEN st IN ('success', 'failed', 'dead_letter')
                       THEN at + CASE WHEN g % 7 = 0 THEN interval '90 minutes' ELSE interval '2 minutes' END END
           FROM (SELECT g, $4::timestamptz - make_interval(mins => g * 23) AS at,
                        (ARRAY['success', 'success', 'failed', 'dead_letter', 'retrying', 'success', 'pending',
                               'in_flight', 'success'])[1 + g % 9] AS st
                 FROM generate_series(0, 7 * 24 * 60 / 23 + 10) AS g) s`,
          [org, hook, hook.slice(-10), new Date(now)],
        );
        await db().query(
          `INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms,
                                          status_code, response_headers, response_excerpt, outcome)
           SELECT d.delivery_id, d.orgcode, d.webhook_id, k, d.created_at + make_interval(mins => 17 * (k - 1)),
                  (n * 37 + k * 11) % 400 + 5, 200, '{}', '', d.status
           FROM (SELECT delivery_id, orgcode, webhook_id, created_at, status,
                        row_number() OVER (ORDER BY delivery_id)::int AS n FROM deliveries
                 WHERE webhook_id = $1 AND status <> 'pending') d
           CROSS JOIN LATERAL generate_series(1, 1 + d.n % 3) AS k
           WHERE d.created_at + make_interval(mins => 17 * (k - 1)) <= $2`,
          [hook, new Date(now)],
        );
        const edges: number[] = [];
        for (const w of [3_600_000, 86_400_000, 604_800_000]) {
          const start = now - w;
          const hour = Math.floor(start / 3_600_000) * 3_600_000;
          edges.push(start - 30_000, start + 30_000, hour + 1, (start + hour + 3_600_000) / 2);
        }
        for (const [i, ms] of edges.entries()) {
          const id = await fixture(hook, (['success', 'failed', 'retrying', 'dead_letter'] as const)[i % 4], {
            created_at: new Date(ms),
          });
          await insertAttempt(db(), {
            delivery_id: id,
            orgcode: org,
            webhook_id: hook,
            attempt_no: 1,
            started_at: new Date(ms),
            duration_ms: 1000 + i * 250,
          });
        }
      };

      it('the first read writes the final hours; the next ones read them; both exact, window edges included', async () => {
        const hook = await createWebhook();
        await seedSpread(hook);
        expect(await storedRows(hook)).toEqual([]);
        const first = await expectExact(hook);
        const rows = await storedRows(hook);
        expect(rows.length).toBeGreaterThanOrEqual(165);
        expect(rows).toEqual(await expectedRows(hook, first.as_of));
        // the hour straddling now - 24h has its row (used by 7d only)
        const straddling = Math.floor((Date.parse(first.as_of) - 86_400_000) / 3_600_000) * 3_600_000;
        expect(rows.map((r) => r.hour.getTime())).toContain(straddling);

        const second = await expectExact(hook);
        expect(second.by).toEqual(first.by);
        expect(await storedRows(hook)).toEqual(rows);
      });

      it('stays exact when a delivery of a rolled-up hour finishes late, and after a purge (rows refill)', async () => {
        const hook = await createWebhook();
        await seedSpread(hook);
        await expectExact(hook);
        const rows = await storedRows(hook);

        // retrying deliveries of rolled-up hours succeed now, days after they were created
        const [changed] = await db().query<[Array<{ delivery_id: string }>, number]>(
          `UPDATE deliveries SET status = 'success', finished_at = now(), updated_at = now()
           WHERE webhook_id = $1 AND status IN ('retrying', 'in_flight') AND created_at < now() - interval '3 hours'
           RETURNING delivery_id`,
          [hook],
        );
        expect(changed.length).toBeGreaterThan(10);
        // and their last attempts start now or up to 64 minutes ago (either side of now - 1h): after every
        // hour that may have a row, since rows are written only once their hour's attempts are final
        await db().query(
          `INSERT INTO delivery_attempts (delivery_id, orgcode, webhook_id, attempt_no, started_at, duration_ms,
                                          status_code, response_headers, response_excerpt, outcome)
           SELECT delivery_id, orgcode, webhook_id, 9, now() - make_interval(mins => 1 + (row_number() OVER ())::int * 7 % 64),
                  3000 + (row_number() OVER ())::int, 200, '{}', '', 'success'
           FROM unnest($1::varchar[]) AS c(delivery_id) JOIN deliveries USING (delivery_id)`,
          [changed.map((c) => c.delivery_id)],
        );
        await expectExact(hook);
        expect(await storedRows(hook)).toEqual(rows); // rows never change: late ones are counted live

        const purged = await post('delivery/purge', { webhook_id: hook }).expect(200);
        expect(purged.body.data.purged).toBeGreaterThan(300);
        expect(await storedRows(hook)).toEqual([]);
        const after = await expectExact(hook);
        expect(after.by[2].success).toBe(0);
        expect(after.by[2].pending).toBeGreaterThan(0);
        expect(await storedRows(hook)).toEqual(await expectedRows(hook, after.as_of));
      });

      it('the retention job deletes the rows that may count deleted deliveries, and rows older than 8 days', async () => {
        const hook = await createWebhook();
        await seedSpread(hook);
        const retention = new DeliveryRetention(db(), undefined as never, api.config);
        await expectExact(hook);
        // what retention with DELIVERY_RETENTION_DAYS = 1 deletes, for this webhook only (other tests' rows stay)
        await db().query(`DELETE FROM deliveries WHERE webhook_id = $1 AND finished_at < now() - interval '1 day'`, [
          hook,
        ]);
        expect(await retention.forgetHours(1)).toBeGreaterThan(100);
        const cutoff = Date.now() - 86_400_000 + 2 * 3_600_000;
        const left = await storedRows(hook);
        expect(left.length).toBeGreaterThan(10);
        expect(left.every((r) => r.hour.getTime() >= cutoff - 60_000)).toBe(true);
        const after = await expectExact(hook);
        expect(await storedRows(hook)).toEqual(await expectedRows(hook, after.as_of));

        await db().query(
          `INSERT INTO webhook_delivery_hours
             (webhook_id, hour, orgcode, success, failed, dead_letter, attempts, durations, duration_counts)
           VALUES ($1, date_trunc('hour', now()) - interval '9 days', $2, 1, 0, 0, 1, '{5}', '{1}')`,
          [hook, org],
        );
        const result = await retention.purge();
        expect(result.hours).toBeGreaterThanOrEqual(1);
        expect((await storedRows(hook)).every((r) => r.hour.getTime() > Date.now() - 8 * 86_400_000)).toBe(true);
        await expectExact(hook);
      });
    });

    it('400 and 404', async () => {
      const bad = await post('stats', { webhook_id: 3 }).expect(400);
      expect(bad.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'webhook_id' })]),
      );
      await post('stats', { webhook_id: newId(IdPrefix.Webhook) }).expect(404);
    });
  });

  describe('tenancy', () => {
    it('another tenant’s webhooks and deliveries are a 404 on every route, and never listed', async () => {
      const otherOrg = uniqueOrg('dlvother');
      const theirAdmin = await token(api.config, { orgs: [otherOrg], permissions: ['manage_webhooks'] });
      const theirHook = await createWebhook({}, theirAdmin, otherOrg);
      const theirs = await insertDelivery(db(), { orgcode: otherOrg, webhook_id: theirHook, status: 'failed' });
      const both = await token(api.config, { orgs: [org, otherOrg], permissions: ['manage_webhooks'] });
      for (const jwt of [admin, both]) {
        await post('delivery/get', { delivery_id: theirs }, jwt).expect(404);
        await post('delivery/retry', { delivery_id: theirs }, jwt).expect(404);
        const purge = await post('delivery/purge', { webhook_id: theirHook }, jwt).expect(404);
        expect(purge.body.error.message).toBe('Webhook not found');
        await post('stats', { webhook_id: theirHook }, jwt).expect(404);
        const list = await post('delivery/list', { limit: 256, webhook_id: theirHook }, jwt).expect(200);
        expect(list.body.data.items).toEqual([]);
      }
      const [row] = await db().query('SELECT status FROM deliveries WHERE delivery_id = $1', [theirs]);
      expect(row.status).toBe('failed');
      await post('delivery/get', { delivery_id: theirs }, theirAdmin, otherOrg).expect(200);
    });

    it('an API key bound to app A sees only the deliveries of app A’s webhooks', async () => {
      const appOrg = uniqueOrg('dlvapp');
      const boss = await token(api.config, { orgs: [appOrg], permissions: ['manage_webhooks', 'manage_api_keys'] });
      const key = (
        await api
          .http()
          .post('/ipm/apikey/create')
          .set(bearer(boss))
          .set('x-orgcode', appOrg)
          .send({ name: 'a', app_id: 'app_a', permissions: ['manage_webhooks'] })
          .expect(200)
      ).body.data.key as string;
      const asKey = (route: string, body: Json) =>
        api.http().post(`/ipm/webhook/${route}`).set('x-api-key', key).set('x-orgcode', appOrg).send(body);
      const mine = (await asKey('create', { endpoint_url: PUBLIC_URL }).expect(200)).body.data.webhook_id as string;
      const tenantWide = await createWebhook({}, boss, appOrg);
      const d1 = await insertDelivery(db(), { orgcode: appOrg, webhook_id: mine, status: 'failed' });
      const d2 = await insertDelivery(db(), { orgcode: appOrg, webhook_id: tenantWide, status: 'failed' });
      const seen = (await asKey('delivery/list', {}).expect(200)).body.data.items as Delivery[];
      expect(seen.map((d) => d.delivery_id)).toEqual([d1]);
      await asKey('delivery/get', { delivery_id: d2 }).expect(404);
      await asKey('delivery/retry', { delivery_id: d2 }).expect(404);
      await asKey('stats', { webhook_id: tenantWide }).expect(404);
      await asKey('delivery/get', { delivery_id: d1 }).expect(200);
      const all = (await post('delivery/list', {}, boss, appOrg).expect(200)).body.data.items as Delivery[];
      expect(all.map((d) => d.delivery_id)).toEqual([d2, d1]);
    });
  });

  describe('401 and 403 on every route', () => {
    it.each(ROUTES)('%s: 401 without credentials, 403 without manage_webhooks', async (route) => {
      const body = { webhook_id: newId(IdPrefix.Webhook), delivery_id: newId(IdPrefix.Delivery) };
      const none = await api.http().post(`/ipm/webhook/${route}`).set('x-orgcode', org).send(body).expect(401);
      expect(none.body.error.code).toBe('unauthorized');
      const reader = await token(api.config, { orgs: [org], permissions: ['manage_api_keys', 'view_audit'] });
      const res = await post(route, body, reader).expect(403);
      expect(res.body.error).toMatchObject({ code: 'forbidden', message: 'Permission manage_webhooks is required' });
    });
  });

  it('/docs-json documents every route with its errors', async () => {
    const doc = (await api.http().get('/docs-json').expect(200)).body as {
      paths: Record<string, { post?: { responses: Record<string, unknown> } }>;
    };
    for (const route of [...ROUTES, 'replay', 'replay/get', 'test', 'verify']) {
      const op = doc.paths[`/ipm/webhook/${route}`]?.post;
      expect({ route, responses: Object.keys(op?.responses ?? {}) }).toEqual({
        route,
        responses: expect.arrayContaining(['200', '400', '401', '403', '404']),
      });
    }
  });
});
