import type { DataStoreDependencies } from '../data-stores';
import { createRedisBackups } from './backup';
import { createRedisRestores } from './restore';

/** The redis kind's activities: backups, restores, validation. */
export function createRedisActivities(deps: DataStoreDependencies) {
  const redisServer = () => deps.binaries().redisServer;
  return { ...createRedisBackups(redisServer), ...createRedisRestores(redisServer) };
}
