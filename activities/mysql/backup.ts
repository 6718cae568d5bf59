/**
 * Full and incremental physical backups with mariadb-backup, into the component's LocalBackupStore:
 * built in a staging folder (`data/` for mariadb-backup, `config/` and `logs/` beside it), committed
 * with a manifest recording LSNs, the binlog position, every user table's row count and checksum,
 * and the server version. A backup id already committed is returned as it is.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, cp, lstat, mkdir, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BrokenChainError, chainFor } from '../../backups/chain';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { heartbeatWhile } from '../heartbeat';
import { runProcess } from '../process';
import { DATA_SUBDIR, readBinlogPosition, readCheckpoints, type BinlogPosition } from './backup-files';
import { withSql, type SqlRunner } from './connection';
import { tableFacts, type TableFact } from './tables';

export interface MysqlBackupDetails {
  serverVersion: string;
  /** The server's data directory, as it reported it. */
  dataDir: string;
  backupType: string;
  fromLsn: string;
  toLsn: string;
  lastLsn: string;
  /** Where binlog replay starts after this backup; null when binary logging was off. */
  binlog: BinlogPosition | null;
  tables: TableFact[];
  /**
   * Whether the table facts describe the backup's consistent point exactly: the binlog position did
   * not move between the backup and the end of the checksums. When false (a busy server, or no
   * binlog), they describe a moment just after it, and a restore reports differences without failing.
   */
  tablesExact: boolean;
  tablesAt: string;
  configFiles: { path: string; savedAs?: string; missing?: true }[];
  logDir?: { path: string; savedAs?: string; missing?: true };
}

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

async function masterPosition(sql: SqlRunner): Promise<string | undefined> {
  const [row] = await sql('SHOW MASTER STATUS');
  return row ? `${row[0]}:${row[1]}` : undefined;
}

/** The configuration files, under `config/` (a second file of the same name gets its index in front). */
async function saveConfigFiles(paths: string[], staged: string): Promise<MysqlBackupDetails['configFiles']> {
  const dir = join(staged, 'config');
  await mkdir(dir, { recursive: true });
  const saved: MysqlBackupDetails['configFiles'] = [];
  const used = new Set<string>();
  for (const [index, path] of paths.entries()) {
    if (!existsSync(path)) {
      saved.push({ path, missing: true });
      continue;
    }
    const name = used.has(basename(path)) ? `${index}-${basename(path)}` : basename(path);
    used.add(name);
    await copyFile(path, join(dir, name));
    saved.push({ path, savedAs: `config/${name}` });
  }
  return saved;
}

async function saveLogs(logDir: string | undefined, staged: string): Promise<MysqlBackupDetails['logDir']> {
  if (logDir === undefined) return undefined;
  if (!existsSync(logDir)) return { path: logDir, missing: true };
  // Regular files only: a log dir may hold sockets or fifos, which are no logs and cannot be copied.
  await heartbeatWhile(
    cp(logDir, join(staged, 'logs'), {
      recursive: true,
      preserveTimestamps: true,
      filter: async (source) => {
        const entry = await lstat(source);
        return entry.isDirectory() || entry.isFile();
      },
    }),
    () => ({ copying: logDir }),
  );
  return { path: logDir, savedAs: 'logs/' };
}

/** The backup an incremental applies on top of: the newest full or incremental, if its chain is whole. */
async function incrementalBase(store: LocalBackupStore, c: MysqlComponent): Promise<BackupManifest> {
  const backups = await store.list();
  const base = backups.filter((b) => b.type === 'full' || b.type === 'incremental').at(-1);
  if (!base)
    throw nonRetryable(
      `${c.id}: no full backup in ${c.backupDir} to base an incremental backup on: take a full backup first`,
      'NoFullBackup',
    );
  try {
    chainFor(backups, new Date(base.recoveryPoint));
  } catch (error) {
    if (error instanceof BrokenChainError)
      throw nonRetryable(
        `${c.id}: the newest backup ${base.id} is on a broken chain (${error.message}): take a full backup first`,
        'NoFullBackup',
      );
    throw error;
  }
  if (!existsSync(join(store.dirOf(base.id), DATA_SUBDIR, 'xtrabackup_checkpoints')))
    throw nonRetryable(
      `${c.id}: backup ${base.id} has no ${DATA_SUBDIR}/xtrabackup_checkpoints: an incremental cannot start from it; take a full backup`,
      'NoFullBackup',
    );
  return base;
}

export async function backupMysql(
  binaries: DataServerBinaries,
  { component: c, type, backupId }: BackupActivityInput<MysqlComponent>,
): Promise<BackupManifest> {
  if (type !== 'full' && type !== 'incremental')
    throw nonRetryable(`${c.id}: backupMysql takes full and incremental backups, not ${type}`, 'InvalidBackupRequest');
  const store = new LocalBackupStore(c.backupDir);
  const existing = await store.read(backupId);
  if (existing) return existing; // a retry after the commit (the id carries the type)
  const base = type === 'incremental' ? await incrementalBase(store, c) : undefined;
  const staged = await store.stage(backupId);
  const target = join(staged, DATA_SUBDIR);
  const startedAt = new Date().toISOString();
  return withSql(binaries, c, { host: c.host, port: c.port }, async (sql, optionFile) => {
    const [server] = await sql('SELECT @@version, @@datadir');
    const [serverVersion, dataDir] = [server?.[0] ?? '', server?.[1] ?? c.dataDir];
    const run = await runProcess(
      binaries.mariadbBackup,
      [
        // The only option file read: the credentials. InnoDB settings come from the running server.
        `--defaults-file=${optionFile}`,
        '--backup',
        `--target-dir=${target}`,
        `--datadir=${dataDir}`,
        ...(base ? [`--incremental-basedir=${join(store.dirOf(base.id), DATA_SUBDIR)}`] : []),
      ],
      { env: { ...process.env, TZ: 'UTC' } },
    );
    // The consistent point is taken near the end of the run (BACKUP STAGE BLOCK_COMMIT): the end is
    // an upper bound, so a restore to a time before it never gets data written after that time.
    const finishedAt = new Date().toISOString();
    if (run.exitCode !== 0) {
      const message = `${c.id}: mariadb-backup --backup ${type} ${backupId} failed (exit ${run.exitCode}): ${run.tail.slice(-1_500)}`;
      if (/Access denied/i.test(run.tail)) throw nonRetryable(message, 'AccessDenied');
      throw ApplicationFailure.retryable(message, 'BackupFailed');
    }
    const checkpoints = await readCheckpoints(target);
    const binlog = await readBinlogPosition(target);
    const before = await masterPosition(sql);
    const tables = await tableFacts(sql);
    const after = await masterPosition(sql);
    const at = binlog && `${binlog.file}:${binlog.position}`;
    const details: MysqlBackupDetails = {
      serverVersion,
      dataDir,
      ...checkpoints,
      binlog: binlog ?? null,
      tables,
      tablesExact: at !== undefined && before === at && after === at,
      tablesAt: new Date().toISOString(),
      configFiles: await saveConfigFiles(c.configFiles, staged),
      ...(c.logDir !== undefined ? { logDir: await saveLogs(c.logDir, staged) } : {}),
    };
    if ((await readdir(target)).length === 0)
      throw ApplicationFailure.retryable(`${c.id}: mariadb-backup wrote nothing into ${target}`, 'BackupFailed');
    return store.commit(staged, {
      component: c.id,
      kind: c.kind,
      id: backupId,
      type,
      ...(base ? { base: base.id } : {}),
      startedAt,
      finishedAt,
      recoveryPoint: finishedAt,
      details: details as unknown as Record<string, unknown>,
    });
  });
}
