// The modules the apps import: the api routes (which register their own upload content types),
// the worker's `bulk.run` runner with its targets, the hourly expiry, and the file storage.
export * from './bulk.api.module';
export * from './bulk.worker.module';
export * from './bulk-maintenance.module';
export * from './bulk-storage.module';

// The worker's bulk counters (WorkerMetrics serves them).
export * from './bulk-metrics';

// The job: its entity, its options and targets, and its tenant-scoped repository.
export * from './jobs/bulk-job.entity';
export * from './jobs/bulk-jobs.repository';

// Signed URLs (upload, export and report files).
export * from './api/bulk-url-tokens';

// File formats (NDJSON, CSV, the line report) and storage (PostgreSQL parts, downloads).
export * from './formats';
export * from './storage';

// The worker side, driven directly by integration tests: the runner, the expiry, and the import
// targets and export sources with their columns.
export * from './worker/bulk.runner';
export * from './worker/bulk-expiry';
export * from './worker/event-import';
export * from './worker/audit-export';
export * from './worker/delivery-export';
export * from './worker/event-export';
export * from './worker/kpi-export';
export * from './worker/webhook-export';
