/**
 * Turns many concurrent single-item calls into few batched ones: items submitted while a flush is
 * running (or in the same turn of the event loop) are flushed together, up to `maxBatch` per call,
 * at most `maxConcurrent` flushes at a time. Each caller gets its own item's result, or the
 * flush's error. Under load batches grow by themselves; when idle, an item waits one event-loop
 * turn, no timer.
 */
export class MicroBatcher<I, O> {
  private queue: Array<{ item: I; resolve: (value: O) => void; reject: (err: unknown) => void }> = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly options: { maxBatch: number; maxConcurrent: number },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a flush. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.options.maxConcurrent || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    while (this.running < this.options.maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.running += 1;
      void this.flush(batch.map((b) => b.item))
        .then(
          (results) => {
            if (results.length !== batch.length) {
              throw new Error(`batch flush returned ${results.length} results for ${batch.length} items`);
            }
            batch.forEach((b, i) => b.resolve(results[i]));
          },
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        )
        .catch((err: unknown) => batch.forEach((b) => b.reject(err)))
        .finally(() => {
          this.running -= 1;
          this.schedule();
        });
    }
  }
}
