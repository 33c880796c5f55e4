import { setTimeout as sleep } from 'node:timers/promises';
import { call, outcomeLabel } from './http-client';
import type { ChaosLab, ChaosSize, Tenant } from './lab';
import { until } from './lab';
import { probe, publishBody, Publisher, receivedAtLeast, ScenarioResult, settle } from './ledger';

/** One fault, injected into a running lab; resolves with its figures (its `problems` list what broke). */
export interface Scenario {
  key: string;
  title: string;
  run: (lab: ChaosLab, size: ChaosSize) => Promise<ScenarioResult>;
}

/** Deliveries that must have arrived before a fault counts as "mid-burst": a fifth of the burst. */
const midBurst = (size: ChaosSize): number => Math.max(1, Math.floor((size.events * size.webhooks) / 5));

/** A client publishing the tenant's events over about `spanMs`, sending refused batches again for up to a minute. */
function publisher(lab: ChaosLab, tenant: Tenant, size: ChaosSize, spanMs: number): Publisher {
  return new Publisher(tenant, {
    events: size.events,
    batch: size.batch,
    concurrency: size.publishers,
    spanMs,
    target: () => lab.api.url,
    retryForMs: 60_000,
    idempotencyKeys: process.env.CHAOS_IDEMPOTENCY_KEYS === '1',
  });
}

/** Runs `body`, then stops the worker processes it started (whatever happened). */
async function withWorkers<T>(lab: ChaosLab, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await lab.stopAllWorkers();
  }
}

const workerKill: Scenario = {
  key: 'worker-kill',
  title: 'worker SIGKILLed mid-burst, restarted',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('kill', size.webhooks, size.receiverDelayMs);
      const first = await lab.startWorker();
      const pub = publisher(lab, tenant, size, 0);
      await receivedAtLeast(lab, tenant, midBurst(size));
      await lab.stopWorker(first, 'SIGKILL');
      const atKill = lab.receiver.received.filter((r) => r.path.startsWith(`/${tenant.org}/`)).length;
      await lab.startWorker();
      const result = await settle(lab, workerKill.title, pub, Date.now(), size.drainTimeoutMs);
      result.notes.push(`${atKill} received when killed`);
      return result;
    }),
};

const redisRestart: Scenario = {
  key: 'redis-restart',
  title: 'Redis SIGKILLed mid-burst, restarted (AOF)',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('redis', size.webhooks, size.receiverDelayMs);
      await lab.startWorker();
      const pub = publisher(lab, tenant, size, size.outageMs + 4000);
      await Promise.all([pub.reached(0.3), receivedAtLeast(lab, tenant, 1)]);
      await lab.redis.stop('SIGKILL');
      // While Redis is down the api still stores events (PostgreSQL outbox): a publish answers 200.
      const down = await probe(
        `${lab.api.url}/ipm/event/publish`,
        tenant.headers,
        publishBody([`${tenant.org}:probe`]),
      );
      await sleep(size.outageMs);
      await lab.redis.start();
      // That event is owed like the publisher's own.
      if (down.label === '200') pub.accept(`${tenant.org}:probe`);
      const result = await settle(lab, redisRestart.title, pub, Date.now(), size.drainTimeoutMs);
      result.notes.push(`down ${size.outageMs} ms; a publish while down: ${down.label} in ${down.ms} ms`);
      if (down.label !== '200') result.problems.push(`a publish while Redis was down answered ${down.label}`);
      return result;
    }),
};

const redisFlush: Scenario = {
  key: 'redis-flushall',
  title: 'Redis FLUSHALL mid-burst',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('flush', size.webhooks, size.receiverDelayMs);
      await lab.startWorker();
      const pub = publisher(lab, tenant, size, 2000);
      await receivedAtLeast(lab, tenant, midBurst(size));
      await lab.redis.flushAll();
      return settle(lab, redisFlush.title, pub, Date.now(), size.drainTimeoutMs);
    }),
};

const pgRestart: Scenario = {
  key: 'pg-restart',
  title: 'PostgreSQL restarted mid-burst',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('pg', size.webhooks, size.receiverDelayMs);
      const worker = await lab.startWorker();
      const pub = publisher(lab, tenant, size, size.outageMs + 4000);
      await Promise.all([pub.reached(0.3), receivedAtLeast(lab, tenant, 1)]);
      const problems: string[] = [];
      await lab.pg.stop('fast');
      const downAt = Date.now();
      // While it is down: the api answers 503 in the envelope, at once; readiness says so too.
      const [published, got, ready, workerReady] = await Promise.all([
        probe(`${lab.api.url}/ipm/event/publish`, tenant.headers, publishBody([`${tenant.org}:down`])),
        probe(`${lab.api.url}/ipm/webhook/get`, tenant.headers, { webhook_id: tenant.webhookIds[0] }),
        probe(`${lab.api.url}/health/ready`, {}),
        probe(`${lab.workerUrl(worker)}/health/ready`, {}),
      ]);
      for (const [what, p] of [
        ['publish', published],
        ['webhook/get', got],
        ['health/ready', ready],
        ["the worker's health/ready", workerReady],
      ] as const) {
        if (p.label !== '503 service_unavailable') problems.push(`${what} while PostgreSQL was down: ${p.label}`);
        if (p.ms > 5000) problems.push(`${what} while PostgreSQL was down took ${p.ms} ms`);
      }
      await sleep(Math.max(0, size.outageMs - (Date.now() - downAt)));
      await lab.pg.start();
      const upAt = Date.now();
      // The api recovers by itself: 2xx again without a restart.
      const back = await until(async () => {
        const r = await call(`${lab.api.url}/ipm/webhook/get`, {
          headers: tenant.headers,
          body: { webhook_id: tenant.webhookIds[0] },
          timeoutMs: 5000,
        });
        return r.kind === 'response' && r.status === 200;
      }, 30_000);
      const apiBackMs = Date.now() - upAt;
      if (!back) problems.push('the api did not answer 2xx again within 30 s of PostgreSQL coming back');
      const result = await settle(lab, pgRestart.title, pub, upAt, size.drainTimeoutMs);
      result.problems.push(...problems);
      result.notes.push(
        `while down: publish ${published.label} in ${published.ms} ms, webhook/get ${got.label} in ${got.ms} ms, ` +
          `health/ready ${ready.label} (worker: ${workerReady.label}); down ${size.outageMs} ms; ` +
          `api 2xx again ${apiBackMs} ms after the restart`,
      );
      const bad = Object.keys(result.outcomes).filter((l) => l !== '200' && l !== '503 service_unavailable');
      if (bad.length > 0) {
        const faults = lab.api
          .output()
          .split('\n')
          .filter((l) => /error_id=|Error|error:/.test(l))
          .slice(0, 12)
          .join('\n');
        result.problems.push(`publish outcomes other than 200 and 503: ${bad.join(', ')}; api log:\n${faults}`);
      }
      return result;
    }),
};

const twoWorkers: Scenario = {
  key: 'two-workers',
  title: 'two workers racing on the same queues',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('race', size.webhooks, size.receiverDelayMs);
      await Promise.all([lab.startWorker(), lab.startWorker()]);
      const startedAt = Date.now();
      const pub = publisher(lab, tenant, size, 0);
      const result = await settle(lab, twoWorkers.title, pub, null, size.drainTimeoutMs);
      // Exactly once: one attempt per delivery, none made twice by the two workers.
      const [{ attempts, deliveries }] = (
        await lab.db.query<{ attempts: number; deliveries: number }>(
          `SELECT (SELECT count(*)::int FROM delivery_attempts WHERE orgcode = $1) AS attempts,
                  (SELECT count(*)::int FROM deliveries WHERE orgcode = $1) AS deliveries`,
          [tenant.org],
        )
      ).rows;
      if (attempts !== deliveries) result.problems.push(`${attempts} attempts for ${deliveries} deliveries`);
      if (result.duplicates > 0) result.problems.push(`${result.duplicates} duplicates with no fault at all`);
      const last = Math.max(
        ...lab.receiver.received.filter((r) => r.path.startsWith(`/${tenant.org}/`)).map((r) => r.at),
      );
      result.notes.push(
        `${attempts} attempts for ${deliveries} deliveries, all delivered ${last - startedAt} ms after the first publish`,
      );
      return result;
    }),
};

const apiSigterm: Scenario = {
  key: 'api-sigterm',
  title: 'api SIGTERMed under load',
  run: (lab, size) =>
    withWorkers(lab, async () => {
      const tenant = await lab.tenant('term', size.webhooks, size.receiverDelayMs);
      // Slow requests: /webhook/verify waits for an endpoint that takes 1.5 s to echo its challenge.
      const slow = await lab.tenant('slow', 1, 0);
      lab.receiver.on(`/${slow.org}/0`, (req) => ({
        delayMs: 1500,
        body: { challenge: (JSON.parse(req.body) as { data: { challenge: string } }).data.challenge },
      }));
      await lab.startWorker();
      const doomed = await lab.startApi();
      let failedOver = false;
      const problems: string[] = [];
      let termAt = 0;
      const pub = new Publisher(tenant, {
        events: size.events,
        batch: size.batch,
        concurrency: size.publishers,
        spanMs: 4000,
        // A load balancer's view: the doomed api until it refuses, then the other one.
        target: () => (failedOver ? lab.api.url : doomed.url),
        retryForMs: 60_000,
        idempotencyKeys: process.env.CHAOS_IDEMPOTENCY_KEYS === '1',
        onOutcome: (outcome, startedAt) => {
          if (outcome.kind === 'response' && outcome.status < 300) return;
          if (termAt === 0 || startedAt < termAt) {
            problems.push(`a publish before the SIGTERM got ${outcomeLabel(outcome)}`);
          } else if (outcome.kind === 'response' && outcome.status !== 503) {
            problems.push(`a publish after the SIGTERM got ${outcomeLabel(outcome)}`);
          }
          failedOver = true;
        },
      });
      await Promise.all([pub.reached(0.3), receivedAtLeast(lab, tenant, 1)]);
      const verifying = Array.from({ length: 4 }, () =>
        call(`${doomed.url}/ipm/webhook/verify`, {
          headers: slow.headers,
          body: { webhook_id: slow.webhookIds[0] },
          timeoutMs: 20_000,
        }),
      );
      await sleep(300); // the verifications are in flight
      termAt = Date.now();
      const exitCode = doomed.terminate();
      const slowOutcomes = (await Promise.all(verifying)).map(outcomeLabel);
      const code = await exitCode;
      const exitMs = Date.now() - termAt;
      lab.forgetApi(doomed);
      if (slowOutcomes.some((o) => o !== '200'))
        problems.push(`in-flight verifications got ${slowOutcomes.join(', ')}`);
      if (code !== 0) problems.push(`the api exited with ${String(code)}:\n${doomed.output().slice(-2000)}`);
      const after = await call(`${doomed.url}/ipm/stat`, { timeoutMs: 2000 });
      const afterLabel = outcomeLabel(after);
      if (!['ECONNREFUSED', '503 service_unavailable'].includes(afterLabel)) {
        problems.push(`a request after the close got ${afterLabel}`);
      }
      const result = await settle(lab, apiSigterm.title, pub, termAt, size.drainTimeoutMs);
      result.problems.push(...problems);
      result.notes.push(
        `4 in-flight /webhook/verify: ${slowOutcomes.join(', ')}; exit ${String(code)} ${exitMs} ms after SIGTERM; ` +
          `then ${afterLabel}`,
      );
      return result;
    }),
};

export const SCENARIOS: readonly Scenario[] = [workerKill, redisRestart, redisFlush, pgRestart, twoWorkers, apiSigterm];
