import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { BUILD_TIMEOUT_MS, ensureWorkerBuilt, exitOf, spawnWorker } from '../support/built-worker';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { TestReceiver } from '../support/receiver';
import { waitFor } from '../support/wait';

// The api in process (to create webhooks and publish), the worker built and spawned on the same
// database and queue prefix, a loopback receiver that answers slowly or never.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:wqstop`;
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';

describe('worker shutdown on SIGTERM: in-flight deliveries get SHUTDOWN_TIMEOUT_MS (built worker process)', () => {
  let api: TestApi;
  let db: DataSource;
  let receiver: TestReceiver;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    ensureWorkerBuilt();
    receiver = await new TestReceiver().start();
    receiver.on('/slow', { status: 200, delayMs: 1500 });
    receiver.on('/hang', { hang: true });
    api = await startApi();
    db = api.app.get(DataSource);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await api.close();
    await receiver.close();
  });

  /** A webhook on `path`, a worker with `shutdownMs`, one event in flight to it; then SIGTERM. */
  async function stopWhileInFlight(path: string, shutdownMs: number) {
    const org = uniqueOrg('wqstop');
    const jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
    const post = (route: string, body: object) =>
      api.http().post(route).set(bearer(jwt)).set('x-orgcode', org).send(body).expect(200);
    const created = await post('/ipm/webhook/create', {
      endpoint_url: receiver.url(path),
      event_filters: [{ service: 'rfp' }],
      retry_policy: { max_attempts: 3, timeout_ms: 30_000 },
    });
    const webhookId = created.body.data.webhook_id as string;
    const worker = spawnWorker({
      ...process.env,
      WORKER_PORT: '0',
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
      RELAY_POLL_MS: '20',
      SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
    });
    child = worker.child;
    const exited = exitOf(child);
    const before = receiver.at(path).length;
    await post('/ipm/event/publish', {
      events: [
        {
          event_type: 'rfp.created',
          payload: { rfp_id: `RFP-${org}`, title: 'Stop', buyer: { org_id: 'ORG-1', name: 'Acme' }, status: 'open' },
        },
      ],
    });
    await waitFor(`a request to ${path}`, () => (receiver.at(path).length > before ? true : undefined), 20_000);
    const signalled = Date.now();
    child.kill('SIGTERM');
    const exit = await Promise.race([exited, sleep(20_000, 'still running' as const, { ref: false })]);
    const took = Date.now() - signalled;
    const [row] = await db.query<Array<{ status: string; attempt_count: number }>>(
      'SELECT status, attempt_count FROM deliveries WHERE webhook_id = $1',
      [webhookId],
    );
    return { exit, took, row, output: worker.output() };
  }

  it('waits for an attempt that ends within the grace period: recorded a success, exit 0', async () => {
    const { exit, took, row, output } = await stopWhileInFlight('/slow', 10_000);
    expect({ exit, output: exit === 'still running' || exit.code !== 0 ? output : '' }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(output).toContain('SIGTERM: draining jobs (up to 10000 ms), then exiting');
    expect(output).not.toContain('aborting them');
    expect(row).toEqual({ status: 'success', attempt_count: 1 });
    expect(took).toBeLessThan(10_000);
  }, 40_000);

  it('aborts an attempt still running after the grace period: the delivery stays to retry, exit 0', async () => {
    const { exit, took, row, output } = await stopWhileInFlight('/hang', 1000);
    expect({ exit, output: exit === 'still running' || exit.code !== 0 ? output : '' }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(output).toMatch(/queue delivery: jobs still running after 1000 ms; aborting them/);
    expect(took).toBeGreaterThanOrEqual(1000);
    // Not lost and not finished: another worker (or the sweeper) attempts it again.
    expect(['pending', 'in_flight', 'retrying']).toContain(row.status);
  }, 40_000);
});
