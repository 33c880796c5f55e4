import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, AppConfig } from '@ipm/core';
import { Public } from '@ipm/auth';

export class StatDto {
  @ApiProperty({ example: 'ipm' }) service!: string;
  @ApiProperty({ example: 'active', enum: ['active'] }) status!: 'active';
  @ApiProperty({ example: 'dev-local' }) build_id!: string;
  @ApiProperty({ example: 12.5, description: 'Seconds since this process started' }) uptime_s!: number;
}

@ApiTags('health')
@Controller()
export class StatController {
  constructor(private readonly config: AppConfig) {}

  @Get('stat')
  @Public()
  @ApiOperation({ summary: 'Liveness of the api, in the envelope (no auth)' })
  @ApiEnvelope(StatDto, { errors: [] })
  stat(): StatDto {
    return {
      service: 'ipm',
      status: 'active',
      build_id: this.config.BUILD_ID,
      uptime_s: Math.round(process.uptime() * 10) / 10,
    };
  }
}
