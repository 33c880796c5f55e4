import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { AuditService } from './audit.service';
import { AuditListRequestDto, AuditRecordDto } from './dto/audit.dto';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Post('list')
  @Authenticated({ permission: Permission.ViewAudit })
  @ApiOperation({ summary: 'List audit records, newest first (filters: action, target_id, from/to)' })
  @ApiEnvelope(AuditRecordDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: AuditListRequestDto): Promise<Page<AuditRecordDto>> {
    return this.audit.list(caller, body);
  }
}
