/**
 * What a server holds, as the manifest records it at backup time and validation reads it back from a
 * restored copy: databases, retention policies, series, field values per measurement, continuous
 * queries, users.
 */
import { ident, InfluxQueryError, type InfluxClient } from './client';

export interface RetentionPolicy {
  name: string;
  duration: string;
  shardGroupDuration: string;
  replicaN: number;
  default: boolean;
}

export interface DatabaseInventory {
  name: string;
  retentionPolicies: RetentionPolicy[];
  /** Series, summed over the retention policies (SHOW SERIES EXACT CARDINALITY). */
  series: number;
  /**
   * Field values per `<retention policy>.<measurement>`: `SELECT count(*)` summed over the fields,
   * i.e. the points when every point has a single field.
   */
  values: Record<string, number>;
  continuousQueries: { name: string; query: string }[];
}

export interface UserInventory {
  name: string;
  admin: boolean;
  /** `<database>: READ|WRITE|ALL PRIVILEGES` */
  grants: string[];
}

const str = (value: unknown) => (typeof value === 'string' ? value : String(value));
const num = (value: unknown) => (typeof value === 'number' ? value : Number(value ?? 0));

export async function databaseNames(client: InfluxClient): Promise<string[]> {
  return (await client.rows('SHOW DATABASES')).map(({ row }) => str(row.name));
}

export async function retentionPolicies(client: InfluxClient, database: string): Promise<RetentionPolicy[]> {
  return (await client.rows(`SHOW RETENTION POLICIES ON ${ident(database)}`)).map(({ row }) => ({
    name: str(row.name),
    duration: str(row.duration),
    shardGroupDuration: str(row.shardGroupDuration),
    replicaN: num(row.replicaN),
    default: row.default === true,
  }));
}

/** Field values per `<rp>.<measurement>`; a full scan of the database, once per retention policy. */
async function fieldValues(client: InfluxClient, database: string, policies: RetentionPolicy[]) {
  const values: Record<string, number> = {};
  for (const rp of policies) {
    const series = await client.query(`SELECT count(*) FROM ${ident(database)}.${ident(rp.name)}./.*/`, database);
    for (const s of series) {
      const row = s.values?.[0] ?? [];
      // Columns: time, count_<field>…; a field absent from a measurement counts null.
      const total = row.slice(1).reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0);
      values[`${rp.name}.${s.name ?? ''}`] = total;
    }
  }
  return values;
}

/** Series over every retention policy (without FROM, the cardinality covers the default one only). */
async function seriesCount(client: InfluxClient, database: string, policies: RetentionPolicy[]): Promise<number> {
  let total = 0;
  for (const rp of policies) {
    const rows = await client.rows(`SHOW SERIES EXACT CARDINALITY ON ${ident(database)} FROM ${ident(rp.name)}./.*/`);
    total += rows.reduce((sum, { row }) => sum + num(row.count), 0);
  }
  return total;
}

export async function continuousQueries(client: InfluxClient): Promise<Map<string, { name: string; query: string }[]>> {
  const byDatabase = new Map<string, { name: string; query: string }[]>();
  for (const series of await client.query('SHOW CONTINUOUS QUERIES')) {
    const list = (series.values ?? []).map((v) => ({ name: str(v[0]), query: str(v[1]) }));
    byDatabase.set(series.name ?? '', list);
  }
  return byDatabase;
}

export async function inventoryOf(client: InfluxClient, databases: string[]): Promise<DatabaseInventory[]> {
  const cqs = await continuousQueries(client);
  const result: DatabaseInventory[] = [];
  for (const name of databases) {
    const policies = await retentionPolicies(client, name);
    result.push({
      name,
      retentionPolicies: policies,
      series: await seriesCount(client, name, policies),
      values: await fieldValues(client, name, policies),
      continuousQueries: cqs.get(name) ?? [],
    });
  }
  return result;
}

/**
 * Users and their grants. Portable restores do not bring users back (nor their password hashes,
 * which InfluxQL never shows): the manifest lists them so an operator knows whom to recreate.
 * Undefined when the credentials may not list users (not an admin).
 */
export async function usersOf(client: InfluxClient): Promise<UserInventory[] | undefined> {
  try {
    const users: UserInventory[] = [];
    for (const { row } of await client.rows('SHOW USERS')) {
      const name = str(row.user);
      const grants = (await client.rows(`SHOW GRANTS FOR ${ident(name)}`)).map(
        ({ row: g }) => `${str(g.database)}: ${str(g.privilege)}`,
      );
      users.push({ name, admin: row.admin === true, grants });
    }
    return users;
  } catch (error) {
    if (error instanceof InfluxQueryError) return undefined;
    throw error;
  }
}
