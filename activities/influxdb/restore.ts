/**
 * Restores a chain of portable backups into a fresh instance on a directory of its own, resumably:
 * a state file in the directory records the chain and each link applied, so a retried activity
 * continues where the last attempt stopped instead of restoring a link twice.
 *
 * The full backup is restored with `influxd restore -portable -db X`. A portable restore refuses a
 * database that exists ("DB metadata not changed. database may already exist"), so an incremental
 * is restored beside it as `X_incremental_<n>` (`-newdb`), copied in with `SELECT * INTO … GROUP BY
 * *` one measurement at a time (same series and time overwrite: re-running is harmless), then
 * dropped. A database without shards in a backup is recreated from the manifest's retention
 * policies: influxd restore exits 1 for it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalBackupStore } from '../../backups/local-store';
import type { BackupManifest } from '../../backups/manifest';
import { heartbeatWhile } from '../heartbeat';
import { runProcess } from '../process';
import type { BackedUpDatabase, InfluxBackupDetails } from './backup';
import { ident, InfluxClient, InfluxQueryError } from './client';
import { databaseNames, retentionPolicies, type RetentionPolicy } from './inventory';
import { startInfluxd, stopInfluxdIn, type InfluxdInstance } from './server';

export const STATE_NAME = 'restore-state.json';
/** Where the restore puts the configuration file saved with the chain's last backup. */
export const SAVED_CONFIG_DIR = 'saved-config';

export interface RestoreState {
  component: string;
  /** Backup ids, full first. */
  chain: string[];
  applied: string[];
  /** A link whose restore began and did not finish. */
  inProgress?: string;
  finishedAt?: string;
}

export interface RestoreTarget {
  influxd: string;
  /** The component restored, as the state file records it (a directory of another one is not touched). */
  component: string;
  dir: string;
  httpPort: number;
  rpcPort: number;
}

export interface RestoredDatabase {
  name: string;
  /** Backup ids whose data went in, in order. */
  from: string[];
}

export interface ChainRestoreResult {
  dir: string;
  chain: string[];
  /** Links applied by this call (empty when an earlier attempt finished the restore). */
  appliedNow: string[];
  databases: RestoredDatabase[];
  continuousQueries: number;
  /** Users the last backup lists that a portable restore cannot bring back (recreate them by hand). */
  usersNotRestored: string[];
  savedConfig?: string;
}

export const detailsOf = (m: BackupManifest) => m.details as unknown as InfluxBackupDetails;

export async function readState(dir: string): Promise<RestoreState | undefined> {
  const file = join(dir, STATE_NAME);
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as RestoreState;
}

async function writeState(dir: string, state: RestoreState): Promise<void> {
  const file = join(dir, STATE_NAME);
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/**
 * Whether `dir` is free for this restore: absent or empty, or a restore of the same component.
 * Anything else is someone's data and is never touched.
 */
export async function assertOurs(dir: string, component: string): Promise<RestoreState | undefined> {
  if (!existsSync(dir) || (await readdir(dir)).length === 0) return undefined;
  const state = await readState(dir).catch(() => undefined);
  if (!state || state.component !== component)
    throw ApplicationFailure.nonRetryable(
      `${dir} is not empty and holds no restore of ${component} (no ${STATE_NAME} naming it): move it away or choose another restoreDir; nothing was touched`,
      'RestoreDirNotOurs',
    );
  return state;
}

/** The state to continue from: the recorded one when it is this chain and its full backup is in; else a fresh directory. */
async function prepare(target: RestoreTarget, chain: string[]): Promise<RestoreState> {
  const state = await assertOurs(target.dir, target.component);
  const sameChain = state && state.chain.join() === chain.join();
  if (sameChain && state.applied.includes(chain[0]!) && state.inProgress !== chain[0]) return state;
  // Another target, or a full restore cut short: start over on an empty directory.
  await stopInfluxdIn(target.dir);
  await rm(target.dir, { recursive: true, force: true });
  await mkdir(target.dir, { recursive: true });
  const fresh: RestoreState = { component: target.component, chain, applied: [] };
  await writeState(target.dir, fresh);
  return fresh;
}

/**
 * `influxd restore` exits once it has sent the shards. The server created them disabled when it took
 * the metadata (before the upload began), imports each upload in the background (closing and
 * reopening the shard's engine) and enables the shard at the end. Queries fail with "shard is
 * disabled" or "engine is closed" meanwhile, and a server stopped then would lose the shard: wait
 * until every retention policy of `database` answers.
 */
async function awaitShardsEnabled(client: InfluxClient, database: string, what: string): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      for (const rp of await retentionPolicies(client, database))
        await client.query(`SELECT * FROM ${ident(database)}.${ident(rp.name)}./.*/ LIMIT 1`, database);
      return;
    } catch (error) {
      if (!(error instanceof InfluxQueryError && /shard is disabled|engine is closed/.test(error.message))) throw error;
      if (Date.now() > deadline)
        throw ApplicationFailure.retryable(`${what}: the restored shards are still being imported after 10 minutes`);
      await sleep(100);
    }
  }
}

/** `influxd restore -portable -db <db> …`, then waits for the server to finish importing into `into`. */
async function influxdRestore(
  target: RestoreTarget,
  instance: InfluxdInstance,
  client: InfluxClient,
  args: string[],
  into: string,
  what: string,
): Promise<void> {
  const run = await runProcess(target.influxd, ['restore', '-portable', '-host', instance.rpcAddress, ...args], {
    details: () => ({ restoring: what }),
  });
  if (run.exitCode !== 0)
    throw ApplicationFailure.retryable(
      `influxd restore of ${what} into ${instance.dir} exited with ${run.exitCode}: ${run.tail.slice(-800)}`,
      'InfluxdbRestoreFailed',
    );
  await heartbeatWhile(awaitShardsEnabled(client, into, what), () => ({ importing: what }));
}

/** Go's `168h0m0s` (how SHOW RETENTION POLICIES prints) as an InfluxQL duration: `604800s`. */
function influxqlDuration(go: string): string {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 };
  let seconds = 0;
  for (const [, n, unit] of go.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)) seconds += Number(n) * units[unit!]!;
  return `${Math.max(1, Math.round(seconds))}s`;
}

const rpClause = (rp: RetentionPolicy) =>
  `DURATION ${rp.duration === '0s' ? 'INF' : influxqlDuration(rp.duration)} REPLICATION ${rp.replicaN || 1} SHARD DURATION ${influxqlDuration(rp.shardGroupDuration)}`;

/** Creates the database and the retention policies it lacks (a restore of a database without shards). */
async function ensurePolicies(client: InfluxClient, database: string, policies: RetentionPolicy[]): Promise<void> {
  await client.query(`CREATE DATABASE ${ident(database)}`);
  const present = new Set((await retentionPolicies(client, database)).map((rp) => rp.name));
  for (const rp of policies)
    if (!present.has(rp.name))
      await client.query(
        `CREATE RETENTION POLICY ${ident(rp.name)} ON ${ident(database)} ${rpClause(rp)}${rp.default ? ' DEFAULT' : ''}`,
      );
}

/** Copies every measurement of `from` into `into`, retention policy by retention policy. */
async function copyInto(client: InfluxClient, from: string, into: string): Promise<number> {
  let written = 0;
  for (const rp of await retentionPolicies(client, from)) {
    const measurements = (await client.rows(`SHOW MEASUREMENTS ON ${ident(from)}`)).map(({ row }) => String(row.name));
    for (const m of measurements) {
      const result = await client.rows(
        `SELECT * INTO ${ident(into)}.${ident(rp.name)}.${ident(m)} FROM ${ident(from)}.${ident(rp.name)}.${ident(m)} GROUP BY *`,
        from,
      );
      written += result.reduce((n, { row }) => n + Number(row.written ?? 0), 0);
    }
  }
  return written;
}

/** Restores one database of one backup (the chain's `index`-th link) into the instance. */
async function restoreDatabase(
  target: RestoreTarget,
  instance: InfluxdInstance,
  client: InfluxClient,
  store: LocalBackupStore,
  link: BackupManifest,
  index: number,
  db: BackedUpDatabase,
): Promise<void> {
  const dir = join(store.dirOf(link.id), db.dir);
  const exists = (await databaseNames(client)).includes(db.name);
  if (db.shards === 0) return ensurePolicies(client, db.name, db.retentionPolicies);
  const what = `database ${db.name} of backup ${link.id}`;
  if (!exists) return influxdRestore(target, instance, client, ['-db', db.name, dir], db.name, what);

  const beside = `${db.name}_incremental_${index}`;
  // A leftover of an attempt cut short: restore it afresh (the copy below overwrites, never doubles).
  if ((await databaseNames(client)).includes(beside)) await client.query(`DROP DATABASE ${ident(beside)}`);
  await influxdRestore(target, instance, client, ['-db', db.name, '-newdb', beside, dir], beside, what);
  await ensurePolicies(client, db.name, await retentionPolicies(client, beside));
  await heartbeatWhile(copyInto(client, beside, db.name), () => ({ copying: beside }));
  await client.query(`DROP DATABASE ${ident(beside)}`);
}

/** Recreates a continuous query (portable restores drop them); one left by an earlier attempt is kept. */
async function createContinuousQuery(client: InfluxClient, database: string, query: string): Promise<void> {
  try {
    await client.query(query, database);
  } catch (error) {
    if (!(error instanceof InfluxQueryError && /already exists/.test(error.message))) throw error;
  }
}

/**
 * Restores `links` (full first) into a fresh instance on `target.dir`, recreates the continuous
 * queries of the last link, copies its configuration file into `saved-config/`, and stops the
 * instance. Re-running after success changes nothing.
 */
export async function restoreChain(
  target: RestoreTarget,
  store: LocalBackupStore,
  links: BackupManifest[],
): Promise<ChainRestoreResult> {
  const chain = links.map((l) => l.id);
  const state = await prepare(target, chain);
  const last = links.at(-1)!;
  const lastDetails = detailsOf(last);
  const appliedNow: string[] = [];
  if (!state.finishedAt) {
    const instance = await startInfluxd({
      influxd: target.influxd,
      dir: target.dir,
      httpPort: target.httpPort,
      rpcPort: target.rpcPort,
    });
    try {
      const client = new InfluxClient(instance.url, `restored instance on ${target.dir}`);
      for (const [index, link] of links.entries()) {
        if (state.applied.includes(link.id)) continue;
        state.inProgress = link.id;
        await writeState(target.dir, state);
        for (const db of detailsOf(link).databases)
          await restoreDatabase(target, instance, client, store, link, index, db);
        state.applied.push(link.id);
        delete state.inProgress;
        await writeState(target.dir, state);
        appliedNow.push(link.id);
      }
      for (const db of lastDetails.databases)
        for (const cq of db.continuousQueries) await createContinuousQuery(client, db.name, cq.query);
    } finally {
      await instance.stop();
    }
    await rm(join(target.dir, SAVED_CONFIG_DIR), { recursive: true, force: true });
    await cp(join(store.dirOf(last.id), 'config'), join(target.dir, SAVED_CONFIG_DIR), { recursive: true });
    state.finishedAt = new Date().toISOString();
    await writeState(target.dir, state);
  }
  const databases = new Map<string, string[]>();
  for (const link of links)
    for (const db of detailsOf(link).databases) databases.set(db.name, [...(databases.get(db.name) ?? []), link.id]);
  return {
    dir: target.dir,
    chain,
    appliedNow,
    databases: [...databases].map(([name, from]) => ({ name, from })),
    continuousQueries: lastDetails.databases.reduce((n, db) => n + db.continuousQueries.length, 0),
    usersNotRestored: (lastDetails.users ?? []).map((u) => u.name),
    savedConfig: join(target.dir, SAVED_CONFIG_DIR, lastDetails.configFile.replace(/^config\//, '')),
  };
}
