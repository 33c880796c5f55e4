import { ValidationPipe } from '@nestjs/common';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidateNested,
} from 'class-validator';
import { JsonDocument } from '../dto/json-document';
import { AppError, ErrorDetail } from '../errors';
import { createValidationPipe, protoKeyPaths, validationDetails } from './validation.pipe';

class RetryDto {
  @IsInt()
  @Min(0)
  @Max(10)
  attempts!: number;
}

class TargetDto {
  @IsUrl({ protocols: ['https'], require_protocol: true })
  url!: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => RetryDto)
  retry?: RetryDto;
}

class FilterDto {
  @IsString()
  @MinLength(1)
  service!: string;

  @IsIn(['created', 'updated'])
  event!: string;
}

class CreateHookDto {
  @IsString()
  @MinLength(3)
  name!: string;

  @IsObject()
  @ValidateNested()
  @Type(() => TargetDto)
  target!: TargetDto;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(3)
  @ValidateNested({ each: true })
  @Type(() => FilterDto)
  event_filters?: FilterDto[];
}

class EventDto {
  @IsString()
  type!: string;

  @IsObject()
  @JsonDocument()
  payload!: Record<string, unknown>;
}

class BatchDto {
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => EventDto)
  events!: EventDto[];
}

const valid = {
  name: 'orders',
  target: { url: 'https://example.com/hook', retry: { attempts: 3 } },
  event_filters: [{ service: 'orders', event: 'created' }],
};

async function rejection(pipe: ValidationPipe, value: unknown): Promise<AppError> {
  try {
    await pipe.transform(value, { type: 'body', metatype: CreateHookDto });
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the pipe to refuse the value');
}

function byField(details: ErrorDetail[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const d of details ?? []) (out[d.field ?? ''] ??= []).push(d.message);
  return out;
}

describe('createValidationPipe', () => {
  const pipe = createValidationPipe();

  it('turns a valid plain body into DTO instances', async () => {
    const out = (await pipe.transform(structuredClone(valid), {
      type: 'body',
      metatype: CreateHookDto,
    })) as CreateHookDto;
    expect(out).toBeInstanceOf(CreateHookDto);
    expect(out.target).toBeInstanceOf(TargetDto);
    expect(out.target.retry).toBeInstanceOf(RetryDto);
    expect(out.event_filters?.[0]).toBeInstanceOf(FilterDto);
    expect(out).toEqual(valid);
  });

  it('refuses __proto__, prototype and constructor keys anywhere with a 400 naming each, never strips them', async () => {
    const body = JSON.parse(
      '{"name":"orders","constructor":"x","target":{"url":"https://example.com/hook","prototype":{}},' +
        '"event_filters":[{"service":"s","event":"created","__proto__":1}]}',
    ) as object;
    const err = await rejection(pipe, body);
    expect(err.status).toBe(400);
    expect(err.details?.map((d) => d.field)).toEqual(['constructor', 'event_filters.0.__proto__', 'target.prototype']);
    expect(protoKeyPaths({ a: [{ b: { toString: 1, hasOwnProperty: 2 } }] })).toEqual([]);
  });

  it('sets JSON documents aside: validated on their kind, never copied, their keys kept as data', async () => {
    const payload = JSON.parse('{"constructor":"data","prototype":[1],"nested":{"x":[{"y":1}]}}') as object;
    const body = {
      events: [
        { type: 'a', payload },
        { type: 'b', payload: { n: 1 } },
      ],
    };
    const out = (await pipe.transform(body, { type: 'body', metatype: BatchDto })) as BatchDto;
    expect(out.events[0]).toBeInstanceOf(EventDto);
    expect(out.events[0].payload).toBe(payload);
    expect(body.events[0].payload).toBe(payload);
    expect(out.events[1].payload).toEqual({ n: 1 });

    const wrongKind = { events: [{ type: 'a', payload: [1, 2] }] };
    const err = await pipe.transform(wrongKind, { type: 'body', metatype: BatchDto }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).details?.map((d) => d.field)).toEqual(['events.0.payload']);
    // The body is left as it came, refused or not.
    expect(wrongKind.events[0].payload).toEqual([1, 2]);
    // Outside documents, the keys are still refused.
    const outside = JSON.parse('{"events":[{"type":"a","payload":{},"constructor":1}]}') as object;
    await expect(pipe.transform(outside, { type: 'body', metatype: BatchDto })).rejects.toMatchObject({ status: 400 });
  });

  it('reports each bad field with its dotted path', async () => {
    const err = await rejection(pipe, {
      name: 'ab',
      target: { url: 'http://example.com', retry: { attempts: 11 } },
      event_filters: [
        { service: 'orders', event: 'created' },
        { service: '', event: 'deleted' },
      ],
    });
    expect(err.status).toBe(400);
    expect(err.code).toBe('validation_failed');
    const fields = byField(err.details);
    expect(Object.keys(fields).sort()).toEqual([
      'event_filters.1.event',
      'event_filters.1.service',
      'name',
      'target.retry.attempts',
      'target.url',
    ]);
    for (const messages of Object.values(fields)) expect(messages).toHaveLength(1);
    expect(fields['name'][0]).toMatch(/name must be longer than or equal to 3/);
    expect(fields['target.retry.attempts'][0]).toMatch(/must not be greater than 10/);
    expect(fields['event_filters.1.event'][0]).toMatch(/must be one of the following values/);
  });

  it('gives one entry per failed constraint on a field', async () => {
    const err = await rejection(pipe, { ...valid, name: 5 });
    expect(err.details).toEqual([
      { field: 'name', message: expect.stringMatching(/longer than or equal to 3/) },
      { field: 'name', message: 'name must be a string' },
    ]);
  });

  it("reports unknown fields as 'unknown field x', at any depth", async () => {
    const err = await rejection(pipe, {
      ...valid,
      extra: 1,
      target: { ...valid.target, secret: 'x' },
      event_filters: [{ service: 'orders', event: 'created', colour: 'red' }],
    });
    expect(err.details).toEqual(
      expect.arrayContaining([
        { field: 'extra', message: 'unknown field extra' },
        { field: 'target.secret', message: 'unknown field secret' },
        { field: 'event_filters.0.colour', message: 'unknown field colour' },
      ]),
    );
    expect(err.details).toHaveLength(3);
  });

  it('reports a missing nested object', async () => {
    const err = await rejection(pipe, { name: 'orders' });
    expect(err.details).toEqual([{ field: 'target', message: 'target must be an object' }]);
  });

  it('does not convert types implicitly', async () => {
    const err = await rejection(pipe, { ...valid, target: { url: valid.target.url, retry: { attempts: '3' } } });
    expect(byField(err.details)['target.retry.attempts']).toEqual(
      expect.arrayContaining(['attempts must be an integer number']),
    );
  });

  it('never leaks the offending value or target into the details', async () => {
    const err = await rejection(pipe, { ...valid, name: 'x', password: 'hunter2' });
    expect(JSON.stringify(err.details)).not.toContain('hunter2');
  });

  it('names an unknown field with an empty or spaced name', async () => {
    const err = await rejection(pipe, { ...valid, '': 1, 'a b': 2 });
    expect(err.details).toEqual(
      expect.arrayContaining([
        { field: '""', message: 'unknown field ""' },
        { field: 'a b', message: 'unknown field a b' },
      ]),
    );
  });

  it('refuses a body that is not an object', async () => {
    const err = await rejection(pipe, 'just a string');
    expect(err.status).toBe(400);
    expect(err.details?.length).toBeGreaterThan(0);
  });
});

describe('validationDetails', () => {
  it('flattens class-validator errors into dotted-path details', () => {
    const dto = Object.assign(new CreateHookDto(), {
      name: 'ok-name',
      target: Object.assign(new TargetDto(), {
        url: 'https://example.com',
        retry: Object.assign(new RetryDto(), { attempts: -1 }),
      }),
    });
    expect(validationDetails(validateSync(dto))).toEqual([
      { field: 'target.retry.attempts', message: 'attempts must not be less than 0' },
    ]);
  });

  it('is empty for no errors', () => {
    expect(validationDetails([])).toEqual([]);
  });
});
