import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

type Json = Record<string, unknown>;
interface Kpi extends Json {
  kpi_id: string;
  revision: string;
  value: number;
}

const HOUR = { kpi_code: 'CODE1', bucket: 'hourly', bucket_start: '2026-01-01T00:00:00Z', value: 0 };

describe('/kpi/record', () => {
  let api: TestApi;
  let admin: string;
  const org = uniqueOrg('kpi');
  const otherOrg = uniqueOrg('kpi-other');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, { sub: 'kpi-admin', orgs: [org], permissions: ['manage_kpis', 'view_audit'] });
  });
  afterAll(() => api.close());

  const db = () => api.app.get(DataSource);
  const record = (body: Json, auth: string = admin, orgcode: string = org) =>
    api.http().post('/ipm/kpi/record').set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  /** A KPI code unique to one test, so that tests never share a snapshot. */
  let n = 0;
  const code = (label: string) => `t${++n}.${label}`;
  const ok = async (
    body: Json,
    auth: string = admin,
    orgcode: string = org,
  ): Promise<{ kpi: Kpi; created: boolean }> => {
    const res = await record(body, auth, orgcode);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200 });
    return res.body.data as { kpi: Kpi; created: boolean };
  };
  const rows = (kpiCode: string) =>
    db().query<Array<Json & { orgcode: string; value: number; revision: number }>>(
      'SELECT * FROM kpi_snapshots WHERE kpi_code = $1 ORDER BY orgcode',
      [kpiCode],
    );

  describe('create, then replace', () => {
    it('creates a snapshot: seed 000 shape, revision 1, scope org, bucket_end filled in; audited', async () => {
      const kpi_code = code('create');
      const res = await record({ kpi: { ...HOUR, kpi_code, value: 12.5 }, reason: 'backfill' }).expect(200);
      expect(res.body).toMatchObject({
        success: true,
        build: { build_id: api.config.BUILD_ID },
        stats: { call: 'POST /kpi/record', service: 'ipm' },
      });
      const data = res.body.data as { kpi: Kpi; created: boolean };
      expect(data).toEqual({
        created: true,
        kpi: {
          kpi_id: expect.stringMatching(/^kpi_[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
          orgcode: org,
          app_id: null,
          kpi_code,
          scope: 'org',
          bucket: 'hourly',
          bucket_start: '2026-01-01T00:00:00.000Z',
          bucket_end: '2026-01-01T01:00:00.000Z',
          value: 12.5,
          created_at: expect.any(String),
          created_by: 'kpi-admin',
          updated_at: expect.any(String),
          updated_by: 'kpi-admin',
          revision: '1',
        },
      });
      const [row] = await rows(kpi_code);
      expect(row).toMatchObject({ kpi_id: data.kpi.kpi_id, orgcode: org, value: 12.5, revision: 1 });
      const audit = await db().query<Array<Json>>(
        'SELECT action, actor_id, reason, metadata FROM audit_log WHERE target_id = $1',
        [data.kpi.kpi_id],
      );
      expect(audit).toEqual([
        {
          action: 'kpi.record',
          actor_id: 'kpi-admin',
          reason: 'backfill',
          metadata: {
            created: true,
            kpi_code,
            scope: 'org',
            bucket: 'hourly',
            bucket_start: '2026-01-01T00:00:00.000Z',
            value: 12.5,
            revision: '1',
          },
        },
      ]);
    });

    it('replaces the value with expected_revision: same kpi_id, next revision, audited with the previous value', async () => {
      const kpi_code = code('replace');
      const first = (await ok({ kpi: { ...HOUR, kpi_code, value: 1 } })).kpi;
      const second = await ok({
        kpi: { ...HOUR, kpi_code, value: 2, bucket_end: '2026-01-01T01:00:00Z' },
        expected_revision: '1',
      });
      expect(second).toEqual({
        created: false,
        kpi: { ...first, value: 2, revision: '2', updated_at: expect.any(String) },
      });
      const third = await ok({ kpi: { ...HOUR, kpi_code, value: -3.25 }, expected_revision: '2' });
      expect(third.kpi).toMatchObject({ kpi_id: first.kpi_id, value: -3.25, revision: '3' });
      expect(await rows(kpi_code)).toEqual([expect.objectContaining({ value: -3.25, revision: 3 })]);
      const audit = await db().query<Array<{ metadata: Json }>>(
        'SELECT metadata FROM audit_log WHERE target_id = $1 ORDER BY audit_id',
        [first.kpi_id],
      );
      expect(audit.map((a) => a.metadata)).toEqual([
        expect.objectContaining({ created: true, value: 1, revision: '1' }),
        expect.objectContaining({ created: false, value: 2, previous_value: 1, revision: '2' }),
        expect.objectContaining({ created: false, value: -3.25, previous_value: 2, revision: '3' }),
      ]);
    });

    it('the same value again: no new revision', async () => {
      const kpi_code = code('same');
      await ok({ kpi: { ...HOUR, kpi_code, value: 7 } });
      const again = await ok({ kpi: { ...HOUR, kpi_code, value: 7 }, expected_revision: '1' });
      expect(again).toMatchObject({ created: false, kpi: { revision: '1', value: 7 } });
    });

    it('one instant written with another offset is the same snapshot', async () => {
      const kpi_code = code('offset');
      const first = (await ok({ kpi: { ...HOUR, kpi_code, bucket: 'daily' } })).kpi;
      const res = await record({
        kpi: { ...HOUR, kpi_code, bucket: 'daily', bucket_start: '2026-01-01T02:00:00+02:00', value: 5 },
        expected_revision: '1',
      }).expect(200);
      expect(res.body.data.kpi).toMatchObject({ kpi_id: first.kpi_id, revision: '2', value: 5 });
    });

    it('scope and bucket are part of the key: each its own snapshot', async () => {
      const kpi_code = code('keys');
      const a = (await ok({ kpi: { ...HOUR, kpi_code } })).kpi;
      const b = (await ok({ kpi: { ...HOUR, kpi_code, scope: 'app:billing' } })).kpi;
      const c = (await ok({ kpi: { ...HOUR, kpi_code, bucket: 'daily' } })).kpi;
      const d = (await ok({ kpi: { ...HOUR, kpi_code, bucket_start: '2026-01-01T01:00:00Z' } })).kpi;
      expect(new Set([a.kpi_id, b.kpi_id, c.kpi_id, d.kpi_id]).size).toBe(4);
      expect(b.scope).toBe('app:billing');
      expect(await rows(kpi_code)).toHaveLength(4);
    });

    it('every bucket, incl. the leap day, a week across the new year and February of a leap year', async () => {
      const kpi_code = code('buckets');
      const cases = [
        ['hourly', '2028-02-29T23:00:00Z', '2028-03-01T00:00:00.000Z'],
        ['daily', '2028-02-29T00:00:00Z', '2028-03-01T00:00:00.000Z'],
        ['weekly', '2025-12-29T00:00:00Z', '2026-01-05T00:00:00.000Z'],
        ['weekly', '2028-02-28T00:00:00Z', '2028-03-06T00:00:00.000Z'],
        ['monthly', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00.000Z'],
        ['monthly', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
      ];
      for (const [bucket, bucket_start, bucket_end] of cases) {
        const { kpi } = await ok({ kpi: { kpi_code, bucket, bucket_start, bucket_end, value: 1 } });
        expect(kpi).toMatchObject({ bucket, bucket_end });
      }
    });

    it('Idempotency-Key: the same request again is the first response, not a 428', async () => {
      const kpi_code = code('idem');
      const key = `kpi-${kpi_code}`;
      const send = () =>
        api
          .http()
          .post('/ipm/kpi/record')
          .set(bearer(admin))
          .set('x-orgcode', org)
          .set('idempotency-key', key)
          .send({ kpi: { ...HOUR, kpi_code } });
      const first = await send().expect(200);
      const second = await send().expect(200);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body.data).toEqual(first.body.data);
      expect(await rows(kpi_code)).toHaveLength(1);
    });
  });

  describe('revisions', () => {
    it('428 when an existing snapshot is replaced without expected_revision; nothing changes', async () => {
      const kpi_code = code('428');
      await ok({ kpi: { ...HOUR, kpi_code, value: 1 } });
      const res = await record({ kpi: { ...HOUR, kpi_code, value: 2 } }).expect(428);
      expect(res.body.error).toEqual({
        code: 'precondition_required',
        message: 'expected_revision is required to replace the existing snapshot (at revision 1)',
        details: [
          {
            field: 'expected_revision',
            message: 'expected_revision is required to replace the existing snapshot (at revision 1)',
          },
        ],
      });
      expect(await rows(kpi_code)).toEqual([expect.objectContaining({ value: 1, revision: 1 })]);
    });

    it('409 on a stale expected_revision; nothing changes', async () => {
      const kpi_code = code('409');
      await ok({ kpi: { ...HOUR, kpi_code, value: 1 } });
      await ok({ kpi: { ...HOUR, kpi_code, value: 2 }, expected_revision: '1' });
      const res = await record({ kpi: { ...HOUR, kpi_code, value: 3 }, expected_revision: '1' }).expect(409);
      expect(res.body.error).toMatchObject({
        code: 'revision_mismatch',
        details: [{ field: 'expected_revision', expected: '1', current: '2' }],
      });
      expect(await rows(kpi_code)).toEqual([expect.objectContaining({ value: 2, revision: 2 })]);
    });

    it('409 when expected_revision names a snapshot that does not exist (nothing is created)', async () => {
      const kpi_code = code('409-none');
      const res = await record({ kpi: { ...HOUR, kpi_code }, expected_revision: '1' }).expect(409);
      expect(res.body.error).toMatchObject({
        code: 'revision_mismatch',
        message: 'expected_revision 1 was given but no such snapshot exists: omit expected_revision to create it',
      });
      expect(await rows(kpi_code)).toEqual([]);
    });

    it('400 for a malformed expected_revision', async () => {
      const res = await record({ kpi: { ...HOUR, kpi_code: code('badrev') }, expected_revision: 'one' }).expect(400);
      expect(res.body.error.details).toEqual([
        { field: 'expected_revision', message: 'expected_revision must be a positive integer as a string' },
      ]);
    });

    it('concurrent records of one new snapshot: exactly one creates it, the others get 428, never a 500', async () => {
      const kpi_code = code('race');
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => record({ kpi: { ...HOUR, kpi_code, value: i } })),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, ...Array<number>(11).fill(428)]);
      const winner = results.find((r) => r.status === 200)?.body.data.kpi as Kpi;
      expect(await rows(kpi_code)).toEqual([expect.objectContaining({ kpi_id: winner.kpi_id, value: winner.value })]);
    });

    it('concurrent replacements with the same revision: one wins, the others get 409', async () => {
      const kpi_code = code('race-replace');
      await ok({ kpi: { ...HOUR, kpi_code, value: 0 } });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          record({ kpi: { ...HOUR, kpi_code, value: i + 1 }, expected_revision: '1' }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, ...Array<number>(7).fill(409)]);
      expect(await rows(kpi_code)).toEqual([expect.objectContaining({ revision: 2 })]);
    });
  });

  describe('validation: 400 naming the field', () => {
    const bad = async (kpi: Json, field: string, message: string | RegExp): Promise<void> => {
      const res = await record({ kpi }).expect(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details).toEqual([
        { field, message: typeof message === 'string' ? message : expect.stringMatching(message) },
      ]);
    };

    it.each([
      [
        'hourly',
        '2026-01-01T00:30:00Z',
        'bucket_start 2026-01-01T00:30:00.000Z is not the start of an hourly bucket: hourly buckets start on the hour ' +
          '(mm:ss.sss = 00:00.000) in UTC; the hourly bucket containing it starts at 2026-01-01T00:00:00.000Z',
      ],
      [
        'daily',
        '2026-01-01T00:00:00+01:00',
        'bucket_start 2025-12-31T23:00:00.000Z is not the start of a daily bucket: daily buckets start at ' +
          '00:00:00.000 UTC; the daily bucket containing it starts at 2025-12-31T00:00:00.000Z',
      ],
      [
        'weekly',
        '2026-01-04T00:00:00Z',
        'bucket_start 2026-01-04T00:00:00.000Z (a Sunday in UTC) is not the start of a weekly bucket: weekly buckets ' +
          'start on Monday at 00:00:00.000 UTC; the weekly bucket containing it starts at 2025-12-29T00:00:00.000Z',
      ],
      [
        'monthly',
        '2028-02-29T00:00:00Z',
        'bucket_start 2028-02-29T00:00:00.000Z is not the start of a monthly bucket: monthly buckets start on the ' +
          '1st of the month at 00:00:00.000 UTC; the monthly bucket containing it starts at 2028-02-01T00:00:00.000Z',
      ],
    ])('%s: a misaligned bucket_start (%s)', async (bucket, bucket_start, message) => {
      await bad({ ...HOUR, kpi_code: code('align'), bucket, bucket_start }, 'kpi.bucket_start', message);
    });

    it.each([
      ['hourly', '2026-01-01T00:00:00Z', '2026-01-01T00:59:59Z', '2026-01-01T01:00:00.000Z'],
      ['daily', '2028-02-29T00:00:00Z', '2028-03-02T00:00:00Z', '2028-03-01T00:00:00.000Z'],
      ['weekly', '2026-01-05T00:00:00Z', '2026-01-11T00:00:00Z', '2026-01-12T00:00:00.000Z'],
      ['monthly', '2028-02-01T00:00:00Z', '2028-02-29T00:00:00Z', '2028-03-01T00:00:00.000Z'],
    ])('%s: a bucket_end that does not match', async (bucket, bucket_start, bucket_end, expected) => {
      await bad(
        { ...HOUR, kpi_code: code('end'), bucket, bucket_start, bucket_end },
        'kpi.bucket_end',
        `bucket_end ${new Date(bucket_end).toISOString()} does not match bucket_start: the ${bucket} bucket ` +
          `starting at ${new Date(bucket_start).toISOString()} ends at ${expected}`,
      );
    });

    it.each([
      ['no time zone', '2026-01-01T00:00:00'],
      ['a date only', '2026-01-01'],
      ['30 February', '2026-02-30T00:00:00Z'],
      ['29 February of a common year', '2027-02-29T00:00:00Z'],
    ])('bucket_start with %s', async (_why, bucket_start) => {
      await bad(
        { ...HOUR, kpi_code: code('instant'), bucket: 'daily', bucket_start },
        'kpi.bucket_start',
        'bucket_start must be an ISO 8601 date-time with a time zone, e.g. 2026-01-01T00:00:00Z',
      );
    });

    it('the platform’s own codes (ipm.*) are written only by its roll-up', async () => {
      const res = await record({ kpi: { ...HOUR, kpi_code: 'ipm.deliveries.total', value: 1 } }).expect(400);
      expect(res.body.error.details).toEqual([
        { field: 'kpi.kpi_code', message: "kpi_code ipm.* is reserved for the platform's own KPIs" },
      ]);
    });

    it('a value too large for a double (JSON 1e400 is Infinity) is refused', async () => {
      const res = await api
        .http()
        .post('/ipm/kpi/record')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .set('content-type', 'application/json')
        .send(
          `{"kpi":{"kpi_code":"${code('inf')}","bucket":"hourly","bucket_start":"2026-01-01T00:00:00Z","value":1e400}}`,
        )
        .expect(400);
      expect(res.body.error.details).toEqual([{ field: 'kpi.value', message: 'value must be a finite number' }]);
    });

    it.each([['12'], [null], [true], [{ n: 1 }]])('value %j is refused', async (value) => {
      const res = await record({ kpi: { ...HOUR, kpi_code: code('value'), value } }).expect(400);
      expect(res.body.error.details).toEqual([{ field: 'kpi.value', message: 'value must be a finite number' }]);
    });

    it.each([['has space'], ['1starts-with-digit'], [''], ['x'.repeat(101)], ['ünï']])(
      'kpi_code %j is refused',
      async (kpi_code) => {
        await bad(
          { ...HOUR, kpi_code },
          'kpi.kpi_code',
          'kpi_code must be 1-100 of A-Z a-z 0-9 _ . : - starting with a letter',
        );
      },
    );

    it('an unknown bucket, a bad scope, an unknown field, a missing kpi', async () => {
      await bad({ ...HOUR, bucket: 'yearly' }, 'kpi.bucket', 'bucket must be one of hourly, daily, weekly, monthly');
      await bad(
        { ...HOUR, scope: 'no spaces please' },
        'kpi.scope',
        'scope must be 1-128 of A-Z a-z 0-9 _ . : / - starting with a letter or digit',
      );
      await bad({ ...HOUR, unit: 'ms' }, 'kpi.unit', 'unknown field unit');
      const res = await record({}).expect(400);
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'kpi' })]));
    });

    it('nothing is stored by a refused request', async () => {
      const kpi_code = code('none');
      await record({ kpi: { ...HOUR, kpi_code, bucket_start: '2026-01-01T00:00:01Z' } }).expect(400);
      expect(await rows(kpi_code)).toEqual([]);
    });
  });

  it('is documented: request and response schemas, every error status, both security schemes', async () => {
    const doc = (await api.http().get('/docs-json').expect(200)).body as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, unknown>; security: unknown[]; requestBody: unknown }>
      >;
    };
    const op = doc.paths['/ipm/kpi/record'].post;
    expect(Object.keys(op.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
      '415',
      '422',
      '428',
      '429',
      '500',
      '503',
    ]);
    expect(op.security).toEqual(expect.arrayContaining([{ jwt: [] }, { api_key: [] }]));
    expect(JSON.stringify(op.requestBody)).toContain('KpiRecordRequestDto');
  });

  describe('auth and tenants', () => {
    it('401 without credentials', async () => {
      const res = await api.http().post('/ipm/kpi/record').set('x-orgcode', org).send({ kpi: HOUR }).expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    });

    it('403 without manage_kpis (view_kpis is not enough)', async () => {
      const viewer = await token(api.config, { orgs: [org], permissions: ['view_kpis', 'manage_webhooks'] });
      const res = await record({ kpi: { ...HOUR, kpi_code: code('403') } }, viewer).expect(403);
      expect(res.body.error.code).toBe('forbidden');
    });

    it('404 for an org the caller does not belong to', async () => {
      await record({ kpi: { ...HOUR, kpi_code: code('404') } }, admin, otherOrg).expect(404);
    });

    it('another tenant recording the same key gets its own snapshot and can never change yours', async () => {
      const kpi_code = code('tenants');
      const other = await token(api.config, { sub: 'other-admin', orgs: [otherOrg], permissions: ['manage_kpis'] });
      const mine = (await ok({ kpi: { ...HOUR, kpi_code, value: 10 } })).kpi;

      // Same key in the other tenant: a new snapshot, not a 428 about mine.
      const theirs = await ok({ kpi: { ...HOUR, kpi_code, value: 99 } }, other, otherOrg);
      expect(theirs).toMatchObject({ created: true, kpi: { orgcode: otherOrg, revision: '1', value: 99 } });
      expect(theirs.kpi.kpi_id).not.toBe(mine.kpi_id);
      // Its replacements touch its own.
      await ok({ kpi: { ...HOUR, kpi_code, value: 98 }, expected_revision: '1' }, other, otherOrg);
      const stale = await record({ kpi: { ...HOUR, kpi_code, value: 97 }, expected_revision: '1' }, other, otherOrg);
      expect(stale.status).toBe(409);
      // It cannot name my tenant.
      await record({ kpi: { ...HOUR, kpi_code, value: 0 }, expected_revision: '1' }, other, org).expect(404);
      await record({ kpi: { ...HOUR, kpi_code, value: 0 }, request_context: { orgcode: org } }, other, otherOrg).expect(
        400,
      );

      const stored = await rows(kpi_code);
      expect(stored).toHaveLength(2);
      expect(stored.find((r) => r.orgcode === org)).toMatchObject({ kpi_id: mine.kpi_id, value: 10, revision: 1 });
      expect(stored.find((r) => r.orgcode === otherOrg)).toMatchObject({
        kpi_id: theirs.kpi.kpi_id,
        value: 98,
        revision: 2,
      });
    });

    it('an application principal records as its app and cannot replace another app’s snapshot (403)', async () => {
      const kpi_code = code('apps');
      const appA = await token(api.config, {
        sub: 'key-a',
        orgs: [org],
        permissions: ['manage_kpis'],
        app_id: 'app_a',
      });
      const appB = await token(api.config, {
        sub: 'key-b',
        orgs: [org],
        permissions: ['manage_kpis'],
        app_id: 'app_b',
      });
      const created = (await ok({ kpi: { ...HOUR, kpi_code, value: 1 } }, appA)).kpi;
      expect(created).toMatchObject({ app_id: 'app_a', created_by: 'key-a' });

      const res = await record({ kpi: { ...HOUR, kpi_code, value: 2 }, expected_revision: '1' }, appB).expect(403);
      expect(res.body.error.message).toMatch(/another application/);
      // Its own app may; so may a tenant-wide caller, and the snapshot stays app_a's.
      await ok({ kpi: { ...HOUR, kpi_code, value: 3 }, expected_revision: '1' }, appA);
      const byAdmin = await ok({ kpi: { ...HOUR, kpi_code, value: 4 }, expected_revision: '2' });
      expect(byAdmin.kpi).toMatchObject({ app_id: 'app_a', updated_by: 'kpi-admin', revision: '3', value: 4 });
    });
  });
});
