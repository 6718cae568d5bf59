/**
 * Backups of an InfluxDB 1.x server with `influxd backup -portable`, one directory per database,
 * plus its configuration file, committed through the LocalBackupStore (staged, manifest last).
 *
 * Incremental backups use `-since <base's recovery point − 1 min>`, not `-start`:
 * - `-since` asks the server to flush its cache, then sends every TSM file of every shard modified
 *   since that time. It holds everything written after the base backup, including points written
 *   late with old timestamps. Files rewritten by compaction come along whole, so an incremental may
 *   hold points the base holds too: restoring them again is harmless (same series and time
 *   overwrite). The minute of margin covers clock skew between the worker and the server.
 * - `-start` selects points by timestamp, so late points are lost; and in 1.6 without `-end` it
 *   exports nothing from a shard's newest file (the zero end time makes every range test fail).
 * Neither carries deletions (DELETE, DROP SERIES/MEASUREMENT) made after the base backup: a restore
 * of a chain brings deleted points back until the next full backup.
 * Portable backups hold no users, privileges or continuous queries: the manifest records them (users
 * without passwords, which InfluxQL never shows) and a restore recreates the continuous queries.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BrokenChainError, chainFor } from '../../backups/chain';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { InfluxDbComponent } from '../../plan/kinds/influxdb';
import type { DataStoreDependencies } from '../data-stores';
import { heartbeatWhile } from '../heartbeat';
import { runProcess } from '../process';
import { credentialsOf, InfluxClient } from './client';
import { databaseNames, inventoryOf, usersOf, type DatabaseInventory, type UserInventory } from './inventory';

/** Margin subtracted from the base's recovery point for `-since` (clock skew worker ↔ server). */
export const SINCE_MARGIN_MS = 60_000;

export interface BackedUpDatabase extends DatabaseInventory {
  /** Its portable backup, relative to the backup's folder: `data/<name>`. */
  dir: string;
  /** Shard files in it (0: a database without data, recreated from its retention policies). */
  shards: number;
}

/** The manifest's `details` for this kind. */
export interface InfluxBackupDetails {
  version: string;
  server: string;
  /** Counts taken just before the backup started: a restore must hold at least these. */
  databases: BackedUpDatabase[];
  /** Not carried by portable backups; absent when the credentials may not list users. */
  users?: UserInventory[];
  /** `config/<name>`: the saved configuration file. */
  configFile: string;
  /** Incrementals: every TSM file modified since this time (see the top of this file). */
  since?: string;
}

/**
 * A folder name for each database: letters, digits, `_`, `.` and `-` only (influxd backup puts the
 * path into a format string, so a `%` would be mangled), unique among them. The manifest records
 * which folder holds which database.
 */
export function foldersOf(databases: string[]): Map<string, string> {
  const folders = new Map<string, string>();
  const taken = new Set<string>();
  for (const name of databases) {
    const base = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.*/, (dots) => '_'.repeat(dots.length)) || '_';
    let folder = base;
    for (let n = 2; taken.has(folder); n++) folder = `${base}-${n}`;
    taken.add(folder);
    folders.set(name, folder);
  }
  return folders;
}

/** Shard files that `influxd backup -portable` wrote into `dir` (from its own .manifest). */
export async function portableShards(dir: string): Promise<number> {
  const manifests = (await readdir(dir)).filter((name) => name.endsWith('.manifest'));
  let shards = 0;
  for (const name of manifests) {
    const manifest = JSON.parse(await readFile(join(dir, name), 'utf8')) as { files?: unknown[] | null };
    shards += manifest.files?.length ?? 0;
  }
  return shards;
}

/** The influx client of a plan's component, naming it in messages. */
export function clientOf(c: InfluxDbComponent): InfluxClient {
  return new InfluxClient(`http://${c.host}:${c.port}`, `${c.id} (${c.host}:${c.port})`, credentialsOf(c));
}

/** The newest full or incremental backup an incremental applies on top of; its chain must be whole. */
function baseFor(c: InfluxDbComponent, backups: BackupManifest[]): BackupManifest {
  try {
    return chainFor(backups, 'latest').links.at(-1)!;
  } catch (error) {
    if (!(error instanceof BrokenChainError)) throw error;
    throw ApplicationFailure.nonRetryable(
      `${c.id}: no incremental backup without a whole chain under it in ${c.backupDir} (${error.message}): take a full backup`,
      'NoFullBackup',
    );
  }
}

export async function backupInfluxdb(
  deps: DataStoreDependencies,
  { component: c, type, backupId }: BackupActivityInput<InfluxDbComponent>,
): Promise<BackupManifest> {
  const store = new LocalBackupStore(c.backupDir);
  const done = await store.read(backupId);
  if (done) return done;
  if (type !== 'full' && type !== 'incremental')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: InfluxDB backups are full or incremental, not ${type}`,
      'UnsupportedBackupType',
    );
  const base = type === 'incremental' ? baseFor(c, await store.list()) : undefined;
  if (c.backupDir.includes('%'))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: backupDir ${c.backupDir} contains %, which influxd backup mangles (it formats the path): choose another`,
      'InvalidBackupDir',
    );
  if (!existsSync(c.configFile))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the configuration file ${c.configFile} (configFile) is not on this worker: the backup would miss it`,
      'ConfigFileMissing',
    );

  const client = clientOf(c);
  const version = await client.ping();
  const present = await databaseNames(client);
  const missing = c.databases.filter((db) => !present.includes(db));
  if (missing.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: database ${missing.join(', ')} listed in the plan does not exist on ${c.host}:${c.port}`,
      'DatabaseMissing',
    );
  const databases = c.databases.length > 0 ? c.databases : present.filter((db) => db !== '_internal');

  // Everything written before this moment is in the backup: its recovery point.
  const startedAt = new Date().toISOString();
  const since =
    base && new Date(Date.parse(base.recoveryPoint) - SINCE_MARGIN_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
  // Counting is a scan of every database: it heartbeats like the backup itself.
  const inventory = await heartbeatWhile(inventoryOf(client, databases), () => ({ backupId, counting: databases }));
  const users = await usersOf(client);

  const staged = await store.stage(backupId);
  const backedUp: BackedUpDatabase[] = [];
  const folders = foldersOf(databases);
  for (const db of inventory) {
    const dir = `data/${folders.get(db.name)!}`;
    const args = ['backup', '-portable', '-host', `${c.host}:${c.backupPort}`, '-db', db.name];
    if (since) args.push('-since', since);
    const run = await runProcess(deps.binaries().influxd, [...args, join(staged, dir)], {
      details: () => ({ backupId, database: db.name }),
    });
    if (run.exitCode !== 0)
      throw ApplicationFailure.retryable(
        `${c.id}: influxd backup of database ${db.name} from ${c.host}:${c.backupPort} exited with ${run.exitCode}: ${run.tail.slice(-800)}`,
        'InfluxdbBackupFailed',
      );
    backedUp.push({ ...db, dir, shards: await portableShards(join(staged, dir)) });
  }
  await mkdir(join(staged, 'config'), { recursive: true });
  const configFile = `config/${basename(c.configFile)}`;
  await copyFile(c.configFile, join(staged, configFile));

  const details: InfluxBackupDetails = {
    version,
    server: `${c.host}:${c.port}`,
    databases: backedUp,
    ...(users ? { users } : {}),
    configFile,
    ...(since ? { since } : {}),
  };
  return store.commit(staged, {
    component: c.id,
    kind: 'influxdb',
    id: backupId,
    type,
    ...(base ? { base: base.id } : {}),
    startedAt,
    finishedAt: new Date().toISOString(),
    recoveryPoint: startedAt,
    details: details as unknown as Record<string, unknown>,
  });
}
