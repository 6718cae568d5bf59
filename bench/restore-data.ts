/**
 * The restore bench's backup chain: a MariaDB source filled with `sizeMb` of wide rows, backed up by
 * the engine's own activities as a full backup (80 % of the rows), an incremental (10 % more, and
 * updates of 2 %) and a binlog archive (the last 10 % and 2 % more updates, only in the binlogs).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createMysqlActivities } from '../activities/mysql';
import type { MysqlBackupDetails } from '../activities/mysql/backup';
import type { BinlogArchiveDetails } from '../activities/mysql/binlogs';
import { backupIdOf, type BackupManifest, type BackupType } from '../backups/manifest';
import type { LocalMysql } from '../demo/local-mysql';
import type { MysqlComponent } from '../plan/kinds/mysql';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { runActivity } from '../test/helpers/activity';

/** InnoDB stores a row of the bench table (1 KB of payload) in about 1.1 KB. */
const ROWS_PER_MB = 950;
/** Rows per INSERT … SELECT before the full backup (not logged): transactions of about 100 MB. */
const BATCH = 100_000;
/**
 * Rows per logged statement: about 5 MB of row events, which mysqlbinlog prints as one BINLOG
 * statement; over max_allowed_packet (16 MiB by default, client and server) the replay fails.
 */
const LOGGED_BATCH = 5_000;
export const TABLE = 'bench.orders';

export interface BenchChain {
  full: BackupManifest;
  incremental: BackupManifest;
  archive: BackupManifest;
  /** What the source holds at the end: what both restores must give back. */
  rows: number;
  checksum: string;
  /** Bytes of the chain's files (full + incremental + binlog archive). */
  chainBytes: number;
  /** MiB of each link. */
  linkMiB: { full: number; incremental: number; archive: number };
  /** Seconds to fill the source, and to take the backups. */
  fillSeconds: number;
  backupSeconds: number;
}

/** Row count and CHECKSUM TABLE of the bench table on the server behind `sql`. */
export function factsOf(sql: (statement: string) => string[][]): { rows: number; checksum: string } {
  const [[, checksum]] = sql(`CHECKSUM TABLE ${TABLE}`) as [[string, string]];
  const [[rows]] = sql(`SELECT COUNT(*) FROM ${TABLE}`) as [[string]];
  return { rows: Number(rows), checksum };
}

/** Inserts rows `from`..`to` in batches; without the binlog (`logged` false) when no restore replays them. */
function insert(source: LocalMysql, from: number, to: number, logged: boolean) {
  const batch = logged ? LOGGED_BATCH : BATCH;
  for (let first = from; first <= to; first += batch) {
    const last = Math.min(to, first + batch - 1);
    source.sql(
      `USE bench; ${logged ? '' : 'SET SESSION sql_log_bin = 0; '}INSERT INTO ${TABLE} SELECT seq, seq % 9973, MD5(seq), REPEAT(MD5(seq), 30) FROM seq_${first}_to_${last}`,
    );
  }
}

/** Updates rows `from`..`to` (logged), in statements of LOGGED_BATCH / 2 rows: each row is logged before and after. */
function update(source: LocalMysql, tag: string, from: number, to: number) {
  for (let first = from; first <= to; first += LOGGED_BATCH / 2) {
    const last = Math.min(to, first + LOGGED_BATCH / 2 - 1);
    source.sql(`UPDATE ${TABLE} SET note = MD5(CONCAT('${tag}', id)) WHERE id BETWEEN ${first} AND ${last}`);
  }
}

export async function buildChain(
  binaries: DataServerBinaries,
  source: LocalMysql,
  component: MysqlComponent,
  sizeMb: number,
): Promise<BenchChain> {
  const activities = createMysqlActivities({ binaries: () => binaries, aws: undefined as never });
  const take = async (type: BackupType) => {
    const input = { component, type, backupId: backupIdOf(type, new Date()) };
    return runActivity(type === 'log' ? activities.archiveMysqlBinlogs : activities.backupMysql, input);
  };
  const total = Math.max(1_000, Math.round(sizeMb * ROWS_PER_MB));
  const [base, more] = [Math.round(total * 0.8), Math.round(total * 0.9)];

  const filling = performance.now();
  // A bigger buffer pool only to fill the source quickly; the restored servers keep the defaults.
  source.sql('SET GLOBAL innodb_buffer_pool_size = 1073741824');
  source.sql(
    `CREATE DATABASE bench; CREATE TABLE ${TABLE} (id BIGINT PRIMARY KEY, customer INT NOT NULL, note CHAR(32) NOT NULL, payload VARCHAR(1000) NOT NULL) ENGINE=InnoDB`,
  );
  insert(source, 1, base, false);
  let fillMs = performance.now() - filling;

  const backingUp = performance.now();
  const full = await take('full');
  let backupMs = performance.now() - backingUp;

  const secondFill = performance.now();
  insert(source, base + 1, more, true);
  // Updates of a range of old rows: an incremental copies the pages changed, not the whole table.
  update(source, 'i', 1, Math.round(total * 0.02));
  fillMs += performance.now() - secondFill;
  await sleep(1_000); // backup ids have a resolution of one second
  const secondBackup = performance.now();
  const incremental = await take('incremental');
  backupMs += performance.now() - secondBackup;

  const thirdFill = performance.now();
  insert(source, more + 1, total, true);
  update(source, 'b', Math.round(total * 0.5), Math.round(total * 0.52));
  fillMs += performance.now() - thirdFill;
  const thirdBackup = performance.now();
  const archive = await take('log');
  backupMs += performance.now() - thirdBackup;

  const bytes = (m: BackupManifest) => m.files.reduce((sum, f) => sum + f.bytes, 0);
  return {
    full,
    incremental,
    archive,
    ...factsOf((statement) => source.sql(statement)),
    chainBytes: bytes(full) + bytes(incremental) + bytes(archive),
    linkMiB: {
      full: Math.round(bytes(full) / 2 ** 20),
      incremental: Math.round(bytes(incremental) / 2 ** 20),
      archive: Math.round(bytes(archive) / 2 ** 20),
    },
    fillSeconds: fillMs / 1000,
    backupSeconds: backupMs / 1000,
  };
}

/**
 * What a person reads from the backups to type the runbook's commands: the full and incremental
 * ids, the binlog position the incremental recorded, and the archived binlogs from that file on.
 */
export function handInputs(chain: BenchChain) {
  const position = (chain.incremental.details as unknown as MysqlBackupDetails).binlog;
  if (!position) throw new Error('the incremental backup recorded no binlog position');
  const seq = (name: string) => Number(name.split('.').at(-1));
  const files = (chain.archive.details as unknown as BinlogArchiveDetails).files
    .map((f) => f.name)
    .filter((name) => seq(name) >= seq(position.file));
  if (files[0] !== position.file)
    throw new Error(`the archive ${chain.archive.id} does not start at ${position.file}: ${files.join(', ')}`);
  return { full: chain.full.id, incrementals: [chain.incremental.id], position: position.position, binlogs: files };
}
