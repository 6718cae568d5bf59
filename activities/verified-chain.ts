/**
 * Which backups a restore applies, checked before anything is touched: the chain must be complete
 * (chainFor names a missing link) and every file, of its links and of its log archives, must match
 * its manifest's checksum. The failures are the same for every kind: `BrokenChain` and
 * `BackupCorrupt`, non-retryable, naming what is wrong and where.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BrokenChainError, chainFor, type RestoreChain } from '../backups/chain';
import type { LocalBackupStore } from '../backups/local-store';
import type { BackupManifest } from '../backups/manifest';

/** `latest`, or the parsed ISO time; anything else is a configuration error. */
export function parseTargetTime(targetTime: string, what: string): Date | 'latest' {
  if (targetTime === 'latest') return 'latest';
  const time = new Date(targetTime);
  // A time without its zone would be read in the worker's zone: refuse it rather than guess.
  if (Number.isNaN(time.getTime()) || !/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/i.test(targetTime))
    throw ApplicationFailure.nonRetryable(
      `${what}: targetTime "${targetTime}" is neither "latest" nor an ISO-8601 time with its zone (Z or +hh:mm)`,
      'InvalidTargetTime',
    );
  return time;
}

export interface ChainOptions {
  /**
   * What a kind can add to a broken chain's message from all the manifests held, e.g. the base
   * backup its log archives name and which is gone; undefined when it has nothing to add.
   */
  explain?: (backups: BackupManifest[]) => string | undefined;
}

/** Fails (`BackupCorrupt`) unless every file of `backups` matches its manifest; how many files were checked. */
export async function verifyLinks(store: LocalBackupStore, what: string, backups: BackupManifest[]): Promise<number> {
  const problems: string[] = [];
  for (const backup of backups) problems.push(...(await store.verify(backup)));
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${what}: the backups do not match their manifests in ${store.root}, nothing was restored: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`,
      'BackupCorrupt',
    );
  return backups.reduce((n, backup) => n + backup.files.length, 0);
}

function brokenChain(what: string, error: BrokenChainError, backups: BackupManifest[], options: ChainOptions) {
  const more = options.explain?.(backups);
  return ApplicationFailure.nonRetryable(`${what}${error.message}${more ? `; ${more}` : ''}`, 'BrokenChain');
}

/** The chain that restores `target`, the files of its links and logs verified; `filesVerified` counts them. */
export async function verifiedChain(
  store: LocalBackupStore,
  what: string,
  target: Date | 'latest',
  options: ChainOptions = {},
): Promise<RestoreChain & { filesVerified: number }> {
  const all = await store.list();
  let chain: RestoreChain;
  try {
    chain = chainFor(all, target);
  } catch (error) {
    if (error instanceof BrokenChainError)
      throw brokenChain(
        `${what}: cannot restore ${target === 'latest' ? 'the latest backup' : target.toISOString()} from ${store.root}, nothing was touched: `,
        error,
        all,
        options,
      );
    throw error;
  }
  return { ...chain, filesVerified: await verifyLinks(store, what, [...chain.links, ...chain.logs]) };
}

/**
 * The chain whose last backup is `id` (a scheduled verification restores exactly that one): its
 * links and, when `id` is a log archive, the log archives from the last link up to `id`.
 */
export async function verifiedChainEndingAt(
  store: LocalBackupStore,
  what: string,
  id: string,
  options: ChainOptions = {},
): Promise<RestoreChain & { filesVerified: number }> {
  const all = await store.list();
  const last = all.find((b) => b.id === id);
  if (!last)
    throw ApplicationFailure.nonRetryable(
      `${what}: backup ${id} is not in ${store.root} (or has no manifest)`,
      'BackupNotFound',
    );
  // Everything up to `last` in chain order, so that `latest` of what is left is `last` itself.
  const upTo = all.filter(
    (b) => b.recoveryPoint < last.recoveryPoint || (b.recoveryPoint === last.recoveryPoint && b.id <= last.id),
  );
  let chain: RestoreChain;
  try {
    chain = chainFor(upTo, 'latest');
  } catch (error) {
    if (error instanceof BrokenChainError)
      throw brokenChain(`${what}: backup ${id} cannot be restored: `, error, all, options);
    throw error;
  }
  const newest = chain.logs.at(-1) ?? chain.links.at(-1);
  if (newest?.id !== id)
    throw ApplicationFailure.nonRetryable(
      `${what}: the chain of ${store.root} up to ${last.recoveryPoint} does not end at backup ${id} (it ends at ${newest?.id ?? 'nothing'})`,
      'BrokenChain',
    );
  return { ...chain, filesVerified: await verifyLinks(store, what, [...chain.links, ...chain.logs]) };
}
