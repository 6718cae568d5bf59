import {
  type ActivityInterfaceFor,
  type RetryPolicy,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  sleep,
} from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import { parseDuration } from '../plan/duration';
import { runbookOf, type Component, type RunbookStep, type StepContext } from '../plan/kinds';
import type { AutomationActivity, StepAutomation } from '../plan/kinds/define';
import { stepEventSignal } from './messages';
import type { StepEvent, StepStatus } from './progress';

/**
 * Calls that finish in minutes: about a minute and a half of retries (an outage brings resets and
 * throttling that pass), then an operator decides. Errors retrying cannot fix (bad configuration,
 * access denied) are non-retryable and go to the operator at once.
 */
export const SHORT_RETRY = {
  initialInterval: '5s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
} satisfies RetryPolicy;
const short = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '15m',
  // On abort or cancellation, wait until the activity confirms it stopped, so the record is true.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  heartbeatTimeout: '1m',
  retry: SHORT_RETRY,
});

/** Restores and other waits of hours: they heartbeat, so a dead worker is noticed in minutes, not hours. */
const long = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '12h',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  heartbeatTimeout: '2m',
  retry: { initialInterval: '30s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});

export interface ComponentRunInput {
  /** Workflow id of the recovery, which receives a signal per step. */
  recoveryId: string;
  component: Component;
  context: StepContext;
  /** The runbook, as the recovery recorded it; rebuilt from the kind when absent (older recoveries). */
  steps?: RunbookStep[];
  /** Start at this step (a retry or a skip decision); the first step when absent. */
  resumeFrom?: string;
  /** A simulated run: the steps share `minutes` of durable timers; the first fails `failAttempts` times. */
  simulation?: { minutes: number; failAttempts: number };
}

export interface ComponentRunResult {
  ok: boolean;
  /** Results of the steps that ran, by step id. */
  results: Record<string, unknown>;
  failed?: { step: string; error: string; manualCommand?: string };
}

/** The message of an activity failure, with the error type the activity gave it. */
export function describeFailure(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return `${cause.type ? `${cause.type}: ` : ''}${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Recovers one component: runs the steps of its kind's runbook in order, each as an activity. It
 * never fails: a step that fails after its retries, or a manual step, ends the run with
 * `ok: false`, and the recovery hands the decision to an operator, then starts another run from
 * the step the operator chose.
 */
export async function componentRecoveryWorkflow(input: ComponentRunInput): Promise<ComponentRunResult> {
  const { component, context, recoveryId } = input;
  const parent = getExternalWorkflowHandle(recoveryId);
  const report = (step: string, status: StepStatus, extra: Partial<StepEvent> = {}) =>
    parent.signal(stepEventSignal, { component: component.id, step, status, at: new Date().toISOString(), ...extra });

  const steps = input.steps ?? runbookOf(component, context);
  const first = input.resumeFrom ? steps.findIndex((s) => s.id === input.resumeFrom) : 0;
  if (first < 0)
    throw ApplicationFailure.nonRetryable(`no step "${input.resumeFrom}" in the runbook of ${component.id}`);
  const results: Record<string, unknown> = {};
  // Steps done by another step's activity follow its outcome: the ones it covers that come before
  // it in the runbook wait for it here.
  const waitingFor = new Map<string, string[]>();
  const done = new Set<string>();
  const settleCovered = async (coveringStep: string, status: StepStatus, error?: string) => {
    for (const covered of waitingFor.get(coveringStep) ?? [])
      await report(covered, status, { error, result: { coveredBy: coveringStep } });
    waitingFor.delete(coveringStep);
  };

  if (input.simulation) return simulate(steps.slice(first), input.simulation, report);

  for (const step of steps.slice(first)) {
    const automation = step.automation;
    if (!automation) {
      await report(step.id, 'failed', { error: 'manual step: run the command by hand, then resolve with skip' });
      return {
        ok: false,
        results,
        failed: { step: step.id, error: `manual step: ${step.title}`, manualCommand: step.command },
      };
    }
    if ('coveredBy' in automation) {
      if (done.has(automation.coveredBy)) {
        await report(step.id, 'succeeded', { result: { coveredBy: automation.coveredBy } });
      } else {
        waitingFor.set(automation.coveredBy, [...(waitingFor.get(automation.coveredBy) ?? []), step.id]);
        await report(step.id, 'running');
      }
      continue;
    }
    if ('timer' in automation) {
      await report(step.id, 'running');
      await sleep(parseDuration(automation.timer)!, { summary: `${component.id}: ${step.title}` });
      await report(step.id, 'succeeded');
      continue;
    }
    await report(step.id, 'running');
    try {
      results[step.id] = await runAutomation(
        automation.profile === 'long' ? long : short,
        automation,
        `${component.id}: ${step.title}`,
      );
      await report(step.id, 'succeeded', { result: results[step.id] });
      done.add(step.id);
      await settleCovered(step.id, 'succeeded');
    } catch (error) {
      if (isCancellation(error)) {
        // The scope is cancelled: the last reports go out from a scope that is not.
        await CancellationScope.nonCancellable(async () => {
          await report(step.id, 'cancelled');
          await settleCovered(step.id, 'cancelled');
        });
        throw error;
      }
      const message = describeFailure(error);
      await report(step.id, 'failed', { error: message });
      await settleCovered(step.id, 'failed', `covered by "${step.id}", which failed`);
      return { ok: false, results, failed: { step: step.id, error: message } };
    }
  }
  return { ok: true, results };
}

/**
 * The runbook rehearsed on paper: each step that does work (not covered by another) takes an equal
 * share of the component's simulated duration as a durable timer, so the time-skipping server
 * plays hours in milliseconds. The first step's injected failures go through the real activity
 * retry policy, whose backoff is part of the timeline; retries that run out go to the operator.
 */
async function simulate(
  steps: RunbookStep[],
  { minutes, failAttempts }: { minutes: number; failAttempts: number },
  report: (step: string, status: StepStatus, extra?: Partial<StepEvent>) => Promise<void>,
): Promise<ComponentRunResult> {
  const working = steps.filter((s) => !(s.automation && 'coveredBy' in s.automation));
  const share = (minutes * 60_000) / Math.max(1, working.length);
  const results: Record<string, unknown> = {};
  for (const [i, step] of steps.entries()) {
    const covering = step.automation && 'coveredBy' in step.automation ? step.automation.coveredBy : undefined;
    if (covering) {
      await report(step.id, 'succeeded', { result: { coveredBy: covering } });
      continue;
    }
    await report(step.id, 'running');
    if (i === 0 && failAttempts > 0) {
      try {
        results[step.id] = await short.simulateStep({ step: step.id, failAttempts });
      } catch (error) {
        const message = describeFailure(error);
        await report(step.id, 'failed', { error: message });
        return { ok: false, results, failed: { step: step.id, error: message } };
      }
    }
    await sleep(share, { summary: `simulated: ${step.title}` });
    await report(step.id, 'succeeded', { result: results[step.id] ?? { simulatedMinutes: share / 60_000 } });
  }
  return { ok: true, results };
}

/** Calls the activity of a step through `activities` (a proxy with the step's timeouts and retries). */
export function runAutomation(
  activities: ActivityInterfaceFor<RecoveryActivities>,
  automation: StepAutomation,
  summary: string,
): Promise<unknown> {
  const call = activities[automation.activity] as ActivityInterfaceFor<RecoveryActivities>[AutomationActivity] & {
    executeWithOptions: (options: { summary: string }, args: [unknown]) => Promise<unknown>;
  };
  return call.executeWithOptions({ summary }, [automation.input]);
}

/** The child workflow id of a component's n-th run: readable in the UI next to its recovery. */
export function componentWorkflowId(recoveryId: string, componentId: string, run: number): string {
  return `${recoveryId}/${componentId}/${run}`;
}
