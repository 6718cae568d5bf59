import { dueTimeOf, type BackupManifest } from './manifest';

/**
 * Which backups restore a component to a point in time, and which backups retention may delete.
 * Pure: works on manifests only, so a broken chain is found before anything is touched.
 */

export interface RestoreChain {
  /** A full backup (or snapshot) then its incrementals, oldest first: the order they are applied in. */
  links: BackupManifest[];
  /** Log archives to replay after the last link, oldest first. */
  logs: BackupManifest[];
  /** The point the restore reaches: the target when the backups cover it, else the newest point they hold. */
  reaches: string;
  /** The target lies beyond the newest recovery point: the restore loses `reaches`..target. */
  short: boolean;
}

/** The backups cannot restore the target: the message names the missing link. */
export class BrokenChainError extends Error {
  override name = 'BrokenChainError';
}

const byPoint = (a: BackupManifest, b: BackupManifest) =>
  a.recoveryPoint.localeCompare(b.recoveryPoint) || a.id.localeCompare(b.id);

/** The chain back from `newest` to its full backup, oldest first. */
function linksTo(newest: BackupManifest, byId: Map<string, BackupManifest>): BackupManifest[] {
  const links = [newest];
  let current = newest;
  while (current.type === 'incremental') {
    if (!current.base)
      throw new BrokenChainError(`incremental backup ${current.id} names no base backup: its chain cannot be rebuilt`);
    const base = byId.get(current.base);
    if (!base)
      throw new BrokenChainError(
        `incremental backup ${current.id} applies on top of ${current.base}, which is missing: the chain is broken from ${current.base} on`,
      );
    if (base.type === 'log')
      throw new BrokenChainError(`incremental backup ${current.id} names log archive ${base.id} as its base`);
    links.unshift(base);
    current = base;
  }
  return links;
}

/**
 * The chain that restores to `target` (`latest`: the newest point held): the newest full or
 * incremental backup taken at or before it, every link back to its full backup, and the log
 * archives after it up to the first that reaches the target, checked link by link.
 */
export function chainFor(backups: BackupManifest[], target: Date | 'latest'): RestoreChain {
  const byId = new Map(backups.map((b) => [b.id, b]));
  const at = target === 'latest' ? undefined : target.toISOString();
  const bases = backups.filter((b) => b.type !== 'log' && (at === undefined || b.recoveryPoint <= at)).sort(byPoint);
  const newest = bases.at(-1);
  if (!newest) {
    const oldest = backups.filter((b) => b.type !== 'log').sort(byPoint)[0];
    throw new BrokenChainError(
      oldest
        ? `no backup was taken at or before ${at}: the oldest is ${oldest.id} (${oldest.recoveryPoint})`
        : 'there is no full backup to restore from',
    );
  }
  const links = linksTo(newest, byId);
  const after = backups.filter((b) => b.type === 'log' && b.recoveryPoint > newest.recoveryPoint).sort(byPoint);
  const reachIndex = at === undefined ? -1 : after.findIndex((l) => l.recoveryPoint >= at);
  const logs = reachIndex === -1 ? after : after.slice(0, reachIndex + 1);
  for (let i = 1; i < logs.length; i++) {
    const log = logs[i]!;
    if (log.base !== logs[i - 1]!.id)
      throw new BrokenChainError(
        `log archive ${log.id} follows ${log.base ?? 'nothing'}, not ${logs[i - 1]!.id}: the logs between them are missing`,
      );
  }
  // The archive before the first one may be gone (retention); one taken after the base backup may not.
  const first = logs[0];
  if (first?.base && !byId.has(first.base) && dueTimeOf(first.base).toISOString() > newest.recoveryPoint)
    throw new BrokenChainError(`log archive ${first.id} follows ${first.base}, which is missing`);
  const newestPoint = logs.at(-1)?.recoveryPoint ?? newest.recoveryPoint;
  if (at === undefined) return { links, logs, reaches: newestPoint, short: false };
  const covered = newestPoint >= at;
  return { links, logs, reaches: covered ? at : newestPoint, short: !covered };
}

export interface RetentionPlan {
  remove: BackupManifest[];
  /** Expired backups kept, and why: a link or log that an unexpired restore point still needs. */
  keptExpired: { id: string; why: string }[];
}

/**
 * Backups older than `retentionMs` may go, except what a restore to any moment inside the
 * retention still needs: the chain of the oldest such moment, the bases of every kept backup, and
 * the logs after that chain.
 */
export function retentionPlan(backups: BackupManifest[], now: Date, retentionMs: number): RetentionPlan {
  const cutoff = new Date(now.getTime() - retentionMs).toISOString();
  const byId = new Map(backups.map((b) => [b.id, b]));
  const keep = new Map<string, string>();
  let oldestChainPoint: string | undefined;
  try {
    const chain = chainFor(backups, new Date(cutoff));
    for (const link of chain.links)
      keep.set(link.id, `link of the chain that restores ${cutoff}, the oldest point kept`);
    oldestChainPoint = chain.links.at(-1)!.recoveryPoint;
  } catch (error) {
    if (!(error instanceof BrokenChainError)) throw error;
  }
  const unexpired = backups.filter((b) => b.recoveryPoint >= cutoff);
  for (const backup of unexpired) {
    keep.set(backup.id, 'inside the retention');
    if (backup.type === 'incremental')
      try {
        for (const link of linksTo(backup, byId))
          if (!keep.has(link.id)) keep.set(link.id, `base of ${backup.id}, which is inside the retention`);
      } catch (error) {
        if (!(error instanceof BrokenChainError)) throw error;
      }
  }
  for (const log of backups.filter((b) => b.type === 'log'))
    if (!keep.has(log.id) && oldestChainPoint !== undefined && log.recoveryPoint > oldestChainPoint)
      keep.set(log.id, `log after the chain that restores ${cutoff}`);
  return {
    remove: backups.filter((b) => !keep.has(b.id)).sort(byPoint),
    keptExpired: backups
      .filter((b) => b.recoveryPoint < cutoff && keep.has(b.id))
      .sort(byPoint)
      .map((b) => ({ id: b.id, why: keep.get(b.id)! })),
  };
}
