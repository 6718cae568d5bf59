import {
  type ActivityInterfaceFor,
  type RetryPolicy,
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
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
  /**
   * The recovery applies the `events` of the result: the run may end with reports unsent. A run of an
   * older recovery (which would ignore them, e.g. on a worker not yet upgraded) signals every report.
   */
  reportsInResult?: boolean;
}

export interface ComponentRunResult {
  ok: boolean;
  /** Results of the steps that ran, by step id. */
  results: Record<string, unknown>;
  failed?: { step: string; error: string; manualCommand?: string };
  /** Step reports not signalled when the run ended, in order: the recovery applies them with the result. */
  events?: StepEvent[];
}

/** Runs from this version on do not wait for their step reports (see stepReports). */
export const PIPELINED_STEP_REPORTS = 'pipelined-step-reports';
/** Recoveries from this version on apply the reports a run hands back in its result. */
export const STEP_REPORTS_IN_RESULT = 'step-reports-in-result';

/**
 * The message of an activity failure, with the error type the activity gave it, unless the message
 * names it already (AWS failures say "call: HTTP 500 Type: …"). Only the text changes with this,
 * never a command, so runs replay alike.
 */
export function describeFailure(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    const { type, message } = cause;
    return type && !message.includes(`${type}: `) ? `${type}: ${message}` : message;
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Recovers one component: runs the steps of its kind's runbook in order, each as an activity. It
 * never fails: a step that fails after its retries, or a manual step, ends the run with
 * `ok: false`, and the recovery hands the decision to an operator, then starts another run from
 * the step the operator chose.
 */
export async function componentRecoveryWorkflow(input: ComponentRunInput): Promise<ComponentRunResult> {
  const { component, recoveryId } = input;
  const parent = getExternalWorkflowHandle(recoveryId);
  const send = (event: StepEvent) => parent.signal(stepEventSignal, event);
  // Runs begun before this version replay as they ran: each report awaited before the next command.
  const reports = patched(PIPELINED_STEP_REPORTS) ? stepReports(send) : undefined;
  const reporting: StepReporting = {
    async report(step, status, extra = {}) {
      const event = { component: component.id, step, status, at: new Date().toISOString(), ...extra };
      if (reports) reports.post(event);
      else await send(event);
    },
    beforeWait: () => reports?.release(),
  };
  try {
    const result = await runSteps(input, reporting);
    if (!reports) return result;
    const events = await reports.close(input.reportsInResult === true);
    return events.length ? { ...result, events } : result;
  } catch (error) {
    // A run that throws has no result to carry reports: they all go out first.
    await reports?.flush();
    throw error;
  }
}

/** How a run tells its recovery about its steps. */
interface StepReporting {
  report: (step: string, status: StepStatus, extra?: Partial<StepEvent>) => Promise<void>;
  /** Called before each wait for an activity or a timer: the reports so far can go out meanwhile. */
  beforeWait: () => void;
}

/** The steps of a component's run. */
async function runSteps(input: ComponentRunInput, reporting: StepReporting): Promise<ComponentRunResult> {
  const { component, context } = input;
  const { report, beforeWait } = reporting;
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

  if (input.simulation) return simulate(steps.slice(first), input.simulation, reporting);

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
      beforeWait();
      await sleep(parseDuration(automation.timer)!, { summary: `${component.id}: ${step.title}` });
      await report(step.id, 'succeeded');
      continue;
    }
    await report(step.id, 'running');
    beforeWait();
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
 * A component's step reports to its recovery, in order, without holding up the steps. `post` only
 * queues: a step's activity or timer is scheduled in the same workflow task as its "running"
 * report instead of one signal round trip later. `release`, before each wait, sends the queue one
 * signal at a time (Temporal does not order signals sent in the same workflow task), from a scope
 * that is not cancellable, so a cancelled run still reports everything. `close` waits for the
 * signal in flight (one still pending when the workflow completes can be lost) and hands back the
 * reports not sent, which ride in the run's result: the run ends without another round trip. For a
 * recovery that would not read them there (`inResult` false), it sends them all first.
 * `flush` sends them all, for a run that throws and has no result. A signal that fails (the
 * recovery is gone) stops the sending, and `close` or `flush` throws its error.
 */
function stepReports(send: (event: StepEvent) => Promise<void>) {
  const queue: StepEvent[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let failure: { error: unknown } | undefined;
  const pump = async () => {
    try {
      while (queue.length > 0 && !closed) await send(queue.shift()!);
    } catch (error) {
      failure = { error };
    } finally {
      sending = undefined;
    }
  };
  const release = () => {
    if (!sending && !closed && !failure && queue.length > 0) sending = CancellationScope.nonCancellable(pump);
  };
  const settled = async () => {
    await sending;
    if (failure) throw failure.error;
  };
  return {
    post: (event: StepEvent) => void queue.push(event),
    release,
    async close(inResult: boolean): Promise<StepEvent[]> {
      if (!inResult) release();
      else closed = true;
      await settled();
      return queue.splice(0);
    },
    async flush(): Promise<void> {
      release();
      await settled();
    },
  };
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
  { report, beforeWait }: StepReporting,
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
    beforeWait();
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
