/**
 * Checks a restored server against its base backup's manifest: it left recovery, every table the
 * backup counted exists, and how many rows each has now beside how many it had at backup time (WAL
 * replayed after the backup changes them: they are shown, not judged).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { BackupManifest } from '../../backups/manifest';
import type { PostgresComponent } from '../../plan/kinds/postgres';
import type { BaseBackupDetails } from './backup';
import { psql, type PgTarget } from './psql';
import type { RestoreRecord } from './restore';
import { countTables, databasesOf, type TableCount } from './tables';

export interface ValidationResult {
  /** Tables of the base backup's manifest found, of how many. */
  tablesFound: number;
  tablesExpected: number;
  /** Rows in those tables now, and at the base backup. */
  rows: number;
  rowsAtBackup: number;
  /** Tables whose row count differs from the base backup's (first 50). */
  changedSinceBackup: { table: string; rows: number; atBackup: number }[];
}

/** The restore's result for the report: what was restored, to what point, and the table check. */
export interface RestoreOutcome extends ValidationResult {
  base: string;
  logs: string[];
  targetTime: string;
  /** The target time written into the settings; absent when all the WAL was replayed. */
  recoveryTargetTime?: string;
  short: boolean;
  /** The time of the last transaction replayed; null when none was (the base backup as it was). */
  lastReplayedCommit: string | null;
  timeline: number;
  note?: string;
}

const key = (t: { database: string; table: string }) => `${t.database}/${t.table}`;

export async function validateRestored(
  c: PostgresComponent,
  bin: string,
  target: PgTarget,
  base: BackupManifest,
): Promise<ValidationResult> {
  const [[inRecovery] = []] = await psql(bin, target, 'postgres', 'select pg_is_in_recovery()');
  if (inRecovery !== 'f')
    throw ApplicationFailure.retryable(`${c.id}: the restored server is still in recovery`, 'StillInRecovery');
  const expected = (base.details as unknown as BaseBackupDetails).tables ?? [];
  const databases = new Set(await databasesOf(bin, target));
  const found = new Map<string, TableCount>();
  for (const database of new Set(expected.map((t) => t.database)))
    if (databases.has(database))
      for (const table of await countTables(bin, target, database)) found.set(key(table), table);
  const missing = expected.filter((t) => !found.has(key(t)));
  if (missing.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: ${missing.length} of the ${expected.length} tables of base backup ${base.id} are missing after the restore ` +
        `(${missing
          .slice(0, 20)
          .map(key)
          .join(', ')}): dropped before the target time, or restored past the point they were lost? ` +
        'If that is expected, skip this step',
      'RestoreValidationFailed',
      { missing: missing.slice(0, 100).map(key) },
    );
  const compared = expected.map((t) => ({ table: key(t), rows: found.get(key(t))!.rows, atBackup: t.rows }));
  return {
    tablesFound: compared.length,
    tablesExpected: expected.length,
    rows: compared.reduce((sum, t) => sum + t.rows, 0),
    rowsAtBackup: compared.reduce((sum, t) => sum + t.atBackup, 0),
    changedSinceBackup: compared.filter((t) => t.rows !== t.atBackup).slice(0, 50),
  };
}

/** The restore record and the validation, as one result. */
export function outcomeOf(record: RestoreRecord, validation: ValidationResult): RestoreOutcome {
  return {
    base: record.base,
    logs: record.logs,
    targetTime: record.targetTime,
    ...(record.recoveryTargetTime ? { recoveryTargetTime: record.recoveryTargetTime } : {}),
    short: record.short,
    lastReplayedCommit: record.promoted?.lastReplayedCommit ?? null,
    timeline: record.promoted?.timeline ?? 0,
    ...(record.promoted?.note ? { note: record.promoted.note } : {}),
    ...validation,
  };
}
