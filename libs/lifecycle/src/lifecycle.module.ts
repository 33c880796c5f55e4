import { Module } from '@nestjs/common';
import { LifecycleController } from './lifecycle.controller';

/** GET the machines: `/lifecycle/list`. (The machines themselves are plain data: import them.) */
@Module({ controllers: [LifecycleController] })
export class LifecycleApiModule {}
