import { DynamicModule, Injectable, Module, OnModuleDestroy } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { AppConfigModule } from '../config/config.module';
import { AppConfig } from '../config/config.schema';
import { AppName, logDestination, pinoHttpOptions } from './pino-options';

/** The logger that {@link withLogFields} opens contexts with, once an app's logging module is up. */
let contexts: PinoLogger | undefined;

/**
 * Runs `fn` with `fields` bound to every log record made inside it, across its awaits, on top of the
 * surrounding context's (a job inside a request keeps the request id). The worker binds a job's queue,
 * id and delivery ids this way. Without the logging module (unit tests) it simply runs `fn`.
 */
export function withLogFields<T>(fields: Record<string, unknown>, fn: () => T): T {
  return contexts ? contexts.runInContext(fn, { bindings: fields, inherit: true }) : fn();
}

@Injectable()
class LogContexts implements OnModuleDestroy {
  constructor(logger: PinoLogger) {
    contexts = logger;
  }

  onModuleDestroy(): void {
    contexts = undefined;
  }
}

/**
 * Structured logs for one app (pino via nestjs-pino): JSON lines on stdout, redacted, with a request
 * line per HTTP request on the api. The app then calls `app.useLogger(app.get(Logger))` (nestjs-pino's
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
            // Nest's `new Logger(Ctx)`: the context as `context`, plain objects after the message merged in.
            renameContext: 'context',
          }),
        }),
      ],
      providers: [LogContexts],
    };
  }
}
