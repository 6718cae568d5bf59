import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

/**
 * A simulated drill's stand-in for a step's work: fails retryably on its first `failAttempts`
 * attempts, so the real retry policy (and its backoff) shapes the simulated timeline. Touches nothing.
 */
export function simulateStep({ step, failAttempts }: { step: string; failAttempts: number }): Promise<{
  attempts: number;
}> {
  const { attempt } = activityInfo();
  if (attempt <= failAttempts)
    throw ApplicationFailure.retryable(
      `simulated failure ${attempt} of ${failAttempts} in step ${step}`,
      'SimulatedFailure',
    );
  return Promise.resolve({ attempts: attempt });
}
