/**
 * Reading a recovery's histories for the benchmarks: the recovery's own and those of its
 * component workflows (children), with their size as Temporal counts it (encoded protobuf).
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface RecoveryHistories {
  parent: History;
  children: { workflowId: string; history: History }[];
}

/** The recovery's history and every child workflow it started (each component run). */
export async function recoveryHistories(client: Client, workflowId: string): Promise<RecoveryHistories> {
  const parent = await client.workflow.getHandle(workflowId).fetchHistory();
  const childIds = (parent.events ?? [])
    .map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId)
    .filter((id): id is string => Boolean(id));
  const children = await Promise.all(
    childIds.map(async (id) => ({ workflowId: id, history: await client.workflow.getHandle(id).fetchHistory() })),
  );
  return { parent, children };
}

/** Encoded size in bytes: what Temporal's history size limit (50 MB) is measured on. */
export const historyBytes = (history: History) =>
  temporal.api.history.v1.History.encode(temporal.api.history.v1.History.fromObject(history)).finish().length;

export const eventCount = (history: History) => history.events?.length ?? 0;

/** An event's time, epoch milliseconds (with the sub-millisecond part). */
export function eventMs(event: HistoryEvent): number {
  const time = event.eventTime!;
  return Number(time.seconds ?? 0) * 1000 + (time.nanos ?? 0) / 1e6;
}

/** A JSON payload's value (the SDK's default converter), undefined for any other encoding. */
export function jsonPayload(payload: temporal.api.common.v1.IPayload | undefined): unknown {
  const encoding = payload?.metadata?.encoding ? Buffer.from(payload.metadata.encoding).toString() : '';
  if (encoding !== 'json/plain' || !payload?.data) return undefined;
  return JSON.parse(Buffer.from(payload.data).toString('utf8')) as unknown;
}

export interface ActivityTiming {
  activityType: string;
  /** Scheduled → started: time spent in the task queue until the worker picked it up. */
  queueMs: number;
  /** Scheduled → completed, as the server recorded it. */
  totalMs: number;
  /** The activity's own result (e.g. runCommand's durationMs). */
  result: unknown;
}

/**
 * The events `done` finds completion attributes on, each with those attributes and a lookup of the
 * events they name by id (the scheduled and started events of the same task).
 */
function completions<T>(history: History, done: (event: HistoryEvent) => T | null | undefined) {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const at = (id: unknown) => byId.get(Number(id))!;
  return events.flatMap((event) => {
    const attributes = done(event);
    return attributes ? [{ event, attributes, at }] : [];
  });
}

/** Every completed activity of a history, with its server-side timings. */
export function activityTimings(history: History): ActivityTiming[] {
  return completions(history, (e) => e.activityTaskCompletedEventAttributes).map(({ event, attributes, at }) => {
    const scheduled = at(attributes.scheduledEventId);
    return {
      activityType: scheduled.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
      queueMs: eventMs(at(attributes.startedEventId)) - eventMs(scheduled),
      totalMs: eventMs(event) - eventMs(scheduled),
      result: jsonPayload(attributes.result?.payloads?.[0]),
    };
  });
}

/** Workflow task latency: scheduled → completed, per task, in ms. */
export function workflowTaskLatencies(history: History): number[] {
  return completions(history, (e) => e.workflowTaskCompletedEventAttributes).map(
    ({ event, attributes, at }) => eventMs(event) - eventMs(at(attributes.scheduledEventId)),
  );
}
