import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfigModule } from '../config/config.module';
import { AppConfig } from '../config/config.schema';
import { AppName, logDestination, pinoHttpOptions } from './pino-options';

/**
 * Structured logs for one app (pino via nestjs-pino): JSON lines on stdout, redacted, each record carrying
 * the fields of the work under way (withLogFields: a request's id, a job's queue and ids). The app then calls `app.useLogger(app.get(Logger))` (nestjs-pino's
 * Logger) so that Nest's own and every `new Logger(...)` record go through pino as well.
 */
@Module({})
export class AppLoggingModule {
  static forApp(app: AppName): DynamicModule {
    return {
      module: AppLoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          imports: [AppConfigModule],
          inject: [AppConfig],
          useFactory: (config: AppConfig) => ({
            pinoHttp: [pinoHttpOptions(config, app), logDestination(config)],
            // Nest's `new Logger(Ctx)`: the context as `context`.
            renameContext: 'context',
            // No request middleware: the api binds each request's id in a Fastify hook (withLogFields),
            // which costs a fraction of Nest's middleware layer and covers unknown routes too.
            forRoutes: [],
          }),
        }),
      ],
    };
  }
}
