import { Module } from '@nestjs/common';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysModule } from './apikeys.module';

/** The /apikey routes. */
@Module({
  imports: [ApiKeysModule],
  controllers: [ApiKeysController],
})
export class ApiKeysApiModule {}
