import type { DataStoreDependencies } from '../data-stores';
import { createPostgresBackups } from './backup';
import { createPostgresRestores } from './restore-activities';

/** The postgres kind's activities: backups, restores, validation. */
export function createPostgresActivities(deps: DataStoreDependencies) {
  const bin = () => deps.binaries().postgresBin;
  return { ...createPostgresBackups(bin), ...createPostgresRestores(bin) };
}
