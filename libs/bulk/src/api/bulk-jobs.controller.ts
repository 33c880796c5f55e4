import { Body, Controller, Get, Param, Post, Put, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiEnvelope, ApiErrors, Idempotent, Page, RawResponse } from '@ipm/core';
import { Authenticated, CurrentCaller, Public } from '@ipm/auth';
import { Permission } from '@ipm/auth';
import type { Caller } from '@ipm/auth';
import {
  BulkExportCreateRequestDto,
  BulkImportCommitRequestDto,
  BulkImportCreatedDto,
  BulkImportCreateRequestDto,
  BulkJobCancelRequestDto,
  BulkJobContinueRequestDto,
  BulkJobDetailDto,
  BulkJobDto,
  BulkJobGetRequestDto,
  BulkJobListRequestDto,
  BulkJobResultDto,
} from './bulk.dto';
import { BulkJobsService } from './bulk-jobs.service';
import { BulkTransfersService } from './bulk-transfers.service';
import { UPLOAD_CONTENT_TYPES } from './upload-content-types';

@ApiTags('bulk')
@Controller('bulk')
@Authenticated({ permission: Permission.ManageBulkJobs })
export class BulkJobsController {
  constructor(private readonly bulk: BulkJobsService) {}

  @Post('import/create')
  @Idempotent()
  @ApiOperation({ summary: 'Create an import job (awaiting_upload) and its signed, single-use upload_url' })
  @ApiEnvelope(BulkImportCreatedDto)
  createImport(
    @CurrentCaller() caller: Caller,
    @Body() body: BulkImportCreateRequestDto,
  ): Promise<BulkImportCreatedDto> {
    return this.bulk.createImport(caller, body);
  }

  @Post('import/commit')
  @ApiOperation({ summary: 'Queue an uploaded import for processing (expected_revision required)' })
  @ApiEnvelope(BulkJobResultDto, { errors: [400, 409, 413, 422, 428] })
  commit(@CurrentCaller() caller: Caller, @Body() body: BulkImportCommitRequestDto): Promise<BulkJobResultDto> {
    return this.bulk.commit(caller, body);
  }

  @Post('import/continue')
  @ApiOperation({ summary: 'Resume a failed or cancelled import from the line after the last committed one' })
  @ApiEnvelope(BulkJobResultDto, { errors: [400, 409, 413, 422] })
  continueImport(@CurrentCaller() caller: Caller, @Body() body: BulkJobContinueRequestDto): Promise<BulkJobResultDto> {
    return this.bulk.continue(caller, body, 'import');
  }

  @Post('export/create')
  @Idempotent()
  @ApiOperation({ summary: 'Create an export job (queued); download_url appears on /bulk/job/get when it completes' })
  @ApiEnvelope(BulkJobResultDto)
  createExport(@CurrentCaller() caller: Caller, @Body() body: BulkExportCreateRequestDto): Promise<BulkJobResultDto> {
    return this.bulk.createExport(caller, body);
  }

  @Post('export/continue')
  @ApiOperation({ summary: 'Resume a failed or cancelled export from its stored cursor' })
  @ApiEnvelope(BulkJobResultDto, { errors: [400, 409, 413] })
  continueExport(@CurrentCaller() caller: Caller, @Body() body: BulkJobContinueRequestDto): Promise<BulkJobResultDto> {
    return this.bulk.continue(caller, body, 'export');
  }

  @Post('job/get')
  @ApiOperation({ summary: 'A job with its counters, and its download_url / report_url when they exist' })
  @ApiEnvelope(BulkJobDetailDto)
  get(@CurrentCaller() caller: Caller, @Body() body: BulkJobGetRequestDto): Promise<BulkJobDetailDto> {
    return this.bulk.get(caller, body);
  }

  @Post('job/list')
  @ApiOperation({ summary: 'List bulk jobs, newest first (filters: status, job_type)' })
  @ApiEnvelope(BulkJobDto, { list: true })
  list(@CurrentCaller() caller: Caller, @Body() body: BulkJobListRequestDto): Promise<Page<BulkJobDto>> {
    return this.bulk.list(caller, body);
  }

  @Post('job/cancel')
  @ApiOperation({ summary: 'Cancel a job (409 from a terminal or finished state); an import can continue later' })
  @ApiEnvelope(BulkJobResultDto, { errors: [400, 409, 413] })
  cancel(@CurrentCaller() caller: Caller, @Body() body: BulkJobCancelRequestDto): Promise<BulkJobResultDto> {
    return this.bulk.cancel(caller, body);
  }
}

/** What a job file is sent as: an export in its format, a line report as NDJSON (both UTF-8). */
const FILE_CONTENT_TYPES = ['application/x-ndjson', 'text/csv'];

/** The signed-URL routes: the token in the path is the credential (no JWT, no API key, no x-orgcode). */
@ApiTags('bulk')
@Controller('bulk')
@Public()
export class BulkFilesController {
  constructor(private readonly bulk: BulkTransfersService) {}

  @Put('upload/:token')
  @ApiOperation({
    summary: 'Upload an import file to its signed upload_url (streamed; single use)',
    description:
      `Body: the raw file (${UPLOAD_CONTENT_TYPES.join(', ')}). Larger than BULK_UPLOAD_MAX_BYTES: 413 and nothing kept. ` +
      'A malformed, forged, expired or already used URL, or one of a job no longer awaiting its upload: 401 saying which. ' +
      'A failed upload leaves the URL usable until it expires.',
  })
  @ApiParam({ name: 'token', description: 'The signed token of upload_url' })
  @ApiConsumes(...UPLOAD_CONTENT_TYPES)
  @ApiBody({
    required: true,
    description: "The file, in the job's format (NDJSON: one JSON object a line; CSV: a header line, then rows)",
    schema: { type: 'string', format: 'binary' },
  })
  @ApiEnvelope(BulkJobResultDto, { errors: [401, 404, 409, 413, 415, 422] })
  async upload(@Param('token') token: string, @Req() req: FastifyRequest): Promise<BulkJobResultDto> {
    const length = req.headers['content-length'];
    try {
      return await this.bulk.upload(token, req.raw, length === undefined ? undefined : Number(length));
    } catch (err) {
      // Read and drop the rest of the body, so that the client can read the error before its socket closes.
      req.raw.resume();
      throw err;
    }
  }

  @Get('file/:token')
  @RawResponse()
  @ApiOperation({
    summary: 'Download a job file (export or line report) from its signed URL; gzip when Accept-Encoding allows',
    description:
      'A malformed, forged, expired or foreign URL: 401 saying which. A genuine URL whose file is not there ' +
      '(the job expired, the export is not finished, the report is empty): 404.',
  })
  @ApiParam({ name: 'token', description: 'The signed token of download_url or report_url' })
  @ApiResponse({
    status: 200,
    description: 'The file, streamed (Content-Encoding: gzip when accepted)',
    content: Object.fromEntries(
      FILE_CONTENT_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
    ),
    headers: {
      'content-disposition': {
        description: 'attachment; filename="<job>.<ndjson|csv>"',
        schema: { type: 'string' },
      },
      'cache-control': { description: 'private, no-store', schema: { type: 'string' } },
    },
  })
  @ApiErrors(401, 404)
  async file(@Param('token') token: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const file = await this.bulk.file(token, req.headers['accept-encoding']);
    void reply
      .header('content-type', file.contentType)
      .header('content-disposition', `attachment; filename="${file.filename}"`)
      .header('vary', 'Accept-Encoding')
      .header('cache-control', 'private, no-store');
    if (file.encoding === 'gzip') void reply.header('content-encoding', 'gzip');
    await reply.send(file.stream);
  }
}
