import type { BackupClient } from '@aws-sdk/client-backup';
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import {
  backupPlansFromPlan,
  createBackupClients,
  createBackupPlanActivities,
  type ApplyBackupPlanResult,
  type BackupPlansSpec,
  type RegionBackupPlanSpec,
} from '../../activities/backup-plans';
import { formatIssue } from '../../plan/issues';
import { formatPath, SourcePositions } from '../../plan/positions';
import { loadValidPlan } from '../load-or-fail';
import { CommandFailure, UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';
import { applyTemporalSchedules } from './temporal-schedules';

export interface SchedulesApplyOptions {
  /** Apply the backup schedules as AWS Backup backup plans, instead of the engine's Temporal Schedules. */
  aws?: boolean;
  /** How to reach Temporal (Temporal Schedules); the worker's settings when absent. */
  connect?: Connect;
  /** Backup vault of the rules, in each region; `Default` when absent. */
  vault?: string;
  copyToRegion?: string;
  copyVault?: string;
  /** Role AWS Backup assumes for the selections; the account's AWSBackupDefaultServiceRole when absent. */
  backupRole?: string;
  dryRun?: boolean;
  json?: boolean;
  /** Backup clients per region; the standard AWS chain (AWS_ENDPOINT_URL too) when absent. */
  backupClients?: (region: string) => BackupClient;
}

const VAULT_NAME = /^[a-zA-Z0-9_-]{2,50}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** The options, checked before the plan is read. */
function checkOptions(options: SchedulesApplyOptions): { vault: string; copyTo?: { region: string; vault: string } } {
  const vault = options.vault ?? 'Default';
  if (!VAULT_NAME.test(vault)) throw new UsageError(`--vault "${vault}": 2-50 letters, digits, - or _`);
  if ((options.copyToRegion === undefined) !== (options.copyVault === undefined))
    throw new UsageError('--copy-to-region and --copy-vault go together: the region and the vault there to copy into');
  if (options.copyToRegion === undefined || options.copyVault === undefined) return { vault };
  if (!REGION.test(options.copyToRegion))
    throw new UsageError(`--copy-to-region "${options.copyToRegion}": expected an AWS region such as us-west-2`);
  if (!VAULT_NAME.test(options.copyVault))
    throw new UsageError(`--copy-vault "${options.copyVault}": 2-50 letters, digits, - or _`);
  return { vault, copyTo: { region: options.copyToRegion, vault: options.copyVault } };
}

/** What AWS Backup cannot express, as `<file>:<line>:<col> <path> <message>` lines. */
async function problemLines(file: string, problems: BackupPlansSpec['problems']): Promise<string> {
  const lines = new LineCounter();
  const positions = new SourcePositions(parseDocument(await readFile(file, 'utf8'), { lineCounter: lines }), lines);
  return problems
    .map(({ path, message }) =>
      formatIssue({
        severity: 'error',
        rule: 'aws-backup',
        file,
        ...positions.of(path),
        path: formatPath(path),
        message,
      }),
    )
    .join('\n');
}

const ACTION_TEXT: Record<string, string> = {
  created: 'created',
  updated: 'updated',
  replaced: 'replaced',
  unchanged: 'unchanged',
  exists: 'exists',
  'would-create': 'would be created',
  'would-update': 'would be updated',
  'would-replace': 'would be replaced',
  deleted: 'deleted',
  'would-delete': 'would be deleted',
};

/** One region's outcome as a person reads it. */
function renderRegion(spec: RegionBackupPlanSpec, result: ApplyBackupPlanResult): string[] {
  const { backupPlan: plan, selection } = result;
  const vaults = [result.vault, ...(result.copyVault ? [result.copyVault] : [])]
    .filter((v) => v.action !== 'exists')
    .map((v) => `  vault ${v.name} (${v.region}): ${ACTION_TEXT[v.action]}`);
  const rules = spec.rules.map((rule) => {
    const sent = plan.rules.find((r) => r.RuleName === rule.name);
    const copy = sent?.CopyActions?.[0]?.DestinationBackupVaultArn;
    const what = rule.continuous
      ? 'continuous backup (point-in-time recovery)'
      : `${rule.scheduleExpression}${rule.timezone ? ` ${rule.timezone}` : ' UTC'}`;
    const keep = rule.deleteAfterDays !== undefined ? `kept ${rule.deleteAfterDays} days` : 'kept until deleted';
    const from = rule.sources.map((s) => `${s.component} ${s.schedule}`).join('; ');
    return `    ${rule.name}: ${what}, ${keep}${copy ? `, copied to ${copy}` : ''}  <- ${from}`;
  });
  return [
    `${spec.region}: backup plan ${plan.name}${plan.id ? ` (${plan.id})` : ''}: ${ACTION_TEXT[plan.action]}`,
    ...vaults,
    '  rules:',
    ...rules,
    ...(plan.action === 'would-update' || plan.action === 'updated'
      ? ['  changes:', ...plan.changes.map((c) => `    ${c}`)]
      : []),
    `  selection ${selection.name}: ${ACTION_TEXT[selection.action]}, role ${selection.iamRoleArn}`,
    ...selection.resources.map((r) => `    ${r.arn}  <- ${r.component}`),
    ...(selection.action === 'would-replace' || selection.action === 'replaced'
      ? ['  selection changes:', ...selection.changes.map((c) => `    ${c}`)]
      : []),
  ];
}

/**
 * `recovery schedules apply <plan.yaml> --aws [--vault <name>] [--copy-to-region <r> --copy-vault <v>]
 * [--dry-run] [--json]`: the plan's backup schedules as AWS Backup backup plans, one per region of its
 * AWS data components, created or updated only where they differ.
 */
export async function schedulesApplyCommand(file: string, options: SchedulesApplyOptions): Promise<CommandResult> {
  if (!options.aws) {
    const awsOnly = (['vault', 'copyToRegion', 'copyVault', 'backupRole'] as const).filter(
      (o) => options[o] !== undefined,
    );
    if (awsOnly.length)
      throw new UsageError(
        `${awsOnly.map((o) => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}: only with --aws (AWS Backup plans)`,
      );
    return temporalSchedulesCommand(file, options);
  }
  const { vault, copyTo } = checkOptions(options);
  const { plan, warnings } = await loadValidPlan(file);
  const spec = backupPlansFromPlan(plan);
  // Nothing is touched while any schedule cannot be expressed.
  if (spec.problems.length) throw new UsageError(await problemLines(file, spec.problems));

  const notes = [...spec.notes];
  const activities = createBackupPlanActivities(options.backupClients ?? createBackupClients());
  const results: ApplyBackupPlanResult[] = [];
  let failure: string | undefined;
  for (const region of spec.regions) {
    const sameVault = copyTo && copyTo.region === region.region && copyTo.vault === vault;
    if (sameVault) notes.push(`${region.region}: no copy, the copy vault is the backup vault itself`);
    try {
      results.push(
        await activities.applyAwsBackupPlan({
          spec: region,
          vault,
          ...(copyTo && !sameVault ? { copyTo } : {}),
          ...(options.backupRole ? { backupRoleArn: options.backupRole } : {}),
          dryRun: options.dryRun ?? false,
        }),
      );
    } catch (error) {
      failure = `${region.region}: ${(error as Error).message}`;
      break;
    }
  }

  const stderr = [...warnings, ...(failure ? [failure] : [])].join('\n');
  if (failure && results.length === 0) throw new CommandFailure(stderr);
  let stdout: string;
  if (options.json) {
    stdout = `${JSON.stringify({ plan: plan.name, dryRun: options.dryRun ?? false, regions: results, notes }, null, 2)}\n`;
  } else {
    const lines = [
      `AWS Backup plans of ${plan.name}${options.dryRun ? ' (dry run: nothing changed)' : ''}:`,
      ...(spec.regions.length === 0
        ? ['  none: no rds-instance, dynamodb-table or s3-bucket component has a schedule AWS Backup runs']
        : []),
    ];
    for (const [i, result] of results.entries()) lines.push('', ...renderRegion(spec.regions[i]!, result));
    if (notes.length) lines.push('', 'Notes:', ...notes.map((note) => `  - ${note}`));
    stdout = `${lines.join('\n')}\n`;
  }
  return { stdout, stderr: stderr ? `${stderr}\n` : undefined, exitCode: failure ? 1 : 0 };
}

/**
 * `recovery schedules apply <plan.yaml> [--dry-run] [--json]`: the backups the engine takes (self-hosted
 * data stores) as Temporal Schedules on their calendars, and the plan's RPO watchdog.
 */
async function temporalSchedulesCommand(file: string, options: SchedulesApplyOptions): Promise<CommandResult> {
  const { plan, warnings } = await loadValidPlan(file);
  const outcomes = await withTemporal(options.connect ?? (() => connectTemporal()), (target) =>
    applyTemporalSchedules(target, plan, options.dryRun ?? false),
  );
  const stderr = warnings.length ? `${warnings.join('\n')}\n` : undefined;
  if (options.json)
    return {
      stdout: `${JSON.stringify({ plan: plan.name, dryRun: options.dryRun ?? false, schedules: outcomes }, null, 2)}\n`,
      stderr,
      exitCode: 0,
    };
  const width = Math.max(0, ...outcomes.map((o) => o.scheduleId.length));
  const lines = [
    `Temporal Schedules of ${plan.name}${options.dryRun ? ' (dry run: nothing changed)' : ''}:`,
    ...(outcomes.length === 0
      ? [
          '  none: no component has backups the engine takes (mysql, postgres, redis, influxdb, git-repo with backup schedules)',
        ]
      : []),
    ...outcomes.map(
      (o) => `  ${o.scheduleId.padEnd(width)}  ${(ACTION_TEXT[o.action] ?? o.action).padEnd(16)}  ${o.description}`,
    ),
    ...(outcomes.length
      ? [
          '',
          `The worker loads plan "${plan.name}" from its plans directory (RECOVERY_PLANS_DIR) at each run: deploy the file there.`,
        ]
      : []),
  ];
  return { stdout: `${lines.join('\n')}\n`, stderr, exitCode: 0 };
}
