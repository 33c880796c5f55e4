import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { bearer, startApi, type TestApi, token } from './api';
import { quietDatabase } from './receiver';

/** The api and an in-process worker against the real PostgreSQL and Redis, for the bulk specs that go the whole way. */
export interface BulkStack {
  api: TestApi;
  worker: INestApplicationContext;
  /** May manage bulk jobs and publish events in the org the stack was started for. */
  jwt: string;
}

/**
 * Starts the api, quiets the shared database (no other file's outbox or deliveries left for this
 * worker), starts the worker and mints a JWT for `org`. The caller closes the worker, then the api.
 */
export async function startBulkStack(org: string): Promise<BulkStack> {
  const api = await startApi();
  await quietDatabase(api.app.get(DataSource));
  const worker = await createWorkerApp();
  await worker.init();
  const jwt = await token(api.config, { orgs: [org], permissions: ['manage_bulk_jobs', 'publish_events'] });
  return { api, worker, jwt };
}

/** POST /ipm/bulk/<route> as the stack's caller, in `org`. */
export const postBulk = (api: TestApi, jwt: string, org: string, route: string, body: Record<string, unknown>) =>
  api.http().post(`/ipm/bulk/${route}`).set(bearer(jwt)).set('x-orgcode', org).send(body);
