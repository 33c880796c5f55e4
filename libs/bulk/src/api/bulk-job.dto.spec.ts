import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import { toBulkJobDto } from './bulk-job.records';

function job(over: Partial<BulkJobEntity> = {}): BulkJobEntity {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    job_id: 'job_01JD3V5T0K6Z8Q9W2X4Y7B1C3E',
    orgcode: 'acme',
    app_id: null,
    job_type: 'import',
    target: 'events',
    format: 'ndjson',
    options: {},
    status: 'running',
    total_lines: null,
    processed: 0,
    succeeded: 0,
    failed: 0,
    last_processed_line: 0,
    cursor: null,
    upload_bytes: '1024',
    upload_token_id: 'secret-one-time-id',
    error: null,
    started_at: at,
    finished_at: null,
    expires_at: at,
    created_at: at,
    created_by: 'user_1',
    updated_at: at,
    updated_by: 'user_1',
    revision: 3,
    ...over,
  };
}

describe('toBulkJobDto', () => {
  it('progress: lines passed (import) or rows written (export) / total_lines, 0 while unknown, 1 once completed', () => {
    expect(toBulkJobDto(job()).progress).toBe(0);
    expect(toBulkJobDto(job({ total_lines: 400, last_processed_line: 100, processed: 90 })).progress).toBe(0.25);
    expect(toBulkJobDto(job({ job_type: 'export', total_lines: 400, processed: 100 })).progress).toBe(0.25);
    expect(toBulkJobDto(job({ total_lines: 10, last_processed_line: 12 })).progress).toBe(1);
    expect(toBulkJobDto(job({ status: 'completed_with_errors' })).progress).toBe(1);
  });

  it('strings out revisions and dates, numbers out upload_bytes, and never the upload token id', () => {
    const dto = toBulkJobDto(job());
    expect(dto).toMatchObject({
      revision: '3',
      upload_bytes: 1024,
      started_at: '2026-01-01T00:00:00.000Z',
      finished_at: null,
    });
    expect(JSON.stringify(dto)).not.toContain('secret-one-time-id');
  });
});
