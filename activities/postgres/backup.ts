/**
 * PostgreSQL backups into the component's backupDir: base backups (pg_basebackup, tar format,
 * gzipped, with the WAL that makes them consistent) and log backups (the WAL segments the server
 * archived since the previous log backup). Both are idempotent by backup id: a retried activity
 * finds its committed backup and returns it.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresComponent } from '../../plan/kinds/postgres';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import { runProcess } from '../process';
import { postgresComponent } from './component';
import { clientEnv, guarded, pgFailure, psql, serverOf, type PgTarget } from './psql';
import { countAllTables, type TableCount } from './tables';

/** What a base backup's manifest records besides its files. */
export interface BaseBackupDetails {
  startLsn: string;
  endLsn: string;
  timeline: number;
  /** The first WAL segment the backup needs: log backups after it start there. */
  startWalFile: string;
  serverVersion: string;
  tables: TableCount[];
  tablesOmitted: number;
}

/** What a log backup's manifest records: the range of archived WAL segments in its wal.tar.gz. */
export interface LogBackupDetails {
  firstWal: string;
  lastWal: string;
  walFiles: number;
  /** Where pg_switch_wal() ended the last segment. */
  switchLsn: string;
  /** The newest base backup when this one was taken: the one its WAL carries forward. */
  baseBackup?: string;
}

/** A WAL segment (or a .partial one, or a backup history file), named by its first 24 characters. */
const SEGMENT = /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$/;
const HISTORY = /^[0-9A-F]{8}\.history$/;
const WHOLE_SEGMENT = /^[0-9A-F]{24}$/;
const ARCHIVE_WAIT_MS = 10 * 60_000;

/** `16MB` (show wal_segment_size) in bytes. */
function sizeInBytes(text: string): number {
  const match = /^(\d+)\s*(kB|MB|GB)$/.exec(text.trim());
  if (!match) throw new Error(`unexpected wal_segment_size "${text}"`);
  return Number(match[1]) * { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2] as 'kB' | 'MB' | 'GB'];
}

/**
 * The segments missing between consecutive ones of the same timeline, counting on from `after`
 * (the previous log backup's last one): a gap the restore could not replay across.
 */
export function walGaps(segments: string[], segmentBytes: number, after?: string): string[] {
  const perLog = 0x1_0000_0000 / segmentBytes;
  const numberOf = (name: string) => parseInt(name.slice(8, 16), 16) * perLog + parseInt(name.slice(16, 24), 16);
  const nameOf = (timeline: string, n: number) =>
    `${timeline}${[Math.floor(n / perLog), n % perLog].map((v) => v.toString(16).toUpperCase().padStart(8, '0')).join('')}`;
  const missing: string[] = [];
  const last = new Map<string, number>();
  if (after) last.set(after.slice(0, 8), numberOf(after));
  for (const name of [...segments].sort()) {
    const timeline = name.slice(0, 8);
    const n = numberOf(name);
    const previous = last.get(timeline);
    if (previous !== undefined) for (let m = previous + 1; m < n; m++) missing.push(nameOf(timeline, m));
    last.set(timeline, n);
  }
  return missing;
}

/** The name of the WAL segment holding `lsn` (`16/B374D848`) on `timeline`. */
export function segmentOf(lsn: string, timeline: number, segmentBytes: number): string {
  const [high = 0, low = 0] = lsn.split('/').map((part) => parseInt(part, 16));
  const perLog = 0x1_0000_0000 / segmentBytes;
  const n = Math.floor((high * 0x1_0000_0000 + low) / segmentBytes);
  return [timeline, Math.floor(n / perLog), n % perLog]
    .map((v) => v.toString(16).toUpperCase().padStart(8, '0'))
    .join('');
}

const fail = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** The field of backup_label, e.g. `START WAL LOCATION: 0/700028 (file 000000010000000000000007)`. */
function labelField(label: string, name: string): string {
  const value = new RegExp(`^${name}: (.*)$`, 'm').exec(label)?.[1];
  if (value === undefined) throw new Error(`backup_label has no ${name}`);
  return value;
}

async function readBackupLabel(staged: string): Promise<string> {
  const run = await runProcess('tar', ['-xzOf', join(staged, 'base.tar.gz'), 'backup_label'], {
    stdoutLimit: 64 * 1024,
  });
  if (run.exitCode !== 0) throw new Error(`base.tar.gz holds no backup_label: ${run.tail}`);
  return run.stdout;
}

export function createPostgresBackups(bin: () => string) {
  /** pg_basebackup into the staged folder; what it left there when it fails is the stage's to clear. */
  async function baseBackup(c: PostgresComponent, target: PgTarget, staged: string, id: string): Promise<void> {
    const args = ['-h', target.host, '-p', String(target.port), '-U', target.user, '-w', '-D', staged];
    // Tar format, gzipped, with the WAL written meanwhile streamed into pg_wal.tar.gz; a fast
    // checkpoint starts the copy at once instead of after a spread one.
    args.push('-Ft', '-z', '-X', 'stream', '-c', 'fast', '-l', `recovery-engine ${id}`);
    const run = await runProcess(join(bin(), 'pg_basebackup'), args, {
      env: clientEnv(target),
      details: () => ({ backup: id, step: 'pg_basebackup' }),
    });
    if (run.exitCode !== 0) {
      const message = `${c.id}: pg_basebackup from ${target.host}:${target.port} exited with status ${run.exitCode}: ${run.tail}`;
      throw /password authentication failed|no password supplied|no pg_hba.conf entry|must be superuser|permission denied|replication/i.test(
        run.tail,
      )
        ? fail(
            `${message}\nThe user needs the REPLICATION attribute and a pg_hba.conf entry for replication.`,
            'PostgresAccessDenied',
          )
        : ApplicationFailure.retryable(message, 'BaseBackupFailed');
    }
  }

  async function takeBase(input: BackupActivityInput): Promise<BackupManifest> {
    const c = postgresComponent(input.component);
    if (input.type !== 'full')
      throw fail(
        `${c.id}: PostgreSQL backups are full base backups (type full) plus archived WAL (type log), not ${input.type}`,
        'UnsupportedBackupType',
      );
    const store = new LocalBackupStore(c.backupDir);
    const existing = await store.read(input.backupId);
    if (existing) return existing;
    const target = serverOf(c);
    const startedAt = new Date().toISOString();
    const staged = await store.stage(input.backupId);
    await baseBackup(c, target, staged, input.backupId);
    // The backup is consistent as of its end, which comes before pg_basebackup returns.
    const finishedAt = new Date().toISOString();
    try {
      const label = await readBackupLabel(staged);
      const manifest = JSON.parse(await readFile(join(staged, 'backup_manifest'), 'utf8')) as {
        'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[];
      };
      const range = manifest['WAL-Ranges']?.at(-1);
      const [[serverVersion] = []] = await psql(bin(), target, 'postgres', 'show server_version');
      const details: BaseBackupDetails = {
        startLsn: labelField(label, 'START WAL LOCATION').split(' ')[0]!,
        endLsn: range?.['End-LSN'] ?? '',
        timeline: Number(labelField(label, 'START TIMELINE')),
        startWalFile: /\(file ([0-9A-F]{24})\)/.exec(labelField(label, 'START WAL LOCATION'))?.[1] ?? '',
        serverVersion: serverVersion ?? '',
        ...(await countAllTables(bin(), target)),
      };
      return await store.commit(staged, {
        component: c.id,
        kind: 'postgres',
        id: input.backupId,
        type: 'full',
        startedAt,
        finishedAt,
        recoveryPoint: finishedAt,
        details: { ...details },
      });
    } catch (error) {
      throw pgFailure(`${c.id}: base backup ${input.backupId}`, error);
    }
  }

  /**
   * Ends the current WAL segment and waits until the server archived it. A transaction with an id
   * commits first: its commit record carries a time just after the recovery point, so a restore
   * to any time up to that point finds a commit past its target in this log backup and stops
   * there (PostgreSQL only knows a target time is reached when it sees a later commit).
   */
  async function switchWal(c: PostgresComponent, target: PgTarget, archiveDir: string) {
    const rows = await psql(
      bin(),
      target,
      'postgres',
      'select txid_current(), extract(epoch from now())',
      'select pg_walfile_name(lsn), lsn from pg_switch_wal() lsn',
      'show wal_segment_size',
    );
    const [, epoch] = rows[0] ?? [];
    const [segment, lsn] = rows[1] ?? [];
    const [segmentSize] = rows[2] ?? [];
    if (!segment || !lsn || !epoch || !segmentSize)
      throw new Error(`unexpected answer to pg_switch_wal(): ${JSON.stringify(rows)}`);
    const recoveryPoint = new Date(Math.floor(Number(epoch) * 1000)).toISOString();
    const deadline = Date.now() + ARCHIVE_WAIT_MS;
    while (!existsSync(join(archiveDir, segment))) {
      heartbeat({ waitingForArchive: segment });
      if (Date.now() > deadline) {
        const [[failed = '', lastFailed = ''] = []] = await psql(
          bin(),
          target,
          'postgres',
          'select failed_count, last_failed_wal from pg_stat_archiver',
        );
        throw ApplicationFailure.retryable(
          `${c.id}: WAL segment ${segment} is not in ${archiveDir} ${ARCHIVE_WAIT_MS / 60_000} minutes after pg_switch_wal() ` +
            `(pg_stat_archiver: ${failed} failures, last failed ${lastFailed || 'none'}): check archive_command and the server log`,
          'WalNotArchived',
        );
      }
      await sleep(200);
    }
    return { segment, lsn, recoveryPoint, segmentBytes: sizeInBytes(segmentSize) };
  }

  async function archiveLogs(input: BackupActivityInput): Promise<BackupManifest> {
    const c = postgresComponent(input.component);
    if (input.type !== 'log')
      throw fail(`${c.id}: archivePostgresWal takes log backups, not ${input.type}`, 'UnsupportedBackupType');
    const archiveDir = c.walArchiveDir;
    if (!archiveDir)
      throw fail(
        `${c.id}: no walArchiveDir in the plan: set it to the directory archive_command copies WAL segments into`,
        'NoWalArchive',
      );
    const store = new LocalBackupStore(c.backupDir);
    const existing = await store.read(input.backupId);
    if (existing) return existing;
    const startedAt = new Date().toISOString();
    const target = serverOf(c);
    let switched: Awaited<ReturnType<typeof switchWal>>;
    try {
      switched = await switchWal(c, target, archiveDir);
    } catch (error) {
      throw pgFailure(`${c.id}: WAL switch`, error);
    }

    // From the previous log backup on; and from the newest base backup's first segment when that
    // backup came after it, so a base backup and the log backups after it need nothing older.
    const backups = (await store.list()).filter((b) => b.id !== input.backupId);
    const previous = backups.filter((b) => b.type === 'log').at(-1);
    const newestBase = backups.filter((b) => b.type === 'full').at(-1);
    const base = previous && newestBase && newestBase.recoveryPoint <= previous.recoveryPoint ? undefined : newestBase;
    const after = (previous?.details as LogBackupDetails | undefined)?.lastWal;
    const from = (base?.details as BaseBackupDetails | undefined)?.startWalFile;
    const wanted = (name: string) => {
      const segment = name.slice(0, 24);
      if (segment > switched.segment) return false;
      if (from === undefined && after === undefined) return true;
      return (from !== undefined && segment >= from) || (after !== undefined && segment > after);
    };
    const names = (await readdir(archiveDir)).filter((n) => HISTORY.test(n) || (SEGMENT.test(n) && wanted(n))).sort();
    const segments = names.filter((n) => WHOLE_SEGMENT.test(n));
    // A newer base backup carries the WAL up to its end in pg_wal.tar.gz: restores from it need the
    // segments after that, nothing before. What the archive lost between the previous log backup
    // and it (cleaned up, or the gap a new base backup was taken to get past) is no gap here.
    const baseDetails = base?.details as BaseBackupDetails | undefined;
    const baseEnd = baseDetails?.endLsn
      ? segmentOf(baseDetails.endLsn, baseDetails.timeline, switched.segmentBytes)
      : undefined;
    const gaps = baseEnd
      ? walGaps(
          segments.filter((n) => n > baseEnd),
          switched.segmentBytes,
          baseEnd,
        )
      : walGaps(segments, switched.segmentBytes, after);
    if (gaps.length > 0)
      throw fail(
        `${c.id}: ${gaps.length} WAL segment(s) are missing from ${archiveDir} (${gaps.slice(0, 5).join(', ')}${gaps.length > 5 ? ', …' : ''}): ` +
          'restores cannot replay past the gap. Check archive_command and whatever cleans the archive, then take a new base backup',
        'WalGap',
      );

    const staged = await store.stage(input.backupId);
    const list = join(staged, '.files');
    await writeFile(list, `${names.join('\n')}\n`);
    const run = await runProcess('tar', ['-czf', join(staged, 'wal.tar.gz'), '-C', archiveDir, '-T', list], {
      details: () => ({ backup: input.backupId, walFiles: names.length }),
    });
    await rm(list);
    if (run.exitCode !== 0)
      throw ApplicationFailure.retryable(
        `${c.id}: tar of ${names.length} WAL files from ${archiveDir} failed: ${run.tail}`,
        'WalCopyFailed',
      );
    const details: LogBackupDetails = {
      firstWal: segments[0] ?? switched.segment,
      lastWal: switched.segment,
      walFiles: names.length,
      switchLsn: switched.lsn,
      ...(newestBase ? { baseBackup: newestBase.id } : {}),
    };
    return store.commit(staged, {
      component: c.id,
      kind: 'postgres',
      id: input.backupId,
      type: 'log',
      ...(previous ? { base: previous.id } : {}),
      startedAt,
      finishedAt: new Date().toISOString(),
      recoveryPoint: switched.recoveryPoint,
      details: { ...details },
    });
  }

  return {
    /** A full base backup (pg_basebackup) of the component's server into its backupDir. */
    backupPostgres: guarded('backupPostgres', takeBase),
    /** A log backup: switches the WAL segment, waits for its archiving, copies the segments archived since the last log backup. */
    archivePostgresWal: guarded('archivePostgresWal', archiveLogs),
  };
}
