import { ConsoleLogger, LogLevel } from '@nestjs/common';
import type { AppConfig } from './config/config.schema';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** The levels at or above LOG_LEVEL. */
export function logLevels(level: AppConfig['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

/** The process logger for both apps, from LOG_LEVEL and LOG_FORMAT. */
export function createAppLogger(config: Pick<AppConfig, 'LOG_LEVEL' | 'LOG_FORMAT'>, context?: string): ConsoleLogger {
  return new ConsoleLogger(context ?? 'ipm', {
    logLevels: logLevels(config.LOG_LEVEL),
    json: config.LOG_FORMAT === 'json',
    colors: config.LOG_FORMAT === 'text' && process.stdout.isTTY,
  });
}
