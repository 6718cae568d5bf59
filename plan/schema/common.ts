import { z } from 'zod';
import { cronProblem, isKnownTimezone } from '../cron';
import { parseDuration } from '../duration';

/** `90s`, `45m`, `4h`, `1d`, `1h30m`: units from the largest down, each at most once. */
const DURATION_FORMAT = /^(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;
export const duration = z
  .string()
  .regex(DURATION_FORMAT, 'expected a duration such as 90s, 45m, 4h, 1d or 1h30m')
  .refine(
    (text) => !DURATION_FORMAT.test(text) || parseDuration(text) !== undefined,
    'a duration must be longer than zero',
  )
  .describe('A duration: 90s, 45m, 4h, 1d, or a combination such as 1h30m');

/**
 * Lowercase letters, digits and dashes: ids, names. At most 63 characters, a DNS label: they end up
 * in Temporal workflow and schedule ids, search attributes and the names of drill copies.
 */
export const slug = z
  .string()
  .max(63, 'at most 63 characters: it becomes part of workflow ids and resource names')
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'use lowercase letters, digits and single dashes, e.g. "orders-db"');

export const objectives = z
  .object({
    rpo: duration
      .optional()
      .describe('Recovery point objective: the most data, in time, that may be lost. Plan default 1h'),
    rto: duration.optional().describe('Recovery time objective: the longest the recovery may take. Plan default 4h'),
  })
  .strict();

const cronScheduleTypes = ['full', 'incremental', 'differential', 'snapshot'] as const;

/** A 5-field cron expression and its time zone: backup calendars, drill schedules. */
export const cronFields = {
  cron: z.string().describe('5-field cron expression, e.g. "10 16 * * 1" (Mondays 16:10)'),
  timezone: z
    .string()
    .refine(isKnownTimezone, 'unknown time zone: use an IANA name such as "UTC" or "Europe/Tallinn"')
    .optional()
    .describe('IANA time zone of the cron expression; UTC when absent'),
};

/** Reports an expression that is not valid cron (or never fires) at `path`.cron. */
export function checkCron(
  value: { cron: string; timezone?: string },
  ctx: z.RefinementCtx,
  path: (string | number)[] = [],
): void {
  const problem = cronProblem(
    value.cron,
    value.timezone && isKnownTimezone(value.timezone) ? value.timezone : undefined,
  );
  if (problem)
    ctx.addIssue({ code: 'custom', path: [...path, 'cron'], message: `invalid cron expression: ${problem}` });
}

/** A backup that creates a recovery point at each cron time. */
const cronSchedule = z
  .object({
    type: z
      .enum(cronScheduleTypes)
      .describe('full, incremental, differential or snapshot: a recovery point at each cron time'),
    ...cronFields,
  })
  .strict()
  .superRefine((schedule, ctx) => checkCron(schedule, ctx));

/** Continuous log shipping (binlogs, WAL, PITR): recovery points every `every` at worst. */
const logSchedule = z
  .object({
    type: z.literal('log').describe('continuous log shipping / point-in-time recovery'),
    every: duration.describe('How often logs are shipped: the worst-case data loss'),
  })
  .strict();

export const schedule = z.discriminatedUnion('type', [cronSchedule, logSchedule]);

/** An S3 bucket that receives a copy of every backup the engine takes. */
const offsite = z
  .object({
    s3: z
      .object({
        bucket: z.string().min(3),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as us-west-2')
          .optional(),
        prefix: z.string().default('').describe('Key prefix; the component id is appended'),
      })
      .strict(),
  })
  .strict();

export const backup = z
  .object({
    schedules: z.array(schedule).min(1, 'list at least one schedule, or remove `backup`'),
    retention: duration.optional().describe('How long backups are kept'),
    offsite: offsite.optional().describe('Copy every backup off the machine (the engine takes the backups)'),
    verify: z
      .enum(['checksums', 'restore'])
      .default('checksums')
      .describe(
        'Integrity check after every backup: checksums of the files against the manifest, or also a restore into a scratch server',
      ),
  })
  .strict();

export const contact = z
  .object({
    name: z.string().min(1),
    role: z.string().optional().describe('e.g. primary, secondary, manager'),
    email: z.string().email().optional(),
    phone: z.string().optional(),
    slack: z.string().optional().describe('Slack handle or channel'),
    escalateAfter: duration
      .optional()
      .describe('Escalate to the next contact when this one has not answered after this long'),
  })
  .strict()
  .refine((c) => c.email || c.phone || c.slack, 'give at least one of email, phone or slack');

export type Schedule = z.infer<typeof schedule>;
export type Backup = z.infer<typeof backup>;
export type Contact = z.infer<typeof contact>;
