import type { DataStoreDependencies } from '../data-stores';

/** The mysql kind's activities: backups, restores, validation. */
export function createMysqlActivities(_deps: DataStoreDependencies) {
  return {};
}
