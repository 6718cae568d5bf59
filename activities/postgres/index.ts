import type { DataStoreDependencies } from '../data-stores';

/** The postgres kind's activities: backups, restores, validation. */
export function createPostgresActivities(_deps: DataStoreDependencies) {
  return {};
}
