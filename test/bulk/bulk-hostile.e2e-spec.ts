import { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { PgBulkStorage } from '@ipm/bulk';
import { TestApi, uniqueOrg } from '../support/api';
import { readReport, type ReportLine } from '../support/bulk';
import { postBulk, startBulkStack } from '../support/bulk-stack';
import { waitFor } from '../support/wait';

/**
 * Hostile bulk files (issue 9, point 3): binary garbage, broken UTF-8, 10 MB lines, every line
 * ending and BOM variant, empty and blank files, broken CSV quoting, gzip. Each goes the whole way
 * (signed upload, commit, a real worker) and ends `completed`, `completed_with_errors` or `failed`
 * with a clear reason or a report naming the line; good lines around bad ones are imported exactly
 * once; the worker keeps running jobs afterwards.
 */
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:bulkhostile`;
process.env.WORKER_PORT = '0';
process.env.BULK_CHUNK_LINES = '50';

type Json = Record<string, unknown>;
interface Job {
  job_id: string;
  status: string;
  revision: string;
  error: string | null;
  total_lines: number | null;
  processed: number;
  succeeded: number;
  failed: number;
}

const MB10 = 10 * 1024 * 1024;

describe('bulk imports of hostile files (api + worker)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let jwt: string;
  let run = 0;
  const org = uniqueOrg('hostile');

  beforeAll(async () => {
    ({ api, worker, jwt } = await startBulkStack(org));
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  const db = () => api.app.get(DataSource);
  const post = (route: string, body: Json) => postBulk(api, jwt, org, route, body);

  /** A valid events line whose event_id is unique to the file. */
  const good = (tag: string, n: number): string =>
    JSON.stringify({ event_type: 'rfp.cancelled', event_id: `${tag}-${n}`, payload: { rfp_id: `R-${n}` } });

  /** Creates, uploads and commits an import; the job once the worker is done with it. */
  async function importFile(
    content: Buffer | string,
    format: 'ndjson' | 'csv' = 'ndjson',
  ): Promise<{ job: Job; report: ReportLine[] }> {
    const created = await post('import/create', { target: 'events', format }).expect(200);
    const { job, upload_url } = created.body.data as { job: Job; upload_url: string };
    const upload = await api
      .http()
      .put(upload_url)
      .set('content-type', format === 'csv' ? 'text/csv' : 'application/x-ndjson')
      .send(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    expect({ status: upload.status, body: upload.body as unknown }).toMatchObject({ status: 200 });
    const revision = (upload.body.data.job as Job).revision;
    await post('import/commit', { job_id: job.job_id, expected_revision: revision }).expect(200);
    const done = await waitFor(
      `job ${job.job_id} to finish`,
      async () => {
        const res = await post('job/get', { job_id: job.job_id }).expect(200);
        const data = res.body.data as { job: Job };
        return ['completed', 'completed_with_errors', 'failed'].includes(data.job.status) ? data.job : undefined;
      },
      60_000,
    );
    return { job: done, report: await readReport(new PgBulkStorage(db()), org, job.job_id) };
  }

  /** How many times each event_id of `tag` was stored. */
  async function stored(tag: string): Promise<Map<string, number>> {
    const rows = await db().query<Array<{ event_id: string; n: number }>>(
      `SELECT event_id, count(*)::int AS n FROM events WHERE orgcode = $1 AND event_id LIKE $2 GROUP BY event_id`,
      [org, `${tag}-%`],
    );
    return new Map(rows.map((r) => [r.event_id, r.n]));
  }

  async function expectExactlyOnce(tag: string, numbers: readonly number[]): Promise<void> {
    const counts = await stored(tag);
    expect([...counts.keys()].sort()).toEqual(numbers.map((n) => `${tag}-${n}`).sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }

  const tag = (label: string): string => `${label}${++run}`;

  describe('whole files that are not text fail the job with one reason', () => {
    it.each([
      ['random bytes', () => randomBytes(64 * 1024), /binary|NUL|UTF-8/],
      [
        'a PNG',
        () => Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), randomBytes(4096)]),
        /binary|NUL|UTF-8/,
      ],
      ['NUL bytes inside text', () => Buffer.from(`${good('nul', 1)}\n{"a":"\u0000\u0000"}\n`), /NUL/],
      ['gzip of a good file', () => gzipSync(`${good('gz', 1)}\n`), /gzip/],
      ['gzip garbage', () => Buffer.concat([Buffer.from([0x1f, 0x8b]), randomBytes(2048)]), /gzip/],
      [
        'UTF-16 text',
        () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(good('u16', 1), 'utf16le')]),
        /UTF-16/,
      ],
      [
        'Latin-1 text',
        () => Buffer.from(`${good('l1', 1)}\n{"event_type":"rfp.cancelled","payload":{"x":"caf\xe9"}}\n`, 'latin1'),
        /UTF-8/,
      ],
    ])('%s', async (_label, make, reason) => {
      const { job, report } = await importFile(make());
      expect(job.status).toBe('failed');
      expect(job.error).toMatch(reason);
      expect(job.succeeded).toBe(0);
      expect(report).toEqual([]);
    });

    it.each([
      ['only newlines', '\n\n\n\n'],
      ['only CRLFs and spaces', '\r\n  \r\n\t\r\n'],
      ['a BOM and nothing else', '\ufeff'],
    ])('a file of %s fails: no data lines', async (_label, content) => {
      const { job } = await importFile(content);
      expect(job.status).toBe('failed');
      expect(job.error).toMatch(/no data lines|empty/);
    });

    it('an empty upload is refused at once with a 422, and the job stays awaiting its upload', async () => {
      const created = await post('import/create', { target: 'events', format: 'ndjson' }).expect(200);
      const { job, upload_url } = created.body.data as { job: Job; upload_url: string };
      const res = await api.http().put(upload_url).set('content-type', 'application/x-ndjson').send('').expect(422);
      expect(res.body).toMatchObject({ success: false, error: { code: 'unprocessable' } });
      expect(res.body.error.message).toMatch(/empty/);
      const got = await post('job/get', { job_id: job.job_id }).expect(200);
      expect(got.body.data.job.status).toBe('awaiting_upload');
    });
  });

  describe('bad lines are reported by number; good lines around them are imported once', () => {
    it('invalid UTF-8 inside a line (past the sniffed head of the file)', async () => {
      const t = tag('utf');
      const pad = 'p'.repeat(400);
      const head = Array.from({ length: 200 }, (_, i) =>
        JSON.stringify({
          event_type: 'rfp.cancelled',
          event_id: `${t}-${i + 1}`,
          payload: { rfp_id: `R-${i + 1}`, reason: pad },
        }),
      );
      const bad = Buffer.concat([
        Buffer.from('{"event_type":"rfp.cancelled","payload":{"rfp_id":"R","reason":"'),
        Buffer.from([0xc3, 0x28, 0xff]),
        Buffer.from('"}}'),
      ]);
      const content = Buffer.concat([Buffer.from(`${head.join('\n')}\n`), bad, Buffer.from(`\n${good(t, 201)}\n`)]);
      const { job, report } = await importFile(content);
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 201, failed: 1, total_lines: 202 });
      expect(report).toEqual([expect.objectContaining({ line: 201, error: expect.stringMatching(/UTF-8/) })]);
      await expectExactlyOnce(
        t,
        Array.from({ length: 201 }, (_, i) => i + 1),
      );
    });

    it('a single 10 MB line: reported as too long with its real size, nothing imported', async () => {
      const line = `{"event_type":"rfp.cancelled","payload":{"rfp_id":"${'x'.repeat(MB10 - 60)}"}}`;
      const { job, report } = await importFile(`${line}\n`);
      expect(['completed_with_errors', 'failed']).toContain(job.status);
      expect(job).toMatchObject({ succeeded: 0, failed: 1 });
      expect(report).toHaveLength(1);
      expect(report[0]).toMatchObject({ line: 1, error: expect.stringMatching(/too long \(\d+ bytes\)/) });
      // raw is cut to 1,000 characters and marked: an ellipsis and the line's real size
      expect(report[0].raw).toHaveLength(1001);
      expect(report[0].raw.endsWith('…')).toBe(true);
      expect(report[0]).toMatchObject({ raw_bytes: Buffer.byteLength(line) });
    });

    it('a 10 MB line among good ones (and without a trailing newline)', async () => {
      const t = tag('big');
      const huge = `{"event_type":"rfp.cancelled","payload":{"rfp_id":"${'y'.repeat(MB10)}"}}`;
      const lines = [good(t, 1), good(t, 2), huge, good(t, 3), huge, good(t, 4)];
      const { job, report } = await importFile(lines.join('\n'));
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 4, failed: 2, total_lines: 6 });
      expect(report.map((r) => r.line)).toEqual([3, 5]);
      for (const r of report) expect(r.error).toMatch(/too long/);
      await expectExactlyOnce(t, [1, 2, 3, 4]);
    });

    it('malformed JSON, non-objects and a truncated line between good ones', async () => {
      const t = tag('json');
      const lines = [
        good(t, 1),
        '{"event_type": "rfp.cancelled", "payload": ',
        good(t, 2),
        '[1,2,3]',
        '"text"',
        'null',
        good(t, 3),
        '{',
      ];
      const { job, report } = await importFile(`${lines.join('\n')}\n`);
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 3, failed: 5 });
      expect(report.map((r) => r.line)).toEqual([2, 4, 5, 6, 8]);
      for (const r of report) expect(r.error).toMatch(/\S{4,}/);
      await expectExactlyOnce(t, [1, 2, 3]);
    });
  });

  describe('line endings and BOMs', () => {
    it.each([
      ['LF', (ls: string[]) => `${ls.join('\n')}\n`],
      ['CRLF', (ls: string[]) => `${ls.join('\r\n')}\r\n`],
      ['BOM + LF', (ls: string[]) => `\ufeff${ls.join('\n')}\n`],
      ['BOM + CRLF', (ls: string[]) => `\ufeff${ls.join('\r\n')}\r\n`],
      ['mixed LF and CRLF', (ls: string[]) => ls.map((l, i) => l + (i % 2 ? '\r\n' : '\n')).join('')],
      ['no newline after the last line', (ls: string[]) => ls.join('\r\n')],
      ['blank lines between', (ls: string[]) => `${ls.join('\n\r\n\n')}\n\n`],
    ])('NDJSON with %s: every line imported once', async (_label, render) => {
      const t = tag('eol');
      const { job, report } = await importFile(render([1, 2, 3, 4, 5].map((n) => good(t, n))));
      expect(job).toMatchObject({ status: 'completed', succeeded: 5, failed: 0 });
      expect(report).toEqual([]);
      await expectExactlyOnce(t, [1, 2, 3, 4, 5]);
    });

    it('a lone CR (old Mac line ending) is not a line break: one bad line, named', async () => {
      const t = tag('cr');
      const { job, report } = await importFile(`${good(t, 1)}\r${good(t, 2)}\n${good(t, 3)}\n`);
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 1, failed: 1 });
      expect(report).toEqual([expect.objectContaining({ line: 1 })]);
      await expectExactlyOnce(t, [3]);
    });

    it.each([
      ['CRLF', '\r\n', ''],
      ['BOM + CRLF', '\r\n', '\ufeff'],
      ['LF, no final newline', '\n', ''],
    ])('CSV with %s', async (_label, eol, bom) => {
      const t = tag('csv');
      const rows = [
        'event_type,event_id,payload',
        ...[1, 2, 3].map((n) => `rfp.cancelled,${t}-${n},"{""rfp_id"":""R-${n}""}"`),
      ];
      const text = bom + rows.join(eol) + (_label.includes('no final') ? '' : eol);
      const { job, report } = await importFile(text, 'csv');
      expect(job).toMatchObject({ status: 'completed', succeeded: 3, failed: 0 });
      expect(report).toEqual([]);
      await expectExactlyOnce(t, [1, 2, 3]);
    });
  });

  describe('CSV quoting', () => {
    it('a quoted cell spanning lines is one record; line numbers stay those of the file', async () => {
      const t = tag('span');
      const rows = [
        'event_type,event_id,payload',
        `rfp.cancelled,${t}-1,"{""rfp_id"":""R-1"",`,
        `""reason"":""spans, three lines""`,
        `}"`,
        `rfp.cancelled,${t}-2,"{""rfp_id"":""R-2""}"`,
        `rfp.cancelled,${t}-3,not json`,
      ];
      const { job, report } = await importFile(`${rows.join('\r\n')}\r\n`, 'csv');
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 2, failed: 1 });
      expect(report).toEqual([expect.objectContaining({ line: 6 })]);
      await expectExactlyOnce(t, [1, 2]);
      const [{ payload }] = await db().query<Array<{ payload: Json }>>(
        'SELECT payload FROM events WHERE orgcode = $1 AND event_id = $2',
        [org, `${t}-1`],
      );
      expect(payload).toEqual({ rfp_id: 'R-1', reason: 'spans, three lines' });
    });

    it('an unterminated quote is reported at the line it starts; the lines before it are imported', async () => {
      const t = tag('open');
      const rows = [
        'event_type,event_id,payload',
        `rfp.cancelled,${t}-1,"{""rfp_id"":""R-1""}"`,
        `rfp.cancelled,${t}-2,"{""rfp_id"":""R-2""}`,
        `rfp.cancelled,${t}-3,"{""rfp_id"":""R-3""}"`,
      ];
      const { job, report } = await importFile(`${rows.join('\n')}\n`, 'csv');
      expect(job.status).toBe('completed_with_errors');
      expect(job.succeeded).toBe(1);
      expect(report.length).toBeGreaterThanOrEqual(1);
      expect(report[0]).toMatchObject({ line: 3, error: expect.stringMatching(/quote/i) });
      await expectExactlyOnce(t, [1]);
    });

    it('a stray quote inside an unquoted cell and a row with too many cells are reported, by line', async () => {
      const t = tag('stray');
      const rows = [
        'event_type,event_id,payload',
        `rfp.cancelled,${t}-1,"{""rfp_id"":""R-1""}"`,
        `rfp.cancelled,${t}"-2,"{""rfp_id"":""R-2""}"`,
        `rfp.cancelled,${t}-3,"{""rfp_id"":""R-3""}",extra`,
        `rfp.cancelled,${t}-4,"{""rfp_id"":""R-4""}"`,
      ];
      const { job, report } = await importFile(`${rows.join('\n')}\n`, 'csv');
      expect(job).toMatchObject({ status: 'completed_with_errors', succeeded: 2, failed: 2 });
      expect(report.map((r) => r.line)).toEqual([3, 4]);
      await expectExactlyOnce(t, [1, 4]);
    });

    it('a binary CSV and a CSV whose header is garbage fail with the reason', async () => {
      const binary = await importFile(randomBytes(8192), 'csv');
      expect(binary.job.status).toBe('failed');
      expect(binary.job.error).toMatch(/binary|NUL|UTF-8/);
      const header = await importFile('"unterminated,header\nrfp.cancelled,x,{}\n', 'csv');
      expect(header.job.status).toBe('failed');
      expect(header.job.error).toMatch(/header/);
    });
  });

  it('after all that, the worker still runs a good job', async () => {
    const t = tag('after');
    const { job } = await importFile(`${[1, 2].map((n) => good(t, n)).join('\n')}\n`);
    expect(job).toMatchObject({ status: 'completed', succeeded: 2 });
    await expectExactlyOnce(t, [1, 2]);
  });
});
