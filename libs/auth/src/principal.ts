import type { Permission } from './permissions';

/** Who is calling, as proven by a JWT or an API key. */
export interface Principal {
  kind: 'user' | 'api_key' | 'system';
  /** JWT `sub`, or the API key's id. */
  actor_id: string;
  /** Org codes the caller may act in. */
  orgs: readonly string[];
  permissions: readonly Permission[];
  /** Set for application principals: they see only their app's records. */
  app_id: string | null;
}

/** A principal acting in one tenant: what tenant-scoped services take. */
export interface Caller extends Principal {
  orgcode: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    caller?: Caller;
  }
}
