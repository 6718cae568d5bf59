import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { schema, type RedisComponent } from '../../plan/kinds/redis';
import { parsedComponent, passwordOf } from '../component-input';
import { parseTargetTime } from '../verified-chain';

export { passwordOf };
import { connectRedis, ErrorReply, type Redis } from './connection';

/** The component as the plan gives it, with the kind's defaults; a malformed one is a plan error. */
export const redisComponent = (value: unknown): RedisComponent => parsedComponent(schema, 'redis', value);

/** `latest`, or the time an ISO-8601 `targetTime` names; anything else is a plan error. */
export const targetOf = (c: RedisComponent, targetTime: string) => parseTargetTime(targetTime, c.id);

/** A connection to the component's server: refused credentials need a person, the rest may pass. */
export async function connectTo(c: RedisComponent): Promise<Redis> {
  try {
    return await connectRedis({ host: c.host, port: c.port, password: passwordOf(c) });
  } catch (error) {
    if (error instanceof ApplicationFailure) throw error;
    const message = `${c.id}: Redis at ${c.host}:${c.port}: ${(error as Error).message}`;
    if (error instanceof ErrorReply && /^(WRONGPASS|NOAUTH|ERR AUTH)/.test(error.message))
      throw ApplicationFailure.nonRetryable(
        `${message} (check ${c.passwordEnv ?? 'passwordEnv'})`,
        'RedisAccessDenied',
      );
    throw ApplicationFailure.retryable(message, 'RedisUnavailable');
  }
}

/**
 * `error` as an activity failure: cancellations and failures pass as they are, refused access needs
 * a person (non-retryable), anything else may pass (a restart, a network blip) and is retried.
 */
export function redisFailure(what: string, error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof TemporalFailure) return error;
  const message = `${what}: ${error.message}`;
  if (error instanceof ErrorReply && /^(NOAUTH|WRONGPASS|NOPERM)/.test(error.message))
    return ApplicationFailure.nonRetryable(message, 'RedisAccessDenied');
  return ApplicationFailure.retryable(message, 'RedisUnavailable');
}

/** An activity whose unexpected errors become failures named after it and its component (redisFailure). */
export function guarded<I, R>(name: string, activity: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input: I) => {
    try {
      return await activity(input);
    } catch (error) {
      const id = (input as { component?: { id?: unknown } }).component?.id;
      throw redisFailure(`${typeof id === 'string' ? `${id}: ` : ''}${name}`, error);
    }
  };
}
