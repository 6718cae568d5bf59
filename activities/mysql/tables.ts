/**
 * The facts a backup records about every user table and a restore is checked against: row count
 * and CHECKSUM TABLE, read from a server.
 */
import type { SqlRunner } from './connection';

export interface TableFact {
  /** `schema.table`. */
  table: string;
  engine: string | null;
  rows: number;
  /** CHECKSUM TABLE; null when the server could not compute one. */
  checksum: number | null;
}

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'];
const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** Statements stay a reasonable size on servers with thousands of tables. */
const BATCH = 100;

/** Every user table (base tables outside the system schemas) with its row count and checksum. */
export async function tableFacts(sql: SqlRunner): Promise<TableFact[]> {
  const tables = await sql(
    `SELECT table_schema, table_name, engine FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN (${SYSTEM_SCHEMAS.map(literal).join(', ')}) ORDER BY table_schema, table_name`,
  );
  const facts: TableFact[] = [];
  for (let i = 0; i < tables.length; i += BATCH) {
    const batch = tables.slice(i, i + BATCH).map(([schema, name, engine]) => ({
      table: `${schema}.${name}`,
      quoted: `${ident(schema!)}.${ident(name!)}`,
      engine: engine ?? null,
    }));
    const checksums = new Map(
      (await sql(`CHECKSUM TABLE ${batch.map((t) => t.quoted).join(', ')}`)).map(([table, sum]) => [
        table,
        sum === null || sum === undefined ? null : Number(sum),
      ]),
    );
    const counts = new Map(
      (await sql(batch.map((t) => `SELECT ${literal(t.table)}, COUNT(*) FROM ${t.quoted}`).join(' UNION ALL '))).map(
        ([table, rows]) => [table, Number(rows)],
      ),
    );
    for (const t of batch)
      facts.push({
        table: t.table,
        engine: t.engine,
        rows: counts.get(t.table) ?? 0,
        checksum: checksums.get(t.table) ?? null,
      });
  }
  return facts;
}

export interface TableComparison {
  /** Tables of the backup the restored server does not have. */
  missing: string[];
  /** Tables whose row count or checksum differs from the backup's. */
  changed: {
    table: string;
    rows: number;
    backupRows: number;
    checksum: number | null;
    backupChecksum: number | null;
  }[];
  /** Tables the restored server has that the backup did not record (created by replayed binlogs). */
  added: string[];
}

/** How the restored tables differ from the ones a backup recorded. */
export function compareTables(backup: TableFact[], restored: TableFact[]): TableComparison {
  const now = new Map(restored.map((t) => [t.table, t]));
  const recorded = new Set(backup.map((t) => t.table));
  const comparison: TableComparison = { missing: [], changed: [], added: [] };
  for (const before of backup) {
    const after = now.get(before.table);
    if (!after) comparison.missing.push(before.table);
    else if (after.rows !== before.rows || after.checksum !== before.checksum)
      comparison.changed.push({
        table: before.table,
        rows: after.rows,
        backupRows: before.rows,
        checksum: after.checksum,
        backupChecksum: before.checksum,
      });
  }
  comparison.added = restored.filter((t) => !recorded.has(t.table)).map((t) => t.table);
  return comparison;
}
