export * from './queue-names';
export * from './redis';
export * from './queues.module';
