/**
 * What mariadb-backup writes beside the data files, read back: LSNs (xtrabackup_checkpoints) and the
 * binlog position of the backup's consistent point (xtrabackup_binlog_info, renamed
 * mariadb_backup_binlog_info in newer releases). Also the layout of a backup folder.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Inside a backup folder: mariadb-backup's target dir; `config/` and `logs/` sit beside it. */
export const DATA_SUBDIR = 'data';

export interface Checkpoints {
  backupType: string;
  /** LSNs as strings: they are 64-bit. */
  fromLsn: string;
  toLsn: string;
  lastLsn: string;
}

export interface BinlogPosition {
  file: string;
  position: number;
  gtid?: string;
}

export async function readCheckpoints(dir: string): Promise<Checkpoints> {
  const text = await readFile(join(dir, 'xtrabackup_checkpoints'), 'utf8');
  const value = (key: string) => new RegExp(`^${key}\\s*=\\s*(\\S+)`, 'm').exec(text)?.[1] ?? '';
  return {
    backupType: value('backup_type'),
    fromLsn: value('from_lsn'),
    toLsn: value('to_lsn'),
    lastLsn: value('last_lsn'),
  };
}

/** The binlog position a backup recorded; undefined when binary logging was off. */
export async function readBinlogPosition(dir: string): Promise<BinlogPosition | undefined> {
  for (const name of ['mariadb_backup_binlog_info', 'xtrabackup_binlog_info']) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const [binlog, position, gtid] = (await readFile(file, 'utf8')).trim().split(/\s+/);
    if (binlog && position && /^\d+$/.test(position))
      return { file: binlog, position: Number(position), ...(gtid ? { gtid } : {}) };
  }
  return undefined;
}
