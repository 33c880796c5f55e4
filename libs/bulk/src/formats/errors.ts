/**
 * The file as a whole is not usable in the declared format (empty, no usable CSV header, binary...).
 * A job that meets it fails with `reason` instead of reporting every line.
 */
export class BulkFormatError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BulkFormatError';
  }
}
