import type { DataSource, EntityManager } from 'typeorm';
import { acrossTenants } from '@ipm/persistence';
import {
  BulkJobRef,
  BulkObjectRef,
  BulkObjectSize,
  BulkPartWriter,
  BulkStorage,
  BulkWriterOptions,
  DEFAULT_PART_SIZE,
} from './bulk-storage';

export interface PgBulkStorageOptions {
  /** Bytes per part; default 1 MiB. */
  partSize?: number;
  /** Rows per `deleteOlderThan` statement, so that expiry never holds long locks. Default 500. */
  deleteBatch?: number;
}

/**
 * A part write is an upsert: ON CONFLICT DO UPDATE, so a part rewritten after a crash or a
 * rolled-back checkpoint holds the bytes of the latest attempt, which are the ones the committed
 * checkpoint describes (DO NOTHING would keep a stale attempt's bytes). The WHERE keeps another
 * tenant from overwriting a part under the same job id: no row comes back and the write fails.
 */
const UPSERT_PART_SQL = `
  INSERT INTO bulk_parts (orgcode, job_id, kind, part_no, data, bytes, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, now())
  ON CONFLICT ON CONSTRAINT pk_bulk_parts DO UPDATE
    SET data = EXCLUDED.data, bytes = EXCLUDED.bytes, created_at = EXCLUDED.created_at
    WHERE bulk_parts.orgcode = EXCLUDED.orgcode
  RETURNING part_no`;

/** Parts past the end a finished writer wrote, left by an earlier, longer attempt. */
const DELETE_TAIL_SQL = `DELETE FROM bulk_parts WHERE orgcode = $1 AND job_id = $2 AND kind = $3 AND part_no >= $4`;

const READ_NEXT_SQL = `
  SELECT part_no, data FROM bulk_parts
  WHERE orgcode = $1 AND job_id = $2 AND kind = $3 AND part_no > $4
  ORDER BY part_no LIMIT 1`;

const SIZE_SQL = `
  SELECT count(*)::int AS parts, coalesce(sum(bytes), 0)::bigint AS bytes, max(part_no) AS last
  FROM bulk_parts WHERE orgcode = $1 AND job_id = $2 AND kind = $3`;

type Queryable = Pick<EntityManager, 'query'> | Pick<DataSource, 'query'>;

interface SizeRow {
  parts: number;
  bytes: string;
  last: number | null;
}

async function objectSize(db: Queryable, ref: BulkObjectRef): Promise<SizeRow> {
  const [row] = await db.query<SizeRow[]>(SIZE_SQL, [ref.orgcode, ref.jobId, ref.kind]);
  return row;
}

/** `BulkStorage` on the `bulk_parts` table: each part is one row and one statement. */
export class PgBulkStorage implements BulkStorage {
  private readonly partSize: number;
  private readonly deleteBatch: number;

  constructor(
    private readonly dataSource: DataSource,
    options: PgBulkStorageOptions = {},
  ) {
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.deleteBatch = options.deleteBatch ?? 500;
  }

  createWriter(ref: BulkObjectRef, options: BulkWriterOptions = {}): BulkPartWriter {
    return new PgPartWriter(this.dataSource, { ...ref }, options.partSize ?? this.partSize, options.startAt ?? 0);
  }

  async *read(ref: BulkObjectRef): AsyncGenerator<Buffer> {
    // Keyset over the primary key, one part per query: memory holds one part, however large the object.
    let after = -1;
    for (;;) {
      const rows = await this.dataSource.query<Array<{ part_no: number; data: Buffer }>>(READ_NEXT_SQL, [
        ref.orgcode,
        ref.jobId,
        ref.kind,
        after,
      ]);
      if (rows.length === 0) return;
      after = rows[0].part_no;
      yield rows[0].data;
    }
  }

  async size(ref: BulkObjectRef): Promise<BulkObjectSize> {
    const row = await objectSize(this.dataSource, ref);
    return { parts: row.parts, bytes: Number(row.bytes) };
  }

  async lastPart(ref: BulkObjectRef, em?: EntityManager): Promise<number | null> {
    return (await objectSize(em ?? this.dataSource, ref)).last;
  }

  async delete(ref: BulkJobRef): Promise<number> {
    const params: string[] = [ref.orgcode, ref.jobId];
    let sql = 'DELETE FROM bulk_parts WHERE orgcode = $1 AND job_id = $2';
    if (ref.kind) {
      sql += ' AND kind = $3';
      params.push(ref.kind);
    }
    const [, affected] = await this.dataSource.query<[unknown[], number]>(sql, params);
    return affected;
  }

  async deleteOlderThan(date: Date): Promise<number> {
    const sql = `
      DELETE FROM bulk_parts WHERE (job_id, kind, part_no) IN (
        SELECT job_id, kind, part_no FROM bulk_parts WHERE created_at < $1 LIMIT $2)`;
    let total = 0;
    for (;;) {
      const [, affected] = await acrossTenants('retention deletes every tenant’s old parts', () =>
        this.dataSource.query<[unknown[], number]>(sql, [date, this.deleteBatch]),
      );
      total += affected;
      if (affected < this.deleteBatch) return total;
    }
  }
}

class PgPartWriter implements BulkPartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private partNo: number;
  private state: 'open' | 'busy' | 'closed' = 'open';

  constructor(
    private readonly dataSource: DataSource,
    private readonly ref: BulkObjectRef,
    private readonly partSize: number,
    startAt: number,
  ) {
    if (!Number.isInteger(partSize) || partSize < 1) throw new RangeError(`part size must be a positive integer`);
    if (!Number.isInteger(startAt) || startAt < 0) throw new RangeError(`startAt must be a non-negative integer`);
    this.partNo = startAt;
  }

  get nextPartNo(): number {
    return this.partNo;
  }

  async write(chunk: Buffer, em?: EntityManager): Promise<void> {
    this.enter();
    try {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      while (this.pendingBytes >= this.partSize) {
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
        const rest = all.subarray(this.partSize);
        // Buffer.from copies, so the part does not pin a caller's larger chunk.
        await this.persist(Buffer.from(all.subarray(0, this.partSize)), em);
        this.pending = rest.length ? [rest] : [];
        this.pendingBytes = rest.length;
      }
    } catch (err) {
      this.state = 'closed';
      throw err;
    } finally {
      this.leave();
    }
  }

  async finish(em?: EntityManager): Promise<BulkObjectSize> {
    this.enter();
    try {
      if (this.pendingBytes > 0) await this.persist(Buffer.concat(this.pending, this.pendingBytes), em);
      this.pending = [];
      this.pendingBytes = 0;
      const db = em ?? this.dataSource;
      await db.query(DELETE_TAIL_SQL, [this.ref.orgcode, this.ref.jobId, this.ref.kind, this.partNo]);
      const row = await objectSize(db, this.ref);
      this.state = 'closed';
      return { parts: row.parts, bytes: Number(row.bytes) };
    } catch (err) {
      this.state = 'closed';
      throw err;
    } finally {
      this.leave();
    }
  }

  abort(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    this.state = 'closed';
    return Promise.resolve();
  }

  private async persist(data: Buffer, em: EntityManager | undefined): Promise<void> {
    const { orgcode, jobId, kind } = this.ref;
    const rows = await (em ?? this.dataSource).query<unknown[]>(UPSERT_PART_SQL, [
      orgcode,
      jobId,
      kind,
      this.partNo,
      data,
      data.length,
    ]);
    if (rows.length !== 1) throw new Error(`bulk part ${jobId}/${kind}/${this.partNo} belongs to another tenant`);
    this.partNo += 1;
  }

  private enter(): void {
    if (this.state === 'closed') throw new Error('bulk writer is finished or aborted');
    if (this.state === 'busy') throw new Error('bulk writer calls must be awaited one at a time');
    this.state = 'busy';
  }

  private leave(): void {
    if (this.state === 'busy') this.state = 'open';
  }
}
