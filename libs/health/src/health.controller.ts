import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { HealthCheckResult } from '@nestjs/terminus';
import { ApiErrors } from '@ipm/core';
import { Public } from '@ipm/auth/authenticated.decorator';
import { HealthService } from './health.service';

@ApiTags('health')
@Controller('health')
@Public()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('live')
  @HttpCode(200)
  @ApiOperation({ summary: 'The process is up' })
  @ApiOkResponse({ description: 'Envelope whose data is the terminus result' })
  live(): Promise<HealthCheckResult> {
    return this.health.live();
  }

  @Get('ready')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'PostgreSQL answers (503 otherwise); Redis is reported, and does not make the api unready (it serves without it)',
  })
  @ApiOkResponse({ description: 'Envelope whose data is the terminus result, per dependency' })
  @ApiErrors(503)
  ready(): Promise<HealthCheckResult> {
    return this.health.apiReady();
  }
}
