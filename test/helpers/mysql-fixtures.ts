/**
 * The mysql tests' source server (demo/local-mysql.ts) under the test's scratch folder, stopped
 * when the test process ends, and the plan component of such a server.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runDirOf, stopMysqlServer } from '../../activities/mysql/server';
import { mysqlAt, startLocalMysql, type LocalMysql } from '../../demo/local-mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { once, onCleanup } from './cleanup';

export type SourceMysql = LocalMysql;
export { mysqlAt };

/** Initialises and starts the source server; `passwordEnv` is set to root's new password. */
export async function startSourceMysql(
  binaries: DataServerBinaries,
  scratch: string,
  passwordEnv: string,
): Promise<SourceMysql> {
  const password = `Pw-${randomBytes(9).toString('hex')}`;
  const stop = once(async () => void (await stopMysqlServer(join(scratch, 'source', 'data'))));
  onCleanup(stop); // also when the start fails halfway
  const mysql = await startLocalMysql(binaries, scratch, password);
  process.env[passwordEnv] = password;
  return { ...mysql, stop };
}

/**
 * The plan component (raw, before parsing) of a local server, as root with the password in
 * `passwordEnv`, backed up into `backupDir` on a weekly full and daily incremental chain; `logs`
 * adds the server's log directory to each backup and the binlog archive every 15 minutes. `more`
 * adds fields or overrides them.
 */
export function mysqlComponent(
  mysql: Pick<LocalMysql, 'port' | 'dataDir' | 'configFile'>,
  options: { id: string; passwordEnv: string; backupDir: string; cutover: string; logs?: boolean },
  more: Record<string, unknown> = {},
): Record<string, unknown> {
  const { id, passwordEnv, backupDir, cutover, logs = false } = options;
  return {
    id,
    kind: 'mysql',
    host: '127.0.0.1',
    port: mysql.port,
    user: 'root',
    passwordEnv,
    dataDir: mysql.dataDir,
    configFiles: [mysql.configFile],
    ...(logs ? { logDir: runDirOf(mysql.dataDir) } : {}),
    backupDir,
    cutover: { command: cutover },
    backup: {
      schedules: [
        { type: 'full', cron: '10 16 * * 1' },
        { type: 'incremental', cron: '10 16 * * 0,2-6' },
        ...(logs ? [{ type: 'log', every: '15m' }] : []),
      ],
    },
    ...more,
  };
}
