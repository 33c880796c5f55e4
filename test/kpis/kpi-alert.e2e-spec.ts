import { INestApplicationContext } from '@nestjs/common';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { quietDatabase, TestReceiver } from '../support/receiver';
import { waitFor } from '../support/wait';

// The file's own BullMQ prefix (only the worker started below consumes its queues) and loopback
// receivers allowed, for the delivery of ipm.kpi.alert to a webhook. The cooldown is the default (60).
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:kpialert`;
process.env.WORKER_PORT = '0';
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
process.env.RELAY_POLL_MS = '10';
delete process.env.KPI_ALERT_COOLDOWN_MINUTES;

jest.setTimeout(30_000);

type Json = Record<string, unknown>;
interface Alert extends Json {
  alert_id: string;
  state: string;
  breached: boolean;
  revision: string;
  value: number;
  last_notified_at: string | null;
}
interface AlertResult {
  alert: Alert;
  created: boolean;
  notified: boolean;
  cooldown_until?: string;
}

const HOUR = { bucket: 'hourly', bucket_start: '2026-01-01T10:00:00Z' };

describe('/kpi/alert', () => {
  let api: TestApi;
  let db: DataSource;
  let admin: string;
  const org = uniqueOrg('kpialert');
  const otherOrg = uniqueOrg('kpialert-other');

  beforeAll(async () => {
    api = await startApi();
    db = api.app.get(DataSource);
    admin = await token(api.config, { sub: 'alert-admin', orgs: [org, otherOrg], permissions: ['manage_kpis'] });
  });
  afterAll(() => api.close());

  let n = 0;
  /** A KPI code unique to one test, so that tests never share an alert. */
  const code = (label: string) => `a${++n}.${label}`;
  const alertCall = (body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post('/ipm/kpi/alert').set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const ok = async (body: Json, orgcode: string = org): Promise<AlertResult> => {
    const res = await alertCall(body, admin, orgcode);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200 });
    return res.body.data as AlertResult;
  };
  const evaluate = (kpi_code: string, value: number, comparator: string, threshold: number, extra: Json = {}) =>
    ok({ alert: { kpi_code, value, threshold: { comparator, value: threshold }, ...HOUR }, ...extra });
  const alertEvents = (alertId: string) =>
    db.query<Array<{ payload: Json }>>(
      `SELECT payload FROM events WHERE event_type = 'ipm.kpi.alert' AND logical_guid = $1 ORDER BY seq`,
      [alertId],
    );

  describe('evaluation', () => {
    // [comparator, threshold, a value that breaches, a value within]
    it.each([
      ['gt', 10, 10.5, 10],
      ['gte', 10, 10, 9.5],
      ['lt', 0.95, 0.82, 0.95],
      ['lte', 0.95, 0.95, 0.96],
      ['eq', 0.3, 0.1 + 0.2, 0.31],
      ['neq', 0.3, 0.31, 0.1 + 0.2],
    ])('%s %d: %d breaches (firing), %d does not (resolved)', async (comparator, threshold, breaching, within) => {
      const crossed = await evaluate(code(`${comparator}-x`), breaching, comparator, threshold);
      expect(crossed).toMatchObject({ created: true, notified: false, alert: { breached: true, state: 'firing' } });
      const calm = await evaluate(code(`${comparator}-ok`), within, comparator, threshold);
      expect(calm).toMatchObject({ created: true, notified: false, alert: { breached: false, state: 'resolved' } });
    });

    it('answers seed 000 shape plus state, breached, revision and last_notified_at; stored and audited', async () => {
      const kpi_code = code('shape');
      const res = await alertCall({
        alert: { kpi_code, value: 0.82, threshold: { comparator: 'lt', value: 0.95 }, ...HOUR },
        reason: 'success rate watch',
      }).expect(200);
      expect(res.body).toMatchObject({ success: true, stats: { call: 'POST /kpi/alert', service: 'ipm' } });
      expect(res.body.data).toEqual({
        created: true,
        notified: false,
        alert: {
          alert_id: expect.stringMatching(/^alr_[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
          kpi_code,
          value: 0.82,
          threshold: { comparator: 'lt', value: 0.95 },
          scope: 'org',
          bucket: 'hourly',
          bucket_start: '2026-01-01T10:00:00.000Z',
          bucket_end: '2026-01-01T11:00:00.000Z',
          state: 'firing',
          breached: true,
          evaluated_at: expect.any(String),
          last_notified_at: null,
          orgcode: org,
          app_id: null,
          created_at: expect.any(String),
          created_by: 'alert-admin',
          updated_at: expect.any(String),
          updated_by: 'alert-admin',
          revision: '1',
        },
      });
      const id = (res.body.data as AlertResult).alert.alert_id;
      const [row] = await db.query<Json[]>('SELECT * FROM kpi_alerts WHERE alert_id = $1', [id]);
      expect(row).toMatchObject({ orgcode: org, comparator: 'lt', threshold: 0.95, state: 'firing', revision: 1 });
      const audit = await db.query<Json[]>('SELECT action, reason, metadata FROM audit_log WHERE target_id = $1', [id]);
      expect(audit).toEqual([
        expect.objectContaining({
          action: 'kpi.alert',
          reason: 'success rate watch',
          metadata: expect.objectContaining({ created: true, from: null, to: 'firing', breached: true }),
        }),
      ]);
      expect(await alertEvents(id)).toEqual([]); // notify not asked
    });

    it('evaluates the stored snapshot when no value is given; 404 when none was recorded', async () => {
      const kpi_code = code('stored');
      const snapshot = { kpi_code, scope: 'region:eu', ...HOUR, value: 42 };
      await api
        .http()
        .post('/ipm/kpi/record')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ kpi: snapshot })
        .expect(200);
      const threshold = { comparator: 'gt', value: 40 };
      const got = await ok({ alert: { kpi_code, scope: 'region:eu', threshold, ...HOUR } });
      expect(got.alert).toMatchObject({ value: 42, breached: true, state: 'firing', scope: 'region:eu' });

      // Another scope, another bucket start, another tenant: no snapshot there.
      for (const [alert, orgcode] of [
        [{ kpi_code, threshold, ...HOUR }, org],
        [{ kpi_code, scope: 'region:eu', threshold, ...HOUR, bucket_start: '2026-01-01T11:00:00Z' }, org],
        [{ kpi_code, scope: 'region:eu', threshold, ...HOUR }, otherOrg],
      ] as const) {
        const res = await alertCall({ alert }, admin, orgcode).expect(404);
        expect(res.body.error).toMatchObject({ code: 'not_found', details: [{ field: 'alert.value' }] });
        expect(res.body.error.message).toMatch(/No hourly snapshot of .* was recorded/);
      }
    });
  });

  describe('dedupe and state', () => {
    it('the same key twice is the same alert, its revision moving; another threshold is another alert', async () => {
      const kpi_code = code('dedupe');
      const first = await evaluate(kpi_code, 12, 'gt', 10);
      const second = await evaluate(kpi_code, 13, 'gt', 10);
      expect(second).toMatchObject({
        created: false,
        alert: { alert_id: first.alert.alert_id, revision: '2', value: 13 },
      });
      expect(second.alert.state).toBe('firing');
      // The same instant written with another offset is the same key.
      const third = await ok({
        alert: {
          kpi_code,
          value: 14,
          threshold: { comparator: 'gt', value: 10 },
          bucket: 'hourly',
          bucket_start: '2026-01-01T11:00:00+01:00',
        },
      });
      expect(third.alert).toMatchObject({ alert_id: first.alert.alert_id, revision: '3' });
      const other = await evaluate(kpi_code, 12, 'gt', 11);
      expect(other.created).toBe(true);
      expect(other.alert.alert_id).not.toBe(first.alert.alert_id);
      const [{ count }] = await db.query<Array<{ count: number }>>(
        'SELECT count(*)::int AS count FROM kpi_alerts WHERE orgcode = $1 AND kpi_code = $2',
        [org, kpi_code],
      );
      expect(count).toBe(2);
    });

    it('concurrent first evaluations of one key make one alert', async () => {
      const kpi_code = code('race');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => evaluate(kpi_code, 20 + i, 'gt', 10)));
      expect(new Set(results.map((r) => r.alert.alert_id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.map((r) => r.alert.revision).sort((a, b) => Number(a) - Number(b))).toEqual([
        '1',
        '2',
        '3',
        '4',
        '5',
        '6',
        '7',
        '8',
      ]);
    });

    it('resolved when back within the threshold, firing again when crossed again', async () => {
      const kpi_code = code('cycle');
      const fire = await evaluate(kpi_code, 0.5, 'lt', 0.9);
      expect(fire.alert).toMatchObject({ state: 'firing', breached: true, revision: '1' });
      const calm = await evaluate(kpi_code, 0.95, 'lt', 0.9);
      expect(calm.alert).toMatchObject({
        alert_id: fire.alert.alert_id,
        state: 'resolved',
        breached: false,
        revision: '2',
      });
      const still = await evaluate(kpi_code, 0.97, 'lt', 0.9);
      expect(still.alert).toMatchObject({ state: 'resolved', breached: false, revision: '3' });
      const again = await evaluate(kpi_code, 0.2, 'lt', 0.9);
      expect(again.alert).toMatchObject({
        alert_id: fire.alert.alert_id,
        state: 'firing',
        breached: true,
        revision: '4',
      });
      const audit = await db.query<Array<{ metadata: { from: string | null; to: string } }>>(
        'SELECT metadata FROM audit_log WHERE target_id = $1 ORDER BY created_at, audit_id',
        [fire.alert.alert_id],
      );
      expect(audit.map((a) => `${a.metadata.from}->${a.metadata.to}`)).toEqual([
        'null->firing',
        'firing->resolved',
        'resolved->resolved',
        'resolved->firing',
      ]);
    });

    it('an acknowledged alert stays acknowledged while crossed and resolves once back within', async () => {
      const kpi_code = code('ack');
      const fire = await evaluate(kpi_code, 5, 'gte', 5);
      await db.query(`UPDATE kpi_alerts SET state = 'acknowledged' WHERE alert_id = $1`, [fire.alert.alert_id]);
      expect((await evaluate(kpi_code, 6, 'gte', 5)).alert.state).toBe('acknowledged');
      expect((await evaluate(kpi_code, 4, 'gte', 5)).alert.state).toBe('resolved');
    });
  });

  describe('notify and cooldown', () => {
    it('publishes ipm.kpi.alert (catalog payload) when crossed, not when within', async () => {
      const kpi_code = code('notify');
      const calm = await evaluate(kpi_code, 1, 'gt', 10, { notify: true });
      expect(calm).toMatchObject({ notified: false, alert: { breached: false, last_notified_at: null } });
      expect(await alertEvents(calm.alert.alert_id)).toEqual([]);

      const crossed = await evaluate(kpi_code, 11, 'gt', 10, { notify: true });
      expect(crossed).toMatchObject({ notified: true, alert: { breached: true, state: 'firing' } });
      expect(crossed.alert.last_notified_at).toEqual(expect.any(String));
      expect(await alertEvents(crossed.alert.alert_id)).toEqual([
        {
          payload: {
            alert_id: crossed.alert.alert_id,
            kpi_code,
            scope: 'org',
            value: 11,
            threshold: { comparator: 'gt', value: 10 },
            bucket: 'hourly',
            bucket_start: '2026-01-01T10:00:00.000Z',
            bucket_end: '2026-01-01T11:00:00.000Z',
          },
        },
      ]);
      const [event] = await db.query<Json[]>(
        `SELECT orgcode, source, actor FROM events WHERE event_type = 'ipm.kpi.alert' AND logical_guid = $1`,
        [crossed.alert.alert_id],
      );
      expect(event).toEqual({ orgcode: org, source: 'platform', actor: 'alert-admin' });
    });

    it('a repeat within the cooldown is not notified again (also after resolve and re-fire); after it, it is', async () => {
      const kpi_code = code('cooldown');
      const first = await evaluate(kpi_code, 11, 'gt', 10, { notify: true });
      expect(first.notified).toBe(true);
      const notifiedAt = first.alert.last_notified_at as string;

      const repeat = await evaluate(kpi_code, 12, 'gt', 10, { notify: true });
      expect(repeat).toMatchObject({ notified: false, alert: { last_notified_at: notifiedAt, revision: '2' } });
      expect(repeat.cooldown_until).toBe(new Date(Date.parse(notifiedAt) + 60 * 60_000).toISOString());

      await evaluate(kpi_code, 9, 'gt', 10, { notify: true }); // resolved
      const refire = await evaluate(kpi_code, 13, 'gt', 10, { notify: true });
      expect(refire).toMatchObject({ notified: false, alert: { state: 'firing', last_notified_at: notifiedAt } });
      expect(await alertEvents(first.alert.alert_id)).toHaveLength(1);

      // The cooldown has run out (61 minutes ago): notified again.
      await db.query(`UPDATE kpi_alerts SET last_notified_at = now() - interval '61 minutes' WHERE alert_id = $1`, [
        first.alert.alert_id,
      ]);
      const later = await evaluate(kpi_code, 14, 'gt', 10, { notify: true });
      expect(later.notified).toBe(true);
      expect(later.cooldown_until).toBeUndefined();
      expect(Date.parse(later.alert.last_notified_at as string)).toBeGreaterThan(Date.parse(notifiedAt));
      const events = await alertEvents(first.alert.alert_id);
      expect(events.map((e) => e.payload.value)).toEqual([11, 14]);

      // Without notify nothing is published, cooldown or not.
      await db.query(`UPDATE kpi_alerts SET last_notified_at = NULL WHERE alert_id = $1`, [first.alert.alert_id]);
      expect((await evaluate(kpi_code, 15, 'gt', 10)).notified).toBe(false);
      expect(await alertEvents(first.alert.alert_id)).toHaveLength(2);
    });
  });

  describe('refusals', () => {
    const good = { kpi_code: 'CODE1', value: 1, threshold: { comparator: 'gt', value: 0 }, ...HOUR };

    it.each([
      ['an unknown comparator', 'alert.threshold.comparator', { threshold: { comparator: 'ge', value: 0 } }],
      ['a threshold that is not a number', 'alert.threshold.value', { threshold: { comparator: 'gt', value: 'high' } }],
      ['no threshold', 'alert.threshold', { threshold: undefined }],
      ['a value that is not a number', 'alert.value', { value: '1' }],
      ['a bad kpi_code', 'alert.kpi_code', { kpi_code: '1bad code' }],
      ['a bad bucket', 'alert.bucket', { bucket: 'yearly' }],
      ['a misaligned bucket_start', 'alert.bucket_start', { bucket_start: '2026-01-01T10:30:00Z' }],
      ['a bucket_start with no zone', 'alert.bucket_start', { bucket_start: '2026-01-01T10:00:00' }],
      ['a bucket_end that is not its end', 'alert.bucket_end', { bucket_end: '2026-01-01T12:00:00Z' }],
      [
        'a week not starting on Monday',
        'alert.bucket_start',
        { bucket: 'weekly', bucket_start: '2026-01-01T00:00:00Z' },
      ],
    ])('400 for %s, naming %s', async (_why, field, change) => {
      const res = await alertCall({ alert: { ...good, ...change } }).expect(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    });

    it('400 for a non-boolean notify and an unknown field', async () => {
      const notify = await alertCall({ alert: good, notify: 'yes' }).expect(400);
      expect(notify.body.error.details).toEqual([expect.objectContaining({ field: 'notify' })]);
      await alertCall({ alert: { ...good, extra: 1 } }).expect(400);
    });

    it('401 without credentials, 403 without manage_kpis, 404 for an org the caller is not in', async () => {
      await api.http().post('/ipm/kpi/alert').set('x-orgcode', org).send({ alert: good }).expect(401);
      const viewer = await token(api.config, { orgs: [org], permissions: ['view_kpis'] });
      const forbidden = await alertCall({ alert: good }, viewer).expect(403);
      expect(forbidden.body.error.code).toBe('forbidden');
      await alertCall({ alert: good }, admin, uniqueOrg('stranger')).expect(404);
      const [{ count }] = await db.query<Array<{ count: number }>>(
        `SELECT count(*)::int AS count FROM kpi_alerts WHERE orgcode = $1 AND kpi_code = 'CODE1'`,
        [org],
      );
      expect(count).toBe(0);
    });

    it("another tenant's alert of the same key is a separate row: neither sees nor moves the other", async () => {
      const kpi_code = code('tenants');
      const mine = await evaluate(kpi_code, 11, 'gt', 10, { notify: true });
      const theirs = await ok(
        { alert: { kpi_code, value: 5, threshold: { comparator: 'gt', value: 10 }, ...HOUR }, notify: true },
        otherOrg,
      );
      expect(theirs).toMatchObject({ created: true, alert: { state: 'resolved', revision: '1', orgcode: otherOrg } });
      expect(theirs.alert.alert_id).not.toBe(mine.alert.alert_id);
      const rows = await db.query<Array<{ orgcode: string; state: string; revision: number }>>(
        'SELECT orgcode, state, revision FROM kpi_alerts WHERE kpi_code = $1 ORDER BY orgcode',
        [kpi_code],
      );
      expect(rows).toEqual(
        [
          { orgcode: org, state: 'firing', revision: 1 },
          { orgcode: otherOrg, state: 'resolved', revision: 1 },
        ].sort((a, b) => a.orgcode.localeCompare(b.orgcode)),
      );
      // The other tenant's breach is not within this tenant's cooldown: notified for them.
      const theirBreach = await ok(
        { alert: { kpi_code, value: 50, threshold: { comparator: 'gt', value: 10 }, ...HOUR }, notify: true },
        otherOrg,
      );
      expect(theirBreach).toMatchObject({ notified: true, alert: { state: 'firing', revision: '2' } });
      const [{ count }] = await db.query<Array<{ count: number }>>(
        `SELECT count(*)::int AS count FROM events WHERE event_type = 'ipm.kpi.alert' AND orgcode = $1`,
        [org],
      );
      expect(count).toBeGreaterThan(0);
      expect(await alertEvents(mine.alert.alert_id)).toHaveLength(1);
    });
  });

  describe('delivery to a subscribed webhook (real worker)', () => {
    let worker: INestApplicationContext;
    let receiver: TestReceiver;

    beforeAll(async () => {
      receiver = await new TestReceiver().start();
      await quietDatabase(db);
      worker = await createWorkerApp();
      await worker.init();
    });
    afterAll(async () => {
      await worker?.close();
      await receiver?.close();
    });

    it('the alert reaches a webhook subscribed to ipm.kpi.alert, signed: standardwebhooks verifies it', async () => {
      const hookOrg = uniqueOrg('kpialert-hook');
      const jwt = await token(api.config, { orgs: [hookOrg], permissions: ['manage_kpis', 'manage_webhooks'] });
      const created = await api
        .http()
        .post('/ipm/webhook/create')
        .set(bearer(jwt))
        .set('x-orgcode', hookOrg)
        .send({ endpoint_url: receiver.url('/alerts'), event_filters: [{ service: 'ipm', action: 'kpi.alert' }] });
      expect(created.body.error).toBeUndefined();
      const { webhook_id, secret } = created.body.data as { webhook_id: string; secret: string };

      const res = await api
        .http()
        .post('/ipm/kpi/alert')
        .set(bearer(jwt))
        .set('x-orgcode', hookOrg)
        .send({
          alert: {
            kpi_code: 'delivery_success_rate',
            value: 0.82,
            threshold: { comparator: 'lt', value: 0.95 },
            ...HOUR,
          },
          notify: true,
        })
        .expect(200);
      const { alert, notified } = res.body.data as AlertResult;
      expect(notified).toBe(true);

      const [got] = await receiver.waitFor(1, '/alerts');
      const headers = got.headers as Record<string, string>;
      const body = JSON.parse(got.body) as Json;
      expect(new StandardWebhook(secret).verify(got.body, headers)).toEqual(body);
      expect(() =>
        new StandardWebhook(`whsec_${Buffer.from('not-the-secret-0123456789').toString('base64')}`).verify(
          got.body,
          headers,
        ),
      ).toThrow();
      expect(body).toEqual({
        type: 'ipm.kpi.alert',
        timestamp: expect.any(String),
        data: {
          alert_id: alert.alert_id,
          kpi_code: 'delivery_success_rate',
          scope: 'org',
          value: 0.82,
          threshold: { comparator: 'lt', value: 0.95 },
          bucket: 'hourly',
          bucket_start: '2026-01-01T10:00:00.000Z',
          bucket_end: '2026-01-01T11:00:00.000Z',
        },
      });
      const delivery = await waitFor('the delivery to succeed', async () => {
        const rows = await db.query<Array<{ status: string; delivery_id: string }>>(
          'SELECT status, delivery_id FROM deliveries WHERE webhook_id = $1',
          [webhook_id],
        );
        return rows.length === 1 && rows[0].status === 'success' ? rows[0] : undefined;
      });
      expect(delivery.delivery_id).toBe(headers['webhook-id']);

      // Within the cooldown: not notified, nothing more is delivered.
      const repeat = await api
        .http()
        .post('/ipm/kpi/alert')
        .set(bearer(jwt))
        .set('x-orgcode', hookOrg)
        .send({
          alert: {
            kpi_code: 'delivery_success_rate',
            value: 0.5,
            threshold: { comparator: 'lt', value: 0.95 },
            ...HOUR,
          },
          notify: true,
        })
        .expect(200);
      expect((repeat.body.data as AlertResult).notified).toBe(false);
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.at('/alerts')).toHaveLength(1);
    });
  });
});
