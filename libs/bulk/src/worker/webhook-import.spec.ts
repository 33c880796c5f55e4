import { getMetadataStorage } from 'class-validator';
import { AppError } from '@ipm/core';
import { WebhookCreateRequestDto } from '@ipm/webhooks';
import { parseWebhookCreateRequest, WEBHOOK_LIMIT_REACHED } from '@ipm/webhooks';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { bulkJobCaller, describeAppError, reportableRaw, WEBHOOK_CSV, WEBHOOK_CSV_COLUMNS } from './webhook-import';

const fields = (f: Record<string, string>) => Object.assign(Object.create(null) as Record<string, string>, f);

async function refusal(body: unknown): Promise<AppError> {
  try {
    await parseWebhookCreateRequest(body);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('WEBHOOK_CSV', () => {
  it('has one column per /webhook/create body field, endpoint_url required', () => {
    const dtoFields = new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(WebhookCreateRequestDto, '', true, false)
        .map((m) => m.propertyName),
    );
    expect(new Set([...WEBHOOK_CSV_COLUMNS.required, ...WEBHOOK_CSV_COLUMNS.optional])).toEqual(dtoFields);
    expect(WEBHOOK_CSV.required).toEqual(['endpoint_url']);
  });

  it('reads text as text, numbers as numbers, arrays and objects as JSON; empty cells are absent', () => {
    const row = fields({
      endpoint_url: 'https://93.184.215.14/hook',
      name: '42',
      description: '',
      timeout_ms: '5000',
      event_filters: '[{"service":"rfp","action":"created"}]',
      headers: '{"X-Team":"erp"}',
      tags: '["a","b"]',
      retry_policy: '{"max_attempts":3}',
      app_id: '',
    });
    expect(WEBHOOK_CSV.toValue(row)).toEqual({
      value: {
        endpoint_url: 'https://93.184.215.14/hook',
        name: '42',
        timeout_ms: 5000,
        event_filters: [{ service: 'rfp', action: 'created' }],
        headers: { 'X-Team': 'erp' },
        tags: ['a', 'b'],
        retry_policy: { max_attempts: 3 },
      },
    });
  });

  it('leaves a number cell that is no number for validation to refuse', () => {
    expect(WEBHOOK_CSV.toValue(fields({ endpoint_url: 'https://x.test/', timeout_ms: '5 s' }))).toEqual({
      value: { endpoint_url: 'https://x.test/', timeout_ms: '5 s' },
    });
  });

  it('names every JSON cell that does not parse', () => {
    const result = WEBHOOK_CSV.toValue(fields({ endpoint_url: 'https://x.test/', tags: '[a]', headers: '{' }));
    expect('error' in result && result.error).toMatch(/^tags: malformed JSON: .*; headers: malformed JSON: /);
  });
});

describe('parseWebhookCreateRequest', () => {
  it('gives the DTO for a good body', async () => {
    const dto = await parseWebhookCreateRequest({
      endpoint_url: 'https://93.184.215.14/hook',
      event_filters: [{ service: 'rfp' }],
      tags: ['erp'],
    });
    expect(dto).toBeInstanceOf(WebhookCreateRequestDto);
    expect(dto.event_filters).toEqual([{ service: 'rfp' }]);
  });

  it('refuses as the api does: unknown fields, bad types, each field named', async () => {
    const err = await refusal({ endpoint_url: 7, tags: ['no spaces'], secret: 'whsec_x', event_filters: [{}] });
    expect(err.status).toBe(400);
    expect([...new Set(err.details?.map((d) => d.field))].sort()).toEqual(
      ['endpoint_url', 'event_filters.0.service', 'secret', 'tags'].sort(),
    );
    expect(describeAppError(err)).toContain('secret: unknown field secret');
    expect(describeAppError(err)).toMatch(/^validation_failed: /);
  });

  it('refuses a body nested deeper than the api allows', async () => {
    let deep: unknown = {};
    for (let i = 0; i < 600; i++) deep = { a: deep };
    const err = await refusal({ endpoint_url: 'https://x.test/', headers: deep });
    expect(err.message).toBe('The body is nested deeper than 512 levels');
  });
});

describe('describeAppError', () => {
  it('gives the code and the message for refusals that are not field validation', () => {
    const err = AppError.unprocessable('This organization has reached its limit', [], WEBHOOK_LIMIT_REACHED);
    expect(describeAppError(err)).toBe('webhook_limit_reached: This organization has reached its limit');
  });
});

describe('reportableRaw', () => {
  it('masks a secret field and anything shaped like a secret', () => {
    const value = { endpoint_url: 'https://x.test/', secret: 'hunter2' };
    const raw = reportableRaw({ line: 1, raw: JSON.stringify(value), rawBytes: 0, value });
    expect(raw).toBe('{"endpoint_url":"https://x.test/","secret":"[redacted]"}');
    const shaped = 'endpoint_url,name\r\nhttps://x.test/,whsec_abc+/=';
    expect(reportableRaw({ line: 2, raw: shaped, rawBytes: 0 })).toBe(
      'endpoint_url,name\r\nhttps://x.test/,whsec_[redacted]',
    );
  });
});

describe('bulkJobCaller', () => {
  it("acts in the job's tenant and app, as the job's creator", () => {
    const job = { orgcode: 'acme', app_id: 'app_a', created_by: 'user_1' } as BulkJobEntity;
    expect(bulkJobCaller(job)).toEqual({
      kind: 'system',
      actor_id: 'user_1',
      orgs: ['acme'],
      permissions: [],
      app_id: 'app_a',
      orgcode: 'acme',
    });
  });
});
