import type { EntityManager } from 'typeorm';

export type BulkObjectKind = 'upload' | 'export' | 'report';

/** One stored object: a job's upload, export file or line report, always scoped by its tenant. */
export interface BulkObjectRef {
  orgcode: string;
  jobId: string;
  kind: BulkObjectKind;
}

/** All kinds of a job, or one kind when `kind` is given. */
export type BulkJobRef = Omit<BulkObjectRef, 'kind'> & { kind?: BulkObjectKind };

export interface BulkObjectSize {
  parts: number;
  bytes: number;
}

export interface BulkWriterOptions {
  /** The first part number this writer persists: `lastPart(ref) + 1` to append after a crash. Default 0. */
  startAt?: number;
  /** Bytes per part (every part but the last is exactly this size). Default: the storage's, 1 MiB. */
  partSize?: number;
}

/**
 * Accepts an object's bytes in order and persists them part by part. Calls must be awaited one
 * at a time. `em` lets a caller commit a part together with its own checkpoint; stores that
 * are not PostgreSQL ignore it. A writer whose call failed (or whose `em` transaction rolled
 * back) is not reused: resume with a new writer from `lastPart(ref) + 1` or from the checkpoint.
 */
export interface BulkPartWriter {
  /** Buffers `chunk`; persists a part each time a full part size is buffered. */
  write(chunk: Buffer, em?: EntityManager): Promise<void>;
  /** Persists the buffered tail as the last part and returns the whole object's size. */
  finish(em?: EntityManager): Promise<BulkObjectSize>;
  /** Drops what is buffered. Parts already persisted stay, to resume from or to `delete`. */
  abort(): Promise<void>;
  /** The next part number this writer will persist (a checkpoint to resume from). */
  readonly nextPartNo: number;
}

/**
 * Where bulk jobs keep their files. PostgreSQL by default (`PgBulkStorage`); an object store can
 * implement the same contract (parts map onto a multipart upload). Every call is tenant-scoped:
 * another tenant's job id reads as nothing and deletes nothing.
 */
export interface BulkStorage {
  createWriter(ref: BulkObjectRef, options?: BulkWriterOptions): BulkPartWriter;
  /** The object's parts in order, one at a time (never the whole object in memory). */
  read(ref: BulkObjectRef): AsyncGenerator<Buffer>;
  size(ref: BulkObjectRef): Promise<BulkObjectSize>;
  /** The highest persisted part number, or null when the object has none. */
  lastPart(ref: BulkObjectRef, em?: EntityManager): Promise<number | null>;
  /** Deletes a job's objects (all kinds, or one); returns the number of parts deleted. */
  delete(ref: BulkJobRef): Promise<number>;
  /** Expiry sweep across tenants: deletes parts written before `date`, in batches; returns the count. */
  deleteOlderThan(date: Date): Promise<number>;
}

/** Nest injection token for the `BulkStorage` in use. */
export const BULK_STORAGE = Symbol('BULK_STORAGE');

export const DEFAULT_PART_SIZE = 1024 * 1024;
