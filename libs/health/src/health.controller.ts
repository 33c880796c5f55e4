import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
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
  live(): Promise<HealthCheckResult> {
    return this.health.live();
  }

  @Get('ready')
  @HttpCode(200)
  @ApiOperation({ summary: 'PostgreSQL and Redis answer (503 otherwise)' })
  @ApiErrors(503)
  ready(): Promise<HealthCheckResult> {
    return this.health.ready();
  }
}
