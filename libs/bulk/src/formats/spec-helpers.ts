// Shared by the specs of this folder only.
import type { Chunk } from './lines';

/** Feeds `data` in chunks of `size` bytes (the whole buffer when size is Infinity). */
export async function* chunked(data: Buffer | string, size: number): AsyncGenerator<Chunk> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (!Number.isFinite(size)) {
    yield buf;
    return;
  }
  for (let i = 0; i < buf.length; i += size) {
    yield buf.subarray(i, i + size);
    await Promise.resolve();
  }
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Chunk sizes every parser must give the same answer for. */
export const CHUNK_SIZES = [1, 2, 3, 7, 64, Infinity];

/** Yields exactly the given chunks, as a network stream would. */
export async function* fromChunks(...chunks: Chunk[]): AsyncGenerator<Chunk> {
  for (const chunk of chunks) {
    await Promise.resolve();
    yield chunk;
  }
}
