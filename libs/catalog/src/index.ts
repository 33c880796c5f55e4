export * from './catalog.types';
export * from './schema-compiler';
export * from './event-type.entity';
export * from './event-types.repository';
export * from './catalog.registry';
export * from './catalog.module';
