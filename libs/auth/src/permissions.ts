/** Every permission a JWT or API key can carry. */
export const Permission = {
  ManageWebhooks: 'manage_webhooks',
  PublishEvents: 'publish_events',
  ManageBulkJobs: 'manage_bulk_jobs',
  ManageKpis: 'manage_kpis',
  ViewKpis: 'view_kpis',
  ManageCatalog: 'manage_catalog',
  ManageApiKeys: 'manage_api_keys',
  ViewAudit: 'view_audit',
  OperateQueues: 'operate_queues',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];
export const ALL_PERMISSIONS: readonly Permission[] = Object.values(Permission);

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (ALL_PERMISSIONS as readonly string[]).includes(value);
}
