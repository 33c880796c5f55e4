import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogModule } from '@ipm/catalog';
import { EventOutboxEntity } from './entities/event-outbox.entity';
import { EventEntity } from './entities/event.entity';
import { EventStore } from './event-store.service';
import { PlatformEvents } from './platform-events.service';

/** The event store, for any feature that stores events (PlatformEvents for our own changes). */
@Module({
  imports: [TypeOrmModule.forFeature([EventEntity, EventOutboxEntity]), CatalogModule],
  providers: [EventStore, PlatformEvents],
  exports: [EventStore, PlatformEvents],
})
export class EventsModule {}
