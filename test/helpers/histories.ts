import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentRunResult } from '../../workflows/component';
import type { StepEvent } from '../../workflows/progress';

type History = temporal.api.history.v1.IHistory;

export const HISTORIES_DIR = join(__dirname, '..', 'fixtures', 'histories');

/**
 * Saves the history of a finished workflow for the replay test, when RECORD_HISTORIES=1. Recorded
 * histories are committed: a later change of workflow code that would break a running recovery
 * fails the replay test (use `patched()` to change behaviour compatibly).
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // The encoded protobuf (exact, unlike the JSON mapping), and the workflow id, since child
  // workflow ids derive from it.
  const encoded = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    `${JSON.stringify({ workflowId: handle.workflowId, history: encoded }, null, 1)}\n`,
  );
}

/**
 * Saves a finished recovery as `<name>.json` and each component workflow it started as
 * `<name>.<component>-<run>.json`, when RECORD_HISTORIES=1: a worker upgraded in the middle of a
 * recovery replays both kinds.
 */
export async function recordRecoveryHistories(client: Client, handle: WorkflowHandle, name: string): Promise<void> {
  await recordHistory(handle, name);
  for (const id of childWorkflowIds(await handle.fetchHistory())) {
    const [component, run] = id.split('/').slice(-2);
    await recordHistory(client.workflow.getHandle(id), `${name}.${component}-${run}`);
  }
}

/** Reads a history saved by recordHistory. */
export function readHistory(file: string): { workflowId: string; history: temporal.api.history.v1.History } {
  const { workflowId, history } = JSON.parse(readFileSync(file, 'utf8')) as { workflowId: string; history: string };
  return { workflowId, history: temporal.api.history.v1.History.decode(Buffer.from(history, 'base64')) };
}

/** The workflow type a history ran: the replayer takes it from the first event. */
export const workflowTypeOf = (history: History) =>
  history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? undefined;

/** Workflow ids of the children a history started, in order. */
export const childWorkflowIds = (history: History) =>
  (history.events ?? [])
    .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId)
    .filter((id): id is string => Boolean(id));

const decode = <T>(payload: temporal.api.common.v1.IPayload | null | undefined) =>
  defaultPayloadConverter.fromPayload<T>(payload as temporal.api.common.v1.Payload);

/**
 * The step events a recovery received, in the order it applied them: its `stepEvent` signals and
 * the events its component workflows returned with their results (what they had not signalled).
 */
export function stepEventsReceived(history: History): StepEvent[] {
  return (history.events ?? []).flatMap((e): StepEvent[] => {
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName === 'stepEvent') return [decode<StepEvent>(signal.input?.payloads?.[0])];
    const child = e.childWorkflowExecutionCompletedEventAttributes;
    if (child) return decode<ComponentRunResult>(child.result?.payloads?.[0]).events ?? [];
    return [];
  });
}

/** The step events a component workflow sent as signals, in order. */
export const stepEventsSignalled = (history: History): StepEvent[] =>
  (history.events ?? [])
    .map((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)
    .filter((s) => s?.signalName === 'stepEvent')
    .map((s) => decode<StepEvent>(s!.input?.payloads?.[0]));

const { EventType } = temporal.api.enums.v1;
/** Events after which a component workflow goes on to its next step. */
const STEP_ENDS = new Set([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_TIMER_FIRED,
]);

/**
 * For each activity or timer a component workflow started: the workflow tasks from the event that
 * let its step begin (the start, the previous activity's or timer's end) to the one scheduling it.
 * 1 means the step began at once; 2, that it waited for a round trip (its "running" report).
 */
export function workflowTasksToEachWait(history: History): number[] {
  const counts: number[] = [];
  let tasks = 0;
  for (const e of history.events ?? []) {
    if (STEP_ENDS.has(e.eventType!)) tasks = 0;
    else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) tasks += 1;
    else if (
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED ||
      e.eventType === EventType.EVENT_TYPE_TIMER_STARTED
    )
      counts.push(tasks);
  }
  return counts;
}

/** Signals a workflow had sent but not seen delivered when it closed: each may be lost. */
export function signalsPendingAtClose(history: History): number {
  const events = history.events ?? [];
  const count = (type: temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === type).length;
  return (
    count(EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED) -
    count(EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED) -
    count(EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)
  );
}
