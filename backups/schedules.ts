import { engineBackedUp } from '../activities/backups';
import { parseDuration } from '../plan/duration';
import { formatMinutes } from '../plan/rpo';
import { PLAN_DEFAULT_OBJECTIVES, type RecoveryPlan } from '../plan/schema/plan';
import type { BackupType } from './manifest';

/** One Temporal Schedule the plan asks for: a backup on its calendar, or the RPO watchdog. */
export interface EngineSchedule {
  scheduleId: string;
  /** For people: "agama-mysql full backup, 10 16 * * 1 UTC". */
  description: string;
  spec:
    | { cronExpressions: string[]; timezone: string }
    | { intervals: { every: string }[] }
    | { calendars: Record<string, unknown>[]; timezone: string };
  workflowType: 'backupWorkflow' | 'rpoWatchdogWorkflow' | 'recoveryWorkflow';
  args: [Record<string, unknown>];
}

/** Every schedule id of a plan starts with this: what `apply` owns, and may delete when the plan drops it. */
export const schedulePrefix = (plan: string) => `recovery:${plan}:`;

/**
 * The schedules of a plan: each backup schedule of a component whose backups the engine takes
 * (cron calendars exactly as written, in their time zone, UTC by default; log shipping as an
 * interval), an RPO watchdog checking four times per shortest RPO (at most every 15 minutes), and
 * each drill scenario on its calendar.
 */
export function engineSchedules(plan: RecoveryPlan): EngineSchedule[] {
  const schedules: EngineSchedule[] = [];
  const minutes = (text: string) => parseDuration(text)! / 60_000;
  let shortestRpo = minutes(plan.objectives?.rpo ?? PLAN_DEFAULT_OBJECTIVES.rpo);
  for (const component of engineBackedUp(plan)) {
    const rpo = component.objectives?.rpo;
    if (rpo) shortestRpo = Math.min(shortestRpo, minutes(rpo));
    const seen = new Map<string, number>();
    for (const schedule of component.backup?.schedules ?? []) {
      const type: BackupType = schedule.type === 'differential' ? 'incremental' : schedule.type;
      const n = (seen.get(type) ?? 0) + 1;
      seen.set(type, n);
      const scheduleId = `${schedulePrefix(plan.name)}backup:${component.id}:${type}${n > 1 ? `-${n}` : ''}`;
      const args: [Record<string, unknown>] = [{ plan: plan.name, component: component.id, type }];
      if (schedule.type === 'log')
        schedules.push({
          scheduleId,
          description: `${component.id} log archive every ${schedule.every}`,
          spec: { intervals: [{ every: schedule.every }] },
          workflowType: 'backupWorkflow',
          args,
        });
      else {
        const timezone = schedule.timezone ?? 'UTC';
        schedules.push({
          scheduleId,
          description: `${component.id} ${type} backup, ${schedule.cron} ${timezone}`,
          spec: { cronExpressions: [schedule.cron], timezone },
          workflowType: 'backupWorkflow',
          args,
        });
      }
    }
  }
  if (schedules.length > 0) {
    const every = Math.max(1, Math.min(15, Math.floor(shortestRpo / 4)));
    schedules.push({
      scheduleId: `${schedulePrefix(plan.name)}rpo-watchdog`,
      description: `RPO watchdog every ${formatMinutes(every)} (shortest RPO ${formatMinutes(shortestRpo)})`,
      spec: { intervals: [{ every: `${every}m` }] },
      workflowType: 'rpoWatchdogWorkflow',
      args: [{ plan: plan.name }],
    });
  }
  for (const scenario of plan.scenarios.filter((s) => s.mode === 'drill')) {
    const timezone = scenario.schedule?.timezone ?? 'UTC';
    schedules.push({
      scheduleId: `${schedulePrefix(plan.name)}drill:${scenario.name}`,
      description: `drill ${scenario.name}, ${scenario.schedule ? `${scenario.schedule.cron} ${timezone}` : 'first Monday of the month 10:00 UTC'}`,
      // Cron cannot say "the first Monday" (day of month and day of week combine with OR); a
      // Temporal calendar can (its fields combine with AND).
      spec: scenario.schedule
        ? { cronExpressions: [scenario.schedule.cron], timezone }
        : {
            calendars: [{ dayOfMonth: { start: 1, end: 7 }, dayOfWeek: 'MONDAY', hour: 10, minute: 0 }],
            timezone: 'UTC',
          },
      workflowType: 'recoveryWorkflow',
      // Nobody is waiting at a gate at 10:00 on a Monday: a drill touches only its own copies.
      args: [{ plan: plan.name, scenario: scenario.name, approvals: { auto: true } }],
    });
  }
  return schedules;
}
