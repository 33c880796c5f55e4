import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Json } from './openapi-routes';

/** One answer of the api as the generated tests see it. */
export interface Answer {
  status: number;
  body: unknown;
  raw: string;
  headers: Record<string, unknown>;
}

export interface Call {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** A JSON value (serialized), or the raw bytes/text of the body. */
  json?: Json;
  raw?: string | Buffer;
}

/**
 * Calls the api through Fastify's `inject`: the same router, content-type parsers, hooks, Nest
 * guards, pipes, interceptors and filters as a socket request, without the TCP round trip.
 */
export async function inject(app: NestFastifyApplication, call: Call): Promise<Answer> {
  const headers: Record<string, string> = { ...call.headers };
  let payload: string | Buffer | undefined;
  if (call.json !== undefined) {
    payload = JSON.stringify(call.json);
    headers['content-type'] ??= 'application/json';
  } else if (call.raw !== undefined) {
    payload = call.raw;
    headers['content-type'] ??= 'application/json';
  }
  const res = await app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: call.method as 'POST', url: call.url, headers, payload });
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, body, raw: res.body, headers: res.headers };
}

interface ErrorEnvelope {
  success: false;
  error: { code: string; message: string; details?: Array<{ field?: unknown; message?: unknown }> };
  build: { build_id: string };
  stats: { call: string; service: string; timestamp_utc: string };
}

/**
 * What is wrong with an answer by the contract every route shares (empty when nothing is): never
 * a 5xx; always the envelope; errors with a code and a message; a 400 with details, each with a
 * reason. Returns problems instead of throwing, so that one test reports every bad answer at once.
 */
export function envelopeProblems(res: Answer, buildId: string): string[] {
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`status ${res.status}`);
  const b = res.body as Partial<ErrorEnvelope> | undefined;
  if (!b || typeof b !== 'object') return [...problems, `not JSON: ${res.raw.slice(0, 120)}`];
  if (b.build?.build_id !== buildId) problems.push('no build.build_id');
  if (!b.stats || typeof b.stats.call !== 'string' || b.stats.service !== 'ipm') problems.push('no stats');
  if (res.status >= 400) {
    if (b.success !== false) problems.push('success is not false');
    if (typeof b.error?.code !== 'string' || typeof b.error?.message !== 'string') {
      problems.push('error without code or message');
    }
    if (res.status === 400) {
      const details = b.error?.details;
      if (!Array.isArray(details) || details.length === 0) problems.push('400 without details');
      else if (details.some((d) => typeof d.message !== 'string' || !d.message)) problems.push('detail without reason');
    }
  } else if ((b as { success?: unknown }).success !== true) {
    problems.push(`${res.status} but success is not true`);
  }
  return problems;
}

/** The fields a 400's details name. */
export function detailFields(res: Answer): string[] {
  const details = (res.body as Partial<ErrorEnvelope> | undefined)?.error?.details ?? [];
  return details.map((d) => (typeof d.field === 'string' ? d.field : '')).filter(Boolean);
}

/** Whether a 400 names `path` (or a field inside it, or, for a value inside an array, the array). */
export function namesField(res: Answer, path: string[]): boolean {
  const want = path.join('.');
  return detailFields(res).some((f) => f === want || f.startsWith(`${want}.`));
}
