import { Module } from '@nestjs/common';
import { AppConfigModule } from '@ipm/core';
import { ApiKeysModule } from '@ipm/apikeys';
import { AuthModule } from '@ipm/auth';
import { PersistenceModule } from '@ipm/persistence';

/** What the CLI's database commands need: config, PostgreSQL, API keys (and their audit). */
@Module({ imports: [AppConfigModule, PersistenceModule, AuthModule, ApiKeysModule] })
export class CliModule {}
