import { Global, Module } from '@nestjs/common';
import { SecretBox } from '../crypto/secret-box';
import { PageTokens } from '../page-tokens';
import { AppConfig, loadConfig } from './config.schema';

/**
 * Provides the validated AppConfig (and the page-token codec keyed from it). Reads process.env exactly once, at module creation;
 * a bad value stops boot with a ConfigError naming the variable.
 */
@Global()
@Module({
  providers: [{ provide: AppConfig, useFactory: (): AppConfig => loadConfig(process.env) }, PageTokens, SecretBox],
  exports: [AppConfig, PageTokens, SecretBox],
})
export class AppConfigModule {}
