import type { DataStoreDependencies } from '../data-stores';

/** The redis kind's activities: backups, restores, validation. */
export function createRedisActivities(_deps: DataStoreDependencies) {
  return {};
}
