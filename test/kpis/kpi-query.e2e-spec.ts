import { DataSource } from 'typeorm';
import { bucketEndOf, type KpiBucket } from '@ipm/kpis';
import { rollupSql, seriesSql } from '@ipm/kpis';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';

type Json = Record<string, unknown>;
interface Point extends Json {
  bucket_start: string;
  value: number;
}
interface SeedRow {
  bucket_start: string;
  value: number;
  bucket?: KpiBucket;
  scope?: string;
  app_id?: string | null;
}

const HOUR_MS = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

describe('/kpi/query', () => {
  let api: TestApi;
  let admin: string;
  let viewer: string;
  const org = uniqueOrg('kpiq');
  const otherOrg = uniqueOrg('kpiq-other');

  beforeAll(async () => {
    api = await startApi();
    admin = await token(api.config, { sub: 'kpi-admin', orgs: [org], permissions: ['manage_kpis'] });
    viewer = await token(api.config, { sub: 'kpi-viewer', orgs: [org], permissions: ['view_kpis'] });
  });
  afterAll(() => api.close());

  const db = () => api.app.get(DataSource);
  let n = 0;
  /** A KPI code unique to one test, so that tests never share a series. */
  const code = (label: string) => `q${++n}.${label}`;
  const query = (body: Json, auth: string = viewer, orgcode: string = org) =>
    api.http().post('/ipm/kpi/query').set(bearer(auth)).set('x-orgcode', orgcode).send(body);
  const ok = async (body: Json, auth: string = viewer, orgcode: string = org) => {
    const res = await query(body, auth, orgcode);
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200 });
    return res.body.data as { series: Point[]; next_token?: string };
  };
  /** Every page of a query, in order. */
  const all = async (body: Json, auth: string = viewer): Promise<{ pages: Point[][]; series: Point[] }> => {
    const pages: Point[][] = [];
    let next_token: string | undefined;
    do {
      const data = await ok({ ...body, ...(next_token ? { next_token } : {}) }, auth);
      pages.push(data.series);
      next_token = data.next_token;
    } while (next_token && pages.length < 100);
    return { pages, series: pages.flat() };
  };
  const starts = (series: Point[]) => series.map((p) => p.bucket_start);
  const values = (series: Point[]) => series.map((p) => p.value);
  /** Snapshots written straight to the table (many at once); /kpi/record writes the same rows. */
  const seed = async (kpi_code: string, rows: SeedRow[], orgcode: string = org): Promise<void> => {
    const data = rows.map((r) => {
      const bucket = r.bucket ?? 'hourly';
      return {
        app_id: r.app_id ?? null,
        scope: r.scope ?? 'org',
        bucket,
        bucket_start: r.bucket_start,
        bucket_end: bucketEndOf(bucket, new Date(r.bucket_start)).toISOString(),
        value: r.value,
      };
    });
    await db().query(
      `INSERT INTO kpi_snapshots (kpi_id, orgcode, app_id, kpi_code, scope, bucket, bucket_start, bucket_end, value,
         created_at, created_by, updated_at, updated_by, revision)
       SELECT 'kpi_t' || substr(md5(random()::text || r.bucket_start::text), 1, 30), $1, r.app_id, $2, r.scope,
         r.bucket, r.bucket_start, r.bucket_end, r.value, now(), 'seed', now(), 'seed', 1
       FROM json_to_recordset($3::json) AS r(app_id text, scope text, bucket text, bucket_start timestamptz,
         bucket_end timestamptz, value float8)`,
      [orgcode, kpi_code, JSON.stringify(data)],
    );
  };
  const hourly = (from: string, count: number, value: (i: number) => number = (i) => i): SeedRow[] =>
    Array.from({ length: count }, (_, i) => ({ bucket_start: iso(Date.parse(from) + i * HOUR_MS), value: value(i) }));
  const daily = (entries: Array<[string, number]>): SeedRow[] =>
    entries.map(([day, value]) => ({ bucket: 'daily', bucket_start: `${day}T00:00:00.000Z`, value }));

  it('returns the stored snapshots as /kpi/record shows them, in bucket_start order (view_kpis or manage_kpis)', async () => {
    const kpi_code = code('ok');
    const recorded: Json[] = [];
    for (const [hour, value] of [
      ['02', 3.5],
      ['00', 1],
      ['01', -2],
    ] as const) {
      const res = await api
        .http()
        .post('/ipm/kpi/record')
        .set(bearer(admin))
        .set('x-orgcode', org)
        .send({ kpi: { kpi_code, bucket: 'hourly', bucket_start: `2026-01-01T${hour}:00:00Z`, value } })
        .expect(200);
      recorded.push(res.body.data.kpi as Json);
    }
    const body = { kpi_code, bucket: 'hourly', from_utc: '2026-01-01T00:00:00Z', to_utc: '2026-01-02T00:00:00Z' };
    const res = await query(body).expect(200);
    expect(res.body).toMatchObject({ success: true, stats: { call: 'POST /kpi/query', service: 'ipm' } });
    expect(res.body.data).toEqual({ series: [recorded[1], recorded[2], recorded[0]] });
    expect(res.body.data.series[0]).toMatchObject({
      kpi_code,
      scope: 'org',
      bucket: 'hourly',
      bucket_start: '2026-01-01T00:00:00.000Z',
      bucket_end: '2026-01-01T01:00:00.000Z',
      value: 1,
    });
    // manage_kpis reads too; another bucket of the same code is another series.
    expect((await ok(body, admin)).series).toHaveLength(3);
    expect((await ok({ ...body, bucket: 'daily' })).series).toEqual([]);
  });

  describe('window [from_utc, to_utc)', () => {
    it('from is inclusive and to exclusive, exactly at bucket boundaries', async () => {
      const kpi_code = code('edges');
      await seed(kpi_code, hourly('2026-01-01T00:00:00Z', 6));
      const window = (from_utc: string, to_utc: string) =>
        ok({ kpi_code, bucket: 'hourly', from_utc, to_utc }).then((d) => values(d.series));
      expect(await window('2026-01-01T01:00:00Z', '2026-01-01T04:00:00Z')).toEqual([1, 2, 3]);
      // Just after a boundary excludes that bucket; just after the last start includes it.
      expect(await window('2026-01-01T01:00:00.001Z', '2026-01-01T04:00:00.001Z')).toEqual([2, 3, 4]);
      // Any offset: 02:00+01:00 is 01:00Z.
      expect(await window('2026-01-01T02:00:00+01:00', '2026-01-01T02:00:00Z')).toEqual([1]);
      expect(await window('2025-12-31T00:00:00Z', '2026-01-01T00:00:00Z')).toEqual([]);
      expect(await window('2026-01-01T05:00:00Z', '2026-01-01T05:00:00.001Z')).toEqual([5]);
    });

    it('daily and monthly windows on their boundaries', async () => {
      const kpi_code = code('edges-day');
      await seed(
        kpi_code,
        daily([
          ['2026-01-31', 1],
          ['2026-02-01', 2],
          ['2026-02-28', 3],
          ['2026-03-01', 4],
        ]),
      );
      const d = await ok({
        kpi_code,
        bucket: 'daily',
        from_utc: '2026-02-01T00:00:00Z',
        to_utc: '2026-03-01T00:00:00Z',
      });
      expect(d.series.map((p) => [p.bucket_start, p.bucket_end, p.value])).toEqual([
        ['2026-02-01T00:00:00.000Z', '2026-02-02T00:00:00.000Z', 2],
        ['2026-02-28T00:00:00.000Z', '2026-03-01T00:00:00.000Z', 3],
      ]);
    });
  });

  describe('paging', () => {
    it('600 hourly points at limit 256: 3 pages, no gap, no repeat; the token is bound to the query', async () => {
      const kpi_code = code('pages');
      await seed(kpi_code, hourly('2026-01-01T00:00:00Z', 600));
      const body = { kpi_code, bucket: 'hourly', from_utc: '2026-01-01T00:00:00Z', to_utc: '2027-01-01T00:00:00Z' };
      const { pages, series } = await all({ ...body, limit: 256 });
      expect(pages.map((p) => p.length)).toEqual([256, 256, 88]);
      expect(values(series)).toEqual(Array.from({ length: 600 }, (_, i) => i));
      expect(new Set(starts(series)).size).toBe(600);

      // Over the maximum: clamped to 256. Default: 8.
      expect((await ok({ ...body, limit: 1000 })).series).toHaveLength(256);
      const first = await ok(body);
      expect(values(first.series)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(values((await ok({ ...body, next_token: first.next_token })).series)).toEqual([
        8, 9, 10, 11, 12, 13, 14, 15,
      ]);

      // A token for another window, scope, bucket or tenant is refused.
      for (const changed of [
        { to_utc: '2026-12-31T00:00:00Z' },
        { scope: 'region:eu' },
        { rollup: { from_bucket: 'hourly', fn: 'sum' }, bucket: 'daily' },
      ]) {
        const res = await query({ ...body, ...changed, next_token: first.next_token }).expect(400);
        expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'next_token' })]);
      }
    });

    it('the last page carries no next_token, also when it is exactly full', async () => {
      const kpi_code = code('full');
      await seed(kpi_code, hourly('2026-01-01T00:00:00Z', 4));
      const body = { kpi_code, bucket: 'hourly', from_utc: '2026-01-01T00:00:00Z', to_utc: '2026-01-02T00:00:00Z' };
      const { pages } = await all({ ...body, limit: 2 });
      expect(pages.map((p) => p.length)).toEqual([2, 2]);
      expect(await ok({ ...body, limit: 4 })).toEqual({ series: expect.any(Array) });
    });
  });

  it('scope: org by default, another scope on request', async () => {
    const kpi_code = code('scope');
    await seed(kpi_code, [
      { bucket_start: '2026-01-01T00:00:00Z', value: 1 },
      { bucket_start: '2026-01-01T00:00:00Z', value: 2, scope: 'region:eu' },
      { bucket_start: '2026-01-01T01:00:00Z', value: 3, scope: 'region:eu' },
    ]);
    const body = { kpi_code, bucket: 'hourly', from_utc: '2026-01-01T00:00:00Z', to_utc: '2026-01-02T00:00:00Z' };
    expect(values((await ok(body)).series)).toEqual([1]);
    expect(values((await ok({ ...body, scope: 'org' })).series)).toEqual([1]);
    const eu = await ok({ ...body, scope: 'region:eu' });
    expect(eu.series.map((p) => [p.scope, p.value])).toEqual([
      ['region:eu', 2],
      ['region:eu', 3],
    ]);
    expect((await ok({ ...body, scope: 'region:us' })).series).toEqual([]);
  });

  describe('roll-ups', () => {
    const rollup = (
      kpi_code: string,
      bucket: string,
      from_bucket: string,
      fn: string,
      from_utc: string,
      to_utc: string,
      extra: Json = {},
    ) => ok({ kpi_code, bucket, from_utc, to_utc, rollup: { from_bucket, fn }, ...extra });

    it('hourly into daily with each fn; a day without snapshots is absent; computed points have count, no kpi_id', async () => {
      const kpi_code = code('h2d');
      await seed(kpi_code, [
        // 1 January: 24 hours valued 1..24.
        ...hourly('2026-01-01T00:00:00Z', 24, (i) => i + 1),
        // 2 January: three hours; the latest is not the largest.
        { bucket_start: '2026-01-02T00:00:00Z', value: 10 },
        { bucket_start: '2026-01-02T05:00:00Z', value: 30 },
        { bucket_start: '2026-01-02T23:00:00Z', value: 20 },
        // 3 January: none. 4 January: one.
        { bucket_start: '2026-01-04T12:00:00Z', value: -5 },
        // Outside the window of days [1 Jan, 5 Jan).
        { bucket_start: '2025-12-31T23:00:00Z', value: 1000 },
        { bucket_start: '2026-01-05T00:00:00Z', value: 1000 },
      ]);
      const expected: Record<string, number[]> = {
        sum: [300, 60, -5],
        avg: [12.5, 20, -5],
        min: [1, 10, -5],
        max: [24, 30, -5],
        last: [24, 20, -5],
      };
      for (const [fn, want] of Object.entries(expected)) {
        const { series } = await rollup(
          kpi_code,
          'daily',
          'hourly',
          fn,
          '2026-01-01T00:00:00Z',
          '2026-01-05T00:00:00Z',
        );
        expect({ fn, values: values(series) }).toEqual({ fn, values: want });
        expect(series).toEqual([
          expect.objectContaining({
            bucket_start: '2026-01-01T00:00:00.000Z',
            bucket_end: '2026-01-02T00:00:00.000Z',
            count: 24,
          }),
          expect.objectContaining({ bucket_start: '2026-01-02T00:00:00.000Z', count: 3 }),
          expect.objectContaining({
            bucket_start: '2026-01-04T00:00:00.000Z',
            bucket_end: '2026-01-05T00:00:00.000Z',
            count: 1,
          }),
        ]);
      }
      const { series } = await rollup(
        kpi_code,
        'daily',
        'hourly',
        'sum',
        '2026-01-01T00:00:00Z',
        '2026-01-02T00:00:00Z',
      );
      expect(series).toEqual([
        {
          kpi_code,
          scope: 'org',
          bucket: 'daily',
          bucket_start: '2026-01-01T00:00:00.000Z',
          bucket_end: '2026-01-02T00:00:00.000Z',
          value: 300,
          count: 24,
        },
      ]);
    });

    it('a coarse bucket is shown whole when its start is in the window; one starting before it is not', async () => {
      const kpi_code = code('h2d-window');
      await seed(
        kpi_code,
        hourly('2026-01-01T00:00:00Z', 72, () => 1),
      );
      const days = (from: string, to: string) =>
        rollup(kpi_code, 'daily', 'hourly', 'sum', from, to).then((d) =>
          d.series.map((p) => [p.bucket_start.slice(0, 10), p.value]),
        );
      expect(await days('2026-01-01T06:00:00Z', '2026-01-03T00:00:00Z')).toEqual([['2026-01-02', 24]]);
      expect(await days('2026-01-01T06:00:00Z', '2026-01-03T00:00:00.001Z')).toEqual([
        ['2026-01-02', 24],
        ['2026-01-03', 24],
      ]);
      expect(await days('2026-01-01T06:00:00Z', '2026-01-01T23:00:00Z')).toEqual([]);
    });

    it('daily into monthly with each fn, across a leap February', async () => {
      const kpi_code = code('d2m');
      await seed(
        kpi_code,
        daily([
          ['2028-01-30', 4],
          ['2028-01-31', 2],
          ['2028-02-01', 7],
          ['2028-02-28', 1],
          ['2028-02-29', 3],
          ['2028-04-15', 6],
        ]),
      );
      const expected: Record<string, number[]> = {
        sum: [6, 11, 6],
        avg: [3, 11 / 3, 6],
        min: [2, 1, 6],
        max: [4, 7, 6],
        last: [2, 3, 6],
      };
      for (const [fn, want] of Object.entries(expected)) {
        const { series } = await rollup(
          kpi_code,
          'monthly',
          'daily',
          fn,
          '2028-01-01T00:00:00Z',
          '2028-05-01T00:00:00Z',
        );
        expect({ fn, values: values(series) }).toEqual({
          fn,
          values: want.map((v) => expect.closeTo(v, 12) as unknown),
        });
        expect(series.map((p) => [p.bucket_start, p.bucket_end, p.count])).toEqual([
          ['2028-01-01T00:00:00.000Z', '2028-02-01T00:00:00.000Z', 2],
          ['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z', 3],
          ['2028-04-01T00:00:00.000Z', '2028-05-01T00:00:00.000Z', 1],
        ]);
      }
    });

    it('weeks start on Monday 00:00 UTC (daily and hourly into weekly)', async () => {
      const kpi_code = code('d2w');
      // 2026-01-04 is a Sunday, 2026-01-05 a Monday.
      await seed(
        kpi_code,
        daily([
          ['2026-01-04', 1],
          ['2026-01-05', 10],
          ['2026-01-11', 20],
          ['2026-01-12', 100],
        ]),
      );
      const { series } = await rollup(
        kpi_code,
        'weekly',
        'daily',
        'sum',
        '2025-12-29T00:00:00Z',
        '2026-01-19T00:00:00Z',
      );
      expect(series.map((p) => [p.bucket_start, p.bucket_end, p.value, p.count])).toEqual([
        ['2025-12-29T00:00:00.000Z', '2026-01-05T00:00:00.000Z', 1, 1],
        ['2026-01-05T00:00:00.000Z', '2026-01-12T00:00:00.000Z', 30, 2],
        ['2026-01-12T00:00:00.000Z', '2026-01-19T00:00:00.000Z', 100, 1],
      ]);

      const hourlyCode = code('h2w');
      await seed(hourlyCode, [
        { bucket_start: '2026-01-04T23:00:00Z', value: 1 },
        { bucket_start: '2026-01-05T00:00:00Z', value: 2 },
        { bucket_start: '2026-01-11T23:00:00Z', value: 3 },
      ]);
      const weeks = await rollup(
        hourlyCode,
        'weekly',
        'hourly',
        'last',
        '2025-12-29T00:00:00Z',
        '2026-01-12T00:00:00Z',
      );
      expect(weeks.series.map((p) => [p.bucket_start, p.value, p.count])).toEqual([
        ['2025-12-29T00:00:00.000Z', 1, 1],
        ['2026-01-05T00:00:00.000Z', 3, 2],
      ]);
    });

    it('pages on the coarse bucket_start: 40 days at limit 16, no gap or repeat', async () => {
      const kpi_code = code('rollup-pages');
      await seed(
        kpi_code,
        hourly('2026-03-01T00:00:00Z', 40 * 24, () => 2),
      );
      const { pages, series } = await all({
        kpi_code,
        bucket: 'daily',
        from_utc: '2026-01-01T00:00:00Z',
        to_utc: '2027-01-01T00:00:00Z',
        rollup: { from_bucket: 'hourly', fn: 'sum' },
        limit: 16,
      });
      expect(pages.map((p) => p.length)).toEqual([16, 16, 8]);
      expect(series.every((p) => p.value === 48)).toBe(true);
      const days = starts(series).map((s) => Date.parse(s));
      expect(days).toEqual(Array.from({ length: 40 }, (_, i) => Date.parse('2026-03-01T00:00:00Z') + i * 24 * HOUR_MS));
    });
  });

  describe('400 naming the field', () => {
    const body = {
      kpi_code: 'CODE1',
      bucket: 'hourly',
      from_utc: '2026-01-01T00:00:00Z',
      to_utc: '2026-01-02T00:00:00Z',
    };
    const fields = async (changed: Json): Promise<string[]> => {
      const res = await query({ ...body, ...changed });
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: expect.any(String) });
      return [...new Set((res.body.error.details as Array<{ field: string }>).map((d) => d.field))];
    };

    it('bad bucket, kpi_code, scope, instants', async () => {
      expect(await fields({ bucket: 'yearly' })).toEqual(['bucket']);
      expect(await fields({ kpi_code: '9bad code' })).toEqual(['kpi_code']);
      expect(await fields({ scope: ' ' })).toEqual(['scope']);
      expect(await fields({ from_utc: '2026-01-01' })).toEqual(['from_utc']);
      expect(await fields({ to_utc: 'tomorrow' })).toEqual(['to_utc']);
      expect(await fields({ from_utc: undefined })).toEqual(['from_utc']);
      expect(await fields({ colour: 'red' })).toEqual(['colour']);
    });

    it('from_utc not before to_utc', async () => {
      const same = await query({ ...body, to_utc: body.from_utc }).expect(400);
      expect(same.body.error.details).toEqual([
        { field: 'to_utc', message: expect.stringMatching(/to_utc .* must be after from_utc/) },
      ]);
      expect(await fields({ from_utc: '2026-01-03T00:00:00Z' })).toEqual(['to_utc']);
    });

    it('a bad roll-up', async () => {
      expect(await fields({ rollup: { from_bucket: 'hourly', fn: 'sum' } })).toEqual(['rollup.from_bucket']);
      expect(await fields({ bucket: 'daily', rollup: { from_bucket: 'weekly', fn: 'sum' } })).toEqual([
        'rollup.from_bucket',
      ]);
      expect(await fields({ bucket: 'monthly', rollup: { from_bucket: 'weekly', fn: 'sum' } })).toEqual([
        'rollup.from_bucket',
      ]);
      expect(await fields({ bucket: 'daily', rollup: { from_bucket: 'hourly', fn: 'median' } })).toEqual(['rollup.fn']);
      expect(await fields({ bucket: 'daily', rollup: { from_bucket: 'minutely', fn: 'sum' } })).toEqual([
        'rollup.from_bucket',
      ]);
      expect(await fields({ bucket: 'daily', rollup: 'sum' })).toEqual(['rollup']);
    });

    it('a forged next_token', async () => {
      expect(await fields({ next_token: 'abc.def' })).toEqual(['next_token']);
    });
  });

  describe('auth and tenants', () => {
    const body = (kpi_code: string) => ({
      kpi_code,
      bucket: 'hourly',
      from_utc: '2026-01-01T00:00:00Z',
      to_utc: '2026-01-02T00:00:00Z',
    });

    it('401 without credentials', async () => {
      const res = await api.http().post('/ipm/kpi/query').set('x-orgcode', org).send(body('CODE1')).expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    });

    it('403 without view_kpis or manage_kpis, before the body is looked at', async () => {
      const other = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
      const res = await query(body('CODE1'), other).expect(403);
      expect(res.body.error).toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/view_kpis or manage_kpis/),
      });
      await query({ bucket: 'yearly' }, other).expect(403);
    });

    it('another tenant sees nothing: an empty series, not an error; an org not the caller’s is a 404', async () => {
      const kpi_code = code('tenant');
      await seed(kpi_code, hourly('2026-01-01T00:00:00Z', 3));
      const other = await token(api.config, { orgs: [otherOrg], permissions: ['view_kpis'] });
      expect(await ok(body(kpi_code), other, otherOrg)).toEqual({ series: [] });
      expect(
        await ok({ ...body(kpi_code), bucket: 'daily', rollup: { from_bucket: 'hourly', fn: 'sum' } }, other, otherOrg),
      ).toEqual({ series: [] });
      await query(body(kpi_code), other, org).expect(404);
      // Its own snapshots of the same code are its own series.
      await seed(kpi_code, [{ bucket_start: '2026-01-01T00:00:00Z', value: 42 }], otherOrg);
      expect(values((await ok(body(kpi_code), other, otherOrg)).series)).toEqual([42]);
      expect(values((await ok(body(kpi_code))).series)).toEqual([0, 1, 2]);
    });

    it('an app-bound caller sees only its app’s snapshots, in series and roll-ups', async () => {
      const kpi_code = code('apps');
      await seed(kpi_code, [
        { bucket_start: '2026-01-01T00:00:00Z', value: 1, app_id: 'app_a' },
        { bucket_start: '2026-01-01T01:00:00Z', value: 2, app_id: 'app_a' },
        { bucket_start: '2026-01-01T02:00:00Z', value: 4, app_id: null },
        { bucket_start: '2026-01-01T03:00:00Z', value: 8, app_id: 'app_b' },
      ]);
      const appA = await token(api.config, { orgs: [org], permissions: ['view_kpis'], app_id: 'app_a' });
      const appC = await token(api.config, { orgs: [org], permissions: ['manage_kpis'], app_id: 'app_c' });
      expect((await ok(body(kpi_code), appA)).series.map((p) => [p.app_id, p.value])).toEqual([
        ['app_a', 1],
        ['app_a', 2],
      ]);
      expect(values((await ok(body(kpi_code), appC)).series)).toEqual([]);
      expect(values((await ok(body(kpi_code))).series)).toEqual([1, 2, 4, 8]);
      const daily = { ...body(kpi_code), bucket: 'daily', rollup: { from_bucket: 'hourly', fn: 'sum' } };
      expect((await ok(daily, appA)).series).toEqual([expect.objectContaining({ value: 3, count: 2 })]);
      expect((await ok(daily)).series).toEqual([expect.objectContaining({ value: 15, count: 4 })]);
      // A page token of a tenant-wide caller is not one of the app's.
      const page = await ok({ ...body(kpi_code), limit: 1 });
      await query({ ...body(kpi_code), limit: 1, next_token: page.next_token }, appA).expect(400);
    });
  });

  it('is documented: request and response schemas, 400/401/403/404, both security schemes', async () => {
    const doc = (await api.http().get('/docs-json').expect(200)).body as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, unknown>; security: unknown[]; requestBody: unknown }>
      >;
      components: { schemas: Record<string, unknown> };
    };
    const op = doc.paths['/ipm/kpi/query'].post;
    expect(Object.keys(op.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '413',
      '415',
      '429',
      '500',
      '503',
    ]);
    expect(op.security).toEqual(expect.arrayContaining([{ jwt: [] }, { api_key: [] }]));
    expect(JSON.stringify(op.requestBody)).toContain('KpiQueryRequestDto');
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'KpiQueryRequestDto',
        'KpiRollupDto',
        'KpiQueryResultDto',
        'KpiRollupPointDto',
        'KpiDto',
      ]),
    );
  });

  it('EXPLAIN: a page of a year of hourly points is a range scan of the key index', async () => {
    const kpi_code = code('explain');
    // Recorded by an application, as the platform's own KPIs or an app's would be.
    await seed(
      kpi_code,
      hourly('2025-01-01T00:00:00Z', 8760).map((r) => ({ ...r, app_id: 'app_a' })),
    );
    // Other series in the table, as in production: the plan must not read them.
    for (const label of ['noise-a', 'noise-b', 'noise-c']) {
      await seed(code(label), hourly('2025-01-01T00:00:00Z', 8760), otherOrg);
    }
    await db().query('ANALYZE kpi_snapshots');
    const KEY_RANGE = /(Bitmap Index Scan on|Index Scan using) uq_kpi_snapshots_key/;
    const explain = async (sql: string, params: unknown[]): Promise<string> => {
      const plan = await db().query<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN ${sql}`, params);
      return plan.map((r) => r['QUERY PLAN']).join('\n');
    };
    const page = [org, kpi_code, 'hourly', 'org', '2025-06-01T00:00:00Z', '2026-01-01T00:00:00Z', 257];
    // Tenant-wide (the bench's query): the first 257 entries of one index range, in index order.
    const plain = await explain(seriesSql({ exclusiveFrom: true, appBound: false }), page);
    expect(plain).toMatch(/^Limit.*\n\s*->\s+Index Scan using uq_kpi_snapshots_key on kpi_snapshots/);
    expect(plain).toMatch(/Index Cond: .*bucket_start > .*bucket_start < /);
    expect(plain).not.toMatch(/Sort|Seq Scan|Bitmap/);
    // App-bound: the same index range, app_id a filter on its rows (the planner may sort them when few match).
    const app = await explain(seriesSql({ exclusiveFrom: true, appBound: true }), [...page, 'app_a']);
    expect(app).toMatch(
      /Index (Scan|Scan using|Scan on) .*uq_kpi_snapshots_key|Bitmap Index Scan on uq_kpi_snapshots_key/,
    );
    expect(app).toMatch(/Index Cond: .*bucket_start > .*bucket_start < /);
    expect(app).not.toMatch(/Seq Scan/);
    // A roll-up reads the fine rows by the same index range, then folds them.
    const rolled = await explain(rollupSql({ coarse: 'daily', fn: 'last', appBound: false }), page);
    expect(rolled).toMatch(KEY_RANGE);
    expect(rolled).toMatch(/Index Cond: .*bucket_start >= .*bucket_start < /);
    expect(rolled).not.toMatch(/Seq Scan/);
    const { series, pages } = await all({
      kpi_code,
      bucket: 'hourly',
      from_utc: '2025-01-01T00:00:00Z',
      to_utc: '2026-01-01T00:00:00Z',
      limit: 256,
    });
    expect(pages).toHaveLength(35);
    expect(series).toHaveLength(8760);
  });
});
