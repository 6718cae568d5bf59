import cronstrue from 'cronstrue';
import { parseCron } from './cron';
import { parseDuration } from './duration';
import type { Schedule } from './schema/common';

const MINUTE = 60_000;
const DAY = 1_440 * MINUTE;
/** A Monday in a leap year: every analysis starts here, so the same plan always gives the same numbers. */
const ORIGIN = Date.UTC(2024, 0, 1);
/** Cap on enumerated recovery points per schedule (a cron every minute for years would be millions). */
const MAX_POINTS = 300_000;

type CronSchedule = Exclude<Schedule, { type: 'log' }>;

export interface DataLoss {
  /** Largest possible data loss in minutes: the longest gap between consecutive recovery points. */
  worstCaseMinutes: number;
  /** The gap itself, for explanations. */
  gap: { from: Date; to: Date; fromSchedule: Schedule; toSchedule: Schedule } | undefined;
  /** Present when continuous log shipping bounds the loss. */
  log?: Extract<Schedule, { type: 'log' }>;
}

/**
 * How long one calendar cycle of the cron is: a week when only minutes, hours and days of the week
 * vary (in UTC), else five years, which covers months of every length, leap days and DST changes.
 */
function cycleOf(schedule: CronSchedule): number {
  const [, , dayOfMonth, month] = schedule.cron.trim().split(/\s+/);
  const calendarBound = dayOfMonth !== '*' || month !== '*';
  const utc = !schedule.timezone || schedule.timezone === 'UTC' || schedule.timezone === 'Etc/UTC';
  return calendarBound || !utc ? 5 * 366 * DAY : 7 * DAY;
}

/** Recovery points of a cron schedule from ORIGIN over two of its cycles, so the gap across a boundary is seen. */
function recoveryPoints(schedule: CronSchedule): number[] {
  const cron = parseCron(schedule.cron, schedule.timezone);
  const end = ORIGIN + 2 * cycleOf(schedule);
  const points: number[] = [];
  for (let next = cron.nextRun(new Date(ORIGIN - 1)); next && next.getTime() <= end && points.length < MAX_POINTS;) {
    points.push(next.getTime());
    next = cron.nextRun(next);
  }
  return points;
}

/** Worst-case data loss of a set of backup schedules; undefined when there are none. */
export function worstCaseDataLoss(schedules: readonly Schedule[]): DataLoss | undefined {
  if (schedules.length === 0) return undefined;
  const points = schedules
    .filter((s): s is CronSchedule => s.type !== 'log')
    .flatMap((schedule) => recoveryPoints(schedule).map((at) => ({ at, schedule: schedule })))
    .sort((a, b) => a.at - b.at);
  let gap: DataLoss['gap'];
  for (let i = 1; i < points.length; i++) {
    const span = points[i]!.at - points[i - 1]!.at;
    if (!gap || span > gap.to.getTime() - gap.from.getTime()) {
      gap = {
        from: new Date(points[i - 1]!.at),
        to: new Date(points[i]!.at),
        fromSchedule: points[i - 1]!.schedule,
        toSchedule: points[i]!.schedule,
      };
    }
  }
  const cronMinutes = gap
    ? (gap.to.getTime() - gap.from.getTime()) / MINUTE
    : points.length === 1
      ? Infinity
      : undefined;
  const log = schedules
    .filter((s): s is Extract<Schedule, { type: 'log' }> => s.type === 'log')
    .sort((a, b) => parseDuration(a.every)! - parseDuration(b.every)!)[0];
  const logMinutes = log ? parseDuration(log.every)! / MINUTE : undefined;
  // Continuous log shipping bounds the loss whatever the base backups do.
  if (logMinutes !== undefined && (cronMinutes === undefined || logMinutes <= cronMinutes)) {
    return { worstCaseMinutes: logMinutes, gap: undefined, log };
  }
  return { worstCaseMinutes: cronMinutes ?? Infinity, gap };
}

/** Minutes as people say them: `40s`, `15m`, `24h`, `25h30m`, `31d`. */
export function formatMinutes(minutes: number): string {
  if (!Number.isFinite(minutes)) return 'unbounded';
  if (minutes < 1) return `${Math.round(minutes * 60)}s`;
  if (minutes < 60) return `${Math.round(minutes)}m`;
  if (minutes < 72 * 60) {
    const h = Math.floor(minutes / 60);
    const m = Math.round(minutes - h * 60);
    return m ? `${h}h${m}m` : `${h}h`;
  }
  const d = Math.floor(minutes / 1440);
  const h = Math.round((minutes - d * 1440) / 60);
  return h ? `${d}d${h}h` : `${d}d`;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** "Sunday 16:10 UTC" (or "31 Mar 02:00 UTC" when the gap spans more than a week), in the schedule's zone. */
function describeMoment(at: Date, timezone: string, withDate: boolean): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    weekday: 'long',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = withDate ? `${get('day')} ${get('month')}` : get('weekday') || WEEKDAYS[at.getUTCDay()];
  return `${day} ${get('hour')}:${get('minute')} ${timezone}`;
}

/** "incremental backups (at 16:10, only on Sunday and Tuesday through Saturday, UTC)". */
export function describeSchedule(schedule: Schedule): string {
  if (schedule.type === 'log') return `continuous backup (logs shipped every ${schedule.every})`;
  const when = cronstrue.toString(schedule.cron, { use24HourTimeFormat: true, verbose: false });
  return `${schedule.type} backups (${when.charAt(0).toLowerCase()}${when.slice(1)}, ${schedule.timezone ?? 'UTC'})`;
}

/**
 * Why the worst case is what it is, in one clause: which schedules leave how much data loss, and
 * where the longest gap between recovery points falls.
 */
export function explainDataLoss(loss: DataLoss, schedules: readonly Schedule[]): string {
  if (loss.log) return `${describeSchedule(loss.log)} leaves up to ${loss.log.every} of data loss`;
  const backups = schedules.filter((s) => s.type !== 'log').map(describeSchedule);
  const what = backups.length > 1 ? `${backups.slice(0, -1).join(', ')} and ${backups.at(-1)}` : backups[0];
  if (!loss.gap) return `${what} leave a single recovery point: the data loss is unbounded`;
  const { from, to, fromSchedule, toSchedule } = loss.gap;
  const tz = (s: Schedule) => (s.type === 'log' ? 'UTC' : (s.timezone ?? 'UTC'));
  const withDate = loss.worstCaseMinutes > 7 * 1440;
  return (
    `${what} leave up to ${formatMinutes(loss.worstCaseMinutes)} of data loss (longest gap: from the ${fromSchedule.type} ` +
    `backup of ${describeMoment(from, tz(fromSchedule), withDate)} to the ${toSchedule.type} backup of ${describeMoment(to, tz(toSchedule), withDate)})`
  );
}
