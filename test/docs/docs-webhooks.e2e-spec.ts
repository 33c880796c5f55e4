import type { INestApplicationContext } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DataSource } from 'typeorm';
import { signDelivery, type SignatureHeaders } from '@ipm/webhooks';
import { generateWebhookSecret } from '@ipm/webhooks';
import { createWorkerApp } from '../../apps/worker/src/bootstrap';
import { bearer, startApi, TestApi, token, uniqueOrg } from '../support/api';
import { quietDatabase } from '../support/receiver';
import { waitFor } from '../support/wait';

// For the engine block: a BullMQ prefix of its own (under the run's, which the teardown deletes), loopback
// receivers allowed, the worker's HTTP port free.
process.env.QUEUE_PREFIX = `${process.env.QUEUE_PREFIX ?? 'ipm-test-local'}:docs`;
process.env.WORKER_PORT = '0';
process.env.WEBHOOK_TARGET_ALLOWLIST = '127.0.0.1/32';
process.env.RELAY_POLL_MS = '10';

jest.setTimeout(30_000);

/**
 * Keeps docs/receiving-webhooks.md honest: its two marked code blocks (the `standardwebhooks` receiver
 * and the dependency-free verification) are taken from the markdown as they are and run against
 * deliveries signed by the engine's own signing code (libs/webhooks/src/signing.ts).
 */

const ROOT = join(__dirname, '..', '..');
const GUIDE = join(ROOT, 'docs', 'receiving-webhooks.md');

/** The fenced block right after `<!-- tested: <name> ... -->`. */
function taggedBlock(markdown: string, name: string): string {
  const marker = markdown.indexOf(`<!-- tested: ${name}`);
  if (marker < 0) throw new Error(`no "<!-- tested: ${name}" marker in the guide`);
  const match = /```(?:js|javascript)\n([\s\S]*?)\n```/.exec(markdown.slice(marker));
  if (!match) throw new Error(`no js block after the ${name} marker`);
  return `${match[1]}\n`;
}

/** A body as the delivery executor builds it: `{ type, timestamp, data }`, data as stored (UTF-8, escapes and all). */
function deliveryBody(data: string): string {
  return `{"type":"rfp.created","timestamp":"2026-11-23T10:51:57.449Z","data":${data}}`;
}

const DATA = '{"rfp_id":"RFP-1042","title":"Chaises de bureau \u2013 été","note":"a\\"quote\\" and \\u00e9"}';
let deliveries = 0;
function deliveryId(): string {
  deliveries += 1;
  return `dlv_01JD3V5T0K6Z8Q9W2X4Y7B${String(deliveries).padStart(4, '0')}`;
}
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface Processed {
  processed: string;
  type: string;
}

interface RunningReceiver {
  port: number;
  /** What the receiver printed after answering, one entry per delivery it processed. */
  processed: Processed[];
  stop: () => Promise<void>;
}

/** Writes the guide's receiver to `file` and runs it with node, as its comment says: WEBHOOK_SECRET and PORT. */
async function runReceiver(file: string, source: string, secret: string, port: number): Promise<RunningReceiver> {
  writeFileSync(file, source);
  const child: ChildProcess = spawn(process.execPath, [file], {
    // The guide's `npm install standardwebhooks`: the repository's copy.
    env: { PATH: process.env.PATH, WEBHOOK_SECRET: secret, PORT: String(port), NODE_PATH: join(ROOT, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const processed: Processed[] = [];
  const listening = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`receiver.js exited (${code}): ${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { listening?: number } & Partial<Processed>;
      if (message.listening !== undefined) resolve(message.listening);
      else processed.push(message as Processed);
    });
  });
  return {
    port: listening,
    processed,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A port free now (for a webhook URL that must be known before its receiver starts). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('docs/receiving-webhooks.md', () => {
  const markdown = readFileSync(GUIDE, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'ipm-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('the standardwebhooks receiver (receiver.js), run as its own node process', () => {
    const secret = generateWebhookSecret();
    let receiver: RunningReceiver;
    let port = 0;
    let processed: Processed[] = [];

    beforeAll(async () => {
      receiver = await runReceiver(join(dir, 'receiver.js'), taggedBlock(markdown, 'receiver.js'), secret, 0);
      ({ port, processed } = receiver);
    });
    afterAll(() => receiver.stop());

    async function post(body: string, headers: Partial<SignatureHeaders>): Promise<{ status: number; text: string }> {
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'IPM-Webhooks/1.0', ...headers },
        body,
      });
      return { status: res.status, text: await res.text() };
    }

    /** Lets the receiver's after-the-answer work (setImmediate) print. */
    async function settled(): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    it('accepts a delivery signed by the engine, answers 204 and processes it once', async () => {
      const id = deliveryId();
      const body = deliveryBody(DATA);
      const res = await post(body, signDelivery([secret], id, nowSeconds(), body));
      expect(res.status).toBe(204);
      await settled();
      expect(processed.filter((p) => p.processed === id)).toEqual([{ processed: id, type: 'rfp.created' }]);
    });

    it('refuses (400) a tampered body, a tampered signature, another secret and a missing header; processes none', async () => {
      const body = deliveryBody(DATA);
      const id = deliveryId();
      const headers = signDelivery([secret], id, nowSeconds(), body);
      const tamperedBody = body.replace('RFP-1042', 'RFP-1043');
      const [, mac] = headers['webhook-signature'].split(',');
      const flipped = `v1,${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
      const cases: Array<[string, Partial<SignatureHeaders>]> = [
        [tamperedBody, headers],
        [body, { ...headers, 'webhook-signature': flipped }],
        [body, { ...headers, 'webhook-id': deliveryId() }],
        [body, signDelivery([generateWebhookSecret()], id, nowSeconds(), body)],
        [body, { 'webhook-id': id, 'webhook-timestamp': headers['webhook-timestamp'] }],
      ];
      for (const [sent, sentHeaders] of cases) expect((await post(sent, sentHeaders)).status).toBe(400);
      await settled();
      expect(processed.filter((p) => p.processed === id)).toEqual([]);
    });

    it('refuses a genuine signature whose timestamp is more than 5 minutes old or ahead', async () => {
      const body = deliveryBody(DATA);
      for (const skew of [-6 * 60, 6 * 60]) {
        const id = deliveryId();
        expect((await post(body, signDelivery([secret], id, nowSeconds() + skew, body))).status).toBe(400);
      }
      // Within the tolerance: accepted.
      const id = deliveryId();
      expect((await post(body, signDelivery([secret], id, nowSeconds() - 4 * 60, body))).status).toBe(204);
    });

    it('drops a retry of an accepted delivery (same webhook-id, new timestamp and signature) with a 204', async () => {
      const id = deliveryId();
      const body = deliveryBody(DATA);
      expect((await post(body, signDelivery([secret], id, nowSeconds() - 5, body))).status).toBe(204);
      expect((await post(body, signDelivery([secret], id, nowSeconds(), body))).status).toBe(204);
      await settled();
      expect(processed.filter((p) => p.processed === id)).toHaveLength(1);
    });

    it('verifies during a rotation whichever of the two secrets it holds', async () => {
      const body = deliveryBody(DATA);
      const id = deliveryId();
      // The receiver holds `secret`: once as the new secret, once as the previous one.
      expect((await post(body, signDelivery([secret, generateWebhookSecret()], id, nowSeconds(), body))).status).toBe(
        204,
      );
      const other = deliveryId();
      expect(
        (await post(body, signDelivery([generateWebhookSecret(), secret], other, nowSeconds(), body))).status,
      ).toBe(204);
    });

    it('echoes the /webhook/verify challenge', async () => {
      const body = JSON.stringify({
        type: 'ipm.webhook.verification',
        timestamp: new Date().toISOString(),
        data: { challenge: 'c2VjcmV0LWNoYWxsZW5nZQ' },
      });
      const res = await post(body, signDelivery([secret], deliveryId(), nowSeconds(), body));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ challenge: 'c2VjcmV0LWNoYWxsZW5nZQ' });
    });
  });

  describe('the algorithm without a library (verify-manually.js)', () => {
    type Verify = (secret: string, headers: Record<string, string>, raw: string, now?: number) => unknown;
    let verifyWebhook: Verify;

    beforeAll(() => {
      const file = join(dir, 'verify-manually.js');
      writeFileSync(file, taggedBlock(markdown, 'verify-manually.js'));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ({ verifyWebhook } = require(file) as { verifyWebhook: Verify });
    });

    const secret = generateWebhookSecret();
    const body = deliveryBody(DATA);

    it('returns the parsed body of a delivery signed by the engine', () => {
      const headers = { ...signDelivery([secret], deliveryId(), nowSeconds(), body) };
      expect(verifyWebhook(secret, headers, body)).toEqual(JSON.parse(body));
    });

    it('accepts either signature during a rotation, and skips entries of other versions', () => {
      const previous = generateWebhookSecret();
      const signed = signDelivery([secret, previous], deliveryId(), nowSeconds(), body);
      const headers = { ...signed, 'webhook-signature': `v2,AAAA ${signed['webhook-signature']}` };
      expect(verifyWebhook(secret, headers, body)).toEqual(JSON.parse(body));
      expect(verifyWebhook(previous, headers, body)).toEqual(JSON.parse(body));
    });

    it('throws on a tampered body, signature, id or timestamp, another secret, or a stale timestamp', () => {
      const ts = nowSeconds();
      const id = deliveryId();
      const headers = { ...signDelivery([secret], id, ts, body) };
      expect(() => verifyWebhook(secret, headers, body.replace('RFP-1042', 'RFP-1043'))).toThrow();
      expect(() => verifyWebhook(secret, { ...headers, 'webhook-id': deliveryId() }, body)).toThrow();
      expect(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts + 1) }, body)).toThrow();
      expect(() =>
        verifyWebhook(secret, { ...headers, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}` }, body),
      ).toThrow();
      expect(() => verifyWebhook(generateWebhookSecret(), headers, body)).toThrow();
      expect(() => verifyWebhook(secret, headers, body, ts + 301)).toThrow();
      expect(() => verifyWebhook(secret, headers, body, ts - 301)).toThrow();
      expect(verifyWebhook(secret, headers, body, ts + 299)).toEqual(JSON.parse(body));
    });
  });

  describe('receiver.js receiving real deliveries from the engine (api + worker)', () => {
    let api: TestApi;
    let worker: INestApplicationContext;
    let db: DataSource;
    let receiver: RunningReceiver;
    let org: string;
    let jwt: string;
    let webhookId: string;

    beforeAll(async () => {
      api = await startApi();
      db = api.app.get(DataSource);
      await quietDatabase(db);
      worker = await createWorkerApp();
      await worker.init();
      org = uniqueOrg('docs');
      jwt = await token(api.config, { orgs: [org], permissions: ['manage_webhooks', 'publish_events'] });
      const port = await freePort();
      const created = await call('/ipm/webhook/create', {
        endpoint_url: `http://127.0.0.1:${port}/hooks/ipm`,
        event_filters: [{ service: 'rfp' }],
      });
      webhookId = created.webhook_id as string;
      const source = taggedBlock(markdown, 'receiver.js');
      receiver = await runReceiver(join(dir, 'engine-receiver.js'), source, created.secret as string, port);
    });
    afterAll(async () => {
      await receiver?.stop();
      await worker?.close();
      await api?.close();
    });

    async function call(route: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
      const res = await api.http().post(route).set(bearer(jwt)).set('x-orgcode', org).send(body);
      expect(res.body.error).toBeUndefined();
      return res.body.data as Record<string, unknown>;
    }

    /** Publishes one rfp.created event; resolves with its delivery once it succeeded. */
    async function deliverOne(rfpId: string): Promise<{ delivery_id: string; attempt_count: number }> {
      await call('/ipm/event/publish', {
        events: [
          {
            event_type: 'rfp.created',
            event_id: `${org}-${rfpId}`,
            payload: {
              rfp_id: rfpId,
              title: 'Chaises – été',
              buyer: { org_id: 'ORG-1', name: 'Acme' },
              status: 'open',
            },
          },
        ],
      });
      return waitFor(`the delivery of ${rfpId}`, async () => {
        const rows: Array<{ delivery_id: string; attempt_count: number; status: string }> = await db.query(
          `SELECT d.delivery_id, d.attempt_count, d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq
            WHERE d.webhook_id = $1 AND e.event_id = $2`,
          [webhookId, `${org}-${rfpId}`],
        );
        return rows[0]?.status === 'success' ? rows[0] : undefined;
      });
    }

    it('verifies, answers and processes a delivery as the worker sends it, on the first attempt', async () => {
      const delivery = await deliverOne('RFP-1');
      expect(delivery.attempt_count).toBe(1);
      await waitFor('receiver.js to process it', () =>
        receiver.processed.some((p) => p.processed === delivery.delivery_id) ? true : undefined,
      );
      expect(receiver.processed.filter((p) => p.processed === delivery.delivery_id)).toEqual([
        { processed: delivery.delivery_id, type: 'rfp.created' },
      ]);
    });

    it('passes /webhook/verify (the challenge echoed)', async () => {
      const result = await call('/ipm/webhook/verify', { webhook_id: webhookId });
      expect(result).toMatchObject({ webhook_id: webhookId, verified: true });
    });

    it('still verifies with the previous secret during a rotation grace period', async () => {
      await call('/ipm/webhook/secret/rotate', { webhook_id: webhookId, grace_period_seconds: 3600 });
      const delivery = await deliverOne('RFP-2');
      expect(delivery.attempt_count).toBe(1);
    });
  });
});
