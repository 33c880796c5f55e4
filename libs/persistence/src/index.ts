export * from './data-source-options';
export * from './migrate';
export * from './persistence.module';
export * from './pg-errors';
export * from './keyset';
export * from './revisioned-record';
export * from './sql-text';
export * from './tenant-repository';
