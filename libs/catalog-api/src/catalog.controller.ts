import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiEnvelope, AppError, Page } from '@ipm/core';
import { Authenticated, CurrentCaller } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import { splitEventType } from '@ipm/catalog';
import { CatalogService } from './catalog.service';
import {
  CatalogEntryDto,
  CatalogListRequestDto,
  CatalogUpsertRequestDto,
  EmptyRequestDto,
  EventTypeListDto,
  EventTypeListRequestDto,
  ExportContractListDto,
  ExportContractListRequestDto,
  PaginationConventionsDto,
  SchemaDto,
  SpecimenDto,
  SpecimenGetRequestDto,
} from './dto/catalog.dto';

// @Authenticated per route, not on the class: upsert needs a permission, and a class decorator plus a
// method one would document the x-orgcode header and the security twice.
@ApiTags('catalog')
@Controller('event')
export class EventCatalogController {
  constructor(private readonly catalog: CatalogService) {}

  @Post('catalog/list')
  @Authenticated()
  @ApiOperation({ summary: 'Event types (platform and your own), with their schema URLs' })
  @ApiEnvelope(CatalogEntryDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: CatalogListRequestDto): Promise<Page<CatalogEntryDto>> {
    return this.catalog.list(caller, body);
  }

  @Post('catalog/upsert')
  @Authenticated({ permission: Permission.ManageCatalog })
  @ApiOperation({
    summary: 'Add or change one of your event types (schema must be valid; the specimen must validate)',
  })
  @ApiEnvelope(CatalogEntryDto, { errors: [400, 409, 413, 422, 428] })
  upsert(@CurrentCaller() caller: Caller, @Body() body: CatalogUpsertRequestDto): Promise<CatalogEntryDto> {
    return this.catalog.upsert(caller, body);
  }

  @Post('type/list')
  @Authenticated()
  @ApiOperation({ summary: 'The event type strings a webhook can subscribe to' })
  @ApiEnvelope(EventTypeListDto)
  types(@CurrentCaller() caller: Caller, @Body() body: EventTypeListRequestDto): Promise<EventTypeListDto> {
    return this.catalog.types(caller, body);
  }

  @Get('schema/:event_type')
  @Authenticated()
  @ApiOperation({ summary: 'The JSON Schema of an event type (the target of schema_url)' })
  @ApiParam({ name: 'event_type', example: 'rfp.created' })
  @ApiEnvelope(SchemaDto, { errors: [400] })
  schema(@CurrentCaller() caller: Caller, @Param('event_type') eventType: string): Promise<SchemaDto> {
    if (eventType.length > 200 || !splitEventType(eventType)) {
      throw AppError.badRequest('event_type must look like rfp.created', 'event_type');
    }
    return this.catalog.schema(caller, eventType);
  }
}

@ApiTags('catalog')
@Controller()
@Authenticated()
export class CatalogController {
  constructor(private readonly catalog: CatalogService) {}

  @Post('specimen/get')
  @ApiOperation({ summary: 'An example payload of an event type (404 if unknown)' })
  @ApiEnvelope(SpecimenDto)
  specimen(@CurrentCaller() caller: Caller, @Body() body: SpecimenGetRequestDto): Promise<SpecimenDto> {
    return this.catalog.specimen(caller, body.name);
  }

  @Post('export/contract/list')
  @ApiOperation({ summary: 'One export contract per service: the ndjson event stream, its partitioning and actions' })
  @ApiEnvelope(ExportContractListDto)
  contracts(
    @CurrentCaller() caller: Caller,
    @Body() body: ExportContractListRequestDto,
  ): Promise<ExportContractListDto> {
    return this.catalog.contracts(caller, body);
  }

  @Post('pagination/get')
  @ApiOperation({ summary: 'Pagination conventions of every list' })
  @ApiEnvelope(PaginationConventionsDto)
  pagination(@Body() _body: EmptyRequestDto): PaginationConventionsDto {
    void _body;
    return this.catalog.pagination();
  }
}
