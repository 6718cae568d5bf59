/**
 * Validation of a restored server against the backup it came from: every table the backup recorded
 * exists and can be read (CHECKSUM TABLE reads every row). Without binlog replay, and when the
 * backup's facts are exact, row counts and checksums must equal the backup's; after a replay they
 * are reported (the replayed changes are meant to change them).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { withSql } from './connection';
import type { MysqlRestorePlan } from './restore-plan';
import { compareTables, tableFacts, type TableFact } from './tables';

export interface ValidationResult {
  /** The backup whose manifest the tables were compared with. */
  comparedWith: string;
  tables: number;
  rows: number;
  /** Whether counts and checksums had to equal the backup's (no replay, exact facts). */
  strict: boolean;
  missing: string[];
  /** Tables whose rows or checksum differ from the backup's (expected after a replay). */
  changed: number;
  added: string[];
  /** Row count and checksum of each table (the first 100). */
  checksums: Pick<TableFact, 'table' | 'rows' | 'checksum'>[];
}

const SHOWN = 100;

export async function validateRestore(
  binaries: DataServerBinaries,
  c: MysqlComponent,
  plan: Pick<MysqlRestorePlan, 'links' | 'tables' | 'tablesExact'>,
  socket: string,
  replayed: boolean,
): Promise<ValidationResult> {
  const restored = await withSql(binaries, c, { socket }, (sql) => tableFacts(sql));
  const comparison = compareTables(plan.tables, restored);
  const comparedWith = plan.links.at(-1)!.id;
  const strict = !replayed && plan.tablesExact;
  if (comparison.missing.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the restored server lacks ${comparison.missing.length} table(s) that backup ${comparedWith} recorded: ${comparison.missing.slice(0, 20).join(', ')}${replayed ? ' (dropped by the replayed binlogs, or the restore is incomplete: if the drop was intended, skip this step)' : ''}`,
      'RestoreInvalid',
    );
  if (strict && comparison.changed.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: ${comparison.changed.length} restored table(s) differ from backup ${comparedWith}: ${comparison.changed
        .slice(0, 10)
        .map(
          (t) =>
            `${t.table} has ${t.rows} rows (checksum ${t.checksum}), the backup ${t.backupRows} (${t.backupChecksum})`,
        )
        .join('; ')}`,
      'RestoreInvalid',
    );
  return {
    comparedWith,
    tables: restored.length,
    rows: restored.reduce((sum, t) => sum + t.rows, 0),
    strict,
    missing: [],
    changed: comparison.changed.length,
    added: comparison.added,
    checksums: restored.slice(0, SHOWN).map(({ table, rows, checksum }) => ({ table, rows, checksum })),
  };
}
