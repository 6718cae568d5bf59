import { activityInfo, heartbeat } from '@temporalio/activity';

/**
 * Heartbeats while `work` runs, so a long wait (a restore takes minutes to hours) is seen as alive,
 * and a worker crash is noticed within the heartbeat timeout instead of the start-to-close timeout.
 */
export async function heartbeatWhile<T>(work: Promise<T>, details: () => unknown): Promise<T> {
  const timeout = activityInfo().heartbeatTimeoutMs;
  const interval = timeout ? Math.max(100, Math.floor(timeout / 3)) : 10_000;
  heartbeat(details());
  const timer = setInterval(() => heartbeat(details()), interval);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
