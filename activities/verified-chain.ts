/**
 * Which backups a restore applies, checked before anything is touched: the chain must be complete
 * (chainFor names a missing link) and every file must match its manifest's checksum.
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

async function verifyLinks(store: LocalBackupStore, what: string, links: BackupManifest[]): Promise<number> {
  const problems: string[] = [];
  for (const link of links) problems.push(...(await store.verify(link)));
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${what}: the backups do not match their manifests in ${store.root}, nothing was restored: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`,
      'BackupCorrupt',
    );
  return links.reduce((n, link) => n + link.files.length, 0);
}

/** The chain that restores `target`, its files verified; `filesVerified` counts them. */
export async function verifiedChain(
  store: LocalBackupStore,
  what: string,
  target: Date | 'latest',
): Promise<RestoreChain & { filesVerified: number }> {
  let chain: RestoreChain;
  try {
    chain = chainFor(await store.list(), target);
  } catch (error) {
    if (error instanceof BrokenChainError)
      throw ApplicationFailure.nonRetryable(
        `${what}: cannot restore ${target === 'latest' ? 'the latest backup' : target.toISOString()} from ${store.root}, nothing was touched: ${error.message}`,
        'BrokenChain',
      );
    throw error;
  }
  return { ...chain, filesVerified: await verifyLinks(store, what, chain.links) };
}

/** The chain whose last link is backup `id` (a scheduled verification restores exactly that one). */
export async function verifiedChainEndingAt(
  store: LocalBackupStore,
  what: string,
  id: string,
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
  try {
    const chain = chainFor(upTo, 'latest');
    return { ...chain, logs: [], filesVerified: await verifyLinks(store, what, chain.links) };
  } catch (error) {
    if (error instanceof BrokenChainError)
      throw ApplicationFailure.nonRetryable(
        `${what}: backup ${id} cannot be restored: ${error.message}`,
        'BrokenChain',
      );
    throw error;
  }
}
