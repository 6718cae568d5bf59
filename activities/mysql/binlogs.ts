/**
 * Binlog archiving: FLUSH BINARY LOGS closes the current binlog, and every closed binlog not yet
 * archived is copied into a new `log` backup whose base is the previous archive, so archives form
 * an unbroken sequence of files. A binlog the server purged before it was archived is a gap that
 * point-in-time recovery cannot cross: the archive fails, naming it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';
import type { MysqlBackupDetails } from './backup';
import { withSql } from './connection';

export interface ArchivedBinlog {
  name: string;
  bytes: number;
  /** Times of its first and last events (UTC, 1 s resolution), as mysqlbinlog prints them. */
  firstEvent?: string;
  lastEvent?: string;
}

export interface BinlogArchiveDetails {
  /**
   * The archived sequence could not continue at `missing` (purged unarchived, or reset): this
   * archive starts a new one at the binlog of `backup`, a backup taken since the previous archive.
   */
  restarted?: { missing: string; from: string; backup: string };
  /** Where the server's binlogs were read. */
  binlogDir: string;
  /** The files, under `binlogs/`, in sequence. */
  files: ArchivedBinlog[];
  firstFile?: string;
  lastFile?: string;
  firstEventTime?: string;
  lastEventTime?: string;
}

/** Folder of a log archive holding the binlog files. */
export const BINLOGS_SUBDIR = 'binlogs';

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** `mysql-bin.000042` → { base: 'mysql-bin', seq: 42 }. */
export function parseBinlogName(name: string): { base: string; seq: number; digits: number } {
  const match = /^(.*)\.(\d+)$/.exec(name);
  if (!match) throw new Error(`"${name}" is not a binlog file name (expected e.g. mysql-bin.000042)`);
  return { base: match[1]!, seq: Number(match[2]), digits: match[2]!.length };
}

/** The binlog after `name` in its sequence. */
export function nextBinlog(name: string): string {
  const { base, seq, digits } = parseBinlogName(name);
  return `${base}.${String(seq + 1).padStart(digits, '0')}`;
}

/** `#261121 10:05:17 server id 1 …`: an event header as mysqlbinlog prints it (in its TZ, UTC here). */
const EVENT_HEADER = /^#(\d{2})(\d{2})(\d{2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+server id/;

/** Times of the first and last events of binlog `file`, read with mysqlbinlog (output streamed from a scratch file). */
export async function binlogEventTimes(
  binaries: DataServerBinaries,
  file: string,
  scratch: string,
): Promise<{ firstEvent?: string; lastEvent?: string }> {
  const run = await runProcess(binaries.mysqlbinlog, [`--result-file=${scratch}`, file], {
    env: { ...process.env, TZ: 'UTC' },
  });
  try {
    if (run.exitCode !== 0)
      throw new Error(`mysqlbinlog ${file} failed (exit ${run.exitCode}): ${run.tail.slice(-800)}`);
    let firstEvent: string | undefined;
    let lastEvent: string | undefined;
    for await (const line of createInterface({ input: createReadStream(scratch), crlfDelay: Infinity })) {
      const m = EVENT_HEADER.exec(line);
      if (!m) continue;
      const [, yy, mo, dd, hh, mi, ss] = m as unknown as [string, string, string, string, string, string, string];
      lastEvent = `20${yy}-${mo}-${dd}T${hh.padStart(2, '0')}:${mi}:${ss}Z`;
      firstEvent ??= lastEvent;
    }
    return { firstEvent, lastEvent };
  } finally {
    await rm(scratch, { force: true });
  }
}

/** The binlog after the previous archive's last one: where the archived sequence continues. */
function continuation(previous: BackupManifest): string | undefined {
  const details = previous.details as unknown as BinlogArchiveDetails & { nextFile?: string };
  // An empty archive carries its predecessor's position forward.
  return details.lastFile ? nextBinlog(details.lastFile) : details.nextFile;
}

/** The binlog a backup's replay starts in. */
const binlogOf = (backup: BackupManifest) =>
  backup.type === 'full' || backup.type === 'incremental'
    ? (backup.details as unknown as Partial<MysqlBackupDetails>).binlog?.file
    : undefined;

/** Whether the server still has binlog `name` (same sequence, not purged, not in the future). */
function held(name: string, names: string[]): boolean {
  const [oldest, current] = [parseBinlogName(names[0]!), parseBinlogName(names.at(-1)!)];
  const file = parseBinlogName(name);
  return file.base === current.base && file.seq >= oldest.seq && file.seq <= current.seq;
}

/**
 * The first binlog this archive must hold: the one after the previous archive's last; for the
 * first archive, the binlog of the oldest backup (older binlogs apply to no backup held). When the
 * sequence cannot continue (binlogs purged unarchived, or reset), a backup taken since the previous
 * archive starts a new sequence at its own binlog: restores from that backup on are whole again,
 * restores to the gap before it are not. Without such a backup the archive fails, naming the file.
 */
function firstNeeded(
  c: MysqlComponent,
  where: string,
  backups: BackupManifest[],
  previous: BackupManifest | undefined,
  names: string[],
): { start?: string; restarted?: { missing: string; from: string; backup: string } } {
  const start = previous ? continuation(previous) : backups.map(binlogOf).find((f) => f !== undefined);
  if (start === undefined || held(start, names)) return start === undefined ? {} : { start };
  const since = backups.filter((b) => !previous || b.recoveryPoint > previous.recoveryPoint);
  const fresh = since.filter((b) => binlogOf(b) !== undefined && held(binlogOf(b)!, names)).at(-1);
  if (fresh)
    return { start: binlogOf(fresh)!, restarted: { missing: start, from: binlogOf(fresh)!, backup: fresh.id } };
  const want = parseBinlogName(start);
  const [oldest, current] = [parseBinlogName(names[0]!), parseBinlogName(names.at(-1)!)];
  if (want.base !== current.base || want.seq > current.seq)
    throw nonRetryable(
      `${c.id}: the binlogs of ${where} do not continue the archived sequence (next expected ${start}, the server is at ${names.at(-1)}): the binlog was reset or renamed; take a full backup to start a new sequence`,
      'BinlogSequenceBroken',
    );
  throw nonRetryable(
    `${c.id}: binlog ${start} was purged from ${where} before it was archived (the oldest left is ${names[0]}${oldest.seq > want.seq + 1 ? `; ${oldest.seq - want.seq} binlogs are lost` : ''}): point-in-time recovery cannot cross this gap; take a full backup now (the next archive starts after it), and archive more often than binlogs expire`,
    'BinlogGap',
  );
}

export async function archiveMysqlBinlogs(
  binaries: DataServerBinaries,
  { component: c, type, backupId }: BackupActivityInput<MysqlComponent>,
): Promise<BackupManifest> {
  if (type !== 'log')
    throw nonRetryable(`${c.id}: archiveMysqlBinlogs takes log backups, not ${type}`, 'InvalidBackupRequest');
  const store = new LocalBackupStore(c.backupDir);
  const existing = await store.read(backupId);
  if (existing) return existing;
  const backups = await store.list();
  const previous = backups.filter((b) => b.type === 'log').at(-1);
  const where = `${c.host}:${c.port}`;
  return withSql(binaries, c, { host: c.host, port: c.port }, async (sql) => {
    const [vars] = await sql('SELECT @@log_bin, @@log_bin_basename');
    if (vars?.[0] !== '1' || !vars[1])
      throw nonRetryable(
        `${c.id}: binary logging is off on ${where}: start the server with log-bin (and binlog_format=ROW) to archive binlogs`,
        'BinlogOff',
      );
    const binlogDir = c.binlogDir ?? dirname(vars[1]);
    // Everything committed before the flush is in the binlogs it closes: the archive's recovery point.
    const flushedAt = new Date().toISOString();
    await sql('FLUSH BINARY LOGS');
    const names = (await sql('SHOW BINARY LOGS')).map((row) => row[0]!);
    const current = names.at(-1);
    if (!current) throw ApplicationFailure.retryable(`${c.id}: ${where} lists no binary logs`, 'BinlogMissing');
    const closed = names.slice(0, -1);
    const { start, restarted } = firstNeeded(c, where, backups, previous, names);
    const files =
      start === undefined ? closed : closed.filter((name) => parseBinlogName(name).seq >= parseBinlogName(start).seq);
    const staged = await store.stage(backupId);
    const target = join(staged, BINLOGS_SUBDIR);
    await mkdir(target);
    const archived: ArchivedBinlog[] = [];
    if (files.length > 0) {
      const copy = await runProcess('cp', ['--preserve=timestamps', ...files.map((f) => join(binlogDir, f)), target]);
      if (copy.exitCode !== 0)
        throw ApplicationFailure.retryable(
          `${c.id}: copying binlogs from ${binlogDir} failed: ${copy.tail.slice(-800)}`,
          'BinlogCopyFailed',
        );
    }
    for (const name of files) {
      const times = await binlogEventTimes(binaries, join(target, name), `${staged}.events.sql`);
      archived.push({ name, bytes: (await stat(join(target, name))).size, ...times });
    }
    const details: BinlogArchiveDetails & { nextFile?: string } = {
      binlogDir,
      files: archived,
      firstFile: archived[0]?.name,
      lastFile: archived.at(-1)?.name,
      firstEventTime: archived[0]?.firstEvent,
      lastEventTime: archived.at(-1)?.lastEvent,
      ...(archived.length === 0 && start ? { nextFile: start } : {}),
      ...(restarted ? { restarted } : {}),
    };
    return store.commit(staged, {
      component: c.id,
      kind: c.kind,
      id: backupId,
      type: 'log',
      ...(previous ? { base: previous.id } : {}),
      startedAt: flushedAt,
      finishedAt: new Date().toISOString(),
      recoveryPoint: flushedAt,
      details: details as unknown as Record<string, unknown>,
    });
  });
}
