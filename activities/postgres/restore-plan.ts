/**
 * Which backups restore a component to a time, checked before anything is touched: the chain
 * (base backup, then the log backups up to the target) from the manifests, then every file of it
 * against its manifest's checksums.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BrokenChainError, chainFor } from '../../backups/chain';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupManifest } from '../../backups/manifest';
import type { PostgresComponent } from '../../plan/kinds/postgres';

export interface RestorePlan {
  base: BackupManifest;
  logs: BackupManifest[];
  /** The requested time, or `latest`. */
  targetTime: string;
  /** The newest point the backups reach towards the target (the target itself when they cover it). */
  reaches: string;
  /** The target lies past the newest recovery point of the backups. */
  short: boolean;
}

/** Every problem with the files of `backups`; empty when all match their manifests. */
async function problemsOf(store: LocalBackupStore, backups: BackupManifest[]): Promise<string[]> {
  const problems: string[] = [];
  for (const backup of backups) problems.push(...(await store.verify(backup)));
  return problems;
}

/** Fails, naming each problem, unless every file of `backups` matches its manifest. */
export async function verifyFiles(c: PostgresComponent, store: LocalBackupStore, backups: BackupManifest[]) {
  const problems = await problemsOf(store, backups);
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: backup files in ${c.backupDir} do not match their manifests, nothing was restored:\n${problems.slice(0, 20).join('\n')}`,
      'CorruptBackup',
      { problems: problems.slice(0, 100) },
    );
}

/**
 * The chain that restores `target`, its files verified (unless `verify: false`); a broken or
 * corrupt chain fails, naming what is wrong.
 */
export async function planRestore(
  c: PostgresComponent,
  target: Date | 'latest',
  { verify = true }: { verify?: boolean } = {},
): Promise<RestorePlan> {
  const store = new LocalBackupStore(c.backupDir);
  const manifests = await store.list();
  let chain: ReturnType<typeof chainFor>;
  try {
    chain = chainFor(manifests, target);
  } catch (error) {
    if (!(error instanceof BrokenChainError)) throw error;
    // Log backups name the base backup they carry forward: say which of those is gone.
    const ids = new Set(manifests.map((b) => b.id));
    const missing = [
      ...new Set(
        manifests
          .map((b) => (b.type === 'log' ? (b.details as { baseBackup?: string }).baseBackup : undefined))
          .filter((id): id is string => id !== undefined && !ids.has(id)),
      ),
    ];
    throw ApplicationFailure.nonRetryable(
      `${c.id}: cannot restore ${target === 'latest' ? 'the latest point' : target.toISOString()} from ${c.backupDir}: ${error.message}` +
        (missing.length ? `; the log backups carry forward base backup ${missing.join(', ')}, which is missing` : ''),
      'BrokenBackupChain',
    );
  }
  const base = chain.links[0]!;
  if (chain.links.length !== 1 || base.type !== 'full')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the chain for the target starts with ${base.type} backup ${base.id}; PostgreSQL restores a full base backup and WAL`,
      'BrokenBackupChain',
    );
  if (verify) await verifyFiles(c, store, [base, ...chain.logs]);
  return {
    base,
    logs: chain.logs,
    targetTime: target === 'latest' ? 'latest' : target.toISOString(),
    reaches: chain.reaches,
    short: chain.short,
  };
}

/**
 * The chain that ends at backup `id`, for verifying it by a restore: a base backup alone, or a log
 * backup with its base and the log backups between.
 */
export async function planRestoreOf(c: PostgresComponent, id: string): Promise<RestorePlan> {
  const store = new LocalBackupStore(c.backupDir);
  const manifest = await store.read(id);
  if (!manifest) throw ApplicationFailure.nonRetryable(`${c.id}: no backup ${id} in ${c.backupDir}`, 'BackupNotFound');
  if (manifest.type === 'full') {
    await verifyFiles(c, store, [manifest]);
    return { base: manifest, logs: [], targetTime: 'latest', reaches: manifest.recoveryPoint, short: false };
  }
  const plan = await planRestore(c, new Date(manifest.recoveryPoint));
  if (plan.logs.at(-1)?.id !== id)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the chain to ${manifest.recoveryPoint} does not end at log backup ${id} (it ends at ${plan.logs.at(-1)?.id ?? plan.base.id})`,
      'BrokenBackupChain',
    );
  return plan;
}
