export * from './machines';
export * from './lifecycle';
export * from './lifecycle.module';
export * from './lifecycle.dto';
