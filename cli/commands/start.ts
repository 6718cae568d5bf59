import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { searchAttributeCommand } from '../../workers/search-attributes';
import type { RecoveryProgress } from '../../workflows/progress';
import type { recoveryWorkflow } from '../../workflows/recovery';
import { reportMarkdown } from '../../workflows/report-markdown';
import { describeRequestIssues, recoveryRequestSchema, type RecoveryRequest } from '../../workflows/request';
import { RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_STATUS } from '../../workflows/search-attributes';
import { loadValidPlan } from '../load-or-fail';
import { LiveDisplay, type LiveOutput } from '../progress-text';
import {
  DEFAULT_QUERY_TIMEOUT_MS,
  queryProgress,
  RECOVERY_WORKFLOW_TYPE,
  rootCause,
  serverFailure,
  shellWord,
  type RecoveryHandle,
} from '../recoveries';
import { CommandFailure, UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect, type TemporalTarget } from '../temporal-client';
import { pickScenario } from './plan';

export interface StartOptions {
  scenario?: string;
  /** The incident's id: in the workflow id, and the RTO clock starts at its detection. */
  incident?: string;
  /** When the incident was detected (ISO-8601); now when absent. */
  detectedAt?: string;
  /** Point in time to restore data to (ISO-8601); the latest recovery point when absent. */
  targetTime?: string;
  /** Approve every gate automatically: drills and tests. */
  autoApprove?: boolean;
  wait?: boolean;
  json?: boolean;
  connect?: Connect;
  /** Where `--wait` shows progress as it goes; nothing when absent. */
  live?: LiveOutput;
  /** Between two progress queries while waiting. */
  pollMs?: number;
  queryTimeoutMs?: number;
  now?: () => Date;
}

/** A path to a plan file rather than a plan name of the worker's plans directory. */
export const isPlanFile = (plan: string) => /\.ya?ml$/i.test(plan) || plan.includes('/');

const PLAN_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** `20261121T140500Z`: a UTC timestamp that sorts and fits in a workflow id. */
export const compactUtc = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** `recovery-<plan>-<scenario>-<incident id, or the UTC time of the start>` */
export const recoveryWorkflowId = (plan: string, scenario: string, incidentOrTime: string) =>
  `recovery-${plan}-${scenario}-${incidentOrTime}`;

/** Command-line names of the request's fields, for error messages. */
const FLAGS: [RegExp, string][] = [
  [/^incident\.detectedAt:/, '--detected-at:'],
  [/^incident\.id:/, '--incident:'],
  [/^targetTime:/, '--target-time:'],
  [/^scenario:/, '--scenario:'],
];

/** The plan to send (a name, or the file's content) and its name and scenario, checked locally when we can. */
async function resolvePlan(
  plan: string,
  scenario: string | undefined,
): Promise<{ ref: RecoveryRequest['plan']; name: string; scenario: string; warnings: string[] }> {
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
 * `recovery start <plan> --scenario <name> [--incident <id>] [--target-time <iso>] [--wait]`:
 * starts a recovery. Without --wait, prints its id; with --wait, shows its progress until it is
 * over, then its report, and exits 1 unless it succeeded.
 */
export async function startCommand(plan: string, options: StartOptions): Promise<CommandResult> {
  const now = options.now?.() ?? new Date();
  if (options.detectedAt !== undefined && options.incident === undefined)
    throw new UsageError('--detected-at needs --incident <id>: it is when that incident was detected');
  const resolved = await resolvePlan(plan, options.scenario);
  const request: RecoveryRequest = {
    plan: resolved.ref,
    scenario: resolved.scenario,
    ...(options.incident !== undefined
      ? { incident: { id: options.incident, detectedAt: options.detectedAt ?? now.toISOString() } }
      : {}),
    ...(options.targetTime !== undefined ? { targetTime: options.targetTime } : {}),
    ...(options.autoApprove ? { approvals: { auto: true } } : {}),
  };
  const checked = recoveryRequestSchema.safeParse(request);
  if (!checked.success) {
    const lines = describeRequestIssues(checked.error).map((line) =>
      FLAGS.reduce((text, [field, flag]) => text.replace(field, flag), line),
    );
    throw new UsageError(lines.join('\n'));
  }
  const workflowId = recoveryWorkflowId(resolved.name, resolved.scenario, options.incident ?? compactUtc(now));
  const stderr = resolved.warnings.length ? `${resolved.warnings.join('\n')}\n` : undefined;

  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    let handle: RecoveryHandle & { firstExecutionRunId: string };
    try {
      handle = await target.client.workflow.start<typeof recoveryWorkflow>(RECOVERY_WORKFLOW_TYPE, {
        taskQueue: target.taskQueue,
        workflowId,
        args: [request],
        // Listed by `recovery list` at once, even before a worker picks it up.
        typedSearchAttributes: new TypedSearchAttributes([
          { key: RECOVERY_PLAN, value: resolved.name },
          { key: RECOVERY_SCENARIO, value: resolved.scenario },
          { key: RECOVERY_STATUS, value: 'loading' },
        ]),
      });
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError)
        throw new UsageError(
          `recovery ${workflowId} is already running: follow it with recovery status ${shellWord(workflowId)}` +
            (options.incident ? '' : ', or start again in a second'),
        );
      if (/search attribute/i.test(rootCause(error).message))
        throw new CommandFailure(
          `namespace "${target.namespace}" lacks the recovery search attributes (${rootCause(error).message}); register them:\n${searchAttributeCommand(target.namespace)}`,
        );
      throw serverFailure(error, `cannot start recovery ${workflowId}`);
    }
    const runId = handle.firstExecutionRunId;
    if (!options.wait) {
      const stdout = options.json
        ? `${JSON.stringify({ workflowId, runId }, null, 2)}\n`
        : [
            `Started ${workflowId} (plan ${resolved.name}, scenario ${resolved.scenario}) on task queue "${target.taskQueue}".`,
            `Follow it with: recovery status ${shellWord(workflowId)}`,
            '',
          ].join('\n');
      return { stdout, stderr, exitCode: 0 };
    }
    const result = await waitForRecovery(target, handle, options);
    return { ...result, stderr: [stderr, result.stderr].filter(Boolean).join('') || undefined };
  });
}

/** Watches a started recovery until it is over: progress as it changes, then the report. */
async function waitForRecovery(
  target: TemporalTarget,
  handle: RecoveryHandle,
  options: StartOptions,
): Promise<CommandResult> {
  const display = new LiveDisplay(options.live);
  const pollMs = options.pollMs ?? 1_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  display.note(`Started ${handle.workflowId}; waiting for it to finish (Ctrl-C stops watching, not the recovery).`);
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
  if (!options.json) display.note(''); // the report follows
  if ('report' in result) return report(result.report, options.json);
  const { error } = result;
  if (!(error instanceof WorkflowFailedError)) throw serverFailure(error, `lost track of ${handle.workflowId}`);
  const cause = rootCause(error);
  // A request or a plan the worker refused is the user's to fix.
  if (cause.type === 'InvalidPlan' || cause.type === 'InvalidRecoveryRequest')
    throw new UsageError(`recovery ${handle.workflowId} refused: ${cause.message}`);
  const answer = await queryProgress(target, handle, target.taskQueue, queryTimeoutMs);
  const reason = `recovery ${handle.workflowId} ended: ${cause.message}\n`;
  if ('progress' in answer) return { ...report(answer.progress, options.json), stderr: reason, exitCode: 1 };
  return { stdout: '', stderr: reason, exitCode: 1 };
}

/** The final report, as `recovery report` prints it; exit code 0 only for a recovery that succeeded. */
function report(progress: RecoveryProgress, json: boolean | undefined): CommandResult {
  return {
    stdout: json ? `${JSON.stringify(progress, null, 2)}\n` : reportMarkdown(progress),
    exitCode: progress.status === 'succeeded' ? 0 : 1,
  };
}
