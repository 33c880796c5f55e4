import { Readable, pipeline } from 'node:stream';
import { constants, createGzip } from 'node:zlib';
import type { BulkObjectRef, BulkStorage } from './bulk-storage';

export interface BulkDownload {
  stream: Readable;
  /** The `Content-Encoding` to send (with `Vary: Accept-Encoding`). */
  encoding: 'gzip' | 'identity';
}

/** Whether an `Accept-Encoding` header accepts gzip (`gzip`, `x-gzip` or `*`, with a q above 0). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  let gzip: number | undefined;
  let star: number | undefined;
  for (const entry of acceptEncoding.split(',')) {
    const [name, ...params] = entry.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const weight = Number.isFinite(q) ? q : 0;
    if (name.trim() === 'gzip' || name.trim() === 'x-gzip') gzip = Math.max(gzip ?? 0, weight);
    else if (name.trim() === '*') star = weight;
  }
  return (gzip ?? star ?? 0) > 0;
}

/**
 * A stored object as a stream a Fastify route can `reply.send()`, gzipped when the client accepts
 * it. Parts are read one at a time as the client drains the stream. Gzip runs at its fastest
 * level: exports are large and mostly repetitive JSON/CSV, where level 1 already compresses well.
 */
export function streamDownload(
  storage: BulkStorage,
  ref: BulkObjectRef,
  acceptEncoding: string | undefined,
): BulkDownload {
  const source = Readable.from(storage.read(ref), { objectMode: false });
  if (!acceptsGzip(acceptEncoding)) return { stream: source, encoding: 'identity' };
  const gzip = createGzip({ level: constants.Z_BEST_SPEED });
  // pipeline destroys the source when the client goes away and forwards read errors to `gzip`.
  pipeline(source, gzip, () => undefined);
  return { stream: gzip, encoding: 'gzip' };
}
