export * from './catalog.api.module';
export * from './catalog.service';
export * from './dto/catalog.dto';
