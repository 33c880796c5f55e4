import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, Idempotent, Page } from '@ipm/core';
import { Authenticated, CurrentCaller, Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import {
  ApiKeyCreatedDto,
  ApiKeyCreateRequestDto,
  ApiKeyDto,
  ApiKeyListRequestDto,
  ApiKeyRevokeRequestDto,
} from './api-key.dto';
import { ApiKeysService } from './api-keys.service';

@ApiTags('api keys')
@Controller('apikey')
@Authenticated({ permission: Permission.ManageApiKeys })
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post('create')
  @Idempotent()
  @ApiOperation({ summary: 'Create an API key; the key is in this response only' })
  @ApiEnvelope(ApiKeyCreatedDto, { errors: [400, 413, 422] })
  create(@CurrentCaller() caller: Caller, @Body() body: ApiKeyCreateRequestDto): Promise<ApiKeyCreatedDto> {
    return this.keys.create(caller, body);
  }

  @Post('list')
  @ApiOperation({ summary: 'List API keys (never the keys themselves), newest first' })
  @ApiEnvelope(ApiKeyDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: ApiKeyListRequestDto): Promise<Page<ApiKeyDto>> {
    return this.keys.list(caller, body);
  }

  @Post('revoke')
  @ApiOperation({ summary: 'Revoke an API key: it is refused (401) from now on' })
  @ApiEnvelope(ApiKeyDto)
  revoke(@CurrentCaller() caller: Caller, @Body() body: ApiKeyRevokeRequestDto): Promise<ApiKeyDto> {
    return this.keys.revoke(caller, body);
  }
}
