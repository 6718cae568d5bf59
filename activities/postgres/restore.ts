/**
 * Puts a restore chain on disk: the base backup extracted into a data directory, the WAL of its
 * log backups into `<dataDir>.restore/wal`, and the settings that make the server replay that WAL
 * up to the target time, then promote itself. What was done is recorded in
 * `<dataDir>.restore/restore.json`, which the next steps (start, validate) and a retried one read.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import { sh } from '../../plan/kinds/define';
import { restoreWorkDirOf, type PostgresComponent } from '../../plan/kinds/postgres';
import { heartbeatWhile } from '../heartbeat';
import { readJson, writeJsonAtomic } from '../json-file';
import { runProcess } from '../process';
import type { RestorePlan } from './restore-plan';
import { appendSettings, giveToServerUser, serverDir, stopPostmasterOf, stopServer } from './server';

/** Where a restore happens, and what kind of restore it is. */
export interface RestoreSite {
  /** `recover` restores the component's own data directory; the others a scratch one, torn down after. */
  mode: 'recover' | 'drill' | 'verify';
  dataDir: string;
  port: number;
}

/** What a restore did so far; written before each stage, so a retry knows where it stands. */
export interface RestoreRecord {
  component: string;
  mode: RestoreSite['mode'];
  dataDir: string;
  port: number;
  base: string;
  logs: string[];
  targetTime: string;
  /** recovery_target_time as written (a numeric offset); absent: replay all the WAL there is. */
  recoveryTargetTime?: string;
  reaches: string;
  short: boolean;
  state: 'extracting' | 'extracted' | 'promoted';
  promoted?: { at: string; lastReplayedCommit: string | null; timeline: number; note?: string };
}

/** `<dataDir>.restore`: WAL copies, the record, the server log and (scratch servers) the socket. */
export const workDirOf = restoreWorkDirOf;
export const walDirOf = (dataDir: string) => join(workDirOf(dataDir), 'wal');
export const logFileOf = (dataDir: string) => join(workDirOf(dataDir), 'server.log');
const recordFile = (dataDir: string) => join(workDirOf(dataDir), 'restore.json');

/** The marker before the recovery settings in postgresql.auto.conf. */
const SETTINGS_MARK = '# recovery-engine: recovery settings, reset after promotion';

export const readRecord = (dataDir: string) => readJson<RestoreRecord>(recordFile(dataDir));

/** Atomically: a worker killed mid-write leaves the previous record, never half of one. */
export const writeRecord = (record: RestoreRecord) => writeJsonAtomic(recordFile(record.dataDir), record);

async function run(program: string, args: string[], what: string): Promise<void> {
  const result = await runProcess(program, args, { details: () => ({ step: what }) });
  if (result.exitCode !== 0)
    throw ApplicationFailure.retryable(`${what} failed (status ${result.exitCode}): ${result.tail}`, 'RestoreIoFailed');
}

/** recovery_target_time rejects the `Z` of ISO-8601 UTC times: written with +00:00. */
export const recoveryTime = (iso: string) => iso.replace(/Z$/i, '+00:00');

/**
 * Extracts the tablespaces of a base backup (one `<oid>.tar.gz` each): a scratch restore moves
 * them under its work directory (tablespace_map rewritten), a recovery puts them back where they
 * were, into directories that must be empty.
 */
async function restoreTablespaces(c: PostgresComponent, site: RestoreSite, backupDir: string): Promise<number> {
  const archives = (await readdir(backupDir)).filter((name) => /^\d+\.tar\.gz$/.test(name));
  if (archives.length === 0) return 0;
  const mapFile = join(site.dataDir, 'tablespace_map');
  const map = new Map(
    (existsSync(mapFile) ? await readFile(mapFile, 'utf8') : '')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as const),
  );
  for (const archive of archives) {
    const oid = archive.replace('.tar.gz', '');
    let dir = map.get(oid);
    if (site.mode !== 'recover' || !dir) dir = join(workDirOf(site.dataDir), 'tablespaces', oid);
    map.set(oid, dir);
    if (existsSync(dir) && (await readdir(dir)).length > 0) {
      if (site.mode === 'recover')
        throw ApplicationFailure.nonRetryable(
          `${c.id}: tablespace directory ${dir} is not empty: move it aside, then retry restore-base`,
          'TablespaceNotEmpty',
        );
      await rm(dir, { recursive: true, force: true });
    }
    await serverDir(dir);
    await run('tar', ['-xzf', join(backupDir, archive), '-C', dir], `extract tablespace ${oid}`);
    await giveToServerUser(dir);
  }
  await writeFile(mapFile, [...map].map(([oid, dir]) => `${oid} ${dir}\n`).join(''));
  return archives.length;
}

/**
 * The WAL segments of a recovered server that were never archived, from its data directory set
 * aside (cp -n: the base backup's own copies win); they carry the restore past the last archive.
 */
async function copyUnarchivedWal(asideDir: string, dataDir: string): Promise<number> {
  const from = join(asideDir, 'pg_wal');
  if (!existsSync(from)) return 0;
  let copied = 0;
  for (const name of await readdir(from)) {
    if (!/^[0-9A-F]{24}$/.test(name) || existsSync(join(dataDir, 'pg_wal', name))) continue;
    await copyFile(join(from, name), join(dataDir, 'pg_wal', name));
    copied++;
  }
  return copied;
}

/** restore_command: the WAL of the log backups; for a recovery, then the live archive for what came after. */
function restoreCommand(dataDir: string, fallback?: string): string {
  const copy = (dir: string) => `cp ${sh(`${dir}/`)}%f "%p"`;
  return fallback ? `${copy(walDirOf(dataDir))} 2>/dev/null || ${copy(fallback)}` : copy(walDirOf(dataDir));
}

/**
 * Extracts `plan` into `site.dataDir` and configures the recovery. The data directory must be
 * empty, or hold an earlier attempt of a restore (restore.json): that one is cleared and done
 * again. A restore whose server was promoted is never overwritten.
 */
export async function extractRestore(
  c: PostgresComponent,
  bin: string,
  plan: RestorePlan,
  site: RestoreSite,
  options: { asideDir?: string } = {},
): Promise<RestoreRecord> {
  const { dataDir } = site;
  const previous = await readRecord(dataDir);
  if (previous?.state === 'promoted')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the server restored into ${dataDir} already left recovery (${previous.promoted?.at}) and may have taken writes: ` +
        `to restore again, stop it and move ${dataDir} and ${workDirOf(dataDir)} away`,
      'RestoreAlreadyPromoted',
    );
  if (!previous && existsSync(dataDir) && (await readdir(dataDir)).length > 0)
    throw ApplicationFailure.nonRetryable(
      site.mode === 'recover'
        ? `${c.id}: ${dataDir} is not empty: the set-aside step moves the old data directory away first`
        : `${c.id}: ${dataDir} exists and is not a restore of Recovery Engine's: remove it or choose another drill suffix`,
      'DataDirNotEmpty',
    );
  if (previous) await stopServer(bin, dataDir, 'immediate');

  const record: RestoreRecord = {
    component: c.id,
    mode: site.mode,
    dataDir,
    port: site.port,
    base: plan.base.id,
    logs: plan.logs.map((l) => l.id),
    targetTime: plan.targetTime,
    ...(plan.targetTime !== 'latest' ? { recoveryTargetTime: recoveryTime(plan.targetTime) } : {}),
    reaches: plan.reaches,
    short: plan.short,
    state: 'extracting',
  };
  // Private: a scratch server's socket, which trusts its superuser, lives there. An earlier
  // attempt's files go, but its record stays until this one replaces it: while the data directory
  // holds anything, a record says whose it is.
  await serverDir(workDirOf(dataDir));
  for (const entry of await readdir(workDirOf(dataDir)))
    if (entry !== 'restore.json') await rm(join(workDirOf(dataDir), entry), { recursive: true, force: true });
  await mkdir(walDirOf(dataDir));
  await writeRecord(record);
  // Emptied, not removed: the data directory may be a mount point.
  if (existsSync(dataDir))
    for (const entry of await readdir(dataDir)) await rm(join(dataDir, entry), { recursive: true, force: true });
  await serverDir(dataDir);

  const store = new LocalBackupStore(c.backupDir);
  const baseDir = store.dirOf(plan.base.id);
  await run('tar', ['-xzf', join(baseDir, 'base.tar.gz'), '-C', dataDir], `extract ${plan.base.id}/base.tar.gz`);
  await mkdir(join(dataDir, 'pg_wal'), { recursive: true });
  if (existsSync(join(baseDir, 'pg_wal.tar.gz')))
    await run(
      'tar',
      ['-xzf', join(baseDir, 'pg_wal.tar.gz'), '-C', join(dataDir, 'pg_wal')],
      `extract ${plan.base.id}/pg_wal.tar.gz`,
    );
  await restoreTablespaces(c, site, baseDir);
  for (const log of plan.logs)
    await run(
      'tar',
      ['-xzf', join(store.dirOf(log.id), 'wal.tar.gz'), '-C', walDirOf(dataDir)],
      `extract ${log.id}/wal.tar.gz`,
    );
  if (options.asideDir) await copyUnarchivedWal(options.asideDir, dataDir);

  // Debian keeps postgresql.conf in /etc: a scratch server gets an empty one (its settings are on its command line).
  if (site.mode !== 'recover' && !existsSync(join(dataDir, 'postgresql.conf')))
    await writeFile(join(dataDir, 'postgresql.conf'), '');
  // Recovery settings the backed-up server still had (an earlier restore's) would apply too.
  const autoConf = join(dataDir, 'postgresql.auto.conf');
  const kept = existsSync(autoConf) ? await readFile(autoConf, 'utf8') : '';
  await writeFile(
    autoConf,
    `${kept.replace(/^\s*(restore_command|recovery_target\w*)\s*=.*\n?/gm, '')}\n${SETTINGS_MARK}\n`,
  );
  await appendSettings(autoConf, {
    restore_command: restoreCommand(dataDir, site.mode === 'recover' ? c.walArchiveDir : undefined),
    ...(record.recoveryTargetTime ? { recovery_target_time: record.recoveryTargetTime } : {}),
    recovery_target_action: 'promote',
  });
  await writeFile(join(dataDir, 'recovery.signal'), '');
  await giveToServerUser(dataDir, workDirOf(dataDir));

  record.state = 'extracted';
  await writeRecord(record);
  return record;
}

/** Drops recovery_target_time from the settings: the restore then replays all the WAL it has. */
export async function dropRecoveryTarget(dataDir: string): Promise<void> {
  const file = join(dataDir, 'postgresql.auto.conf');
  const text = await readFile(file, 'utf8');
  await writeFile(file, text.replace(/^recovery_target_time = .*\n/m, ''));
}

/**
 * Stops a scratch server (only a server of `dataDir`: postmasterOf checks) and removes its data
 * and work directories, when restore.json says they are a scratch restore's. Work directory last:
 * its record is what marks the data directory as the engine's, so a crash midway can resume.
 */
export async function tearDown(dataDir: string): Promise<{ stopped: boolean; removed: string[] }> {
  const record = await readRecord(dataDir);
  if (!record || record.mode === 'recover') return { stopped: false, removed: [] };
  const stopped = await stopPostmasterOf(dataDir);
  const removed = [dataDir, workDirOf(dataDir)].filter((dir) => existsSync(dir));
  for (const dir of removed) await heartbeatWhile(rm(dir, { recursive: true, force: true }), () => ({ removing: dir }));
  return { stopped, removed };
}
