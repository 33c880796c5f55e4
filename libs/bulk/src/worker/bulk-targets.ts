import { Injectable } from '@nestjs/common';
import type { BulkExportTarget, BulkImportTarget } from '../jobs/bulk-job.entity';
import { AuditExport } from './audit-export';
import { DeliveryExport } from './delivery-export';
import { EventExport } from './event-export';
import { EventImport } from './event-import';
import { KpiExport } from './kpi-export';
import { KpiImport } from './kpi-import';
import type { ExportSource, ImportTarget } from './targets';
import { WebhookExport } from './webhook-export';
import { WebhookImport } from './webhook-import';

/** Every import target and export source, by the `target` name a job carries. */
@Injectable()
export class BulkTargets {
  private readonly imports: Readonly<Record<BulkImportTarget, ImportTarget>>;
  private readonly exports: Readonly<Record<BulkExportTarget, ExportSource>>;

  constructor(
    eventImport: EventImport,
    webhookImport: WebhookImport,
    kpiImport: KpiImport,
    eventExport: EventExport,
    deliveryExport: DeliveryExport,
    webhookExport: WebhookExport,
    kpiExport: KpiExport,
    auditExport: AuditExport,
  ) {
    this.imports = { events: eventImport, webhooks: webhookImport, kpis: kpiImport };
    this.exports = {
      events: eventExport,
      deliveries: deliveryExport,
      webhooks: webhookExport,
      kpis: kpiExport,
      audit: auditExport,
    };
  }

  importTarget(name: string): ImportTarget | undefined {
    return Object.hasOwn(this.imports, name) ? this.imports[name as BulkImportTarget] : undefined;
  }

  exportSource(name: string): ExportSource | undefined {
    return Object.hasOwn(this.exports, name) ? this.exports[name as BulkExportTarget] : undefined;
  }
}

/** The providers BulkTargets is made of (for the worker module). */
export const BULK_TARGET_PROVIDERS = [
  EventImport,
  WebhookImport,
  KpiImport,
  EventExport,
  DeliveryExport,
  WebhookExport,
  KpiExport,
  AuditExport,
  BulkTargets,
];
