import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { loadConfig } from '@ipm/core';
import { dataSourceOptions } from '@ipm/persistence';
import { BulkObjectRef, BulkPartEntity, PgBulkStorage, acceptsGzip, streamDownload } from '@ipm/bulk';
import { uniqueOrg } from '../support/api';

// The lead generates the migration; until then the test creates the table exactly as the entity
// declares it (the schema builder check below proves the two match).
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "bulk_parts" ("orgcode" character varying(64) NOT NULL, "job_id" character varying(40) NOT NULL, "kind" character varying(16) NOT NULL, "part_no" integer NOT NULL, "data" bytea NOT NULL, "bytes" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "pk_bulk_parts" PRIMARY KEY ("job_id", "kind", "part_no"))`;
const CREATE_INDEX = `CREATE INDEX IF NOT EXISTS "ix_bulk_parts_created" ON "bulk_parts" ("created_at")`;

const MiB = 1024 * 1024;
let seq = 0;
const jobId = () => `job_${Date.now().toString(36)}_${(seq++).toString(36)}`;

/** Deterministic bytes, cheap to regenerate: `length` bytes starting at `offset` of one endless stream. */
function bytesAt(offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 31 + ((offset + i) >>> 11)) & 0xff;
  return out;
}

async function readAll(storage: PgBulkStorage, ref: BulkObjectRef): Promise<{ data: Buffer; parts: number[] }> {
  const chunks: Buffer[] = [];
  for await (const part of storage.read(ref)) chunks.push(part);
  return { data: Buffer.concat(chunks), parts: chunks.map((c) => c.length) };
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('bulk storage (PostgreSQL)', () => {
  let ds: DataSource;
  let storage: PgBulkStorage;

  beforeAll(async () => {
    ds = new DataSource({ ...dataSourceOptions(loadConfig(process.env), [BulkPartEntity]), poolSize: 4 });
    await ds.initialize();
    await ds.query(CREATE_TABLE);
    await ds.query(CREATE_INDEX);
    storage = new PgBulkStorage(ds);
  });

  afterAll(async () => {
    await ds?.destroy();
  });

  it('has the table the entity declares (nothing for migration:generate to change)', async () => {
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('writes 5 MiB in odd-sized chunks and reads it back byte-identical, in parts of the configured size', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'upload' };
    const total = 5 * MiB + 12345;
    const writer = storage.createWriter(ref);
    const hash = createHash('sha256');
    let offset = 0;
    const sizes = [1, 7919, 65537, 3 * MiB + 3, 104729, 13];
    for (let i = 0; offset < total; i++) {
      const chunk = bytesAt(offset, Math.min(sizes[i % sizes.length], total - offset));
      hash.update(chunk);
      await writer.write(chunk);
      offset += chunk.length;
    }
    expect(await writer.finish()).toEqual({ parts: 6, bytes: total });

    const { data, parts } = await readAll(storage, ref);
    expect(parts).toEqual([MiB, MiB, MiB, MiB, MiB, 12345]);
    expect(createHash('sha256').update(data).digest('hex')).toBe(hash.digest('hex'));
    expect(await storage.size(ref)).toEqual({ parts: 6, bytes: total });
    expect(await storage.lastPart(ref)).toBe(5);

    const small = storage.createWriter({ ...ref, kind: 'report' }, { partSize: 1000 });
    await small.write(bytesAt(0, 2500));
    expect(await small.finish()).toEqual({ parts: 3, bytes: 2500 });
    expect((await readAll(storage, { ...ref, kind: 'report' })).parts).toEqual([1000, 1000, 500]);
  });

  it('resumes after a crash: completed parts plus the new writer bytes, nothing of the lost buffer', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'export' };
    const partSize = 64 * 1024;
    const crashed = storage.createWriter(ref, { partSize });
    await crashed.write(bytesAt(0, partSize * 2 + partSize / 2)); // two parts persisted, half a part buffered
    expect(crashed.nextPartNo).toBe(2);
    // The process dies: the writer is simply abandoned, never finished.

    const last = await storage.lastPart(ref);
    expect(last).toBe(1);
    const resumed = storage.createWriter(ref, { partSize, startAt: (last ?? -1) + 1 });
    const tail = randomBytes(partSize + 99);
    await resumed.write(tail);
    expect(await resumed.finish()).toEqual({ parts: 4, bytes: partSize * 3 + 99 });

    const { data } = await readAll(storage, ref);
    expect(data.equals(Buffer.concat([bytesAt(0, partSize * 2), tail]))).toBe(true);
  });

  it('rewrites a part idempotently and drops parts past the end of a shorter retry', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'export' };
    const first = storage.createWriter(ref, { partSize: 10 });
    await first.write(Buffer.alloc(35, 'a'));
    expect(await first.finish()).toEqual({ parts: 4, bytes: 35 });

    const retry = storage.createWriter(ref, { partSize: 10, startAt: 1 });
    await retry.write(Buffer.alloc(12, 'b'));
    expect(await retry.finish()).toEqual({ parts: 3, bytes: 22 });
    expect((await readAll(storage, ref)).data.toString()).toBe('a'.repeat(10) + 'b'.repeat(12));
  });

  it('commits a part with the caller transaction, or not at all when it rolls back', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'upload' };
    const writer = storage.createWriter(ref, { partSize: 4 });
    await expect(
      ds.transaction(async (em) => {
        await writer.write(Buffer.from('abcdefgh'), em);
        expect(await storage.lastPart(ref, em)).toBe(1);
        throw new Error('checkpoint failed');
      }),
    ).rejects.toThrow('checkpoint failed');
    expect(await storage.size(ref)).toEqual({ parts: 0, bytes: 0 });

    const again = storage.createWriter(ref, { partSize: 4 });
    await ds.transaction(async (em) => {
      await again.write(Buffer.from('abcdefgh'), em);
      await again.finish(em);
    });
    expect((await readAll(storage, ref)).data.toString()).toBe('abcdefgh');
  });

  it('is tenant-safe: another orgcode reads nothing, cannot delete and cannot overwrite', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('owner'), jobId: jobId(), kind: 'upload' };
    const writer = storage.createWriter(ref, { partSize: 8 });
    await writer.write(Buffer.from('secret lines\n'));
    await writer.finish();

    const other: BulkObjectRef = { ...ref, orgcode: uniqueOrg('other') };
    expect((await readAll(storage, other)).parts).toEqual([]);
    expect(await storage.size(other)).toEqual({ parts: 0, bytes: 0 });
    expect(await storage.lastPart(other)).toBeNull();
    expect(await storage.delete({ orgcode: other.orgcode, jobId: ref.jobId })).toBe(0);
    expect(await storage.delete(other)).toBe(0);
    await expect(storage.createWriter(other, { partSize: 8 }).write(Buffer.alloc(8, 'x'))).rejects.toThrow(
      /another tenant/,
    );
    expect(gunzipSync(await drain(streamDownload(storage, other, 'gzip').stream)).length).toBe(0);

    expect((await readAll(storage, ref)).data.toString()).toBe('secret lines\n');
  });

  it('deletes one kind of a job, or all of them', async () => {
    const orgcode = uniqueOrg('bulk');
    const id = jobId();
    for (const kind of ['upload', 'report', 'export'] as const) {
      const w = storage.createWriter({ orgcode, jobId: id, kind }, { partSize: 5 });
      await w.write(Buffer.from('0123456789'));
      await w.finish();
    }
    expect(await storage.delete({ orgcode, jobId: id, kind: 'upload' })).toBe(2);
    expect(await storage.size({ orgcode, jobId: id, kind: 'upload' })).toEqual({ parts: 0, bytes: 0 });
    expect(await storage.size({ orgcode, jobId: id, kind: 'report' })).toEqual({ parts: 2, bytes: 10 });
    expect(await storage.delete({ orgcode, jobId: id })).toBe(4);
    expect(await storage.size({ orgcode, jobId: id, kind: 'export' })).toEqual({ parts: 0, bytes: 0 });
  });

  it('deleteOlderThan removes expired parts in batches and keeps recent ones', async () => {
    const orgcode = uniqueOrg('bulk');
    const old: BulkObjectRef = { orgcode, jobId: jobId(), kind: 'export' };
    const fresh: BulkObjectRef = { orgcode, jobId: jobId(), kind: 'export' };
    for (const ref of [old, fresh]) {
      const w = storage.createWriter(ref, { partSize: 2 });
      await w.write(Buffer.from('abcdefg'));
      await w.finish();
    }
    await ds.query(`UPDATE bulk_parts SET created_at = now() - interval '8 days' WHERE job_id = $1`, [old.jobId]);

    const batched = new PgBulkStorage(ds, { deleteBatch: 3 });
    const cutoff = new Date(Date.now() - 7 * 24 * 3600 * 1000);
    expect(await batched.deleteOlderThan(cutoff)).toBeGreaterThanOrEqual(4);
    expect(await storage.size(old)).toEqual({ parts: 0, bytes: 0 });
    expect(await storage.size(fresh)).toEqual({ parts: 4, bytes: 7 });
  });

  it('downloads gzip when the client accepts it, identity otherwise', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'export' };
    const lines = Buffer.from(
      Array.from({ length: 20000 }, (_, i) => JSON.stringify({ line: i, event: 'order.created' })).join('\n'),
    );
    const w = storage.createWriter(ref, { partSize: 64 * 1024 });
    await w.write(lines);
    await w.finish();

    const gz = streamDownload(storage, ref, 'br;q=1, gzip;q=0.8, deflate');
    expect(gz.encoding).toBe('gzip');
    const compressed = await drain(gz.stream);
    expect(compressed.length).toBeLessThan(lines.length / 4);
    expect(gunzipSync(compressed).equals(lines)).toBe(true);

    for (const header of [undefined, '', 'identity', 'br, deflate', 'gzip;q=0', 'gzip;q=0, *']) {
      const plain = streamDownload(storage, ref, header);
      expect(plain.encoding).toBe('identity');
      expect((await drain(plain.stream)).equals(lines)).toBe(true);
    }
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip('x-gzip')).toBe(true);
  });

  it('reads a 50 MiB object one part at a time, lazily', async () => {
    const ref: BulkObjectRef = { orgcode: uniqueOrg('bulk'), jobId: jobId(), kind: 'export' };
    const writer = storage.createWriter(ref);
    const hash = createHash('sha256');
    const chunk = 256 * 1024;
    for (let offset = 0; offset < 50 * MiB; offset += chunk) {
      const bytes = bytesAt(offset, chunk);
      hash.update(bytes);
      await writer.write(bytes);
    }
    expect(await writer.finish()).toEqual({ parts: 50, bytes: 50 * MiB });

    const readHash = createHash('sha256');
    let parts = 0;
    let largest = 0;
    for await (const part of storage.read(ref)) {
      parts += 1;
      largest = Math.max(largest, part.length);
      readHash.update(part);
    }
    expect(parts).toBe(50);
    expect(largest).toBe(MiB);
    expect(readHash.digest('hex')).toBe(hash.digest('hex'));

    // Lazy: after the first part, deleting the object ends the stream, so nothing was fetched ahead.
    const reader = storage.read(ref);
    const first = await reader.next();
    expect(first.done).toBe(false);
    await storage.delete(ref);
    expect((await reader.next()).done).toBe(true);
  }, 120_000);
});
