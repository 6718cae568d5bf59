import {
  isGrpcDeadlineError,
  isGrpcServiceError,
  ServiceError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { recoveryWorkflow } from '../workflows/recovery';
import { progressQuery } from '../workflows/messages';
import type { RecoveryProgress } from '../workflows/progress';
import { CommandFailure, UsageError } from './result';
import type { TemporalTarget } from './temporal-client';

/** The workflow type every recovery runs as. */
export const RECOVERY_WORKFLOW_TYPE = 'recoveryWorkflow';

/** How long a progress query may wait for a worker to answer. */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

export type RecoveryHandle = WorkflowHandle<typeof recoveryWorkflow>;

/** `running`, `completed`, `timed out`: a Temporal execution status in words. */
export const executionStatus = (status: { name: string }) => status.name.toLowerCase().replace(/_/g, ' ');

/** `abc` as is, `a b` as `'a b'`: a word a shell passes through unchanged. */
export const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** The deepest error in a chain of causes (a workflow failure wraps an activity failure wraps the reason). */
export function rootCause(error: unknown): Error & { type?: string } {
  let current = error as Error & { type?: string };
  while (current.cause instanceof Error) current = current.cause;
  return current;
}

/** A server error as a CommandFailure that says what was being done; anything else unchanged. */
export function serverFailure(error: unknown, doing: string): unknown {
  if (error instanceof ServiceError || isGrpcServiceError(error)) {
    const cause = rootCause(error);
    return new CommandFailure(`${doing}: ${isGrpcServiceError(cause) ? cause.details : cause.message}`);
  }
  return error;
}

/** The recovery `id` and its execution, or a UsageError when there is none by that id. */
export async function describeRecovery(
  target: TemporalTarget,
  id: string,
): Promise<{ handle: RecoveryHandle; description: WorkflowExecutionDescription }> {
  const handle = target.client.workflow.getHandle<typeof recoveryWorkflow>(id);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError)
      throw new UsageError(`no recovery "${id}" in namespace "${target.namespace}"; list them with: recovery list`);
    throw serverFailure(error, `cannot look up recovery "${id}"`);
  }
  if (description.type !== RECOVERY_WORKFLOW_TYPE)
    throw new UsageError(`"${id}" is a ${description.type} workflow, not a recovery`);
  return { handle, description };
}

/** A UsageError when the recovery is over: nothing left to approve, decide or cancel. */
export function assertRunning(id: string, description: WorkflowExecutionDescription, doing: string): void {
  if (description.status.name !== 'RUNNING')
    throw new UsageError(`recovery ${id} is over (${executionStatus(description.status)}): nothing to ${doing}`);
}

/**
 * The progress query, answered by a worker (also for a closed workflow, which the worker replays);
 * the reason when no answer came within `timeoutMs`, typically because no worker runs.
 */
export async function queryProgress(
  target: TemporalTarget,
  handle: RecoveryHandle,
  taskQueue: string,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<{ progress: RecoveryProgress } | { error: string }> {
  try {
    return { progress: await target.client.withDeadline(Date.now() + timeoutMs, () => handle.query(progressQuery)) };
  } catch (error) {
    if (isGrpcDeadlineError(error))
      return {
        error: `no worker answered within ${timeoutMs / 1000}s (is one polling task queue "${taskQueue}"? npm run worker)`,
      };
    const cause = rootCause(error);
    return { error: isGrpcServiceError(cause) ? cause.details : cause.message };
  }
}

/** What is known of a recovery: its execution, and its record when a result or a worker gives it. */
export interface RecoveryRecord {
  handle: RecoveryHandle;
  description: WorkflowExecutionDescription;
  /** The record: the result of a completed recovery, else the answer to the progress query. */
  progress?: RecoveryProgress;
  /** Why there is no record (no worker answered the query). */
  unavailable?: string;
  /** The reason a failed workflow gives (a plan the worker could not load, a bad request). */
  failure?: string;
}

/**
 * Reads a recovery: the result when it completed (no worker needed), else the progress query
 * (a worker needed: live or replaying a closed workflow); when no worker answers, what the server
 * knows and why the rest is missing.
 */
export async function readRecovery(
  target: TemporalTarget,
  id: string,
  queryTimeoutMs?: number,
): Promise<RecoveryRecord> {
  const { handle, description } = await describeRecovery(target, id);
  if (description.status.name === 'COMPLETED') {
    try {
      return { handle, description, progress: await handle.result() };
    } catch (error) {
      throw serverFailure(error, `cannot read the result of recovery "${id}"`);
    }
  }
  let failure: string | undefined;
  if (description.status.name === 'FAILED') {
    failure = await handle.result().then(
      () => undefined,
      (error: unknown) => rootCause(error).message,
    );
  }
  const answer = await queryProgress(target, handle, description.taskQueue, queryTimeoutMs);
  return 'progress' in answer
    ? { handle, description, progress: answer.progress, failure }
    : { handle, description, unavailable: answer.error, failure };
}
