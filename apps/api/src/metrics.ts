import { Controller, Get, Header, Injectable } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { RawResponse } from '@ipm/core';
import { Public } from '@ipm/auth';

/**
 * Prometheus metrics of the api process: its defaults plus requests and their latency by method, route
 * pattern and status. No tenant, id or raw URL in any label: the series stay bounded.
 */
/** Any other method a client sends is counted as `OTHER`, so that it cannot mint label values. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

@Injectable()
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route' | 'status'>;

  constructor() {
    // `app` tells the api's process metrics (event-loop lag p99 and max included) from the worker's.
    collectDefaultMetrics({ register: this.registry, labels: { app: 'api' } });
    this.requests = new Counter({
      name: 'ipm_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'ipm_http_request_duration_seconds',
      help: 'Time to answer, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
  }

  /** `route` is the pattern (`/ipm/event/schema/:event_type`), never the raw URL, to bound label values. */
  observe(method: string, route: string | undefined, status: number, elapsedMs: number): void {
    const labels = {
      method: KNOWN_METHODS.has(method) ? method : 'OTHER',
      route: route ?? 'unmatched',
      status: String(status),
    };
    this.requests.inc(labels);
    this.duration.observe(labels, elapsedMs / 1000);
  }
}

@ApiTags('health')
@Controller('metrics')
@Public()
export class MetricsController {
  constructor(private readonly metrics: ApiMetrics) {}

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics of this api process (no auth; keep it off the public network)' })
  @ApiOkResponse({
    description: 'Prometheus text exposition',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @RawResponse()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
