import { SIGNING_ALGORITHM, type WebhookEntity } from '@ipm/webhooks';
import { toWebhookDto } from '@ipm/webhooks';
import { toExportedWebhook, WEBHOOK_EXPORT_COLUMNS, WebhookExport } from './webhook-export';

const at = new Date('2026-01-02T03:04:05.000Z');
const entity: WebhookEntity = {
  webhook_id: 'whk_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
  orgcode: 'acme',
  app_id: null,
  name: 'Orders',
  description: null,
  endpoint_url: 'https://93.184.215.14/hook',
  status: 'active',
  event_filters: [{ service: 'rfp' }],
  headers: { 'X-Team': 'erp' },
  retry_policy: { max_attempts: 8, backoff: 'exponential', timeout_ms: 15_000 },
  signing_algorithm: SIGNING_ALGORITHM,
  secret_sealed: 'sealed-secret',
  secret_key_id: 'k1',
  secret_last4: 'x9Q=',
  secret_fingerprint: '3f9a1c0b7d2e4f68',
  previous_secret_sealed: 'sealed-previous',
  previous_secret_expires_at: at,
  tags: ['erp'],
  consecutive_failures: 0,
  paused_at: null,
  last_delivery_at: null,
  last_delivery_status: null,
  verified_at: null,
  verification_status: null,
  created_at: at,
  created_by: 'user_1',
  updated_at: at,
  updated_by: 'user_1',
  revision: 3,
  is_deleted: false,
  deleted_at: null,
  deleted_by: null,
};

describe('webhooks export', () => {
  it("has the DTO's fields as columns, in order, without secret_last4", () => {
    const dtoFields = Object.keys(toWebhookDto(entity)).filter((k) => k !== 'secret_last4');
    expect([...WEBHOOK_EXPORT_COLUMNS]).toEqual(dtoFields);
    expect(new WebhookExport().columns).toBe(WEBHOOK_EXPORT_COLUMNS);
  });

  it('exports what /webhook/get shows minus secret_last4, and no sealed secret', () => {
    const doc = toExportedWebhook(entity);
    const { secret_last4: _last4, ...expected } = toWebhookDto(entity);
    expect(doc).toEqual(expected);
    expect(Object.keys(doc)).toEqual([...WEBHOOK_EXPORT_COLUMNS]);
    const text = JSON.stringify(doc);
    for (const secret of ['x9Q=', 'sealed-secret', 'sealed-previous', 'k1']) expect(text).not.toContain(secret);
  });
});
