import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleOptions,
  type ScheduleSpec,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import { engineSchedules, schedulePrefix, type EngineSchedule } from '../../backups/schedules';
import type { RecoveryPlan } from '../../plan/schema/plan';
import type { TemporalTarget } from '../temporal-client';

export type ScheduleAction =
  'created' | 'updated' | 'unchanged' | 'deleted' | 'would-create' | 'would-update' | 'would-delete';

export interface ScheduleOutcome {
  scheduleId: string;
  description: string;
  action: ScheduleAction;
}

/**
 * What `apply` sets, as one string kept in the started workflows' memo: the server stores cron expressions
 * compiled into calendars, so comparing specs read back would see changes that are not there.
 */
const fingerprintOf = (schedule: EngineSchedule, taskQueue: string) =>
  JSON.stringify([schedule.spec, schedule.workflowType, schedule.args, taskQueue, 'overlap:skip']);

function optionsOf(schedule: EngineSchedule, taskQueue: string): ScheduleOptions {
  return {
    scheduleId: schedule.scheduleId,
    spec: schedule.spec as ScheduleSpec,
    action: {
      type: 'startWorkflow',
      workflowType: schedule.workflowType,
      args: schedule.args,
      taskQueue,
      // Kept on the action (a schedule's own memo cannot be updated): what apply compares against.
      memo: { scheduleFingerprint: fingerprintOf(schedule, taskQueue) },
    },
    // A backup still running when the next is due: skip the next rather than pile them up.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
    memo: { description: schedule.description },
  };
}

/**
 * Creates the plan's schedules, updates those that differ, and deletes schedules of this plan that
 * the plan no longer asks for. Idempotent: a second run changes nothing.
 */
export async function applyTemporalSchedules(
  { client, taskQueue }: TemporalTarget,
  plan: RecoveryPlan,
  dryRun: boolean,
): Promise<ScheduleOutcome[]> {
  const wanted = engineSchedules(plan);
  const outcomes: ScheduleOutcome[] = [];
  for (const schedule of wanted) {
    const options = optionsOf(schedule, taskQueue);
    const handle = client.schedule.getHandle(schedule.scheduleId);
    const existing = await handle.describe().catch((error: unknown) => {
      if (error instanceof ScheduleNotFoundError) return undefined;
      throw error;
    });
    const base = { scheduleId: schedule.scheduleId, description: schedule.description };
    if (!existing) {
      if (!dryRun) await client.schedule.create(options);
      outcomes.push({ ...base, action: dryRun ? 'would-create' : 'created' });
      continue;
    }
    const action = existing.action as { memo?: Record<string, unknown> };
    if (action.memo?.scheduleFingerprint === fingerprintOf(schedule, taskQueue)) {
      outcomes.push({ ...base, action: 'unchanged' });
      continue;
    }
    if (!dryRun)
      await handle.update((previous): ScheduleUpdateOptions => ({
        ...previous,
        spec: options.spec,
        action: options.action,
        policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
      }));
    outcomes.push({ ...base, action: dryRun ? 'would-update' : 'updated' });
  }
  const keep = new Set(wanted.map((s) => s.scheduleId));
  for await (const summary of client.schedule.list()) {
    if (!summary.scheduleId.startsWith(schedulePrefix(plan.name)) || keep.has(summary.scheduleId)) continue;
    if (!dryRun) await client.schedule.getHandle(summary.scheduleId).delete();
    outcomes.push({
      scheduleId: summary.scheduleId,
      description: 'no longer in the plan',
      action: dryRun ? 'would-delete' : 'deleted',
    });
  }
  return outcomes;
}
