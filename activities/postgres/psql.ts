/**
 * SQL through psql: unaligned, tab-separated rows, stopping at the first error. The password goes
 * to psql in its environment (PGPASSWORD), never on its command line.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { join } from 'node:path';
import { passwordOf } from '../component-input';
import type { PostgresComponent } from '../../plan/kinds/postgres';
import { runProcess } from '../process';

/** Where to connect: `host` is a host name or address, or a socket directory (a path). */
export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
}

/** psql failed; the message carries psql's own error (which never includes the password). */
export class PsqlError extends Error {
  override name = 'PsqlError';
}

/** Errors that waiting does not cure: a person must fix the credentials, the role or the grants. */
export function isPermanent(error: unknown): boolean {
  return (
    error instanceof PsqlError &&
    /password authentication failed|no password supplied|role .* does not exist|permission denied|no pg_hba.conf entry|must be superuser/i.test(
      error.message,
    )
  );
}

/**
 * `error` as an activity failure: cancellations and failures pass as they are, refused access needs
 * a person (non-retryable), anything else may pass (a restart, a network blip) and is retried.
 */
export function pgFailure(what: string, error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof TemporalFailure) return error;
  const message = `${what}: ${error.message}`;
  if (isPermanent(error)) return ApplicationFailure.nonRetryable(message, 'PostgresAccessDenied');
  return ApplicationFailure.retryable(
    message,
    error instanceof PsqlError ? 'PostgresUnavailable' : 'PostgresStepFailed',
  );
}

/** An activity whose unexpected errors become failures named after it and its component (pgFailure). */
export function guarded<I, R>(name: string, activity: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input: I) => {
    try {
      return await activity(input);
    } catch (error) {
      const id = (input as { component?: { id?: unknown } }).component?.id;
      throw pgFailure(`${typeof id === 'string' ? `${id}: ` : ''}${name}`, error);
    }
  };
}

/** The component's own server, over TCP. */
export function serverOf(c: PostgresComponent): PgTarget {
  return { host: c.host, port: c.port, user: c.user, password: passwordOf(c) };
}

/** Environment of a PostgreSQL client program connecting to `target`. */
export function clientEnv(target: PgTarget): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'recovery-engine' };
  if (target.password !== undefined) env.PGPASSWORD = target.password;
  return env;
}

/** Runs each statement of `sql` (one psql -c each, in order) in `database`; the rows of all, tab-split. */
export async function psql(bin: string, target: PgTarget, database: string, ...sql: string[]): Promise<string[][]> {
  const args = ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-w'];
  args.push('-h', target.host, '-p', String(target.port), '-U', target.user, '-d', database);
  for (const statement of sql) args.push('-c', statement);
  const run = await runProcess(join(bin, 'psql'), args, { env: clientEnv(target), stdoutLimit: 16 * 1024 * 1024 });
  if (run.exitCode !== 0)
    throw new PsqlError(
      `psql on ${target.host}:${target.port} (database ${database}) exited with status ${run.exitCode}: ${run.tail}`,
    );
  return run.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}
