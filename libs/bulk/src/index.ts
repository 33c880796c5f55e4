export * from './formats';
export * from './storage';
export * from './bulk-storage.module';
