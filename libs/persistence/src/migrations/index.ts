import type { MigrationInterface } from 'typeorm';
import { Init1795430334500 } from './1795430334500-Init';

/** Every migration, in order. Listed explicitly: a glob does not survive bundling. */
export const MIGRATIONS: Array<new () => MigrationInterface> = [Init1795430334500];
