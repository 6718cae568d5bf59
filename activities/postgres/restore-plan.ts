/**
 * Which backups restore a component to a time, checked before anything is touched (the shared
 * verified chain: the base backup, then the log backups up to the target, every file against its
 * manifest). choose-backup keeps the plan in the mode's work directory (`plan.json`), and the
 * steps after it restore exactly that plan: a backup taken meanwhile changes nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupManifest } from '../../backups/manifest';
import { restorePlanDirOf, type PostgresComponent } from '../../plan/kinds/postgres';
import { readJson, writeJsonAtomic } from '../json-file';
import { parseTargetTime, verifiedChain, verifiedChainEndingAt, type ChainOptions } from '../verified-chain';

export interface RestorePlan {
  base: BackupManifest;
  logs: BackupManifest[];
  /** The requested time, or `latest`. */
  targetTime: string;
  /** The newest point the backups reach towards the target (the target itself when they cover it). */
  reaches: string;
  /** The target lies past the newest recovery point of the backups. */
  short: boolean;
  /** Files checked against their manifests when the plan was made. */
  filesVerified: number;
}

export type RestoreMode = 'recover' | 'drill';

/** Log backups name the base backup they carry forward: a broken chain says which of those is gone. */
const missingBase: ChainOptions = {
  explain(backups) {
    const ids = new Set(backups.map((b) => b.id));
    const missing = [
      ...new Set(
        backups
          .map((b) => (b.type === 'log' ? (b.details as { baseBackup?: string }).baseBackup : undefined))
          .filter((id): id is string => id !== undefined && !ids.has(id)),
      ),
    ];
    return missing.length
      ? `the log backups carry forward base backup ${missing.join(', ')}, which is missing`
      : undefined;
  },
};

/** PostgreSQL restores one full base backup, then WAL: an incremental or snapshot link cannot be restored. */
function baseOf(c: PostgresComponent, links: BackupManifest[]): BackupManifest {
  const base = links[0]!;
  if (links.length !== 1 || base.type !== 'full')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the chain for the target starts with ${base.type} backup ${base.id} in ${c.backupDir}; PostgreSQL restores a full base backup and WAL`,
      'BrokenChain',
    );
  return base;
}

/** The chain that restores `target`, every file verified; a broken or corrupt chain fails, naming what is wrong. */
export async function planRestore(c: PostgresComponent, target: Date | 'latest'): Promise<RestorePlan> {
  const chain = await verifiedChain(new LocalBackupStore(c.backupDir), c.id, target, missingBase);
  return {
    base: baseOf(c, chain.links),
    logs: chain.logs,
    targetTime: target === 'latest' ? 'latest' : target.toISOString(),
    reaches: chain.reaches,
    short: chain.short,
    filesVerified: chain.filesVerified,
  };
}

/**
 * The chain that ends at backup `id`, for verifying it by a restore: a base backup alone, or a log
 * backup with its base and the log backups between, replayed up to its recovery point.
 */
export async function planRestoreOf(c: PostgresComponent, id: string): Promise<RestorePlan> {
  const chain = await verifiedChainEndingAt(new LocalBackupStore(c.backupDir), c.id, id, missingBase);
  const last = chain.logs.at(-1);
  return {
    base: baseOf(c, chain.links),
    logs: chain.logs,
    targetTime: last ? last.recoveryPoint : 'latest',
    reaches: chain.reaches,
    short: false,
    filesVerified: chain.filesVerified,
  };
}

const planFileOf = (c: PostgresComponent, mode: RestoreMode) => join(restorePlanDirOf(c, mode), 'plan.json');

/** Keeps the plan choose-backup verified, for the steps after it. */
export async function savePlan(c: PostgresComponent, mode: RestoreMode, plan: RestorePlan): Promise<void> {
  await mkdir(restorePlanDirOf(c, mode), { recursive: true });
  await writeJsonAtomic(planFileOf(c, mode), plan);
}

/**
 * The plan choose-backup made for `targetTime`; never a new one behind its back. Fails for a
 * person when there is none (or one for another time), or when a backup of it is gone since.
 */
export async function loadPlan(c: PostgresComponent, mode: RestoreMode, targetTime: string): Promise<RestorePlan> {
  const file = planFileOf(c, mode);
  const plan = await readJson<RestorePlan>(file);
  if (!plan)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: no restore plan in ${file}: the choose-backup step must run first`,
      'NotPlanned',
    );
  const target = parseTargetTime(targetTime, c.id);
  if (plan.targetTime !== (target === 'latest' ? 'latest' : target.toISOString()))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the restore plan in ${file} is for ${plan.targetTime}, not ${targetTime}: run the choose-backup step again`,
      'NotPlanned',
    );
  const store = new LocalBackupStore(c.backupDir);
  for (const backup of [plan.base, ...plan.logs])
    if (!(await store.read(backup.id)))
      throw ApplicationFailure.nonRetryable(
        `${c.id}: backup ${backup.id} of the restore plan in ${file} is no longer in ${c.backupDir}: run the choose-backup step again`,
        'BackupNotFound',
      );
  return plan;
}
