import type { DataStoreDependencies } from '../data-stores';

/** The influxdb kind's activities: backups, restores, validation. */
export function createInfluxdbActivities(_deps: DataStoreDependencies) {
  return {};
}
