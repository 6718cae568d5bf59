import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import { backupIdOf, type BackupManifest, type BackupType } from '../backups/manifest';
import { kindOf, type Component } from '../plan/kinds';
import type { AutomationActivity } from '../plan/kinds/define';
import type { RecoveryPlan } from '../plan/schema/plan';

/** What a schedule starts: one backup of one component of a plan. */
export interface BackupRequest {
  plan: string;
  component: string;
  type: BackupType;
}

export interface BackupReport {
  plan: string;
  component: string;
  backupId: string;
  type: BackupType;
  recoveryPoint: string;
  files: number;
  bytes: number;
  integrity: IntegrityReport;
  offsite: unknown;
  retention: {
    removed: string[];
    keptExpired: { id: string; why: string }[];
    /** The offsite copy's retention, planned from what is offsite. */
    offsite?: { location: string; removed: string[]; keptExpired: { id: string; why: string }[] };
  };
}

export interface IntegrityReport {
  backupId: string;
  /** Every file against the manifest, and the chain it ends. */
  checksums: { files: number; bytes: number; chain: string[] };
  /** `verify: restore`: the chain restored into a scratch server and validated. */
  restore?: unknown;
}

const quick = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/** Backups, copies and scratch restores of hours: they heartbeat, so a lost worker shows in minutes. */
const long = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '30s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});

type BackupActivity = (input: { component: Component; type: BackupType; backupId: string }) => Promise<BackupManifest>;
const backupActivity = (name: AutomationActivity) => long[name] as unknown as BackupActivity;

function backedUp(plan: RecoveryPlan, id: string) {
  const component = plan.components.find((c) => c.id === id);
  if (!component)
    throw ApplicationFailure.nonRetryable(`plan ${plan.name} has no component "${id}"`, 'InvalidBackupRequest');
  const hooks = kindOf(component).backups;
  if (!hooks)
    throw ApplicationFailure.nonRetryable(
      `${id} is a ${component.kind}: the engine does not take its backups (they are taken by its service)`,
      'InvalidBackupRequest',
    );
  return { component, hooks };
}

/** Tells the plan's contacts, then fails the run so the schedule's history shows it. */
async function failLoudly(plan: RecoveryPlan, component: string, message: string): Promise<never> {
  await quick.notify({
    recoveryId: workflowInfo().workflowId,
    plan: plan.name,
    scenario: `backup of ${component}`,
    event: 'backup-failed',
    severity: 'critical',
    message,
    contacts: plan.contacts.slice(0, 1),
  });
  throw ApplicationFailure.nonRetryable(message, 'BackupFailed');
}

/**
 * One scheduled backup: take it (idempotent: its id comes from the time it was due), prove it
 * (integrity check as a child workflow), copy it offsite, then apply retention. Any failure is
 * notified to the plan's first contact: a backup that silently fails is a recovery that fails later.
 */
export async function backupWorkflow(request: BackupRequest): Promise<BackupReport> {
  const plan = await quick.loadNamedPlan(request.plan);
  const { component, hooks } = backedUp(plan, request.component);
  const name = request.type === 'log' ? hooks.archiveLogs : hooks.take;
  if (!name)
    throw ApplicationFailure.nonRetryable(
      `${component.id}: ${component.kind} has no ${request.type} backups`,
      'InvalidBackupRequest',
    );
  // The run's start, to the second: every attempt of an activity in this run finds the same backup.
  const due = new Date(Math.floor(workflowInfo().startTime.getTime() / 1000) * 1000);
  const backupId = backupIdOf(request.type, due);
  let manifest: BackupManifest;
  try {
    manifest = await backupActivity(name)({ component, type: request.type, backupId });
  } catch (error) {
    return failLoudly(plan, component.id, `${request.type} backup ${backupId} failed: ${messageOf(error)}`);
  }
  let integrity: IntegrityReport;
  try {
    integrity = await executeChild(integrityCheckWorkflow, {
      workflowId: `${workflowInfo().workflowId}-integrity`,
      args: [{ plan: request.plan, component: component.id, backupId }],
    });
  } catch (error) {
    return failLoudly(plan, component.id, `integrity check of ${backupId} failed: ${messageOf(error)}`);
  }
  let offsite: unknown;
  let retention: BackupReport['retention'];
  try {
    offsite = await long.copyBackupOffsite({ component: component as never, backupId });
    retention = await quick.applyBackupRetention({ component: component as never, now: due.toISOString() });
  } catch (error) {
    return failLoudly(plan, component.id, `offsite copy or retention after ${backupId} failed: ${messageOf(error)}`);
  }
  return {
    plan: plan.name,
    component: component.id,
    backupId,
    type: request.type,
    recoveryPoint: manifest.recoveryPoint,
    files: manifest.files.length,
    bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
    integrity,
    offsite,
    retention,
  };
}

/** Proves a backup: its files against the manifest and its chain whole; with `verify: restore`, a scratch restore. */
export async function integrityCheckWorkflow(input: {
  plan: string;
  component: string;
  backupId: string;
}): Promise<IntegrityReport> {
  const plan = await quick.loadNamedPlan(input.plan);
  const { component, hooks } = backedUp(plan, input.component);
  const checksums = await quick.checkBackupIntegrity({ component: component as never, backupId: input.backupId });
  const verify = 'backup' in component ? component.backup?.verify : undefined;
  if (verify !== 'restore' || !hooks.verifyByRestore) return { backupId: input.backupId, checksums };
  const restore: unknown = await backupActivity(hooks.verifyByRestore)({
    component,
    type: 'full',
    backupId: input.backupId,
  });
  return { backupId: input.backupId, checksums, restore };
}

function messageOf(error: unknown): string {
  let current = error as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause;
  return current?.message ?? String(error);
}
