import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, spawnWorker } from '../support/built-worker';
import { HostileReceiver, HUGE_BODY_BYTES, type Hostility } from '../support/hostile-receiver';
import { quietDatabase, TestReceiver } from '../support/receiver';
import { waitFor } from '../support/wait';

// The file's own BullMQ prefix (under the run's, which the global teardown deletes), loopback receivers
// allowed, a short verify timeout. The worker is the built one, in its own process, so that "it stays alive"
// and "its memory does not balloon" are about a real worker process.
const RUN_PREFIX = process.env.QUEUE_PREFIX ?? 'ipm-test-local';
const saved = { ...process.env };
const ENV = {
  QUEUE_PREFIX: `${RUN_PREFIX}:hostile`,
  WEBHOOK_TARGET_ALLOWLIST: '127.0.0.1/32',
  WEBHOOK_VERIFY_TIMEOUT_MS: '1000',
  RELAY_POLL_MS: '20',
  SWEEPER_INTERVAL_MS: '1000',
};

/** Every hostile endpoint a delivery is tried against: its attempts' kind, status and error message. */
const HOSTILE: Array<{ hostility: Hostility; kind: string; status: number | null; error: RegExp }> = [
  { hostility: 'slow-headers', kind: 'timeout', status: null, error: /^No complete response within 1500 ms$/ },
  { hostility: 'slow-body', kind: 'timeout', status: 200, error: /^No complete response within 1500 ms$/ },
  { hostility: 'silent', kind: 'timeout', status: null, error: /^No complete response within 1500 ms$/ },
  { hostility: 'reset-headers', kind: 'refused', status: null, error: /socket hang up|ECONNRESET|reset/i },
  { hostility: 'reset-body', kind: 'refused', status: 200, error: /aborted|closed before|reset/i },
  { hostility: 'short-body', kind: 'refused', status: 200, error: /aborted|closed before/i },
  { hostility: 'huge-headers', kind: 'network', status: null, error: /header overflow/i },
  { hostility: 'garbage', kind: 'network', status: null, error: /parse error/i },
  { hostility: 'switch-protocols', kind: 'network', status: 101, error: /^Unexpected 101 Switching Protocols/ },
  { hostility: 'hints-flood', kind: 'network', status: null, error: /^More than 16 informational/ },
  { hostility: 'redirect-301', kind: 'http_status', status: 301, error: /^HTTP 301$/ },
  { hostility: 'redirect-302', kind: 'http_status', status: 302, error: /^HTTP 302$/ },
  { hostility: 'redirect-307', kind: 'http_status', status: 307, error: /^HTTP 307$/ },
  { hostility: 'redirect-308', kind: 'http_status', status: 308, error: /^HTTP 308$/ },
];
const EVENTS = 4;
const MB = 1024 * 1024;

type Json = Record<string, unknown>;
interface AttemptRow {
  attempt_no: number;
  status_code: number | null;
  error_kind: string | null;
  error: string | null;
  outcome: string;
  response_excerpt: string;
}

describe('hostile receivers (api + the built worker process, real PostgreSQL and Redis)', () => {
  let api: TestApi;
  let db: DataSource;
  let healthy: TestReceiver;
  let hostile: HostileReceiver;
  let selfSigned: HostileReceiver;
  let worker: { child: ChildProcess; output: () => string } | undefined;
  let workerUrl: string;
  const org = uniqueOrg('hostile');
  let jwt: string;

  beforeAll(async () => {
    Object.assign(process.env, ENV);
    ensureWorkerBuilt();
    healthy = await new TestReceiver().start();
    hostile = await new HostileReceiver({ redirectTarget: healthy.url('/redirect-landing') }).start();
    selfSigned = await new HostileReceiver({ tls: true }).start();
    api = await startApi();
    db = api.app.get(DataSource);
    await quietDatabase(db);
    jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });

    worker = spawnWorker({ ...process.env, WORKER_PORT: '0', LOG_LEVEL: 'log', NO_COLOR: '1' });
    const port = await waitFor(
      'the worker to listen',
      () => {
        if (worker?.child.exitCode !== null) throw new Error(`worker exited early:\n${worker?.output()}`);
        return Number(/worker listening on http:\/\/[\d.]+:(\d+)/.exec(worker.output())?.[1]) || undefined;
      },
      20_000,
    );
    workerUrl = `http://127.0.0.1:${port}`;
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await api?.close();
    await Promise.all([healthy?.close(), hostile?.close(), selfSigned?.close()]);
    process.env = saved;
  });

  const post = (route: string, body: Json) =>
    api.http().post(`/ipm/${route}`).set(bearer(jwt)).set('x-orgcode', org).send(body);

  async function createWebhook(endpointUrl: string): Promise<string> {
    const res = await post('webhook/create', {
      endpoint_url: endpointUrl,
      event_filters: [{ service: 'rfp' }],
      retry_policy: { max_attempts: 2, timeout_ms: 1500 },
    });
    expect(res.body.error).toBeUndefined();
    return res.body.data.webhook_id as string;
  }

  // A worker whose event loop is blocked would leave these hanging: 5 s is far beyond any healthy answer.
  const fromWorker = (path: string): Promise<Response> =>
    fetch(`${workerUrl}${path}`, { signal: AbortSignal.timeout(5000) });
  const workerRss = async (): Promise<number> => {
    const text = await (await fromWorker('/metrics')).text();
    const rss = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)?.[1];
    if (rss === undefined) throw new Error('no process_resident_memory_bytes in /metrics');
    return Number(rss);
  };

  const workerLive = async (): Promise<number> => (await fromWorker('/health/live')).status;

  it('all hostile endpoints at once beside a healthy one: the healthy one gets every delivery, the hostile attempts are classified and retried, the worker lives on', async () => {
    const healthyId = await createWebhook(healthy.url('/healthy'));
    const hostileIds = new Map<string, string>();
    for (const { hostility } of HOSTILE) hostileIds.set(hostility, await createWebhook(hostile.url(hostility)));
    const hugeId = await createWebhook(hostile.url('huge-body'));
    const tlsId = await createWebhook(selfSigned.url('empty'));
    // The worker's memory, sampled throughout (not only at the end, which a spike would slip past).
    const rssBefore = await workerRss();
    let rssPeak = rssBefore;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rssPeak = Math.max(rssPeak, await workerRss());
        samples += 1;
        await sleep(100);
      }
    })();

    const published = await post('event/publish', {
      events: Array.from({ length: EVENTS }, (_, i) => ({
        event_type: 'rfp.created',
        event_id: `HOSTILE-${org}-${i}`,
        payload: {
          rfp_id: `RFP-H-${i}`,
          title: 'Fleet telematics',
          buyer: { org_id: 'ORG-1', name: 'Acme' },
          status: 'open',
        },
      })),
    });
    expect(published.status).toBe(200);

    // The healthy receiver gets every delivery while the hostile attempts hang, and the worker's event loop
    // answers meanwhile.
    await healthy.waitFor(EVENTS, '/healthy');
    expect(await workerLive()).toBe(200);

    const healthyRows = await waitFor('the healthy deliveries to succeed', async () => {
      const rows = await db.query<Array<{ status: string; attempt_count: number }>>(
        'SELECT status, attempt_count FROM deliveries WHERE webhook_id = $1',
        [healthyId],
      );
      return rows.length === EVENTS && rows.every((r) => r.status === 'success') ? rows : undefined;
    });
    expect(healthyRows.every((r) => r.attempt_count === 1)).toBe(true);

    // Every hostile delivery is tried twice (first attempt, a retry about 5 s later) and dead-lettered.
    const hostileWebhooks = [...hostileIds.values(), tlsId];
    const finished = await waitFor(
      'every hostile delivery to be dead-lettered after its retry',
      async () => {
        const rows = await db.query<Array<{ webhook_id: string; status: string; attempt_count: number }>>(
          'SELECT webhook_id, status, attempt_count FROM deliveries WHERE webhook_id = ANY($1)',
          [hostileWebhooks],
        );
        return rows.length === hostileWebhooks.length * EVENTS && rows.every((r) => r.status === 'dead_letter')
          ? rows
          : undefined;
      },
      30_000,
    );
    expect(finished.every((r) => r.attempt_count === 2)).toBe(true);

    // Every healthy delivery arrived before the first silent attempt (which lasts the whole 1.5 s) even ended.
    const [silentFirst] = await db.query<Array<{ ended: Date }>>(
      `SELECT min(started_at + duration_ms * interval '1 millisecond') AS ended
         FROM delivery_attempts WHERE webhook_id = $1`,
      [hostileIds.get('silent')],
    );
    expect(Math.max(...healthy.at('/healthy').map((r) => r.at))).toBeLessThan(silentFirst.ended.getTime());

    const attemptsOf = (webhookId: string): Promise<AttemptRow[]> =>
      db.query(
        `SELECT attempt_no, status_code, error_kind, error, outcome, response_excerpt
           FROM delivery_attempts WHERE webhook_id = $1 ORDER BY delivery_id, attempt_no`,
        [webhookId],
      );
    for (const { hostility, kind, status, error } of HOSTILE) {
      const attempts = await attemptsOf(hostileIds.get(hostility) ?? '');
      expect({ hostility, count: attempts.length }).toEqual({ hostility, count: EVENTS * 2 });
      for (const attempt of attempts) {
        expect({ hostility, ...attempt }).toMatchObject({
          hostility,
          status_code: status,
          error_kind: kind,
          error: expect.stringMatching(error),
        });
      }
    }
    const tlsAttempts = await attemptsOf(tlsId);
    expect(tlsAttempts).toHaveLength(EVENTS * 2);
    for (const attempt of tlsAttempts) {
      expect(attempt).toMatchObject({
        status_code: null,
        error_kind: 'tls',
        error: expect.stringMatching(/self.signed/i),
      });
    }
    expect(selfSigned.connections).toEqual([]); // no request ever got past the handshake

    // The 100 MB bodies: the 2xx counted at once, 64 KiB at most read, far less than 100 MB even sent.
    const hugeAttempts = await attemptsOf(hugeId);
    expect(hugeAttempts).toHaveLength(EVENTS);
    for (const attempt of hugeAttempts) {
      expect(attempt).toMatchObject({ status_code: 200, outcome: 'success', error_kind: null });
      expect(attempt.response_excerpt).toBe('x'.repeat(4096));
    }
    const floods = await waitFor('the flooded connections to close', () => {
      const conns = hostile.at('huge-body');
      return conns.length === EVENTS && conns.every((c) => c.closedAt !== null) ? conns : undefined;
    });
    for (const conn of floods) expect(conn.bytesWritten).toBeLessThan(HUGE_BODY_BYTES / 10);

    // Redirects were never followed.
    expect(healthy.at('/redirect-landing')).toEqual([]);

    // The worker is alive, answered throughout, its memory nowhere near the 400 MB of bodies it was offered.
    sampling = false;
    await sampler;
    expect(samples).toBeGreaterThan(10);
    expect(worker?.child.exitCode).toBeNull();
    expect(await workerLive()).toBe(200);
    expect(rssPeak - rssBefore).toBeLessThan(100 * MB);
    expect(worker?.output()).not.toMatch(/uncaught|unhandled/i);

    // ...and it still drains and exits cleanly.
    const exited = new Promise<number | null>((resolve) => worker?.child.once('exit', (code) => resolve(code)));
    worker?.child.kill('SIGTERM');
    expect(await Promise.race([exited, sleep(15_000, 'still running', { ref: false })])).toBe(0);
  }, 60_000);

  describe('/webhook/verify against hostile receivers: a clear reason, never a 500', () => {
    it.each<[string, string, () => string]>([
      ['a wrong challenge', 'challenge mismatch', () => hostile.url('wrong-challenge')],
      ['an empty 200', 'challenge mismatch', () => hostile.url('empty')],
      ['a 500', 'http_status 500', () => hostile.url('error-500')],
      ['a redirect', 'http_status 302', () => hostile.url('redirect-302')],
      ['a 100 MB body', 'response too large', () => hostile.url('huge-body', 'verify')],
      ['a reset mid-body', 'refused', () => hostile.url('reset-body')],
      ['1 MB of headers', 'network', () => hostile.url('huge-headers')],
      ['bytes that are not HTTP', 'network', () => hostile.url('garbage')],
      ['a self-signed certificate', 'tls', () => selfSigned.url('empty')],
    ])('%s: not verified (%s)', async (_label, reason, url) => {
      const id = await createWebhook(url());
      const res = await post('webhook/verify', { webhook_id: id });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ webhook_id: id, verified: false, reason, verified_at: null });
    });

    it('receivers that hang (silent, slow headers, slow body) time out after WEBHOOK_VERIFY_TIMEOUT_MS while the api keeps answering', async () => {
      const ids = await Promise.all(
        (['silent', 'slow-headers', 'slow-body'] as const).map((h) => createWebhook(hostile.url(h))),
      );
      let verifiesDone = false;
      const verifies = Promise.all(ids.map((id) => post('webhook/verify', { webhook_id: id }))).then((all) => {
        verifiesDone = true;
        return all;
      });
      await sleep(100);
      const live = await api.http().get('/health/live');
      expect(live.status).toBe(200);
      expect(verifiesDone).toBe(false); // answered while the verifies still hang
      for (const res of await verifies) {
        expect(res.status).toBe(200);
        expect(res.body.data).toMatchObject({ verified: false, reason: 'timeout', verified_at: null });
      }
    });
  });
});
