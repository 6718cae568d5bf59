/**
 * What every backup the engine takes records about itself, in `manifest.json` next to its files.
 * A backup directory without a manifest is not a backup: the manifest is written last.
 */
export const BACKUP_TYPES = ['full', 'incremental', 'snapshot', 'log'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

export interface BackupFile {
  /** Relative to the backup's directory, `/`-separated. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: 1;
  component: string;
  kind: string;
  /** Sortable and filesystem-safe: `2026-11-16T161000Z-full`. */
  id: string;
  type: BackupType;
  /** The backup this one applies on top of: an incremental's previous link, a log archive's predecessor. */
  base?: string;
  startedAt: string;
  finishedAt: string;
  /** The data in this backup is consistent as of this time: what a restore of it brings back. */
  recoveryPoint: string;
  files: BackupFile[];
  /** Kind-specific facts: LSNs, binlog positions, table checksums, key counts, refs. */
  details: Record<string, unknown>;
}

/** `2026-11-16T161000Z-full`: the time the backup was due (UTC, to the second) and its type. */
export function backupIdOf(type: BackupType, due: Date): string {
  return `${due
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '')}-${type}`;
}

/** The due time encoded in a backup id. */
export function dueTimeOf(id: string): Date {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
  if (!match) throw new Error(`"${id}" is not a backup id (expected e.g. 2026-11-16T161000Z-full)`);
  return new Date(`${match[1]}T${match[2]}:${match[3]}:${match[4]}Z`);
}

/** Input of a kind's backup activities (KindDefinition.backups): the component as the plan gives it. */
export interface BackupActivityInput<C = Record<string, unknown>> {
  component: C;
  type: BackupType;
  /** Deterministic per scheduled run (backupIdOf), so a retried activity finds its own backup. */
  backupId: string;
}
