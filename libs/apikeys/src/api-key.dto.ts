import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Matches,
} from 'class-validator';
import { APP_ID_PATTERN, ListRequestDto, MutationRequestDto } from '@ipm/core';
import { ALL_PERMISSIONS, Permission } from '@ipm/auth';

export class ApiKeyCreateRequestDto extends MutationRequestDto {
  @ApiProperty({ example: 'billing sync', maxLength: 200 })
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiPropertyOptional({ example: 'app_billing', description: 'Binds the key to one application' })
  @IsOptional()
  @IsString()
  @Matches(APP_ID_PATTERN, { message: 'app_id must be 1-128 of A-Z a-z 0-9 _ . : -' })
  app_id?: string;

  @ApiProperty({ enum: ALL_PERMISSIONS, isArray: true, example: ['manage_webhooks'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(ALL_PERMISSIONS.length)
  @ArrayUnique()
  @IsIn(ALL_PERMISSIONS, { each: true })
  permissions!: Permission[];

  @ApiPropertyOptional({ format: 'date-time', description: 'The key stops working at this time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  expires_at?: string;
}

export class ApiKeyListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'app_billing' })
  @IsOptional()
  @IsString()
  @Matches(APP_ID_PATTERN, { message: 'app_id must be 1-128 of A-Z a-z 0-9 _ . : -' })
  app_id?: string;

  @ApiPropertyOptional({ description: 'Include revoked keys', default: false })
  @IsOptional()
  @IsBoolean()
  include_revoked?: boolean;
}

export class ApiKeyRevokeRequestDto extends MutationRequestDto {
  @ApiProperty({ example: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' })
  @IsString()
  @Matches(/^key_[0-9A-HJKMNP-TV-Z]{26}$/, { message: 'key_id must be a key_ id' })
  key_id!: string;
}

export class ApiKeyDto {
  @ApiProperty({ example: 'key_01JD3V5T0K6Z8Q9W2X4Y7B1C3E' }) key_id!: string;
  @ApiProperty({ example: 'acme' }) orgcode!: string;
  @ApiProperty({ nullable: true, type: String }) app_id!: string | null;
  @ApiProperty() name!: string;
  @ApiProperty({ example: 'ipm_Ab3dEf9h', description: 'The first characters of the key' }) prefix!: string;
  @ApiProperty({ enum: ALL_PERMISSIONS, isArray: true }) permissions!: Permission[];
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty() created_by!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) expires_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) last_used_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) revoked_at!: string | null;
  @ApiProperty({ enum: ['active', 'revoked', 'expired'] }) status!: 'active' | 'revoked' | 'expired';
}

export class ApiKeyCreatedDto {
  @ApiProperty({ type: ApiKeyDto }) api_key!: ApiKeyDto;
  @ApiProperty({ description: 'The key itself: shown once, never again', example: 'ipm_…' }) key!: string;
}
