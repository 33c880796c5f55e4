export * from './bulk-storage';
export * from './bulk-parts.entity';
export * from './pg-bulk-storage';
export * from './stream-download';
