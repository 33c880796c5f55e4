export * from './api-key.dto';
export * from './api-keys.service';
export * from './apikeys.module';
export * from './apikeys.api.module';
