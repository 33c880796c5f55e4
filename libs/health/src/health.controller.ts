import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { HealthCheckResult } from '@nestjs/terminus';
import { ApiEnvelope, ApiErrors, HealthCheckResultDto } from '@ipm/core';
import { Public } from '@ipm/auth';
import { HealthService } from './health.service';

@ApiTags('health')
@Controller('health')
@Public()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up' })
  @ApiEnvelope(HealthCheckResultDto, { description: 'Envelope whose data is the terminus result', errors: [] })
  live(): Promise<HealthCheckResult> {
    return this.health.live();
  }

  @Get('ready')
  @ApiOperation({
    summary:
      'PostgreSQL answers (503 otherwise); Redis is reported, and does not make the api unready (it serves without it)',
  })
  @ApiEnvelope(HealthCheckResultDto, {
    description: 'Envelope whose data is the terminus result, per dependency',
    errors: [],
  })
  @ApiErrors(503)
  ready(): Promise<HealthCheckResult> {
    return this.health.apiReady();
  }
}
