/**
 * AWS Backup backup plans from a recovery plan's backup schedules: the conversion (pure: cron
 * expressions, retention, which resources) and the activity that creates or updates one backup plan
 * and its resource selection in one region, idempotently. The `recovery schedules apply --aws`
 * command runs the activity function directly; a workflow can run it as an activity.
 */
import {
  BackupClient,
  CreateBackupPlanCommand,
  CreateBackupSelectionCommand,
  CreateBackupVaultCommand,
  DeleteBackupSelectionCommand,
  DescribeBackupVaultCommand,
  GetBackupPlanCommand,
  GetBackupSelectionCommand,
  ListBackupPlansCommand,
  ListBackupSelectionsCommand,
  UpdateBackupPlanCommand,
  type BackupRule,
  type BackupRuleInput,
  type BackupSelection,
} from '@aws-sdk/client-backup';
import { Context } from '@temporalio/activity';
import type { DynamoDbTableComponent } from '../plan/kinds/dynamodb-table';
import type { RdsInstanceComponent } from '../plan/kinds/rds-instance';
import type { S3BucketComponent } from '../plan/kinds/s3-bucket';
import { parseDuration } from '../plan/duration';
import type { FieldPath } from '../plan/positions';
import type { RecoveryPlan } from '../plan/schema/plan';
import { awsCall, awsFailure } from './aws-errors';

// ---------------------------------------------------------------------------------------------
// Cron: the plan's 5-field expressions (Vixie semantics, as plan/cron.ts reads them) as AWS Backup's
// 6-field `cron(minute hour day-of-month month day-of-week year)`.

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
/** Day names; AWS numbers them 1 (SUN) to 7 (SAT), cron 0 (SUN) to 6 (SAT), and 7 (SUN). */
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  name: string;
  min: number;
  max: number;
  /** Names of the values from `min` on. */
  names?: string[];
}

const FIELDS: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS },
];

/** The values a cron field stands for, or why it is not translated. */
function expandField(text: string, field: Field): number[] | string {
  const value = (token: string): number | undefined => {
    if (/^\d+$/.test(token)) {
      const n = Number(token);
      return n >= field.min && n <= field.max ? n : undefined;
    }
    const index = field.names?.indexOf(token.toUpperCase()) ?? -1;
    return index >= 0 ? field.min + index : undefined;
  };
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|[A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?(?:\/(\d+))?$/.exec(part);
    if (!match)
      return `${field.name} "${text}": only numbers, names, *, ranges (a-b), steps (/n) and lists are translated to AWS Backup`;
    const [, start, end, stepText] = match;
    const step = stepText === undefined ? 1 : Number(stepText);
    let low: number | undefined;
    let high: number | undefined;
    if (start === '*') {
      if (end !== undefined) return `${field.name} "${text}": "*-" is not a range`;
      [low, high] = [field.min, field.max];
    } else {
      low = value(start!);
      // `a/n` runs from a to the end of the field, as in Vixie cron.
      high = end !== undefined ? value(end) : stepText !== undefined ? field.max : low;
    }
    if (low === undefined || high === undefined)
      return `${field.name} "${text}": a value is outside ${field.min}-${field.max}`;
    if (low > high) return `${field.name} "${text}": a range that wraps around is not translated`;
    if (step < 1) return `${field.name} "${text}": a step must be at least 1`;
    for (let v = low; v <= high; v += step) values.add(v);
  }
  if (field.name === 'day-of-week' && values.delete(7)) values.add(0);
  return [...values].sort((a, b) => a - b);
}

/** `0-5,10,20`: runs of three or more as ranges; `*` for every value of the field. */
function compress(values: number[], min: number, max: number, name = (v: number) => String(v)): string {
  if (values.length === max - min + 1) return '*';
  const parts: string[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${name(values[i]!)}-${name(values[j]!)}`);
    else for (let k = i; k <= j; k++) parts.push(name(values[k]!));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The AWS Backup schedule expression of a 5-field cron expression, or why AWS Backup cannot run it:
 * more often than hourly, or restricting both day-of-month and day-of-week (cron reads them as
 * either one; AWS wants `?` in one of them). Days of the week are written as names (MON-FRI), which
 * AWS and cron read alike.
 */
export function awsBackupCron(cron: string): { expression: string } | { problem: string } {
  const texts = cron.trim().split(/\s+/);
  if (texts.length !== 5) return { problem: `expected 5 fields, got "${cron}"` };
  const fields: number[][] = [];
  for (const [i, text] of texts.entries()) {
    const values = expandField(text, FIELDS[i]!);
    if (typeof values === 'string') return { problem: values };
    fields.push(values);
  }
  const [minutes, hours, days, months, weekdays] = fields as [number[], number[], number[], number[], number[]];
  const [minuteText, , dayText, , weekdayText] = texts as [string, string, string, string, string];
  if (minutes.length > 1)
    return {
      problem: `runs ${minutes.length} times an hour (minute "${minuteText}"): AWS Backup runs scheduled backups at most hourly; keep one minute value, or use a log schedule (continuous backup)`,
    };
  const dayRestricted = dayText !== '*';
  const weekdayRestricted = weekdayText !== '*';
  if (dayRestricted && weekdayRestricted)
    return {
      problem: `restricts both day-of-month ("${dayText}") and day-of-week ("${weekdayText}"), which cron reads as either one; AWS Backup takes only one of them: split it into two schedules`,
    };
  const expression = [
    compress(minutes, 0, 59),
    compress(hours, 0, 23),
    dayRestricted ? compress(days, 1, 31) : weekdayRestricted ? '?' : '*',
    compress(months, 1, 12),
    weekdayRestricted ? compress(weekdays, 0, 6, (d) => DAYS[d]!) : '?',
    '*',
  ].join(' ');
  return { expression: `cron(${expression})` };
}

// ---------------------------------------------------------------------------------------------
// The backup plans a recovery plan asks for.

/** A resource AWS Backup backs up; its ARN needs the account, known once AWS answers. */
export interface BackupResource {
  component: string;
  type: 'rds-db' | 'dynamodb-table' | 's3-bucket';
  name: string;
  region: string;
}

export interface BackupRuleSpec {
  /** 1-50 of letters, digits and dashes; stable while the schedule, zone and retention are. */
  name: string;
  /** `cron(0 3 * * ? *)` */
  scheduleExpression: string;
  /** IANA time zone of the expression; UTC when absent. */
  timezone?: string;
  /** Continuous backup (point-in-time recovery) rather than snapshots. */
  continuous: boolean;
  /** Recovery points are kept this long; until deleted when absent. */
  deleteAfterDays?: number;
  /** The plan's schedules this rule carries out. */
  sources: { component: string; path: string; schedule: string }[];
}

/** One AWS Backup backup plan: the rules and resources of one region of a recovery plan. */
export interface RegionBackupPlanSpec {
  region: string;
  /** `recovery-<plan>` */
  name: string;
  /** `recovery-<plan>`, shortened to AWS's 50 characters when longer. */
  selectionName: string;
  rules: BackupRuleSpec[];
  resources: BackupResource[];
}

export interface BackupPlansSpec {
  plan: string;
  regions: RegionBackupPlanSpec[];
  /** What people should know: what is not an AWS Backup rule and what to do about it. */
  notes: string[];
  /** What AWS Backup cannot express; nothing is applied while there is any. */
  problems: { path: FieldPath; message: string }[];
}

/** The schedule AWS Backup uses for upkeep of a continuous backup rule (its default, 05:00 UTC). */
export const CONTINUOUS_RULE_SCHEDULE = 'cron(0 5 ? * * *)';
/** AWS Backup keeps continuous backups 1 to 35 days. */
const MAX_CONTINUOUS_DAYS = 35;
const DAY_MS = 86_400_000;

/** FNV-1a, 8 hex digits: short stable names, in pure code. */
function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

const fit = (name: string, max: number) => (name.length <= max ? name : `${name.slice(0, max - 9)}-${shortHash(name)}`);

type BackupComponent = RdsInstanceComponent | DynamoDbTableComponent | S3BucketComponent;
const isBackupComponent = (c: RecoveryPlan['components'][number]): c is BackupComponent =>
  c.kind === 'rds-instance' || c.kind === 'dynamodb-table' || c.kind === 's3-bucket';

function resourceOf(c: BackupComponent): BackupResource {
  switch (c.kind) {
    case 'rds-instance':
      // The instance backed up is the source, in its own region.
      return { component: c.id, type: 'rds-db', name: c.instanceId, region: c.sourceRegion ?? c.region };
    case 'dynamodb-table':
      return { component: c.id, type: 'dynamodb-table', name: c.tableName, region: c.region };
    case 's3-bucket':
      return { component: c.id, type: 's3-bucket', name: c.bucket, region: c.region };
  }
}

const describeResource = (r: BackupResource) =>
  `${r.type === 'rds-db' ? 'RDS instance' : r.type === 'dynamodb-table' ? 'DynamoDB table' : 'S3 bucket'} ${r.name} (${r.region})`;

/**
 * The AWS Backup backup plans of `plan`: per region of its AWS data components (rds-instance,
 * dynamodb-table, s3-bucket), one rule per distinct cron schedule (with its time zone and retention)
 * and one continuous backup rule per retention for the log schedules of RDS instances and S3
 * buckets. Log schedules of DynamoDB tables become notes: AWS Backup has no continuous backup for
 * them, DynamoDB's own point-in-time recovery is it.
 */
export function backupPlansFromPlan(plan: RecoveryPlan): BackupPlansSpec {
  const notes: string[] = [];
  const problems: BackupPlansSpec['problems'] = [];
  const regions = new Map<string, { rules: Map<string, BackupRuleSpec>; resources: BackupResource[] }>();
  const name = `recovery-${plan.name}`;
  const others: string[] = [];

  for (const [index, component] of plan.components.entries()) {
    const backup = 'backup' in component ? component.backup : undefined;
    if (!backup) continue;
    if (!isBackupComponent(component)) {
      others.push(`${component.id} (${component.kind})`);
      continue;
    }
    const at = (...rest: (string | number)[]): FieldPath => ['components', index, 'backup', ...rest];
    const resource = resourceOf(component);
    const retentionMs = backup.retention === undefined ? undefined : parseDuration(backup.retention)!;
    const days = retentionMs === undefined ? undefined : Math.ceil(retentionMs / DAY_MS);
    const rules: BackupRuleSpec[] = [];
    for (const [i, schedule] of backup.schedules.entries()) {
      const path = `components[${index}].backup.schedules[${i}]`;
      if (schedule.type === 'log') {
        if (component.kind === 'dynamodb-table') {
          // DynamoDB keeps point-in-time recovery 1 to 35 days.
          const period = days !== undefined && days <= MAX_CONTINUOUS_DAYS ? `,RecoveryPeriodInDays=${days}` : '';
          notes.push(
            `enable point-in-time recovery on DynamoDB table ${component.tableName} (${component.region}) for ${component.id}'s log schedule (every ${schedule.every}); AWS Backup has no continuous backup for DynamoDB: ` +
              `aws dynamodb update-continuous-backups --region ${component.region} --table-name ${component.tableName} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true${period}`,
          );
          continue;
        }
        let keep = days;
        if (keep === undefined || keep > MAX_CONTINUOUS_DAYS) {
          notes.push(
            `${component.id}: continuous backups are kept ${MAX_CONTINUOUS_DAYS} days, the most AWS Backup allows` +
              (keep === undefined
                ? ' (the plan gives no retention)'
                : ` (the plan says ${backup.retention}: only cron schedules keep recovery points longer)`),
          );
          keep = MAX_CONTINUOUS_DAYS;
        }
        notes.push(
          component.kind === 'rds-instance'
            ? `point-in-time recovery of ${describeResource(resource)} for ${component.id}'s log schedule (every ${schedule.every}): continuous backup in AWS Backup, which then manages the instance's automated backups`
            : `point-in-time recovery of ${describeResource(resource)} for ${component.id}'s log schedule (every ${schedule.every}): continuous backup in AWS Backup; the bucket must be versioned`,
        );
        rules.push({
          name: `continuous-${keep}d`,
          scheduleExpression: CONTINUOUS_RULE_SCHEDULE,
          continuous: true,
          deleteAfterDays: keep,
          sources: [{ component: component.id, path, schedule: `log every ${schedule.every}` }],
        });
        continue;
      }
      const converted = awsBackupCron(schedule.cron);
      if ('problem' in converted) {
        problems.push({
          path: at('schedules', i, 'cron'),
          message: `AWS Backup cannot run "${schedule.cron}": ${converted.problem}`,
        });
        continue;
      }
      const timezone =
        schedule.timezone && !['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT'].includes(schedule.timezone)
          ? schedule.timezone
          : undefined;
      const key = [converted.expression, timezone ?? 'UTC', days ?? 'forever'].join('|');
      rules.push({
        name: `${schedule.type}-${shortHash(key)}`,
        scheduleExpression: converted.expression,
        ...(timezone ? { timezone } : {}),
        continuous: false,
        ...(days !== undefined ? { deleteAfterDays: days } : {}),
        sources: [
          {
            component: component.id,
            path,
            schedule: `${schedule.type} ${schedule.cron}${schedule.timezone ? ` (${schedule.timezone})` : ''}`,
          },
        ],
      });
    }
    if (rules.length === 0) continue;
    if (retentionMs !== undefined && retentionMs % DAY_MS !== 0) {
      problems.push({
        path: at('retention'),
        message: `retention ${backup.retention}: AWS Backup keeps recovery points for whole days; write it in days, e.g. ${days}d`,
      });
      continue;
    }
    if (!regions.has(resource.region)) regions.set(resource.region, { rules: new Map(), resources: [] });
    const region = regions.get(resource.region)!;
    region.resources.push(resource);
    for (const rule of rules) {
      // Same schedule, zone and retention: one rule (its name lists every type it carries out).
      const key = rule.continuous
        ? rule.name
        : [rule.scheduleExpression, rule.timezone ?? 'UTC', rule.deleteAfterDays ?? 'forever'].join('|');
      const existing = region.rules.get(key);
      if (!existing) region.rules.set(key, rule);
      else {
        existing.sources.push(...rule.sources);
        if (!rule.continuous) {
          const types = [...new Set([...existing.name.split('-').slice(0, -1), ...rule.name.split('-').slice(0, -1)])];
          existing.name = `${types.sort().join('-')}-${rule.name.split('-').at(-1)!}`;
        }
      }
    }
  }

  if (others.length)
    notes.push(
      `not AWS Backup resources, backed up by their own tools: ${others.join(', ')}; only rds-instance, dynamodb-table and s3-bucket components get AWS Backup rules`,
    );

  const result: RegionBackupPlanSpec[] = [...regions.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([region, { rules, resources }]) => ({
      region,
      name,
      selectionName: fit(name, 50),
      rules: [...rules.values()].sort((a, b) => a.name.localeCompare(b.name)),
      resources,
    }));

  for (const region of result) {
    // A selection is the plan's: AWS Backup applies every rule to every resource selected.
    if (region.rules.length < 2) continue;
    for (const resource of region.resources) {
      const extra = region.rules.filter((rule) => !rule.sources.some((s) => s.component === resource.component));
      if (extra.length)
        notes.push(
          `${resource.component} also gets ${extra.map((rule) => `${rule.name} (from ${[...new Set(rule.sources.map((s) => s.component))].join(', ')})`).join(', ')}: AWS Backup applies every rule of a backup plan to every resource it selects`,
        );
    }
  }
  if (result.some((r) => r.rules.some((rule) => /(^|-)(incremental|differential|full)-/.test(`${rule.name}-`))))
    notes.push(
      'AWS Backup decides by itself whether a backup is full or incremental: the schedule types only name the rules',
    );

  return { plan: plan.name, regions: result, notes, problems };
}

// ---------------------------------------------------------------------------------------------
// The activity: one region's backup plan and selection, created or updated only when they differ.

/** A backup client per region; credentials from the standard chain, `AWS_ENDPOINT_URL` honoured. */
export function createBackupClients(settings: { endpoint?: string } = {}): (region: string) => BackupClient {
  const clients = new Map<string, BackupClient>();
  return (region) => {
    if (!clients.has(region)) clients.set(region, new BackupClient({ region, endpoint: settings.endpoint }));
    return clients.get(region)!;
  };
}

export interface ApplyBackupPlanInput {
  spec: RegionBackupPlanSpec;
  /** Vault the rules back up into, in the spec's region; created when missing. */
  vault: string;
  /** Where every snapshot rule copies its recovery points (the vault is created when missing). */
  copyTo?: { region: string; vault: string };
  /** Role AWS Backup assumes for the selection; the account's AWSBackupDefaultServiceRole when absent. */
  backupRoleArn?: string;
  /** Only read, and say what would change. */
  dryRun?: boolean;
}

export type PlanAction = 'created' | 'updated' | 'unchanged' | 'would-create' | 'would-update';
export type SelectionAction = 'created' | 'replaced' | 'unchanged' | 'would-create' | 'would-replace';
export type VaultAction = 'exists' | 'created' | 'would-create';

export interface ApplyBackupPlanResult {
  region: string;
  vault: { name: string; region: string; arn?: string; action: VaultAction };
  copyVault?: { name: string; region: string; arn?: string; action: VaultAction };
  backupPlan: {
    name: string;
    id?: string;
    arn?: string;
    versionId?: string;
    action: PlanAction;
    /** What differs from the plan in AWS, one line each. */
    changes: string[];
    rules: BackupRuleInput[];
  };
  selection: {
    name: string;
    id?: string;
    action: SelectionAction;
    changes: string[];
    iamRoleArn: string;
    resources: { component: string; arn: string }[];
  };
}

/** Backup jobs start within this many minutes of the cron time (AWS's shortest window), so RPOs hold. */
export const START_WINDOW_MINUTES = 60;
/** AWS Backup's defaults, for comparing what it returns with what was sent. */
const DEFAULT_START_WINDOW = 480;
const DEFAULT_COMPLETION_WINDOW = 10_080;
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT']);

/** The rules to send, with the copy vault's ARN. */
export function backupRulesOf(spec: RegionBackupPlanSpec, vault: string, copyVaultArn?: string): BackupRuleInput[] {
  return spec.rules.map((rule) => {
    const lifecycle = rule.deleteAfterDays !== undefined ? { DeleteAfterDays: rule.deleteAfterDays } : undefined;
    return {
      RuleName: rule.name,
      TargetBackupVaultName: vault,
      ScheduleExpression: rule.scheduleExpression,
      ...(rule.timezone ? { ScheduleExpressionTimezone: rule.timezone } : {}),
      StartWindowMinutes: START_WINDOW_MINUTES,
      ...(lifecycle ? { Lifecycle: lifecycle } : {}),
      ...(rule.continuous ? { EnableContinuousBackup: true } : {}),
      // Continuous recovery points are not copied: the snapshot rules' are.
      ...(copyVaultArn && !rule.continuous
        ? { CopyActions: [{ DestinationBackupVaultArn: copyVaultArn, ...(lifecycle ? { Lifecycle: lifecycle } : {}) }] }
        : {}),
    };
  });
}

/** The fields of a rule this code manages, with AWS's defaults filled in, in a fixed order. */
function comparable(rule: BackupRule | BackupRuleInput) {
  const timezone = rule.ScheduleExpressionTimezone;
  return {
    vault: rule.TargetBackupVaultName,
    schedule: rule.ScheduleExpression ?? CONTINUOUS_RULE_SCHEDULE,
    timezone: timezone && !UTC_NAMES.has(timezone) ? timezone : 'UTC',
    startWindow: rule.StartWindowMinutes ?? DEFAULT_START_WINDOW,
    completionWindow: rule.CompletionWindowMinutes ?? DEFAULT_COMPLETION_WINDOW,
    deleteAfterDays: rule.Lifecycle?.DeleteAfterDays ?? null,
    coldStorageAfterDays: rule.Lifecycle?.MoveToColdStorageAfterDays ?? null,
    continuous: rule.EnableContinuousBackup ?? false,
    copies: (rule.CopyActions ?? [])
      .map((copy) => ({
        vault: copy.DestinationBackupVaultArn,
        deleteAfterDays: copy.Lifecycle?.DeleteAfterDays ?? null,
        coldStorageAfterDays: copy.Lifecycle?.MoveToColdStorageAfterDays ?? null,
      }))
      .sort((a, b) => String(a.vault).localeCompare(String(b.vault))),
  };
}

/** One line per difference between the rules in AWS and the rules wanted; none when equal. */
export function ruleChanges(current: (BackupRule | BackupRuleInput)[], wanted: BackupRuleInput[]): string[] {
  const byName = (rules: (BackupRule | BackupRuleInput)[]) => new Map(rules.map((r) => [r.RuleName ?? '', r]));
  const have = byName(current);
  const want = byName(wanted);
  const changes: string[] = [];
  for (const [name, rule] of want) {
    const old = have.get(name);
    if (!old) {
      changes.push(`add rule ${name}: ${rule.ScheduleExpression}`);
      continue;
    }
    const [a, b] = [comparable(old), comparable(rule)];
    for (const key of Object.keys(b) as (keyof typeof b)[]) {
      const [was, is] = [JSON.stringify(a[key]), JSON.stringify(b[key])];
      if (was !== is) changes.push(`rule ${name}: ${key} ${was} -> ${is}`);
    }
  }
  for (const name of have.keys()) if (!want.has(name)) changes.push(`remove rule ${name}`);
  return changes;
}

/** The ARN of a resource AWS Backup backs up. */
export function resourceArn(resource: BackupResource, account: string, partition = 'aws'): string {
  switch (resource.type) {
    case 'rds-db':
      return `arn:${partition}:rds:${resource.region}:${account}:db:${resource.name}`;
    case 'dynamodb-table':
      return `arn:${partition}:dynamodb:${resource.region}:${account}:table/${resource.name}`;
    case 's3-bucket':
      return `arn:${partition}:s3:::${resource.name}`;
  }
}

/** Inside an activity: cancellation and retry decisions of awsCall; elsewhere (the CLI) the same messages. */
async function call<T>(what: string, permission: string, run: (signal?: AbortSignal) => Promise<T>): Promise<T> {
  let inActivity = true;
  try {
    Context.current();
  } catch {
    inActivity = false;
  }
  if (inActivity) return awsCall(what, permission, run);
  try {
    return await run(undefined);
  } catch (error) {
    const failure = awsFailure(error, what, permission);
    // A retryable error comes back as it was: say which call failed.
    throw failure === error ? new Error(`${what}: ${failure.message}`, { cause: error }) : failure;
  }
}

const isNotFound = (error: unknown) => error instanceof Error && error.name === 'ResourceNotFoundException';

/** `arn:<partition>:backup:<region>:<account>:…` */
const arnParts = (arn: string | undefined) => {
  const match = /^arn:([^:]+):[^:]*:[^:]*:(\d{12}):/.exec(arn ?? '');
  return match ? { partition: match[1]!, account: match[2]! } : undefined;
};

export function createBackupPlanActivities(backup: (region: string) => BackupClient) {
  async function ensureVault(
    region: string,
    name: string,
    dryRun: boolean,
  ): Promise<{ name: string; region: string; arn?: string; action: VaultAction }> {
    const client = backup(region);
    const found = await call(`describe backup vault ${name} in ${region}`, 'backup:DescribeBackupVault', (signal) =>
      client.send(new DescribeBackupVaultCommand({ BackupVaultName: name }), { abortSignal: signal }).catch((error) => {
        if (isNotFound(error)) return undefined;
        throw error;
      }),
    );
    if (found) return { name, region, arn: found.BackupVaultArn, action: 'exists' };
    if (dryRun) return { name, region, action: 'would-create' };
    const created = await call(`create backup vault ${name} in ${region}`, 'backup:CreateBackupVault', (signal) =>
      client.send(
        new CreateBackupVaultCommand({ BackupVaultName: name, CreatorRequestId: `recovery-engine-${name}` }),
        {
          abortSignal: signal,
        },
      ),
    );
    return { name, region, arn: created.BackupVaultArn, action: 'created' };
  }

  /** The plan named `name` in `region`, if any; two of that name is an error (which one would we manage?). */
  async function findPlan(region: string, name: string): Promise<{ id: string; arn?: string } | undefined> {
    const client = backup(region);
    const found: { id: string; arn?: string }[] = [];
    let token: string | undefined;
    do {
      const page = await call(`list backup plans in ${region}`, 'backup:ListBackupPlans', (signal) =>
        client.send(new ListBackupPlansCommand({ NextToken: token }), { abortSignal: signal }),
      );
      for (const plan of page.BackupPlansList ?? [])
        if (plan.BackupPlanName === name && plan.BackupPlanId && !plan.DeletionDate)
          found.push({ id: plan.BackupPlanId, arn: plan.BackupPlanArn });
      token = page.NextToken;
    } while (token);
    if (found.length > 1)
      throw awsFailure(
        Object.assign(
          new Error(`${found.length} backup plans are named ${name}: ${found.map((p) => p.id).join(', ')}`),
          {
            name: 'ValidationException',
          },
        ),
        `find backup plan ${name} in ${region}`,
      );
    return found[0];
  }

  async function findSelection(region: string, planId: string, name: string) {
    const client = backup(region);
    let token: string | undefined;
    do {
      const page = await call(`list the selections of backup plan ${planId}`, 'backup:ListBackupSelections', (signal) =>
        client.send(new ListBackupSelectionsCommand({ BackupPlanId: planId, NextToken: token }), {
          abortSignal: signal,
        }),
      );
      const selection = (page.BackupSelectionsList ?? []).find((s) => s.SelectionName === name && s.SelectionId);
      if (selection) {
        const got = await call(`read backup selection ${name}`, 'backup:GetBackupSelection', (signal) =>
          client.send(new GetBackupSelectionCommand({ BackupPlanId: planId, SelectionId: selection.SelectionId }), {
            abortSignal: signal,
          }),
        );
        return { id: selection.SelectionId!, selection: got.BackupSelection };
      }
      token = page.NextToken;
    } while (token);
    return undefined;
  }

  return {
    /**
     * Creates or updates the backup plan `spec.name` in `spec.region` and its selection `spec.selectionName`
     * so that they are exactly the spec; changes nothing when they already are. Vaults are created
     * when missing. With `dryRun`, only reads and says what would change.
     */
    async applyAwsBackupPlan(input: ApplyBackupPlanInput): Promise<ApplyBackupPlanResult> {
      const { spec, dryRun = false } = input;
      const { region } = spec;
      const client = backup(region);
      const vault = await ensureVault(region, input.vault, dryRun);
      const copyVault = input.copyTo ? await ensureVault(input.copyTo.region, input.copyTo.vault, dryRun) : undefined;
      const existing = await findPlan(region, spec.name);

      const ids = arnParts(vault.arn) ?? arnParts(copyVault?.arn) ?? arnParts(existing?.arn);
      const account = ids?.account ?? '<account>';
      const partition = ids?.partition ?? 'aws';
      const copyVaultArn =
        copyVault &&
        (copyVault.arn ?? `arn:${partition}:backup:${copyVault.region}:${account}:backup-vault:${copyVault.name}`);
      const rules = backupRulesOf(spec, input.vault, copyVaultArn);
      const backupPlan = { BackupPlanName: spec.name, Rules: rules };
      const iamRoleArn =
        input.backupRoleArn ?? `arn:${partition}:iam::${account}:role/service-role/AWSBackupDefaultServiceRole`;
      const resources = spec.resources.map((r) => ({
        component: r.component,
        arn: resourceArn(r, account, partition),
      }));
      const wantedSelection: BackupSelection = {
        SelectionName: spec.selectionName,
        IamRoleArn: iamRoleArn,
        Resources: [...new Set(resources.map((r) => r.arn))].sort(),
      };

      let plan: ApplyBackupPlanResult['backupPlan'];
      if (!existing) {
        const changes = rules.map((rule) => `add rule ${rule.RuleName}: ${rule.ScheduleExpression}`);
        if (dryRun) plan = { name: spec.name, action: 'would-create', changes, rules };
        else {
          const created = await call(
            `create backup plan ${spec.name} in ${region}`,
            'backup:CreateBackupPlan',
            (signal) =>
              client.send(
                new CreateBackupPlanCommand({
                  BackupPlan: backupPlan,
                  BackupPlanTags: { 'recovery-engine:plan': spec.name },
                  // A retry after a lost answer gets the same plan back instead of a second one.
                  CreatorRequestId: `recovery-engine-${shortHash(JSON.stringify(backupPlan))}`,
                }),
                { abortSignal: signal },
              ),
          );
          plan = {
            name: spec.name,
            id: created.BackupPlanId,
            arn: created.BackupPlanArn,
            versionId: created.VersionId,
            action: 'created',
            changes,
            rules,
          };
        }
      } else {
        const current = await call(`read backup plan ${spec.name} in ${region}`, 'backup:GetBackupPlan', (signal) =>
          client.send(new GetBackupPlanCommand({ BackupPlanId: existing.id }), { abortSignal: signal }),
        );
        const changes = ruleChanges(current.BackupPlan?.Rules ?? [], rules);
        const base = { name: spec.name, id: existing.id, arn: existing.arn, changes, rules };
        if (changes.length === 0) plan = { ...base, versionId: current.VersionId, action: 'unchanged' };
        else if (dryRun) plan = { ...base, versionId: current.VersionId, action: 'would-update' };
        else {
          const updated = await call(
            `update backup plan ${spec.name} in ${region}`,
            'backup:UpdateBackupPlan',
            (signal) =>
              client.send(new UpdateBackupPlanCommand({ BackupPlanId: existing.id, BackupPlan: backupPlan }), {
                abortSignal: signal,
              }),
          );
          plan = { ...base, versionId: updated.VersionId, action: 'updated' };
        }
      }

      const selectionBase = { name: spec.selectionName, iamRoleArn, resources };
      let selection: ApplyBackupPlanResult['selection'];
      // A plan created just now has no selection yet.
      const found =
        plan.id && plan.action !== 'created' ? await findSelection(region, plan.id, spec.selectionName) : undefined;
      const selectionChanges = found ? selectionDifferences(found.selection, wantedSelection) : [];
      if (found && selectionChanges.length === 0)
        selection = { ...selectionBase, id: found.id, action: 'unchanged', changes: [] };
      else if (dryRun)
        selection = found
          ? { ...selectionBase, id: found.id, action: 'would-replace', changes: selectionChanges }
          : { ...selectionBase, action: 'would-create', changes: [`assign ${wantedSelection.Resources!.join(', ')}`] };
      else {
        const planId = plan.id!;
        // Selections cannot be changed: a different one is deleted and created again.
        if (found)
          await call(`delete backup selection ${spec.selectionName}`, 'backup:DeleteBackupSelection', (signal) =>
            client.send(new DeleteBackupSelectionCommand({ BackupPlanId: planId, SelectionId: found.id }), {
              abortSignal: signal,
            }),
          );
        const created = await call(
          `create backup selection ${spec.selectionName} of backup plan ${spec.name}${found ? ' (the previous one was deleted: run again if this fails)' : ''}`,
          'backup:CreateBackupSelection and iam:PassRole on the backup role',
          (signal) =>
            client.send(
              new CreateBackupSelectionCommand({
                BackupPlanId: planId,
                BackupSelection: wantedSelection,
                CreatorRequestId: `recovery-engine-${shortHash(planId + JSON.stringify(wantedSelection))}`,
              }),
              { abortSignal: signal },
            ),
        );
        selection = found
          ? { ...selectionBase, id: created.SelectionId, action: 'replaced', changes: selectionChanges }
          : {
              ...selectionBase,
              id: created.SelectionId,
              action: 'created',
              changes: [`assign ${wantedSelection.Resources!.join(', ')}`],
            };
      }

      return { region, vault, ...(copyVault ? { copyVault } : {}), backupPlan: plan, selection };
    },
  };
}

/** One line per difference between a selection in AWS and the one wanted; none when equal. */
export function selectionDifferences(current: BackupSelection | undefined, wanted: BackupSelection): string[] {
  const changes: string[] = [];
  const have = new Set(current?.Resources ?? []);
  const want = new Set(wanted.Resources ?? []);
  for (const arn of want) if (!have.has(arn)) changes.push(`assign ${arn}`);
  for (const arn of have) if (!want.has(arn)) changes.push(`unassign ${arn}`);
  if (current?.IamRoleArn !== wanted.IamRoleArn)
    changes.push(`role ${current?.IamRoleArn ?? '(none)'} -> ${wanted.IamRoleArn}`);
  const conditions = current?.Conditions ?? {};
  const extra =
    (current?.ListOfTags?.length ?? 0) +
    (current?.NotResources?.length ?? 0) +
    Object.values(conditions as Record<string, unknown>).reduce<number>(
      (n, list) => n + (Array.isArray(list) ? list.length : 0),
      0,
    );
  if (extra > 0) changes.push('drop the tag conditions and exclusions added outside the plan');
  return changes;
}
