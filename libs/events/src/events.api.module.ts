import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '@ipm/audit';
import { CatalogModule } from '@ipm/catalog';
import { CdcController } from './cdc.controller';
import { CdcService } from './cdc.service';
import { EventEntity } from './entities/event.entity';
import { EventPublishController } from './event-publish.controller';
import { EventPublishService } from './event-publish.service';
import { EventsModule } from './events.module';
import { EventsRepository } from './entities/events.repository';

/** The api side: `/event/publish` and `/cdc/list`. */
@Module({
  imports: [EventsModule, CatalogModule, AuditModule, TypeOrmModule.forFeature([EventEntity])],
  controllers: [EventPublishController, CdcController],
  providers: [EventsRepository, EventPublishService, CdcService],
})
export class EventsApiModule {}
