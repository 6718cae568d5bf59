import { MockActivityEnvironment } from '@temporalio/testing';

/**
 * Runs an activity outside a worker, with a real activity Context (heartbeat, cancellation), keeping
 * its result type (MockActivityEnvironment.run does not infer it).
 */
export function runActivity<I, R>(
  activity: (input: I) => Promise<R>,
  input: I,
  env = new MockActivityEnvironment(),
): Promise<R> {
  return env.run<[I], R, (input: I) => Promise<R>>(activity, input);
}
