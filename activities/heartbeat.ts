import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';

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

/**
 * Polls `check` every `pollIntervalMs` until it gives a value, heartbeating the last status it
 * reported; fails (non-retryable `WaitTimedOut`) after `maxWaitMs`, and ends on cancellation.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<{ done?: T; status: string }>,
  { maxWaitMs, pollIntervalMs }: { maxWaitMs: number; pollIntervalMs: number },
): Promise<T> {
  const signal = cancellationSignal();
  const deadline = Date.now() + maxWaitMs;
  let status = 'unknown';
  const poll = async () => {
    for (;;) {
      const result = await check();
      if (result.done !== undefined) return result.done;
      status = result.status;
      heartbeat({ what, status });
      if (Date.now() > deadline)
        throw ApplicationFailure.nonRetryable(
          `${what}: still ${status} after ${maxWaitMs / 3600_000}h`,
          'WaitTimedOut',
        );
      try {
        await sleep(pollIntervalMs, undefined, { signal });
      } catch {
        throw signal.reason;
      }
    }
  };
  return heartbeatWhile(poll(), () => ({ what, status }));
}
