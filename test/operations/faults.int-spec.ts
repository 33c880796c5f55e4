import { BUILD_TIMEOUT_MS } from '../support/built-worker';
import { call } from '../chaos/http-client';
import { ChaosLab, ChaosSize, until } from '../chaos/lab';
import { ScenarioResult } from '../chaos/ledger';
import { SCENARIOS } from '../chaos/scenarios';

// Faults survived, nothing lost (issue 9, point 1): the scenarios of `npm run chaos`, small. Each runs the
// built api and worker processes against a PostgreSQL cluster and a Redis server of this file's own (the
// shared ones are never restarted or flushed), injects its fault mid-burst, and counts at a real receiver:
// every accepted event's deliveries arrived, duplicates only under a webhook-id already seen, no delivery
// left in_flight, no row unfinished.
const SIZE: ChaosSize = {
  events: 120,
  webhooks: 3,
  batch: 10,
  publishers: 2,
  receiverDelayMs: 30,
  outageMs: 2000,
  drainTimeoutMs: 40_000,
};

describe('faults survived, nothing lost (built processes, dedicated PostgreSQL and Redis, real receiver)', () => {
  let lab: ChaosLab;

  beforeAll(async () => {
    lab = await ChaosLab.start();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await lab?.close();
  }, 30_000);

  it.each(SCENARIOS.map((s) => [s.title, s] as const))(
    '%s',
    async (_title, scenario) => {
      const result: ScenarioResult = await scenario.run(lab, SIZE);
      if (process.env.CHAOS_VERBOSE || result.problems.length > 0) console.log(JSON.stringify(result, null, 2));
      expect(result.problems).toEqual([]);
      expect(result.lost).toBe(0);
      expect(result.accepted).toBeGreaterThan(0);
      expect(result.unique).toBeGreaterThanOrEqual(result.expected);
    },
    90_000,
  );

  it('a stopping api whose request never ends exits anyway after SHUTDOWN_TIMEOUT_MS + 5 s (code 1)', async () => {
    const slow = await lab.tenant('hang', 1, 0);
    lab.receiver.on(`/${slow.org}/0`, { hang: true });
    const api = await lab.startApi({ SHUTDOWN_TIMEOUT_MS: '1000', WEBHOOK_VERIFY_TIMEOUT_MS: '60000' });
    const hanging = call(`${api.url}/ipm/webhook/verify`, {
      headers: slow.headers,
      body: { webhook_id: slow.webhookIds[0] },
      timeoutMs: 30_000,
    });
    await until(() => lab.receiver.at(`/${slow.org}/0`).length > 0, 10_000);
    const termAt = Date.now();
    const code = await api.terminate();
    lab.forgetApi(api);
    expect(code).toBe(1);
    expect(Date.now() - termAt).toBeGreaterThanOrEqual(6_000);
    expect(Date.now() - termAt).toBeLessThan(15_000);
    expect(api.output()).toMatch(/requests still in flight 6000 ms later; exiting anyway/);
    expect((await hanging).kind).toBe('error'); // the connection went with the process
  }, 30_000);
});
