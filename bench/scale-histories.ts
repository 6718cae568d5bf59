/**
 * Queue waits read from recovery histories: how long each activity task and workflow task waited
 * between being scheduled and a worker taking it (the server's times of the Scheduled and Started
 * events), for a recovery and its component child workflows. A starved step shows as a long wait.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface QueueWaits {
  /** Schedule-to-start of first attempts, ms. */
  activities: number[];
  /** Schedule-to-start of workflow tasks, ms. */
  workflowTasks: number[];
  /** Activity attempts after the first (a retry means a step failed, which a bench step must not). */
  retries: number;
  /** Start to close of each recovery (not its children), ms. */
  durations: number[];
  histories: number;
}

const timeOf = (event: HistoryEvent) =>
  Number(event.eventTime?.seconds ?? 0) * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;

/** Waits of one history, and the child workflows it started. */
function waitsOf(events: HistoryEvent[]) {
  const scheduled = new Map<string, number>();
  const activities: number[] = [];
  const workflowTasks: number[] = [];
  const children: { workflowId: string; runId: string }[] = [];
  let retries = 0;
  for (const event of events) {
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes || event.workflowTaskScheduledEventAttributes)
      scheduled.set(id, timeOf(event));
    const activity = event.activityTaskStartedEventAttributes;
    if (activity) {
      // The server writes Started with the completion, but with the time it handed the task to a worker.
      if ((activity.attempt ?? 1) > 1) retries += (activity.attempt ?? 1) - 1;
      else activities.push(timeOf(event) - scheduled.get(String(activity.scheduledEventId))!);
    }
    const task = event.workflowTaskStartedEventAttributes;
    if (task) workflowTasks.push(timeOf(event) - scheduled.get(String(task.scheduledEventId))!);
    const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId && child.runId) children.push({ workflowId: child.workflowId, runId: child.runId });
  }
  return { activities, workflowTasks, children, retries };
}

/** The queue waits of recoveries `workflowIds` and all their children, read `parallel` histories at a time. */
export async function queueWaits(client: Client, workflowIds: string[], parallel = 8): Promise<QueueWaits> {
  const result: QueueWaits = { activities: [], workflowTasks: [], retries: 0, durations: [], histories: 0 };
  const add = (waits: ReturnType<typeof waitsOf>) => {
    result.activities.push(...waits.activities);
    result.workflowTasks.push(...waits.workflowTasks);
    result.retries += waits.retries;
    result.histories++;
  };
  const queue = [...workflowIds];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
        result.durations.push(timeOf(events.at(-1)!) - timeOf(events[0]!));
        const waits = waitsOf(events);
        add(waits);
        for (const child of waits.children) {
          const childEvents = (await client.workflow.getHandle(child.workflowId, child.runId).fetchHistory()).events;
          add(waitsOf(childEvents ?? []));
        }
      }
    }),
  );
  return result;
}
