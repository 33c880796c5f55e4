import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { ListRequestDto, SERVICE_PATTERN } from '@ipm/core';

export class LifecycleListRequestDto extends ListRequestDto {
  @ApiPropertyOptional({ example: 'ipm' })
  @IsOptional()
  @IsString()
  @Matches(SERVICE_PATTERN, { message: 'service must be lower-case letters, digits and _' })
  service?: string;

  @ApiPropertyOptional({ example: 'delivery' })
  @IsOptional()
  @IsString()
  @Matches(SERVICE_PATTERN, { message: 'name must be lower-case letters, digits and _' })
  name?: string;
}

export class LifecycleStateDto {
  @ApiProperty({ example: 'active' }) name!: string;
  @ApiProperty() description!: string;
  @ApiPropertyOptional() initial?: boolean;
  @ApiPropertyOptional() terminal?: boolean;
}

export class LifecycleTransitionDto {
  @ApiProperty({ example: 'pause', description: 'What the transition is called; one name may leave several states' })
  name!: string;
  @ApiProperty({ example: 'active' }) from!: string;
  @ApiProperty({ example: 'paused' }) to!: string;
  @ApiProperty() description!: string;
}

export class LifecycleMachineDto {
  @ApiProperty({ example: 'webhook' }) name!: string;
  @ApiProperty({ example: 'ipm' }) service!: string;
  @ApiProperty({ example: '1' }) version!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ type: [LifecycleStateDto] }) states!: LifecycleStateDto[];
  @ApiProperty({ type: [LifecycleTransitionDto] }) transitions!: LifecycleTransitionDto[];
}

export class LifecycleListDto {
  @ApiProperty({ type: [LifecycleMachineDto] }) items!: LifecycleMachineDto[];
  @ApiPropertyOptional() next_token?: string;
  @ApiProperty({ example: 'webhook@1,delivery@1', description: 'The versions of every machine listed' })
  version!: string;
}
