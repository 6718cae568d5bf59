/**
 * Row counts of every table of every database: what a backup records and a restore is checked
 * against. Tables estimated above ESTIMATE_ABOVE rows keep the planner's estimate (a count(*) of a
 * billion rows on every backup would cost more than it tells); unlogged tables are left out, as
 * recovery empties them.
 */
import { psql, type PgTarget } from './psql';

export interface TableCount {
  database: string;
  /** `schema.table` */
  table: string;
  rows: number;
  /** The planner's estimate (pg_class.reltuples), not a count. */
  estimated?: true;
}

export const ESTIMATE_ABOVE = 10_000_000;
/** Tables listed in a manifest at most: the manifest travels in the workflow's history. */
export const MAX_TABLES = 500;

const COUNTS = `
select n.nspname || '.' || c.relname,
  case when c.reltuples > ${ESTIMATE_ABOVE} then c.reltuples::bigint
       else (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint
  end,
  c.reltuples > ${ESTIMATE_ABOVE}
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r' and c.relpersistence = 'p'
  and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
order by 1`;

/** Databases that accept connections, templates excepted. */
export async function databasesOf(bin: string, target: PgTarget): Promise<string[]> {
  const rows = await psql(
    bin,
    target,
    'postgres',
    'select datname from pg_database where datallowconn and not datistemplate order by 1',
  );
  return rows.map(([name]) => name!);
}

/** The tables of `database` with their row counts. */
export async function countTables(bin: string, target: PgTarget, database: string): Promise<TableCount[]> {
  const rows = await psql(bin, target, database, COUNTS);
  return rows.map(([table, rows, estimated]) => ({
    database,
    table: table!,
    rows: Number(rows),
    ...(estimated === 't' ? { estimated: true as const } : {}),
  }));
}

/** Every table of every database, up to MAX_TABLES, and how many were left out. */
export async function countAllTables(
  bin: string,
  target: PgTarget,
): Promise<{ tables: TableCount[]; tablesOmitted: number }> {
  const tables: TableCount[] = [];
  for (const database of await databasesOf(bin, target)) tables.push(...(await countTables(bin, target, database)));
  return { tables: tables.slice(0, MAX_TABLES), tablesOmitted: Math.max(0, tables.length - MAX_TABLES) };
}
