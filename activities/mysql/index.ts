import type { BackupActivityInput } from '../../backups/manifest';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import type { DataStoreDependencies } from '../data-stores';
import { backupMysql } from './backup';
import { archiveMysqlBinlogs } from './binlogs';
import { createMysqlRestoreActivities, mysqlComponent } from './restore';
import { verifyMysqlRestore } from './verify';

/** The input with its component parsed: the kind's defaults filled in, a malformed one refused. */
const parsed = <I extends { component: unknown }>(input: I): I & { component: MysqlComponent } => ({
  ...input,
  component: mysqlComponent(input.component),
});

/** The mysql kind's activities: backups, binlog archives, restores, validation. */
export function createMysqlActivities({ binaries }: DataStoreDependencies) {
  return {
    /** A full or incremental backup with mariadb-backup into the component's backupDir. */
    backupMysql: (input: BackupActivityInput<MysqlComponent>) => backupMysql(binaries(), parsed(input)),
    /** The binlogs closed since the last archive, as a `log` backup. */
    archiveMysqlBinlogs: (input: BackupActivityInput<MysqlComponent>) => archiveMysqlBinlogs(binaries(), parsed(input)),
    /** The chain ending at a backup, restored into a scratch server and validated. */
    verifyMysqlRestore: (input: BackupActivityInput<MysqlComponent>) => verifyMysqlRestore(binaries(), parsed(input)),
    ...createMysqlRestoreActivities(binaries),
  };
}
