import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { searchAttributeCommand } from '../workers/search-attributes';
import type { RecoveryProgress } from '../workflows/progress';
import type { recoveryWorkflow } from '../workflows/recovery';
import type { RecoveryRequest } from '../workflows/request';
import { RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_STATUS } from '../workflows/search-attributes';
import { pickScenario } from './commands/plan';
import { loadValidPlan } from './load-or-fail';
import { LiveDisplay, type LiveOutput } from './progress-text';
import {
  DEFAULT_QUERY_TIMEOUT_MS,
  queryProgress,
  RECOVERY_WORKFLOW_TYPE,
  rootCause,
  serverFailure,
  shellWord,
  type RecoveryHandle,
} from './recoveries';
import { CommandFailure, UsageError } from './result';
import type { TemporalTarget } from './temporal-client';

/** Starting and following a recovery (or a drill) from the command line: `recovery start`, `recovery drill --real`. */

/** A path to a plan file rather than a plan name of the worker's plans directory. */
export const isPlanFile = (plan: string) => /\.ya?ml$/i.test(plan) || plan.includes('/');

const PLAN_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export interface ResolvedPlan {
  /** What the request carries: the plan's name, or the file's content. */
  ref: RecoveryRequest['plan'];
  name: string;
  scenario: string;
  warnings: string[];
}

/** The plan to send (a name, or the file's content) and its name and scenario, checked locally when we can. */
export async function resolvePlan(plan: string, scenario: string | undefined): Promise<ResolvedPlan> {
  if (isPlanFile(plan)) {
    const loaded = await loadValidPlan(plan);
    // The plan as written: the worker validates it again, with the same loader.
    const raw = parse(await readFile(plan, 'utf8'), { maxAliasCount: 100 }) as Record<string, unknown>;
    return {
      ref: raw,
      name: loaded.plan.name,
      scenario: pickScenario(loaded.plan, scenario),
      warnings: loaded.warnings,
    };
  }
  if (!PLAN_NAME.test(plan))
    throw new UsageError(
      `"${plan}" is neither a plan name of the worker's plans directory (lowercase letters, digits, dashes) nor a plan file (.yaml, .yml, or a path with a /)`,
    );
  if (!scenario)
    throw new UsageError(
      `name the scenario to run with --scenario: the worker reads plan "${plan}" from its plans directory (see them with recovery plan <file>)`,
    );
  return { ref: plan, name: plan, scenario, warnings: [] };
}

/**
 * Recoveries of the plan's scenario that are still running, whoever started them (an alarm through
 * `recovery serve`, a schedule, a person): a second one would work on the same systems at once.
 */
export async function runningOfScenario(target: TemporalTarget, plan: string, scenario: string): Promise<string[]> {
  const query = [
    `WorkflowType = '${RECOVERY_WORKFLOW_TYPE}'`,
    `${RECOVERY_PLAN.name} = '${plan}'`,
    `${RECOVERY_SCENARIO.name} = '${scenario}'`,
    `ExecutionStatus = 'Running'`,
  ].join(' AND ');
  const ids: string[] = [];
  try {
    for await (const w of target.client.workflow.list({ query, pageSize: 10 })) ids.push(w.workflowId);
  } catch (error) {
    // Servers without visibility queries (the time-skipping test server) cannot tell: nothing to check.
    if (/unimplemented/i.test(rootCause(error).message)) return [];
    throw serverFailure(error, `cannot check for running recoveries of ${plan}/${scenario}`);
  }
  return ids;
}

/**
 * Starts `recoveryWorkflow` with `request`, listed by `recovery list` at once (its search
 * attributes are set at the start), with clear errors for a running duplicate and a namespace
 * without the search attributes.
 */
export async function startRecovery(
  target: TemporalTarget,
  {
    workflowId,
    request,
    plan,
    what,
  }: { workflowId: string; request: RecoveryRequest; plan: ResolvedPlan; what: string },
): Promise<RecoveryHandle & { firstExecutionRunId: string }> {
  try {
    return await target.client.workflow.start<typeof recoveryWorkflow>(RECOVERY_WORKFLOW_TYPE, {
      taskQueue: target.taskQueue,
      workflowId,
      args: [request],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: RECOVERY_PLAN, value: plan.name },
        { key: RECOVERY_SCENARIO, value: plan.scenario },
        { key: RECOVERY_STATUS, value: 'loading' },
      ]),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError)
      throw new UsageError(
        `${what} ${workflowId} is already running: follow it with recovery status ${shellWord(workflowId)}` +
          (request.incident ? '' : ', or start again in a second'),
      );
    if (/search attribute/i.test(rootCause(error).message))
      throw new CommandFailure(
        `namespace "${target.namespace}" lacks the recovery search attributes (${rootCause(error).message}); register them:\n${searchAttributeCommand(target.namespace)}`,
      );
    throw serverFailure(error, `cannot start ${what} ${workflowId}`);
  }
}

/** How a followed recovery ended: its report, or why it failed with its last known record. */
export type RecoveryOutcome =
  { report: RecoveryProgress } | { refused: string } | { ended: string; progress?: RecoveryProgress };

/**
 * Watches a started recovery until it is over, showing its progress as it changes (Ctrl-C stops
 * watching, not the recovery). A plan or request the worker refused is `refused`, the user's to fix.
 */
export async function followRecovery(
  target: TemporalTarget,
  handle: RecoveryHandle,
  { live, pollMs = 1_000, queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS, what = 'recovery' }: FollowOptions,
): Promise<RecoveryOutcome> {
  const display = new LiveDisplay(live);
  display.note(
    `Started ${what === 'recovery' ? '' : `${what} `}${handle.workflowId}; waiting for it to finish (Ctrl-C stops watching, not the ${what}).`,
  );
  let over = false;
  const outcome = handle.result().then(
    (report) => ({ report }),
    (error: unknown) => ({ error }),
  );
  void outcome.finally(() => (over = true));
  let silent = false;
  while (!over) {
    const answer = await queryProgress(target, handle, target.taskQueue, Math.min(queryTimeoutMs, pollMs * 5));
    if ('progress' in answer) {
      silent = false;
      display.update(answer.progress);
    } else if (!silent && !over) {
      silent = true;
      display.note(`No progress yet: ${answer.error}`);
    }
    await Promise.race([sleep(pollMs), outcome]);
  }
  const result = await outcome;
  if ('report' in result) display.update(result.report);
  display.done();
  if ('report' in result) return { report: result.report };
  const { error } = result;
  if (!(error instanceof WorkflowFailedError)) throw serverFailure(error, `lost track of ${handle.workflowId}`);
  const cause = rootCause(error);
  if (['InvalidPlan', 'InvalidRecoveryRequest', 'DrillGuard'].includes(cause.type ?? ''))
    return { refused: cause.message };
  const answer = await queryProgress(target, handle, target.taskQueue, queryTimeoutMs);
  return { ended: cause.message, ...('progress' in answer ? { progress: answer.progress } : {}) };
}

export interface FollowOptions {
  live?: LiveOutput;
  pollMs?: number;
  queryTimeoutMs?: number;
  /** `recovery` or `drill`, in what the user reads. */
  what?: string;
}
