import type { EntityManager } from 'typeorm';
import type { ReportEntry } from '../formats';
import type { BulkJobEntity } from '../jobs/bulk-job.entity';
import type { CsvShape, ImportRecord } from './import-records';

/** What one chunk of a target's records came to. */
export interface ChunkResult {
  succeeded: number;
  /** One per rejected record (bad shape, failed check, duplicate...), with the record's line. */
  errors: ReportEntry[];
}

/**
 * A target's side of an import: how its CSV reads and how a chunk of good records lands. `apply`
 * runs inside the chunk's transaction (`em`): it writes through `em` only, so the chunk, its report
 * lines and the checkpoint commit or roll back together. It honours `job.options.dry_run` (check
 * everything, store nothing) and scopes every write to `job.orgcode` (and `job.app_id` when set).
 */
export interface ImportTarget {
  readonly csv: CsvShape;
  apply(em: EntityManager, job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkResult>;
  /**
   * Optional: `apply` in two steps. The work that needs no transaction (shape and schema checks,
   * encoding) runs here, while the previous chunk commits; what it returns finishes the chunk
   * inside its transaction. Must not write.
   */
  prepare?(job: BulkJobEntity, records: readonly ImportRecord[]): Promise<ChunkWrite>;
}

/** The part of a chunk's import that runs inside its transaction, with the job as locked there. */
export type ChunkWrite = (em: EntityManager, job: BulkJobEntity) => Promise<ChunkResult>;

/** One page of an export: the rows as the API shows them, and the cursor after the last one. */
export interface ExportPage {
  /** The rows as the API shows them (DTO objects), in keyset order. */
  docs: object[];
  /**
   * The same rows as NDJSON lines (JSON text, no newline), when the source writes them cheaper than
   * JSON.stringify of its docs (e.g. a JSON column spliced in as PostgreSQL sends it). When set, it is
   * what an NDJSON export writes and counts, and `docs` may be left empty.
   */
  lines?: string[];
  /** Opaque to the runner; null when `docs` is empty. */
  cursor: string | null;
}

/**
 * A target's side of an export: keyset pages in a stable order over `job.orgcode`'s rows (and
 * `job.app_id`'s when set), filtered by `job.options`. `after` is the cursor of the previous page
 * (null = from the start). Docs use the API's shapes and never carry secrets. `columns` is the CSV
 * header: each doc's value for each column is one CSV field (objects as JSON text).
 */
export interface ExportSource {
  readonly columns: readonly string[];
  /** How many rows the export will write (for `total_lines` and `progress`). */
  count(db: EntityManager, job: BulkJobEntity): Promise<number>;
  page(db: EntityManager, job: BulkJobEntity, after: string | null, limit: number): Promise<ExportPage>;
}
