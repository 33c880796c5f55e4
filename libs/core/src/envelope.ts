import { ErrorDetail } from './errors';

export const SERVICE_NAME = 'ipm';
export const API_BASE = '/ipm';

export interface EnvelopeMeta {
  build: { build_id: string };
  stats: { call: string; service: typeof SERVICE_NAME; timestamp_utc: string };
}
export interface SuccessEnvelope<T> extends EnvelopeMeta {
  success: true;
  data: T;
}
export interface ErrorBody {
  code: string;
  message: string;
  details?: ErrorDetail[];
  error_id?: string;
}
export interface ErrorEnvelope extends EnvelopeMeta {
  success: false;
  error: ErrorBody;
}
export type Envelope<T> = SuccessEnvelope<T> | ErrorEnvelope;

/** `POST /ipm/webhook/create?x=1` -> `POST /webhook/create` (the seed's `stats.call`). */
export function callName(method: string, url: string): string {
  let path = url.split('?', 1)[0] || '/';
  if (path === API_BASE) path = '/';
  else if (path.startsWith(`${API_BASE}/`)) path = path.slice(API_BASE.length);
  return `${method.toUpperCase()} ${path}`;
}

export function envelopeMeta(buildId: string, method: string, url: string, now: Date = new Date()): EnvelopeMeta {
  return {
    build: { build_id: buildId },
    stats: { call: callName(method, url), service: SERVICE_NAME, timestamp_utc: now.toISOString() },
  };
}

export function successEnvelope<T>(data: T, meta: EnvelopeMeta): SuccessEnvelope<T> {
  return { success: true, data, ...meta };
}

export function errorEnvelope(error: ErrorBody, meta: EnvelopeMeta): ErrorEnvelope {
  return { success: false, error, ...meta };
}
