import { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { redisOptions } from '@ipm/redis';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { WorkerHttpServer } from '../../apps/worker/src/worker-http.server';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { TestReceiver } from '../support/receiver';
import { waitFor } from '../support/wait';

// Own BullMQ prefix; loopback receivers; a quick relay and sweeper; and a worker that serves every
// queue but `replay`, so that a replay job waits (queue depth and age) until a replay worker comes.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:metrics`;
process.env.WORKER_PORT = '0';
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
process.env.RELAY_POLL_MS = '10';
process.env.SWEEPER_INTERVAL_MS = '300';
process.env.SWEEPER_GRACE_MS = '1000';
process.env.WORKER_QUEUES = 'delivery,retry,bulk,maintenance';

jest.setTimeout(30_000);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (label values here never hold `"` or `,`). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`unparsable sample: ${line}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v] as [string, string]),
      );
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

/** The value of the one sample named `name` whose labels include `labels` (undefined if none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

describe('/metrics of the api and the worker (api + worker in process, real PostgreSQL, Redis and receiver)', () => {
  let api: TestApi;
  let worker: INestApplicationContext;
  let db: DataSource;
  let receiver: TestReceiver;
  let replayQueue: Queue;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    receiver.on('/ok', { status: 204 });
    receiver.on('/down', { status: 500 });
    api = await startApi();
    db = api.app.get(DataSource);
    worker = await createWorkerApp();
    await worker.init();
    replayQueue = new Queue('replay', {
      connection: redisOptions(api.config.REDIS_URL),
      prefix: api.config.QUEUE_PREFIX,
    });
  });
  afterAll(async () => {
    await replayQueue.close();
    await worker.close();
    await api.close();
    await receiver.close();
  });

  async function scrapeWorker(): Promise<{ text: string; samples: Sample[] }> {
    const res = await fetch(`http://127.0.0.1:${worker.get(WorkerHttpServer).port}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    return { text, samples: parse(text) };
  }

  it('counts deliveries, attempts, the relay, the sweeper, bulk lines, queues and HTTP, without tenant or URL labels', async () => {
    const org = uniqueOrg('metrics');
    const jwt = await token(api.config, {
      orgs: [org],
      permissions: ['manage_webhooks', 'publish_events', 'manage_bulk_jobs'],
    });
    const post = (path: string, body: object) =>
      api.http().post(path).set(bearer(jwt)).set('x-orgcode', org).send(body);
    const webhook = async (path: string, maxAttempts: number): Promise<string> => {
      const res = await post('/ipm/webhook/create', {
        endpoint_url: receiver.url(path),
        event_filters: [{ service: 'rfp' }],
        retry_policy: { max_attempts: maxAttempts },
      }).expect(200);
      return res.body.data.webhook_id as string;
    };
    const ok = await webhook('/ok', 3);
    const down = await webhook('/down', 1);
    const events = ['RFP-M-1', 'RFP-M-2', 'RFP-M-3'].map((id) => ({
      event_type: 'rfp.created',
      event_id: id,
      payload: { rfp_id: id, title: 'Metrics', buyer: { org_id: 'ORG-1', name: 'Acme' }, status: 'open' },
    }));
    await post('/ipm/event/publish', { events }).expect(200);
    await post('/ipm/webhook/get', { webhook_id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }).expect(404);

    const statuses = (webhookId: string) =>
      db.query<Array<{ status: string }>>('SELECT status FROM deliveries WHERE webhook_id = $1', [webhookId]);
    await waitFor('3 successes and 3 dead letters', async () => {
      const [a, b] = await Promise.all([statuses(ok), statuses(down)]);
      return a.length === 3 &&
        a.every((r) => r.status === 'success') &&
        b.length === 3 &&
        b.every((r) => r.status === 'dead_letter')
        ? true
        : undefined;
    });

    // A replay: its job waits, since this worker does not serve `replay`.
    const replay = await post('/ipm/webhook/replay', { webhook_id: ok }).expect(200);
    const replayId = (replay.body.data as { replay: { replay_id: string } }).replay.replay_id;
    // A bulk export of the tenant's events.
    const created = await post('/ipm/bulk/export/create', { target: 'events', format: 'ndjson' }).expect(200);
    const jobId = (created.body.data as { job: { job_id: string } }).job.job_id;
    const exported = await waitFor(`export ${jobId}`, async () => {
      const res = await post('/ipm/bulk/job/get', { job_id: jobId }).expect(200);
      const job = res.body.data.job as { status: string; processed: number };
      return ['completed', 'completed_with_errors', 'failed'].includes(job.status) ? job : undefined;
    });
    expect(exported.status).toBe('completed');
    expect(exported.processed).toBeGreaterThanOrEqual(3);

    let { samples } = await scrapeWorker();
    expect(await replayQueue.getJobState(replayId)).toBe('waiting');
    expect(value(samples, 'ipm_queue_jobs', { queue: 'replay', state: 'waiting' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'ipm_queue_oldest_waiting_seconds', { queue: 'replay' })).toBeGreaterThan(0);
    expect(value(samples, 'ipm_queue_oldest_waiting_seconds', { queue: 'bulk' })).toBe(0);
    expect(value(samples, 'ipm_queue_jobs', { queue: 'delivery', state: 'delayed' })).toBeGreaterThanOrEqual(0);
    expect(value(samples, 'ipm_deliveries_total', { outcome: 'success', error_kind: 'none' })).toBeGreaterThanOrEqual(
      3,
    );
    expect(
      value(samples, 'ipm_deliveries_total', { outcome: 'dead_letter', error_kind: 'http_status' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      value(samples, 'ipm_delivery_attempt_duration_seconds_count', { outcome: 'success' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      value(samples, 'ipm_delivery_attempt_duration_seconds_bucket', { outcome: 'dead_letter', le: '+Inf' }),
    ).toBeGreaterThanOrEqual(3);
    expect(value(samples, 'ipm_outbox_events_relayed_total')).toBeGreaterThanOrEqual(3);
    expect(value(samples, 'ipm_deliveries_created_total')).toBeGreaterThanOrEqual(6);
    expect(value(samples, 'ipm_outbox_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(
      value(samples, 'ipm_bulk_lines_total', { type: 'export', target: 'events', result: 'succeeded' }),
    ).toBeGreaterThanOrEqual(exported.processed);
    expect(
      value(samples, 'ipm_worker_jobs_processed_total', { queue: 'bulk', job: 'bulk.run', outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(1);

    // Redis loses the replay's job: the sweeper puts it back, and counts it.
    await replayQueue.remove(replayId);
    await db.query(`UPDATE webhook_replays SET updated_at = now() - interval '1 hour' WHERE replay_id = $1`, [
      replayId,
    ]);
    await waitFor('the sweeper to re-enqueue the replay', async () =>
      (await replayQueue.getJobState(replayId)) === 'waiting' ? true : undefined,
    );
    ({ samples } = await scrapeWorker());
    expect(value(samples, 'ipm_sweeper_requeued_total', { job: 'replay.run' })).toBeGreaterThanOrEqual(1);

    // The api: latency by route pattern and status.
    const apiRes = await api.http().get('/metrics').expect(200);
    const apiSamples = parse(apiRes.text);
    expect(
      value(apiSamples, 'ipm_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/ipm/event/publish',
        status: '200',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(apiSamples, 'ipm_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/ipm/webhook/get',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);

    // Event-loop lag per app (prom-client's, over the window since the previous scrape, labelled `app`): a stall
    // shows in both. The api and the worker share this process, so one busy wait stalls both. Not at once after a
    // scrape: Node's delay histogram drops the first delay after each reset (prom-client resets it on every scrape).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stallUntil = performance.now() + 300;
    while (performance.now() < stallUntil) {
      // the event loop is blocked
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lag = {
      api: parse((await api.http().get('/metrics').expect(200)).text),
      worker: (await scrapeWorker()).samples,
    };
    for (const app of ['api', 'worker'] as const) {
      expect(value(lag[app], 'nodejs_eventloop_lag_p99_seconds', { app })).toBeGreaterThanOrEqual(0);
      expect(value(lag[app], 'nodejs_eventloop_lag_max_seconds', { app })).toBeGreaterThanOrEqual(0.25);
      expect(value(lag[app], 'nodejs_eventloop_lag_p99_seconds', { app: app === 'api' ? 'worker' : 'api' })).toBe(
        undefined,
      );
    }

    // No label names a tenant, an endpoint, or any id.
    const forbidden = [
      org,
      org.toLowerCase(),
      '127.0.0.1',
      '://',
      ok,
      down,
      replayId,
      jobId,
      'whk_',
      'dlv_',
      'rpl_',
      'evt_',
    ];
    const leaks = [...samples, ...apiSamples].flatMap((s) =>
      Object.values(s.labels)
        .filter((v) => forbidden.some((f) => v.includes(f)))
        .map((v) => `${s.name}: ${v}`),
    );
    expect(leaks).toEqual([]);
  });
});
